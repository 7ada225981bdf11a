"""The definitions are built from named parts: the checked-in files are the builder's output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from vss_restore.capabilities import CAPABILITY_MODES, MACHINES
from vss_restore.definition import definition_path
from vss_restore.workflow import MACHINES as BUILDERS
from vss_restore.workflow import text
from vss_restore.workflow.__main__ import main
from vss_restore.workflow.asl import STANDARD_RETRY, States

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
    # order: changing one of them is one edit in the builder
    standard = [rule.asl() for rule in STANDARD_RETRY]
    for machine in MACHINES:
        for name, state in _task_states(BUILDERS[machine]()):
            retry = state.get("Retry")
            if retry is None:
                assert state["Parameters"] == {"WarmUp": True}, name
                continue
            assert isinstance(retry, list)
            assert retry[: len(standard)] == standard, name


def test_a_state_name_can_be_defined_once() -> None:
    states = States()
    states.add("A", {"Type": "Succeed"})
    with pytest.raises(ValueError, match="'A' is defined twice"):
        states.add("A", {"Type": "Succeed"})
