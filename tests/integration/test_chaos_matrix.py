"""The reduced reliability matrix in every test run; ``make chaos`` runs the full one.

Its operations are the ones a fault-free run of each phase calls (recorded when this module
is collected). Each case checks I1-I6 (a drill: its own invariants) on the emulator's state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tests.integration.helpers import assert_invariants
from vss_restore.local import Fault, LocalEngine
from vss_restore.local.chaos import PHASES, Case, matrix, record, run_case
from vss_restore.local.engine import LOCK_TABLE_NAME
from vss_restore.local.faults import (
    FAULT_KINDS,
    INVOKE,
    INVOKE_FAULT_KINDS,
    PERMANENT,
    fault_named,
)
from vss_restore.local.invariants import InstanceState

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

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
# An online restore: no stop, no start; disk commands through SSM instead.
ONLINE_CALLS = (RESTORE_CALLS - {"ec2.StopInstances", "ec2.StartInstances"}) | {"ssm.SendCommand"}
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


def test_reduced_matrix_covers_every_call_and_fault_kind_when_built_from_recorded_runs() -> None:
    # GIVEN / WHEN the reduced matrix, built from recorded fault-free runs
    # THEN it breaks every call of a restore, of its rollback and of a drill
    assert {c.phase for c in CASES} == set(PHASES)
    assert _ops("restore") >= RESTORE_CALLS
    assert _ops("rollback") >= ROLLBACK_CALLS
    assert {"ec2.RunInstances", "ec2.TerminateInstances"} <= _ops("drill")
    assert _ops("online") >= ONLINE_CALLS
    assert not _ops("online") & {"ec2.StopInstances", "ec2.StartInstances"}
    # ... each restore call with every transient kind and refused for good, once each
    for operation in {o for o in _ops("restore") if not o.startswith(INVOKE)}:
        kinds = [c.fault for c in CASES if c.phase == "restore" and c.operation == operation]
        assert kinds[: len(FAULT_KINDS)] == list(FAULT_KINDS)
        assert len(kinds) == len(FAULT_KINDS) + 1
        assert kinds[-1].startswith(PERMANENT)


def test_reduced_matrix_faults_an_invocation_of_every_task_when_built_from_recorded_runs() -> None:
    # GIVEN / WHEN the reduced matrix's Lambda faults
    invoked = [c for c in CASES if c.operation.startswith(INVOKE)]

    # THEN each kind is there, in every phase, and every function a restore invokes meets one
    assert {c.fault for c in invoked} == set(INVOKE_FAULT_KINDS)
    assert {c.phase for c in invoked} == set(PHASES)
    reached = {c.operation.partition(":")[2] for c in invoked if c.phase == "restore"}
    assert reached == set(record("restore").invocations())


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
    if case.phase == "online" and not case.permanent:
        # retried through; with a refusal too, no stop or start and no detach of a disk
        # still online happened (run_case counts either as a violation)
        assert outcome.status == "SUCCEEDED", outcome.error
    if case.phase == "rollback":
        # the first failure is not forgotten: it stays the error, or a failed rollback is
        assert outcome.status == "FAILED"
        assert outcome.error in ("StartFailed", "RollbackFailed")
        if not case.permanent:
            assert outcome.error == "StartFailed"  # the rollback retried through and completed


def _lock_owner(instance_id: str) -> str | None:
    item = (
        boto3.client("dynamodb", region_name="us-east-1")
        .get_item(TableName=LOCK_TABLE_NAME, Key={"InstanceId": {"S": instance_id}})
        .get("Item")
    )
    return item["Owner"]["S"] if item else None


def test_restore_reports_its_kept_lock_when_release_is_refused_after_success(
    engine: LocalEngine, ec2: EC2Client, instance_with_volumes: str, vss_set: Any
) -> None:
    # GIVEN DeleteItem on the lock table refused for good (a policy without it)
    vss_set("set-1", hours_ago=1)
    engine.inject(Fault("dynamodb.DeleteItem", code="AccessDeniedException", permanent=True))
    request = {"InstanceId": instance_with_volumes}
    before = InstanceState.capture(ec2, instance_with_volumes)

    # WHEN the restore runs
    result = engine.run(request)

    # THEN it succeeds, and its report says the lock is still held and why
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None
    assert "AccessDeniedException" in result.output["UnlockError"]["Cause"]
    assert _lock_owner(instance_with_volumes) == result.execution_arn
    assert_invariants(ec2, before, result, request)


def test_rollback_fails_with_rollback_failed_when_its_lock_cannot_be_released(
    engine: LocalEngine, ec2: EC2Client, instance_with_volumes: str, vss_set: Any
) -> None:
    # GIVEN StartInstances refused once after the swap, and the lock's DeleteItem for good
    vss_set("set-1", hours_ago=1)
    engine.inject(Fault("ec2.StartInstances", code="InsufficientInstanceCapacity"))
    engine.inject(Fault("dynamodb.DeleteItem", code="AccessDeniedException", permanent=True))
    request = {"InstanceId": instance_with_volumes}
    before = InstanceState.capture(ec2, instance_with_volumes)

    # WHEN the restore runs
    result = engine.run(request)

    # THEN the instance is rolled back, but the run fails with RollbackFailed: it stays locked
    assert (result.status, result.error) == ("FAILED", "RollbackFailed")
    assert InstanceState.capture(ec2, instance_with_volumes) == before
    assert _lock_owner(instance_with_volumes) == result.execution_arn
    cause = result.cause or ""
    assert cause.startswith("StartFailed: ")
    assert "the lock could not be released" in cause
    assert "Lock kept" in cause
    assert_invariants(ec2, before, result, request)


@pytest.mark.parametrize("kind", ["InternalError", "RequestLimitExceeded", "ResponseLost"])
def test_rollback_completes_when_an_attach_fails_transiently(
    engine: LocalEngine, ec2: EC2Client, instance_with_volumes: str, vss_set: Any, kind: str
) -> None:
    # GIVEN StartInstances refused once after the swap, and the rollback's first
    # AttachVolume (the fifth of the run) failing once, transiently
    vss_set("set-1", hours_ago=1)
    engine.inject(Fault("ec2.StartInstances", code="InsufficientInstanceCapacity"))
    fault = engine.inject(fault_named(kind, "ec2.AttachVolume", occurrence=5))
    request = {"InstanceId": instance_with_volumes}
    before = InstanceState.capture(ec2, instance_with_volumes)

    # WHEN the restore runs
    result = engine.run(request)

    # THEN the attach is retried and the rollback completes: the first error stays the error
    assert fault.injected == 1
    assert (result.status, result.error) == ("FAILED", "StartFailed")
    assert InstanceState.capture(ec2, instance_with_volumes) == before
    assert "Lock released." in (result.cause or "")
    assert_invariants(ec2, before, result, request)
