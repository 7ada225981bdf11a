"""Typed parts of an Amazon States Language definition: states, named retry and catch policies.

A definition is written once in Python from these parts (one module per capability) and
rendered to ``statemachines/<name>.asl.json``; a change to a retry policy is one edit here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vss_restore.tasks import POLLING_TASKS, function_arn_placeholder

State = dict[str, Any]


@dataclass(frozen=True)
class Retrier:
    """One ``Retry`` rule: which errors, and how often and how long to try again."""

    errors: tuple[str, ...]
    interval: int
    backoff: float
    attempts: int
    max_delay: int | None = None
    jitter: bool = False

    def asl(self) -> dict[str, Any]:
        rule: dict[str, Any] = {
            "ErrorEquals": list(self.errors),
            "IntervalSeconds": self.interval,
            "BackoffRate": self.backoff,
        }
        if self.max_delay is not None:
            rule["MaxDelaySeconds"] = self.max_delay
        rule["MaxAttempts"] = self.attempts
        if self.jitter:
            rule["JitterStrategy"] = "FULL"
        return rule

    @classmethod
    def from_asl(cls, rule: Mapping[str, Any]) -> Retrier:
        """A ``Retry`` rule as written in a definition (ASL's defaults for what it leaves out)."""
        return cls(
            tuple(rule["ErrorEquals"]),
            interval=int(rule.get("IntervalSeconds", 1)),
            backoff=float(rule.get("BackoffRate", 2.0)),
            attempts=int(rule.get("MaxAttempts", 3)),
            max_delay=rule.get("MaxDelaySeconds"),
            jitter=rule.get("JitterStrategy") == "FULL",
        )

    def delays(self) -> list[float]:
        """The pause before each retry: interval * backoff^k, capped at MaxDelaySeconds."""
        cap = math.inf if self.max_delay is None else self.max_delay
        return [min(self.interval * self.backoff**k, cap) for k in range(self.attempts)]


@dataclass(frozen=True)
class RetryWindow:
    """How long a Retry keeps trying an error that does not go away, in seconds (the
    attempts themselves take no time: a throttled invocation is refused at once)."""

    expected: float
    worst: float
    # Full jitter: the pauses are independent and uniform, so their sum has this spread.
    stdev: float


def retry_window(retrier: Retrier) -> RetryWindow:
    """With full jitter each pause is uniform between 0 and its delay: on average half of it,
    at most all of it; without jitter every pause is its delay."""
    delays = retrier.delays()
    worst = float(sum(delays))
    if not retrier.jitter:
        return RetryWindow(expected=worst, worst=worst, stdev=0.0)
    return RetryWindow(
        expected=worst / 2, worst=worst, stdev=math.sqrt(sum(d * d for d in delays) / 12)
    )


# Lambda itself was briefly unavailable, throttled the invocation or had the function not
# ready yet: the task never ran.
LAMBDA_UNAVAILABLE = Retrier(
    (
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.ClientExecutionTimeoutException",
        "Lambda.TooManyRequestsException",
        # An inactive function (its VPC connection reclaimed) is getting ready again.
        "Lambda.ResourceNotReadyException",
    ),
    interval=2,
    backoff=2,
    max_delay=60,
    attempts=10,
    jitter=True,
)
# The task's runtime died mid-invocation (every task is safe to run again).
TASK_CRASHED = Retrier(
    ("Lambda.Unknown", "Sandbox.Timedout", "Runtime.ExitError"), interval=2, backoff=2, attempts=6
)
# EC2 throttled us, or a resource was briefly in the wrong state, or AWS was unavailable.
AWS_TRANSIENT = Retrier(
    ("Ec2Throttled", "IncorrectState", "AwsUnavailable"),
    interval=1,
    backoff=2,
    max_delay=30,
    attempts=14,
    jitter=True,
)
# Every task state retries these.
STANDARD_RETRY = (LAMBDA_UNAVAILABLE, TASK_CRASHED, AWS_TRANSIENT)

# How long a burst of Lambda throttling (every concurrent execution of the account in use, as
# in a DR event) a rollback outlasts: ROLLBACK_LAMBDA_THROTTLED's window, on average and
# two standard deviations below it, is longer than this (tests/unit/test_workflow.py).
LAMBDA_SATURATION_SECONDS = 900
# A rollback or failure-bookkeeping state throttled by Lambda: ahead of LAMBDA_UNAVAILABLE
# (the first retrier naming an error applies), so that an undo half-way keeps trying for
# about 20 minutes instead of 3 and does not end FailedUnsummarized with the lock held.
ROLLBACK_LAMBDA_THROTTLED = Retrier(
    ("Lambda.TooManyRequestsException",),
    interval=2,
    backoff=2,
    max_delay=60,
    attempts=45,
    jitter=True,
)


def poll(interval: int, max_delay: int | None, attempts: int, backoff: float = 1.5) -> Retrier:
    """A polling task said ``ResourceNotReady``: ask again, less and less often."""
    return Retrier(
        ("ResourceNotReady",),
        interval=interval,
        backoff=backoff,
        max_delay=max_delay,
        attempts=attempts,
    )


# How often each kind of wait asks again (the task itself also waits in its invocation).
POLL_ATTACHMENT = poll(1, 5, 70)  # an attach or detach: seconds
POLL_VOLUMES = poll(2, 15, 70)  # volumes, disk commands, rollback steps
POLL_STOP = poll(5, 15, 70)
POLL_START = poll(3, 10, 70)
POLL_INSTANCE = poll(10, 30, 40)  # status checks, a drill's clone and its validation
POLL_VALIDATION = poll(5, 30, 40)  # a validation command on the restored instance
POLL_CLONE_ROOT = poll(10, 30, 62)
POLL_INITIALIZATION = poll(60, 300, 60, backoff=2)  # hours, for large volumes

# A Task state's own limit: a polling task's function runs up to 11 minutes.
TASK_TIMEOUT_SECONDS = 90
POLLING_TASK_TIMEOUT_SECONDS = 720


# A redriven execution (``RedriveExecution``) would resume where it stopped, on resources
# someone may have changed by hand since: every task refuses it (``ExecutionRedriven``,
# before any AWS call) and the execution ends at this Fail state, changing nothing.
REDRIVEN = "ExecutionRedriven"
REDRIVE_COUNT = {"RedriveCount.$": "$$.Execution.RedriveCount"}


def redriven_end() -> State:
    """Where a refused redrive ends: the task's ExecutionRedriven, with its Cause."""
    return fail(
        "$.Redriven.Error",
        "$.Redriven.Cause",
        comment="A redriven execution ends here, changing nothing.",
    )


def catch_redriven(next_state: str) -> dict[str, Any]:
    return {"ErrorEquals": [REDRIVEN], "ResultPath": "$.Redriven", "Next": next_state}


def catch_all(next_state: str, result_path: str | None) -> list[dict[str, Any]]:
    """Any error: keep it at ``result_path`` (None: drop it) and go to ``next_state``."""
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": result_path, "Next": next_state}]


def task(
    runs: str,
    parameters: Mapping[str, Any],
    *,
    result_path: str | None,
    on_error: str | None,
    error_path: str | None = "$.Error",
    next_state: str | None = None,
    poll_retry: Retrier | None = None,
    retry: bool = True,
    comment: str | None = None,
    output_path: str | None = None,
    redriven: str | None = REDRIVEN,
) -> State:
    """A Lambda task state: ``runs`` is the task's name in ``vss_restore.tasks``.

    ``on_error`` is where any error goes, stored at ``error_path``; the standard retries
    (and ``poll_retry``, for a task that waits) run first unless ``retry`` is False. The
    task gets the execution's RedriveCount and refuses a redrive; ``redriven`` is where that
    refusal goes (a Fail state in the task's own scope; None: a warm-up, which changes
    nothing and must get exactly its event).
    """
    state: State = {"Type": "Task"}
    if comment:
        state["Comment"] = comment
    state["Resource"] = "${" + function_arn_placeholder(runs) + "}"
    state["TimeoutSeconds"] = (
        POLLING_TASK_TIMEOUT_SECONDS if runs in POLLING_TASKS else TASK_TIMEOUT_SECONDS
    )
    state["Parameters"] = {**parameters, **(REDRIVE_COUNT if redriven else {})}
    state["ResultPath"] = result_path
    if retry:
        retriers = [*STANDARD_RETRY, *([poll_retry] if poll_retry else [])]
        state["Retry"] = [r.asl() for r in retriers]
    if on_error is not None:
        state["Catch"] = [
            *([catch_redriven(redriven)] if redriven else []),
            *catch_all(on_error, error_path),
        ]
    if output_path is not None:
        state["OutputPath"] = output_path
    _then(state, next_state)
    return state


def _then(state: State, next_state: str | None) -> None:
    if next_state is None:
        state["End"] = True
    else:
        state["Next"] = next_state


def choice(choices: Sequence[Mapping[str, Any]], default: str, comment: str | None = None) -> State:
    state: State = {"Type": "Choice"}
    if comment:
        state["Comment"] = comment
    state["Choices"] = [dict(c) for c in choices]
    state["Default"] = default
    return state


def when(variable: str, next_state: str, **test: Any) -> dict[str, Any]:
    """One rule of a Choice: ``when("$.Request.DryRun", "X", BooleanEquals=True)``."""
    return {"Variable": variable, **test, "Next": next_state}


def pass_state(
    next_state: str | None,
    *,
    parameters: Mapping[str, Any] | None = None,
    input_path: str | None = None,
    result_path: str | None = None,
    comment: str | None = None,
) -> State:
    state: State = {"Type": "Pass"}
    if comment:
        state["Comment"] = comment
    if input_path is not None:
        state["InputPath"] = input_path
    if parameters is not None:
        state["Parameters"] = dict(parameters)
    if result_path is not None:
        state["ResultPath"] = result_path
    _then(state, next_state)
    return state


def wait(seconds_path: str, next_state: str, comment: str | None = None) -> State:
    """A Wait state of ``seconds_path`` seconds (an integer in the state's input)."""
    state: State = {"Type": "Wait"}
    if comment:
        state["Comment"] = comment
    state["SecondsPath"] = seconds_path
    state["Next"] = next_state
    return state


def fail(error_path: str, cause_path: str, comment: str | None = None) -> State:
    state: State = {"Type": "Fail"}
    if comment:
        state["Comment"] = comment
    state["ErrorPath"] = error_path
    state["CausePath"] = cause_path
    return state


def succeed(output_path: str | None = None) -> State:
    state: State = {"Type": "Succeed"}
    if output_path is not None:
        state["OutputPath"] = output_path
    return state


class States(dict[str, State]):
    """A state machine's (or a branch's) states, in order; a name may be used once."""

    def add(self, name: str, state: State) -> None:
        if name in self:
            raise ValueError(f"state {name!r} is defined twice")
        self[name] = state


def successors(state: State) -> Iterator[str]:
    """The states one state may go to: Next, a Choice's rules and Default, its Catch."""
    if "Next" in state:
        yield state["Next"]
    for rule in state.get("Choices", []):
        yield rule["Next"]
    if "Default" in state:
        yield state["Default"]
    for catcher in state.get("Catch", []):
        yield catcher["Next"]


def reachable(states: Mapping[str, State], entries: Sequence[str]) -> list[str]:
    """The states of one scope reachable from ``entries`` (included), in definition order."""
    seen: set[str] = set()
    todo = list(entries)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(successors(states[name]))
    return [name for name in states if name in seen]


def machine(
    comment: str, start_at: str, states: States, rollback_from: Sequence[str] = ()
) -> dict[str, Any]:
    """The definition. ``rollback_from``: where a failure's undo and bookkeeping begin; every
    task reachable from there retries Lambda's throttling for ROLLBACK_LAMBDA_THROTTLED's
    window first (and its function gets reserved concurrency, ``rollback_tasks``)."""
    caught = (c["Next"] for s in states.values() for c in s.get("Catch", []))
    if REDRIVEN in caught and REDRIVEN not in states:
        states.add(REDRIVEN, redriven_end())
    for name in reachable(states, rollback_from):
        state = states[name]
        if state["Type"] == "Task" and "Retry" in state:
            state["Retry"] = [ROLLBACK_LAMBDA_THROTTLED.asl(), *state["Retry"]]
    return {"Comment": comment, "StartAt": start_at, "States": dict(states)}
