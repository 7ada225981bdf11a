"""Static checks of the real statemachines/*.asl.json and their substitutions."""

from __future__ import annotations

import inspect
import json
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import pytest

from vss_restore import errors
from vss_restore.capabilities import CAPABILITY_MODES
from vss_restore.capabilities import MACHINES as MACHINE_NAMES
from vss_restore.definition import (
    Limits,
    definition_path,
    placeholders,
    render,
    repo_root,
    substitutions,
)
from vss_restore.tasks import (
    FLEET_TASKS,
    POLLING_TASKS,
    TASKS,
    function_arn_placeholder,
    function_timeout_seconds,
)

# The machines that run requests (restore, drill, mount); the fleet's are checked below.
TEXTS = {name: definition_path(name).read_text() for name in CAPABILITY_MODES}
RAWS: dict[str, dict[str, Any]] = {name: json.loads(text) for name, text in TEXTS.items()}
TEXT = TEXTS["restore"]
LIMIT_NAMES = {f.name for f in fields(Limits)}
KNOWN_PLACEHOLDERS = {function_arn_placeholder(t) for t in TASKS} | {"LockTableName"} | LIMIT_NAMES
ERROR_CLASS_NAMES = {
    name
    for name, obj in vars(errors).items()
    if inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__ == errors.__name__
}
TERMINAL_NAMES = {e.__name__ for e in errors.TERMINAL_ERRORS}
RETRYABLE_NAMES = {e.__name__ for e in errors.RETRYABLE_ERRORS}
TRANSITION_FREE = {"Succeed", "Fail"}


def fake_arns() -> dict[str, str]:
    return {t: f"arn:aws:lambda:us-east-1:123456789012:function:vss-{t}" for t in TASKS}


def all_values() -> dict[str, str]:
    return substitutions(fake_arns(), "vss-restore-locks", Limits())


def walk(
    machine: dict[str, Any], in_branch: bool = False
) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """Every state (name, definition, inside a Parallel/Map branch?), recursively."""
    for name, state in machine["States"].items():
        yield name, state, in_branch
        for branch in state.get("Branches", []):
            yield from walk(branch, in_branch=True)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from walk(state[key], in_branch=True)


def walk_all() -> Iterator[tuple[str, dict[str, Any], bool]]:
    """Every state of every request machine, named ``<machine>.<state>``."""
    for machine, raw in RAWS.items():
        for name, state, in_branch in walk(raw):
            yield f"{machine}.{name}", state, in_branch


def all_scopes() -> Iterator[dict[str, Any]]:
    for raw in RAWS.values():
        yield from scopes(raw)


