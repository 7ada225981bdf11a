"""Typed parts of an Amazon States Language definition: states, named retry and catch policies.

A definition is written once in Python from these parts (one module per capability) and
rendered to ``statemachines/<name>.asl.json``; a change to a retry policy is one edit here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
) -> State:
    """A Lambda task state: ``runs`` is the task's name in ``vss_restore.tasks``.

    ``on_error`` is where any error goes, stored at ``error_path``; the standard retries
    (and ``poll_retry``, for a task that waits) run first unless ``retry`` is False.
    """
    state: State = {"Type": "Task"}
    if comment:
        state["Comment"] = comment
    state["Resource"] = "${" + function_arn_placeholder(runs) + "}"
    state["TimeoutSeconds"] = (
        POLLING_TASK_TIMEOUT_SECONDS if runs in POLLING_TASKS else TASK_TIMEOUT_SECONDS
    )
    state["Parameters"] = dict(parameters)
    state["ResultPath"] = result_path
    if retry:
        retriers = [*STANDARD_RETRY, *([poll_retry] if poll_retry else [])]
        state["Retry"] = [r.asl() for r in retriers]
    if on_error is not None:
        state["Catch"] = catch_all(on_error, error_path)
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


def machine(comment: str, start_at: str, states: States) -> dict[str, Any]:
    return {"Comment": comment, "StartAt": start_at, "States": dict(states)}
