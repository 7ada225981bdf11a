"""Reading executions back: timelines from history events, records to and from JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from vss_restore.capabilities import MACHINES
from vss_restore.definition import definition_path
from vss_restore.executions import (
    ExecutionRecord,
    execution_name,
    rollback_states,
    timeline,
)

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class History:
    """Builds a history the way Step Functions writes one (ids chained by previousEventId)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, kind: str, at: float, previous: int, **details: Any) -> int:
        event: dict[str, Any] = {
            "id": len(self.events) + 1,
            "previousEventId": previous,
            "type": kind,
            "timestamp": T0 + timedelta(seconds=at),
        }
        if details:
            key = kind[0].lower() + kind[1:] + "EventDetails"
            if kind.endswith("StateEntered"):
                key = "stateEnteredEventDetails"
            elif kind.endswith("StateExited"):
                key = "stateExitedEventDetails"
            event[key] = details
        self.events.append(event)
        return int(event["id"])

    def task(
        self, name: str, start: float, attempts: list[str | None], caught: bool = False
    ) -> int:
        """A Task state whose attempts end in the given errors (None: success)."""
        last = self.add("TaskStateEntered", start, len(self.events), name=name)
        at = start
        for error in attempts:
            last = self.add("LambdaFunctionScheduled", at, last)
            at += 1
            if error is None:
                last = self.add("LambdaFunctionSucceeded", at, last)
            else:
                last = self.add("LambdaFunctionFailed", at, last, error=error)
        if error is None or caught:
            last = self.add("TaskStateExited", at, last, name=name, output="{}")
        return last


def test_a_retried_task_is_one_state_with_its_attempts_and_errors() -> None:
    history = History()
    history.task("ValidateRequest", 0, [None])
    history.task("AttachRestoredVolumes", 2, ["Ec2Throttled", "Ec2Throttled", None])

    validate, attach = timeline(history.events)

    assert (validate.name, validate.attempts, validate.retries) == ("ValidateRequest", 1, 0)
    assert validate.seconds == 1
    assert attach.attempts == 3
    assert attach.retries == 2
    assert attach.errors == ["Ec2Throttled", "Ec2Throttled"]
    assert attach.outcome == "succeeded"
    assert attach.seconds == 3


def test_a_failure_handed_to_a_catch_is_caught_and_the_rollback_is_marked() -> None:
    history = History()
    history.task("AttachRestoredVolumes", 0, ["SwapFailed"], caught=True)
    history.task("ReattachOriginalVolumes", 1, [None])

    attach, reattach = timeline(history.events)

    assert attach.outcome == "caught"
    assert not attach.rollback
    assert reattach.rollback
    assert reattach.outcome == "succeeded"


def test_a_state_still_running_has_no_duration() -> None:
    history = History()
    history.add("TaskStateEntered", 0, 0, name="WaitStatusChecks")
    history.add("LambdaFunctionScheduled", 0, 1)

    (run,) = timeline(history.events)

    assert run.outcome == "running"
    assert run.seconds is None


def test_a_parallel_exit_closes_the_parallel_not_its_last_branch_state() -> None:
    history = History()
    parallel = history.add("ParallelStateEntered", 0, 0, name="PrepareVolumesAndStop")
    started = history.add("ParallelStateStarted", 0, parallel)
    history.add("TaskStateEntered", 0, started, name="StopInstance")
    branch = history.add("LambdaFunctionScheduled", 0, 3)
    branch = history.add("LambdaFunctionSucceeded", 2, branch)
    branch = history.add("TaskStateExited", 2, branch, name="StopInstance", output="{}")
    history.add("ParallelStateExited", 5, branch, name="PrepareVolumesAndStop", output="{}")

    parallel_run, stop = timeline(history.events)

    assert parallel_run.seconds == 5
    assert stop.seconds == 2


def test_rollback_states_are_those_reachable_from_the_rollback_entries() -> None:
    states = {
        name
        for machine in MACHINES
        for name in json.loads(definition_path(machine).read_text())["States"]
    }

    rollback = rollback_states()

    assert rollback == {
        "ReattachOriginalVolumes",
        "RestorePowerState",
        "DeleteRestoredVolumes",
        "MarkLeftovers",
        "UnmountVolumes",
        # Mode "Online": disks offline, originals back, their disks online, no power change
        "SendDiskCommandRollbackDisksOffline",
        "AnyRestoredDiskAttached",
        "WaitDiskCommandRollbackDisksOffline",
        "ReattachOriginalVolumesOnline",
        "SendDiskCommandRollbackDisksOnline",
        "WaitDiskCommandRollbackDisksOnline",
    }
    assert rollback <= states
    # every failure releases the lock and summarizes, whether or not anything was undone
    assert (
        not {
            "ReleaseLockAfterFailure",
            "SummarizeFailure",
            "RestoreFailed",
        }
        & rollback
    )


def described(status: str, output: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:m:i-0abc12345-1",
        "name": "i-0abc12345-1",
        "status": status,
        "startDate": T0,
        "stopDate": T0 + timedelta(seconds=42),
        "input": json.dumps({"InstanceId": "i-0abc12345", "DryRun": False}),
        "output": json.dumps(output) if output is not None else None,
        "error": None if status == "SUCCEEDED" else "SwapFailed",
        "cause": None if status == "SUCCEEDED" else "SwapFailed: xvdf",
    }


def test_a_record_survives_json_and_keeps_its_dates() -> None:
    history = History()
    history.task("ValidateRequest", 0, [None])
    report = {"SnapshotSetId": "set-1", "DowntimeSeconds": 12.5, "Volumes": []}
    record = ExecutionRecord.from_described(described("SUCCEEDED", report), history.events)

    again = ExecutionRecord.from_json(json.loads(json.dumps(record.to_json())))

    assert again == record
    assert again.summary() == record.summary()
    assert again.rto_seconds == 42
    assert again.downtime_seconds == 12.5
    assert again.snapshot_set_id == "set-1"


def test_a_failed_record_has_no_report_but_maps_its_planned_volumes() -> None:
    history = History()
    entered = history.add("TaskStateEntered", 0, 0, name="PlanRestore")
    plan = {
        "SnapshotSetId": "set-2",
        "Volumes": [{"Device": "xvdf", "SnapshotId": "snap-1", "ReplacedVolumeId": "vol-1"}],
    }
    history.add(
        "TaskStateExited", 1, entered, name="PlanRestore", output=json.dumps({"Plan": plan})
    )
    record = ExecutionRecord.from_described(described("FAILED"), history.events)

    assert record.report is None
    assert record.rto_seconds == 42
    assert record.summary()["RtoSeconds"] is None
    assert record.snapshot_set_id == "set-2"
    assert record.volume_mapping() == [
        {"Device": "xvdf", "SnapshotId": "snap-1", "NewVolumeId": None, "ReplacedVolumeId": "vol-1"}
    ]


def test_execution_names_start_with_the_instance_and_are_unique() -> None:
    first = execution_name({"InstanceId": "i-0123456789abcdef0"})
    second = execution_name({"InstanceId": "i-0123456789abcdef0"})

    assert first.startswith("i-0123456789abcdef0-")
    assert first != second
    assert execution_name({"InstanceId": "a b/c"}).startswith("abc-")
    assert execution_name("not a dict").startswith("restore-")