def scopes(machine: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The top-level machine and every branch: each has its own StartAt and States."""
    yield machine
    for state in machine["States"].values():
        for branch in state.get("Branches", []):
            yield from scopes(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from scopes(state[key])


def transitions(state: dict[str, Any]) -> list[str]:
    targets = [state[k] for k in ("Next", "Default") if k in state]
    targets += [c["Next"] for c in state.get("Choices", [])]
    targets += [c["Next"] for c in state.get("Catch", [])]
    return targets


def tasks() -> list[tuple[str, dict[str, Any], bool]]:
    return [(n, s, b) for n, s, b in walk_all() if s["Type"] == "Task"]


def retriers() -> list[tuple[str, dict[str, Any]]]:
    return [(n, r) for n, s, _ in walk_all() for r in s.get("Retry", [])]


def cumulative_backoff(retrier: dict[str, Any]) -> float:
    """Total delay of all retries: IntervalSeconds * BackoffRate^k, each capped by MaxDelaySeconds."""
    interval = float(retrier.get("IntervalSeconds", 1))
    rate = float(retrier.get("BackoffRate", 2.0))
    cap = float(retrier.get("MaxDelaySeconds", math.inf))
    return sum(min(interval * rate**k, cap) for k in range(int(retrier.get("MaxAttempts", 3))))


# --- the file and its substitutions ------------------------------------------------------------


def test_definition_is_valid_json_when_not_yet_substituted() -> None:
    # GIVEN the raw files / WHEN parsed (at import) / THEN
    for raw in RAWS.values():
        assert raw["StartAt"] in raw["States"]
        assert isinstance(raw["States"], dict)
        assert raw["States"]


def test_definition_uses_only_known_placeholders_when_read() -> None:
    # GIVEN / WHEN
    used = set().union(*(placeholders(text) for text in TEXTS.values()))

    # THEN
    assert used
    assert used - KNOWN_PLACEHOLDERS == set()


def test_render_leaves_no_placeholder_when_all_values_given() -> None:
    # GIVEN every real substitution
    values = all_values()

    # WHEN
    rendered = render(TEXT, values)

    # THEN
    assert "${" not in rendered
    machine = json.loads(rendered)
    assert machine["States"]["AcquireLock"]["Parameters"]["LockTable"] == "vss-restore-locks"
    assert machine["States"]["AcquireLock"]["Parameters"]["TtlSeconds"] == str(
        Limits().LockTtlSeconds
    )


def test_render_raises_value_error_when_a_value_is_missing() -> None:
    # GIVEN every value but the lock table's
    values = all_values()
    del values["LockTableName"]

    # WHEN / THEN
    with pytest.raises(ValueError, match="LockTableName"):
        render(TEXT, values)


def test_substitutions_raise_value_error_when_a_function_arn_is_missing() -> None:
    # GIVEN no ARN for one task
    arns = fake_arns()
    del arns["MarkLeftovers"]

    # WHEN / THEN
    with pytest.raises(ValueError, match="MarkLeftovers"):
        substitutions(arns, "locks", Limits())


def test_substitutions_cover_every_placeholder_when_built_from_tasks_and_limits() -> None:
    # GIVEN / WHEN
    values = all_values()

    # THEN
    assert set(values) == KNOWN_PLACEHOLDERS
    for text in TEXTS.values():
        assert placeholders(text) <= set(values)


# --- retries and catches ---------------------------------------------------------------------


def _warm_up(state: dict[str, Any]) -> bool:
    return state.get("Parameters") == {"WarmUp": True}


def test_every_task_has_retry_when_anywhere_in_the_machine() -> None:
    # GIVEN / WHEN (warm-up calls are best effort: they have no Retry, see below)
    missing = [name for name, state, _ in tasks() if not state.get("Retry") and not _warm_up(state)]

    # THEN
    assert tasks()
    assert missing == []


def test_warm_up_calls_never_fail_the_restore_and_cover_the_swap_tasks() -> None:
    # GIVEN the warm-up calls
    warm_ups = [(name, state) for name, state, _ in tasks() if _warm_up(state)]

    # THEN each catches every error into nothing and goes on to the next
    assert warm_ups
    for name, state in warm_ups:
        assert state["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": state["Next"]}
        ], name
        assert state["ResultPath"] is None
    warmed = {state["Resource"] for _, state in warm_ups}
    swap = ["DetachOriginalVolumes", "AttachRestoredVolumes", "StartInstance"]
    assert {f"${{{t}FunctionArn}}" for t in swap} <= warmed


def test_every_top_level_task_and_parallel_has_catch_with_result_path_when_defined() -> None:
    # GIVEN Tasks outside branches and Parallel states (a branch's failure is caught by its Parallel)
    needing_catch = [
        (name, state)
        for name, state, in_branch in walk_all()
        if (state["Type"] == "Task" and not in_branch) or state["Type"] == "Parallel"
    ]

    # WHEN
    bad = [
        name
        for name, state in needing_catch
        if not state.get("Catch")
        or any(not isinstance(c.get("ResultPath"), str) for c in state["Catch"])
    ]

    # THEN
    assert needing_catch
    assert bad == []


def test_error_names_are_known_when_listed_in_retry_or_catch() -> None:
    # GIVEN every ErrorEquals entry
    names = {
        error
        for _, state, _ in walk_all()
        for clause in [*state.get("Retry", []), *state.get("Catch", [])]
        for error in clause["ErrorEquals"]
    }

    # WHEN
    unknown = {
        n
        for n in names
        if n != "States.ALL"
        and not n.startswith(("Lambda.", "Sandbox.", "Runtime."))
        and n not in ERROR_CLASS_NAMES
    }

    # THEN
    assert unknown == set()


def test_terminal_errors_are_never_retried_when_retry_clauses_listed() -> None:
    # GIVEN / WHEN
    retried = {e for _, r in retriers() for e in r["ErrorEquals"]}

    # THEN neither by name nor by a catch-all
    assert retried & TERMINAL_NAMES == set()
    assert retried & {"States.ALL", "States.TaskFailed"} == set()


def test_every_retryable_error_is_retried_when_retry_clauses_listed() -> None:
    # GIVEN / WHEN
    retried = {e for _, r in retriers() for e in r["ErrorEquals"]}

    # THEN
    assert RETRYABLE_NAMES - retried == set()


def test_every_retry_has_finite_max_attempts_when_defined() -> None:
    # GIVEN / WHEN
    bad = [
        (name, r.get("MaxAttempts"))
        for name, r in retriers()
        if not isinstance(r.get("MaxAttempts"), int)
        or isinstance(r.get("MaxAttempts"), bool)
        or not 0 < r["MaxAttempts"] <= 1000
    ]

    # THEN
    assert retriers()
    assert bad == []


def wait_tasks() -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, state)
        for name, state, _ in tasks()
        if "TimeoutSeconds" in state.get("Parameters", {})
    ]


def test_wait_tasks_exist_when_definition_read() -> None:
    # GIVEN / WHEN
    names = {task_of(state) for _, state in wait_tasks()}

    # THEN every polling task of the restore machine is a wait of the definition (a state
    # may call it under its own name, e.g. WaitDiskCommandMountDisks for WaitDiskCommand)
    assert names >= POLLING_TASKS - set(FLEET_TASKS)


def test_run_fleet_is_one_turn_of_a_loop_with_its_own_retries_and_a_catch() -> None:
    # GIVEN the fleet machines' loop
    for name in ("fleet", "drill-fleet"):
        states = MACHINES[name]["States"]
        run, ended, pause = states["RunFleet"], states["FleetEnded"], states["WaitForFleet"]

        # THEN RunFleet does not wait in its invocation (no ResourceNotReady retry), a Wait
        # state does, and the loop goes back to RunFleet: each turn a new entry of the state
        assert not [r for r in run["Retry"] if "ResourceNotReady" in r["ErrorEquals"]]
        assert run["Next"] == "FleetEnded"
        assert ended["Default"] == "WaitForFleet"
        assert (pause["Type"], pause["SecondsPath"], pause["Next"]) == (
            "Wait",
            "$.Run.WaitSeconds",
            "RunFleet",
        )
        # ... and any error the retries leave goes to the report, then to the failure (a
        # redrive, which changed nothing, ends at once)
        redriven, catch = run["Catch"]
        assert redriven["ErrorEquals"] == ["ExecutionRedriven"]
        assert (catch["ErrorEquals"], catch["Next"]) == (["States.ALL"], "ReportFleetAfterFailure")
        assert states["ReportFleetAfterFailure"]["Next"] == "FleetOutcome"


@pytest.mark.parametrize("name", [n for n, _ in wait_tasks()])
def test_wait_task_retries_longer_than_its_timeout_when_resource_not_ready(name: str) -> None:
    # GIVEN the wait task (name), its time limit and its ResourceNotReady retrier
    state = dict(wait_tasks())[name]
    placeholder = state["Parameters"]["TimeoutSeconds"]
    assert placeholder.startswith("${")
    assert placeholder.endswith("}")
    timeout = getattr(Limits(), placeholder[2:-1])
    matching = [r for r in state["Retry"] if "ResourceNotReady" in r["ErrorEquals"]]
    assert len(matching) == 1
    retrier = matching[0]

    # WHEN
    total = cumulative_backoff(retrier)

    # THEN the task's own WaitTimedOut fires before the retries run out (no jitter shortens them)
    assert retrier.get("JitterStrategy", "NONE") == "NONE"
    assert total > timeout, f"{name}: {total:.0f}s of retries for a {timeout}s time limit"


def test_cumulative_backoff_caps_each_delay_when_max_delay_set() -> None:
    # GIVEN a retrier 2, 4, 8, 10(capped), 10(capped)
    retrier = {"IntervalSeconds": 2, "BackoffRate": 2, "MaxDelaySeconds": 10, "MaxAttempts": 5}

    # WHEN
    total = cumulative_backoff(retrier)

    # THEN (checks the helper the wait test relies on)
    assert total == 34


# --- resources -------------------------------------------------------------------------------


def test_every_task_resource_is_a_function_arn_placeholder_when_defined() -> None:
    # GIVEN
    expected = {f"${{{function_arn_placeholder(t)}}}" for t in TASKS}

    # WHEN
    bad = [(name, s["Resource"]) for name, s, _ in tasks() if s["Resource"] not in expected]

    # THEN
    assert bad == []


def test_every_task_in_table_is_used_when_definition_read() -> None:
    # GIVEN
    used = {s["Resource"] for _, s, _ in tasks()}

    # WHEN
    unused = [t for t in TASKS if f"${{{function_arn_placeholder(t)}}}" not in used]

    # THEN
    assert unused == []


def test_every_task_module_exists_when_listed_in_table() -> None:
    # GIVEN / WHEN
    missing = [m for m in TASKS.values() if not (repo_root() / "functions" / f"{m}.py").is_file()]

    # THEN
    assert missing == []


# --- transitions -----------------------------------------------------------------------------


def test_every_transition_names_an_existing_state_when_defined() -> None:
    # GIVEN each scope (the machine, each branch) / WHEN
    dangling = [
        (name, target)
        for scope in all_scopes()
        for name, state in scope["States"].items()
        for target in transitions(state)
        if target not in scope["States"]
    ]

    # THEN
    assert dangling == []


def test_every_state_ends_or_moves_on_when_defined() -> None:
    # GIVEN / WHEN
    stuck = [
        name
        for name, state, _ in walk_all()
        if state["Type"] not in TRANSITION_FREE
        and state["Type"] != "Choice"
        and not state.get("End")
        and "Next" not in state
    ]

    # THEN
    assert stuck == []


def test_no_state_is_unreachable_when_starting_from_start_at() -> None:
    # GIVEN each scope / WHEN walked from its StartAt
    unreachable: list[str] = []
    for scope in all_scopes():
        seen = {scope["StartAt"]}
        queue = deque([scope["StartAt"]])
        while queue:
            for target in transitions(scope["States"][queue.popleft()]):
                if target not in seen:
                    seen.add(target)
                    queue.append(target)
        unreachable += sorted(set(scope["States"]) - seen)

    # THEN
    assert unreachable == []


# --- Lambda tasks of both machines: retries and time limits as AWS recommends -----------------

MACHINES = {name: json.loads(definition_path(name).read_text()) for name in MACHINE_NAMES}
# AWS's recommended Lambda service errors, the throttling error of a busy account, and a
# function not ready yet (inactive, its VPC connection being set up again).
LAMBDA_SERVICE_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
    "Lambda.ResourceNotReadyException",
}
# 100 restores at once: the delays of a throttled call's retries add up to five minutes or
# more; full jitter waits a uniform part of each (about half in all: 3 minutes on average,
# docs/reliability.md) so that the throttled callers do not come back together.
MIN_LAMBDA_RETRY_SECONDS = 300


def lambda_tasks() -> list[tuple[str, str, dict[str, Any]]]:
    """(machine, state name, state) of every Task that invokes one of our functions."""
    placeholders_ = {f"${{{function_arn_placeholder(t)}}}" for t in [*TASKS, *FLEET_TASKS]}
    return [
        (machine, name, state)
        for machine, raw in MACHINES.items()
        for name, state, _ in walk(raw)
        if state["Type"] == "Task" and state["Resource"] in placeholders_
    ]


def task_of(state: dict[str, Any]) -> str:
    return next(
        t
        for t in [*TASKS, *FLEET_TASKS]
        if state["Resource"] == f"${{{function_arn_placeholder(t)}}}"
    )


def test_lambda_tasks_exist_in_every_machine_when_definitions_read() -> None:
    # GIVEN / WHEN
    machines = {machine for machine, _, _ in lambda_tasks()}

    # THEN
    assert machines == set(MACHINE_NAMES)


@pytest.mark.parametrize(
    ("machine", "name"),
    [(m, n) for m, n, s in lambda_tasks() if not _warm_up(s)],
)
def test_lambda_task_retries_service_errors_with_full_jitter_when_invoked(
    machine: str, name: str
) -> None:
    # GIVEN the task's retriers
    state = next(s for m, n, s in lambda_tasks() if (m, n) == (machine, name))
    retriers_ = state.get("Retry", [])

    # WHEN each recommended error is looked up (the first retrier naming it applies)
    applying = {
        error: next((r for r in retriers_ if error in r["ErrorEquals"]), None)
        for error in LAMBDA_SERVICE_ERRORS
    }

    # THEN every one is retried, with full jitter, long enough for 100 concurrent restores
    assert all(r is not None for r in applying.values()), applying
    for error, retrier in applying.items():
        assert retrier is not None
        assert retrier.get("JitterStrategy") == "FULL", error
        assert retrier["MaxAttempts"] >= 8, error
        assert cumulative_backoff(retrier) >= MIN_LAMBDA_RETRY_SECONDS, error


@pytest.mark.parametrize(("machine", "name"), [(m, n) for m, n, _ in lambda_tasks()])
def test_lambda_task_times_out_after_its_function_when_time_limit_set(
    machine: str, name: str
) -> None:
    # GIVEN the task and the time limit its function is deployed with
    state = next(s for m, n, s in lambda_tasks() if (m, n) == (machine, name))
    task = task_of(state)
    function_timeout = function_timeout_seconds(task)

    # WHEN / THEN an explicit limit, above the function's own: Lambda's timeout error comes first
    assert isinstance(state.get("TimeoutSeconds"), int), name
    assert state["TimeoutSeconds"] > function_timeout, name


def test_definitions_name_no_partition_when_read() -> None:
    # GIVEN / WHEN the raw definitions
    texts = {name: definition_path(name).read_text() for name in MACHINES}

    # THEN ARNs take their partition from the stack (aws-cn, aws-us-gov, ...)
    assert {name: "arn:aws:" in text for name, text in texts.items()} == dict.fromkeys(
        MACHINE_NAMES, False
    )


def test_fleet_never_runs_a_restore_as_a_sync_child_when_defined() -> None:
    # GIVEN every Task of the fleet machine / WHEN
    sync = [
        name
        for name, state, _ in walk(MACHINES["fleet"])
        if state["Type"] == "Task" and ".sync" in state["Resource"]
    ]

    # THEN none: Step Functions stops the .sync children of a stopped or failed parent,
    # which would abort a restore mid-swap, with no rollback and its lock held
    assert sync == []
