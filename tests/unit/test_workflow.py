"""The definitions are built from named parts: the checked-in files are the builder's output."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from vss_restore.capabilities import CAPABILITY_MODES, MACHINES
from vss_restore.definition import definition_path, repo_root
from vss_restore.workflow import MACHINES as BUILDERS
from vss_restore.workflow import rollback_tasks, text
from vss_restore.workflow.__main__ import main
from vss_restore.workflow.asl import (
    AWS_TRANSIENT,
    LAMBDA_SATURATION_SECONDS,
    LAMBDA_UNAVAILABLE,
    REDRIVEN,
    ROLLBACK_LAMBDA_THROTTLED,
    STANDARD_RETRY,
    TASK_CRASHED,
    Retrier,
    States,
    reachable,
    retry_window,
)

TASK_OF_RESOURCE = re.compile(r"^\$\{(\w+)FunctionArn\}$")


@pytest.mark.parametrize("machine", MACHINES)
def test_checked_in_definition_is_the_builder_s_output(machine: str) -> None:
    # GIVEN the file Workflow Studio, reviewers, CDK and the local engine read / WHEN built
    # THEN they are the same text (run `python -m vss_restore.workflow` after a change)
    assert definition_path(machine).read_text() == text(machine)  # type: ignore[arg-type]


def test_check_mode_fails_on_a_stale_file_and_write_mode_fixes_it(tmp_path: Path) -> None:
    # GIVEN a fresh copy of the definitions, one of them edited by hand
    assert main(["--out", str(tmp_path)]) == 0
    stale = tmp_path / "drill.asl.json"
    stale.write_text(stale.read_text().replace('"MaxAttempts": 6', '"MaxAttempts": 7'))

    # WHEN / THEN the check names it, and writing restores the builder's text
    assert main(["--check", "--out", str(tmp_path)]) == 1
    assert main(["--out", str(tmp_path)]) == 0
    assert stale.read_text() == text("drill")
    assert main(["--check", "--out", str(tmp_path)]) == 0


def _task_states(machine: dict[str, object]) -> list[tuple[str, dict[str, object]]]:
    found: list[tuple[str, dict[str, object]]] = []
    states = machine["States"]
    assert isinstance(states, dict)
    for name, state in states.items():
        if state["Type"] == "Task":
            found.append((name, state))
        for branch in state.get("Branches", []):
            found += _task_states(branch)
    return found


@pytest.mark.parametrize("machine", MACHINES)
def test_every_task_state_s_name_says_which_task_it_runs(machine: str) -> None:
    # GIVEN every Task state / WHEN its name is read / THEN it starts with its task's name
    built = BUILDERS[machine]()  # type: ignore[index]
    wrong = []
    for name, state in _task_states(built):
        match = TASK_OF_RESOURCE.match(str(state["Resource"]))
        assert match, name
        if not name.startswith(match.group(1)):
            wrong.append((name, match.group(1)))
    assert wrong == []


@pytest.mark.parametrize("machine", list(CAPABILITY_MODES))
def test_each_capability_s_machine_validates_only_its_own_modes(machine: str) -> None:
    # GIVEN the machine's ValidateRequest / WHEN read / THEN it passes the machine's modes
    validate = json.loads(text(machine))["States"]["ValidateRequest"]  # type: ignore[arg-type]
    assert validate["Parameters"]["Modes"] == list(CAPABILITY_MODES[machine])  # type: ignore[index]


def test_each_mode_is_run_by_exactly_one_machine() -> None:
    modes = [mode for modes in CAPABILITY_MODES.values() for mode in modes]
    assert sorted(modes) == sorted(set(modes)) == ["Clone", "InPlace", "Mount", "Online"]


def test_one_named_retry_policy_is_one_block_in_every_task_state() -> None:
    # GIVEN every Task state that retries / THEN each starts with the standard policies, in
    # order (after the rollback's throttling retrier, in a rollback state): changing one of
    # them is one edit in the builder
    standard = [rule.asl() for rule in STANDARD_RETRY]
    for machine in MACHINES:
        for name, state in _task_states(BUILDERS[machine]()):
            retry = state.get("Retry")
            if retry is None:
                assert state["Parameters"] == {"WarmUp": True}, name
                continue
            assert isinstance(retry, list)
            if retry[0] == ROLLBACK_LAMBDA_THROTTLED.asl():
                retry = retry[1:]
            assert retry[: len(standard)] == standard, name


# --- the rollback outlasts Lambda's throttling ----------------------------------------------


def test_retry_window_sums_capped_delays_and_halves_them_with_full_jitter() -> None:
    # GIVEN a retrier pausing 1, 2, 3 (capped), 3 s, with and without full jitter
    plain = Retrier(("E",), interval=1, backoff=2, max_delay=3, attempts=4)
    jittered = Retrier(("E",), interval=1, backoff=2, max_delay=3, attempts=4, jitter=True)

    # WHEN / THEN at most their sum; each uniform pause averages half its delay
    assert retry_window(plain) == retry_window(plain).__class__(9.0, 9.0, 0.0)
    window = retry_window(jittered)
    assert (window.expected, window.worst) == (4.5, 9.0)
    assert window.stdev == pytest.approx(((1 + 4 + 9 + 9) / 12) ** 0.5)


def test_retrier_read_back_from_its_asl_is_the_same_retrier() -> None:
    # GIVEN / WHEN / THEN
    for retrier in (*STANDARD_RETRY, ROLLBACK_LAMBDA_THROTTLED):
        assert Retrier.from_asl(retrier.asl()) == retrier


def test_rollback_throttling_retry_outlasts_the_documented_saturation_window() -> None:
    # GIVEN the retrier rollback states put first / WHEN its window is computed
    window = retry_window(ROLLBACK_LAMBDA_THROTTLED)

    # THEN even two standard deviations short of its average it outlasts the window, where
    # the standard retrier gives up after about 3 minutes on average
    assert window.expected - 2 * window.stdev > LAMBDA_SATURATION_SECONDS
    assert retry_window(LAMBDA_UNAVAILABLE).expected < LAMBDA_SATURATION_SECONDS


# docs/reliability.md's table of retry windows: | `NAME` | ... | expected s | worst s |
WINDOW_ROW = re.compile(r"^\| `(\w+)` \|.*\| (\d+) s \| (\d+) s \|$", re.MULTILINE)


def test_reliability_doc_states_the_real_retry_windows() -> None:
    # GIVEN the windows docs/reliability.md states
    text_ = (repo_root() / "docs" / "reliability.md").read_text()
    stated = {m[1]: (int(m[2]), int(m[3])) for m in WINDOW_ROW.finditer(text_)}

    # WHEN each named retrier's window is computed
    named = {
        "LAMBDA_UNAVAILABLE": LAMBDA_UNAVAILABLE,
        "ROLLBACK_LAMBDA_THROTTLED": ROLLBACK_LAMBDA_THROTTLED,
        "TASK_CRASHED": TASK_CRASHED,
        "AWS_TRANSIENT": AWS_TRANSIENT,
    }
    computed = {
        name: (round(retry_window(r).expected), round(retry_window(r).worst))
        for name, r in named.items()
    }

    # THEN the doc says what the definitions do
    assert stated == computed


ROLLBACK_STATES = {
    "ReattachOriginalVolumes",
    "ReattachOriginalVolumesOnline",
    "RestorePowerState",
    "DeleteRestoredVolumes",
    "MarkLeftovers",
    "SendDiskCommandRollbackDisksOffline",
    "WaitDiskCommandRollbackDisksOffline",
    "SendDiskCommandRollbackDisksOnline",
    "WaitDiskCommandRollbackDisksOnline",
    "ReleaseLockAfterFailure",
    "SummarizeFailure",
}


def test_rollback_states_and_only_they_retry_lambda_throttling_longer() -> None:
    # GIVEN the restore machine / WHEN the states whose first retrier is the rollback's are read
    longer = {
        name
        for name, state in _task_states(BUILDERS["restore"]())
        if state.get("Retry", [None])[0] == ROLLBACK_LAMBDA_THROTTLED.asl()  # type: ignore[index]
    }

    # THEN every undo and bookkeeping step, no step of the restore itself
    assert longer == ROLLBACK_STATES


def test_reachable_follows_next_choices_and_catches_from_the_entries() -> None:
    # GIVEN A -> B (Choice) -> C | D, D catches to E; F unreachable
    states: dict[str, dict[str, Any]] = {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Choice", "Choices": [{"Next": "C"}], "Default": "D"},
        "C": {"Type": "Succeed"},
        "D": {"Type": "Task", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "E"}], "End": True},
        "E": {"Type": "Fail"},
        "F": {"Type": "Succeed"},
    }

    # WHEN / THEN
    assert reachable(states, ["B"]) == ["B", "C", "D", "E"]


def test_rollback_functions_are_derived_from_the_rollback_states() -> None:
    # GIVEN / WHEN the functions that get reserved concurrency
    reserved = set(rollback_tasks())

    # THEN the undo and bookkeeping tasks; not WaitDiskCommand, a polling task every Online
    # restore also runs (a reservation would cap those), nor any task of the normal path only
    assert reserved == {
        "ReattachOriginalVolumes",
        "RestorePowerState",
        "DeleteRestoredVolumes",
        "MarkLeftovers",
        "SummarizeFailure",
        "ReleaseLock",
        "SendDiskCommand",
        "UnmountVolumes",
    }


# --- a redrive changes nothing --------------------------------------------------------------


def _scopes(machine: dict[str, Any]) -> list[dict[str, dict[str, Any]]]:
    """The machine's states, then each branch's, as one mapping per scope."""
    states = machine["States"]
    assert isinstance(states, dict)
    found = [states]
    for state in states.values():
        for branch in state.get("Branches", []):
            found += _scopes(branch)
    return found


@pytest.mark.parametrize("machine", MACHINES)
def test_every_task_refuses_a_redrive_and_the_refusal_ends_the_execution(machine: str) -> None:
    # GIVEN every scope of the machine (the top level and each Parallel branch)
    wrong = []
    for scope in _scopes(BUILDERS[machine]()):  # type: ignore[index]
        for name, state in scope.items():
            if state["Type"] != "Task" or state["Parameters"] == {"WarmUp": True}:
                continue  # a warm-up gets exactly its event and changes nothing
            # WHEN its Task states are read
            # THEN each passes the execution's RedriveCount to its task...
            if state["Parameters"].get("RedriveCount.$") != "$$.Execution.RedriveCount":
                wrong.append((name, "no RedriveCount"))
            # ...and a task that catches errors sends ExecutionRedriven, first, to a Fail
            # state of its own scope (never to a rollback, which would change things)
            catchers = state.get("Catch")
            if catchers is None:
                continue
            first = catchers[0]
            target = scope.get(first["Next"], {})
            if first["ErrorEquals"] != [REDRIVEN] or target.get("Type") != "Fail":
                wrong.append((name, "ExecutionRedriven not caught to a Fail state"))
    assert wrong == []


def test_parallel_sends_a_redriven_branch_to_the_end_not_to_the_rollback() -> None:
    # GIVEN the restore machine's Parallel / WHEN its Catch is read
    states = BUILDERS["restore"]()["States"]
    parallel = states["PrepareVolumesAndStop"]

    # THEN a branch's ExecutionRedriven ends the execution before the catch-all's rollback
    assert parallel["Catch"][0]["ErrorEquals"] == [REDRIVEN]
    assert states[parallel["Catch"][0]["Next"]]["Type"] == "Fail"


def test_a_state_name_can_be_defined_once() -> None:
    states = States()
    states.add("A", {"Type": "Succeed"})
    with pytest.raises(ValueError, match="'A' is defined twice"):
        states.add("A", {"Type": "Succeed"})
