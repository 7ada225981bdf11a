"""The reduced reliability matrix in every test run; ``make chaos`` runs the full one.

Its operations are the ones a fault-free run of each phase calls (recorded when this module
is collected). Each case checks I1-I6 (a drill: its own invariants) on the emulator's state.
"""

from __future__ import annotations

import pytest

from vss_restore.local.chaos import PHASES, Case, matrix, run_case
from vss_restore.local.faults import FAULT_KINDS, PERMANENT

CASES = matrix(reduced=True)
# What a restore and its rollback change, at the least (the recording may find more).
RESTORE_CALLS = {
    "dynamodb.PutItem",
    "ec2.CreateVolume",
    "ec2.StopInstances",
    "ec2.DetachVolume",
    "ec2.AttachVolume",
    "ec2.ModifyInstanceAttribute",
    "ec2.StartInstances",
    "ec2.CreateTags",
    "ec2.DeleteVolume",
    "dynamodb.DeleteItem",
}
ROLLBACK_CALLS = {
    "ec2.DetachVolume",
    "ec2.AttachVolume",
    "ec2.ModifyInstanceAttribute",
    "ec2.StartInstances",
    "ec2.DeleteVolume",
    "dynamodb.DeleteItem",
}


def _ops(phase: str) -> set[str]:
    return {c.operation for c in CASES if c.phase == phase}


def test_reduced_matrix_covers_each_phases_calls_with_every_fault_kind() -> None:
    # GIVEN / WHEN the reduced matrix, built from recorded fault-free runs
    # THEN it breaks every call of a restore, of its rollback and of a drill
    assert {c.phase for c in CASES} == set(PHASES)
    assert _ops("restore") >= RESTORE_CALLS
    assert _ops("rollback") >= ROLLBACK_CALLS
    assert {"ec2.RunInstances", "ec2.TerminateInstances"} <= _ops("drill")
    # ... each restore call with every transient kind and refused for good, once each
    for operation in _ops("restore"):
        kinds = [c.fault for c in CASES if c.phase == "restore" and c.operation == operation]
        assert kinds[: len(FAULT_KINDS)] == list(FAULT_KINDS)
        assert len(kinds) == len(FAULT_KINDS) + 1
        assert kinds[-1].startswith(PERMANENT)


def _case_id(case: Case) -> str:
    return f"{case.phase}-{case.operation}#{case.injection.occurrence}-{case.fault}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_execution_keeps_every_invariant_when_a_call_fails(case: Case) -> None:
    # GIVEN a fresh world and the case's faults; WHEN the execution runs
    outcome = run_case(case)

    # THEN the fault was reached, and every invariant holds
    assert outcome.injected >= 1, "the fault was never reached"
    assert outcome.violations == []
    if case.phase == "restore" and not case.permanent:
        # a transient fault is retried through
        assert outcome.status == "SUCCEEDED", outcome.error
    if case.phase == "rollback":
        # the first failure is not forgotten: it stays the error, or a failed rollback is
        assert outcome.status == "FAILED"
        assert outcome.error in ("StartFailed", "RollbackFailed")
        if not case.permanent:
            assert outcome.error == "StartFailed"  # the rollback retried through and completed
