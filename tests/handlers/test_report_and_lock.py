"""AcquireLock and ReleaseLock, the report of a restore (BuildReport) and of a failure
(SummarizeFailure)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from tests.handlers.conftest import CallTask
from tests.handlers.emulator import Emulator, Malformed, misplaced_refusals
from tests.handlers.events import LIMITS, REMOVED, now
from tests.handlers.in_place import InPlaceRun, Server
from vss_restore.errors import (
    AwsAccessDenied,
    AwsRequestRefused,
    IncorrectState,
    LockTableMissing,
    RestoreInProgress,
    RollbackFailed,
    StartFailed,
    SwapFailed,
    TerminalError,
)
from vss_restore.local import Fault, LocalEngine

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

pytestmark = pytest.mark.usefixtures("immediate_waits")


# --- AcquireLock and ReleaseLock -----------------------------------------------------------


def test_acquire_lock_takes_the_free_lock_for_this_execution_until_its_time_to_live(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a server no restore holds
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("ValidateRequest")
    asked_from = now()

    # WHEN AcquireLock runs
    acquired = run.run("AcquireLock")

    # THEN the lock table holds the server's lock for this execution, expiring after the
    # lock's time to live
    assert acquired == {"Acquired": True}
    lock = aws.lock(server.instance_id)
    assert lock is not None
    assert lock["Owner"] == run.execution
    ttl = timedelta(seconds=LIMITS.LockTtlSeconds)
    expires = int(lock["ExpiresAt"])
    assert int((asked_from + ttl).timestamp()) <= expires <= int((now() + ttl).timestamp())
    # AND the same execution taking it again (a retry) keeps it
    assert run.run("AcquireLock") == {"Acquired": True}
    assert (aws.lock(server.instance_id) or {}).get("Owner") == run.execution


def test_acquire_lock_fails_with_restore_in_progress_naming_the_holder_when_another_holds_it(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN another restore of the instance holding its lock
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    holder = InPlaceRun.of(call_task, server).through("AcquireLock")
    run = InPlaceRun.of(call_task, server).through("ValidateRequest")
    before = aws.held()

    # WHEN this one asks for the lock, THEN it is refused, naming the holder; the lock stays
    with pytest.raises(RestoreInProgress, match=holder.execution):
        run.run("AcquireLock")
    assert aws.held() == before


def test_acquire_lock_fails_with_lock_table_missing_naming_the_table_when_it_is_gone(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a server no restore holds, and DynamoDB answering that the lock table is not there
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("ValidateRequest")
    engine.inject(Fault("dynamodb.PutItem", code="ResourceNotFoundException", permanent=True))
    before = aws.held()

    # WHEN AcquireLock runs, THEN it fails with the workflow's name for it, naming the table
    # and what to do, not with DynamoDB's; nothing is locked
    with pytest.raises(LockTableMissing, match="deploy the stack again") as missing:
        run.run("AcquireLock")
    assert run.event("AcquireLock")["LockTable"] in str(missing.value)
    assert aws.held() == before


@pytest.mark.parametrize(
    ("code", "error", "says"),
    [
        ("AccessDeniedException", AwsAccessDenied, "was denied (AccessDeniedException)"),
        ("ValidationException", AwsRequestRefused, "was refused (ValidationException)"),
    ],
    ids=["denied", "refused"],
)
def test_acquire_lock_names_the_operation_and_the_table_when_dynamodb_refuses_it_for_good(
    engine: LocalEngine,
    call_task: CallTask,
    ec2: EC2Client,
    code: str,
    error: type[TerminalError],
    says: str,
) -> None:
    # GIVEN a server no restore holds, and DynamoDB refusing the lock's PutItem for good
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("ValidateRequest")
    engine.inject(Fault("dynamodb.PutItem", code=code, permanent=True))
    before = aws.held()

    # WHEN AcquireLock runs, THEN a named terminal error says which call, on what, and
    # AWS's code; nothing is locked
    with pytest.raises(error, match=re.escape(says)) as refused:
        run.run("AcquireLock")
    table = run.event("AcquireLock")["LockTable"]
    assert str(refused.value).startswith(f"PutItem of lock table {table} ")
    assert aws.held() == before


def test_release_lock_frees_the_lock_this_execution_holds(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the lock this execution took
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("AcquireLock")

    # WHEN ReleaseLock runs, THEN the lock item is gone
    assert run.run("ReleaseLock") == {"Released": True}
    assert aws.lock(server.instance_id) is None


def _held_by_another(call_task: CallTask, server: Server) -> str | None:
    return InPlaceRun.of(call_task, server).through("AcquireLock").execution


def _free(call_task: CallTask, server: Server) -> str | None:
    return None


@pytest.mark.parametrize("given", [_held_by_another, _free], ids=["held-by-another", "free"])
def test_release_lock_says_it_released_nothing_and_leaves_a_lock_this_execution_does_not_hold(
    call_task: CallTask,
    ec2: EC2Client,
    given: Callable[[CallTask, Server], str | None],
) -> None:
    # GIVEN a lock another execution holds, or none
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    holder = given(call_task, server)
    run = InPlaceRun.of(call_task, server).through("ValidateRequest")

    # WHEN this execution releases the lock, THEN it says so and the holder keeps it
    assert run.run("ReleaseLock") == {"Released": False}
    assert (aws.lock(server.instance_id) or {}).get("Owner") == holder


# --- BuildReport ---------------------------------------------------------------------------


def test_build_report_reports_the_restore_from_the_state_data_the_tasks_made(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a restore that went through to FinalizeReplacedVolumes
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("FinalizeReplacedVolumes")

    # WHEN BuildReport runs
    report = run.run("BuildReport")

    # THEN it reports each device's new and replaced volume, the downtime from the stop to
    # the instance running, and the instance as EC2 holds it now
    doc = run.document
    assert report["Status"] == "Succeeded"
    assert (report["InstanceId"], report["SnapshotSetId"]) == (server.instance_id, server.set_id)
    assert [(v["Device"], v["NewVolumeId"], v["ReplacedVolumeId"]) for v in report["Volumes"]] == [
        (device, run.created[device], original) for device, original in run.originals.items()
    ]
    assert {v["Device"]: v["SnapshotId"] for v in report["Volumes"]} == server.snapshots
    downtime = datetime.fromisoformat(doc["Running"]["RunningAt"]) - datetime.fromisoformat(
        doc["Prepared"]["Stop"]["StopRequestedAt"]
    )
    assert report["DowntimeSeconds"] == pytest.approx(downtime.total_seconds(), abs=0.001)
    assert report["PowerState"] == aws.power_state(server.instance_id)
    assert (report["ReplacedVolumes"], report["Warnings"]) == ("kept", [])
    assert datetime.fromisoformat(report["StartedAt"]) == datetime.fromisoformat(doc["StartedAt"])
    assert datetime.fromisoformat(report["SnapshotSetCreatedAt"]) == datetime.fromisoformat(
        doc["Found"]["SnapshotSet"]["CreatedAt"]
    )


def test_build_report_of_a_dry_run_lists_the_plan_and_says_nothing_was_touched(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a dry run, which goes from PlanRestore to BuildReport
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server, dry_run=True).through("PlanRestore")
    before = aws.held()

    # WHEN BuildReport runs
    report = run.run("BuildReport")

    # THEN the report lists the plan, no new volume, no downtime; nothing changed
    assert report["Status"] == "DryRun"
    assert [(v["Device"], v["NewVolumeId"], v["ReplacedVolumeId"]) for v in report["Volumes"]] == [
        (device, None, original) for device, original in run.originals.items()
    ]
    assert (report["ReplacedVolumes"], report["DowntimeSeconds"]) == ("untouched", None)
    assert aws.held() == before


def test_build_report_warns_with_the_error_message_when_the_replaced_volumes_were_not_finalized(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a restore whose FinalizeReplacedVolumes failed (EC2 refused its tags), which the
    # workflow records in FinalizeError and carries on
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("WaitStatusChecks")
    engine.inject(Fault("ec2.CreateTags", code="UnauthorizedOperation", permanent=True))
    with pytest.raises(AwsAccessDenied, match=r"CreateTags.*UnauthorizedOperation") as failed:
        run.run("FinalizeReplacedVolumes")
    run.failed(failed.value, "FinalizeError")

    # WHEN BuildReport runs
    report = run.run("BuildReport")

    # THEN the restore succeeded with one warning that gives the error's message, as the
    # report gives every other error (the message, not the Lambda error document)
    assert report["Status"] == "Succeeded"
    [warning] = report["Warnings"]
    assert warning.startswith("replaced volumes were not finalized: ")
    assert str(failed.value) in warning
    assert "stackTrace" not in warning


# --- SummarizeFailure ----------------------------------------------------------------------


def test_summarize_failure_says_what_failed_and_what_each_rollback_task_did(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a restore whose start was refused after the swap, rolled back task by task
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("SetDeleteOnTermination")
    engine.inject(Fault("ec2.StartInstances", code="UnauthorizedOperation"))
    with pytest.raises(StartFailed) as failed:
        run.run("StartInstance")
    run.failed(failed.value)
    back = run.retried("ReattachOriginalVolumes")
    power = run.retried("RestorePowerState")
    cleanup = run.run("DeleteRestoredVolumes")
    run.run("ReleaseLock")

    # WHEN SummarizeFailure runs on the state data
    summary = run.run("SummarizeFailure")

    # THEN the execution fails with the first error, and its cause says what was undone
    assert summary["Error"] == "StartFailed"
    cause = summary["Cause"]
    assert cause.startswith(f"StartFailed: {failed.value}")
    assert f"Original volumes back on their devices: {', '.join(back)}." in cause
    assert f"Instance {power}, as before the restore." in cause
    assert f"Deleted restored volumes: {', '.join(cleanup['Deleted'])}." in cause
    assert cause.endswith("Lock released.")


def test_summarize_failure_is_rollback_failed_saying_where_things_are_when_the_rollback_failed(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN an attach refused in the swap, then a rollback that cannot put xvdf's original
    # back (someone attached it elsewhere), and MarkLeftovers' account of what is where
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("WaitOriginalsDetached")
    engine.inject(Fault("ec2.AttachVolume", code="AttachmentLimitExceeded"))
    with pytest.raises(SwapFailed) as failed:
        run.run("AttachRestoredVolumes")
    run.failed(failed.value)
    ec2.attach_volume(VolumeId=run.originals["xvdf"], InstanceId=server.instance_id, Device="xvdk")
    with pytest.raises(RollbackFailed) as rollback_failed:
        run.retried("ReattachOriginalVolumes")
    run.failed(rollback_failed.value, "RollbackFailure")
    leftovers = run.run("MarkLeftovers")

    # WHEN SummarizeFailure runs
    summary = run.run("SummarizeFailure")

    # THEN the execution fails with RollbackFailed: the first error, the rollback's, where
    # things were left, and that the lock is kept
    assert summary["Error"] == "RollbackFailed"
    cause = summary["Cause"]
    assert cause.startswith(f"SwapFailed: {failed.value}")
    assert f"Rollback failed (RollbackFailed: {rollback_failed.value})." in cause
    assert f"Left as it is: {leftovers}." in cause
    assert "Lock kept" in cause


def test_summarize_failure_calls_a_detach_stuck_in_incorrect_state_a_timed_out_wait(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a restore whose DetachVolume EC2 kept refusing as IncorrectState (a volume whose
    # detach never completes) until the state's retries ran out, and the Catch took that
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("WaitInstanceStopped")
    engine.inject(Fault("ec2.DetachVolume", code="IncorrectState", permanent=True))
    with pytest.raises(IncorrectState) as stuck:
        run.run("DetachOriginalVolumes")
    run.failed(stuck.value)

    # WHEN SummarizeFailure runs
    summary = run.run("SummarizeFailure")

    # THEN the execution fails with the workflow's error for a wait that ran out, and the
    # cause keeps EC2's last answer
    assert summary["Error"] == "WaitTimedOut"
    assert "after every retry (IncorrectState)" in summary["Cause"]
    assert str(stuck.value) in summary["Cause"]


# --- malformed events ----------------------------------------------------------------------


def test_each_task_refuses_a_malformed_event_naming_the_field_before_any_aws_call(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the events a restore gives these tasks, each with one field as the workflow
    # never sends it
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("PlanRestore")
    cases = [
        Malformed("AcquireLock", "TtlSeconds", "0", ("TtlSeconds",)),
        Malformed("AcquireLock", "LockTable", "x", ("LockTable",)),
        Malformed("ReleaseLock", "Execution", REMOVED, ("Execution",)),
        Malformed("BuildReport", "Document.Plan", REMOVED, ("Plan",)),
        Malformed("BuildReport", "Document.StartedAt", "soon", ("StartedAt",)),
    ]

    # WHEN each task gets its malformed event, THEN it refuses it before any AWS call,
    # its ValidationError naming the field
    assert misplaced_refusals(engine, call_task, run.event, cases) == []
