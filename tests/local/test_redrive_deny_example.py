"""The example policy that keeps anyone from redriving vss-restore's executions, decided with
the local IAM evaluator (as the tag protection examples are)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vss_restore.definition import repo_root
from vss_restore.local.iam_policy import Request, Statement, evaluate

EXAMPLE = repo_root() / "docs" / "examples" / "deny-redrive-vss-restore.json"
ACCOUNT = "111122223333"
# The placeholders the reader replaces with the names in the stack's *StateMachineArn outputs.
NAMES = {
    "RESTORE_MACHINE_NAME": "StateMachineRestore1A2B3C-Ab12",
    "DRILL_MACHINE_NAME": "DrillMachineDrill4D5E6F-Cd34",
    "MOUNT_MACHINE_NAME": "MountMachineMount7A8B9C-Ef56",
    "RESTORE_FLEET_MACHINE_NAME": "FleetMachineFleet0D1E2F-Gh78",
    "DRILL_FLEET_MACHINE_NAME": "DrillFleetMachine3A4B5C-Ij90",
}
ALLOW_ALL: Statement = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def _policy() -> list[Statement]:
    text = EXAMPLE.read_text()
    for placeholder, name in NAMES.items():
        text = text.replace(placeholder, name)
    document: dict[str, Any] = json.loads(text)
    # As an SCP or beside an operator's own policies: it only takes away.
    return [ALLOW_ALL, *document["Statement"]]


def _execution(machine: str) -> str:
    return f"arn:aws:states:eu-west-1:{ACCOUNT}:execution:{machine}:i-0123456789abcdef0-5d1c0e"


@pytest.mark.parametrize("machine", NAMES.values())
def test_no_execution_of_a_vss_restore_machine_can_be_redriven(machine: str) -> None:
    # GIVEN a principal allowed everything else / WHEN it redrives an execution of a machine
    decision = evaluate(_policy(), Request("states:RedriveExecution", _execution(machine)))

    # THEN the example denies it
    assert not decision.allowed
    assert decision.by == ("NeverRedriveVssRestoreExecutions",)


@pytest.mark.parametrize("action", ["states:StopExecution", "states:DescribeExecution"])
def test_stopping_and_reading_executions_stay_allowed(action: str) -> None:
    # GIVEN / WHEN what the runbook asks of an operator / THEN the example leaves it alone
    assert evaluate(_policy(), Request(action, _execution(NAMES["RESTORE_MACHINE_NAME"]))).allowed


def test_another_workflow_s_executions_can_still_be_redriven() -> None:
    # GIVEN / WHEN a redrive of a machine that is not the stack's
    request = Request("states:RedriveExecution", _execution("OrdersWorkflow-Kl12"))

    # THEN it is not the example's business
    assert evaluate(_policy(), request).allowed


def test_every_placeholder_of_the_example_is_one_this_test_fills() -> None:
    # GIVEN / WHEN the example's resources / THEN each names one machine by its placeholder,
    # and no placeholder is part of another (a find-and-replace fills each one alone)
    document = json.loads(EXAMPLE.read_text())
    (statement,) = document["Statement"]
    assert sorted(statement["Resource"]) == sorted(
        f"arn:*:states:*:*:execution:{p}:*" for p in NAMES
    )
    assert [(a, b) for a in NAMES for b in NAMES if a != b and a in b] == []
