"""The one-line account of a failure and its rollback, downtime, and lineage tag values."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from vss_restore import tags
from vss_restore.models import RestoreReport
from vss_restore.report import (
    application_downtime_seconds,
    disk_commands,
    downtime_seconds,
    error_message,
    summarize_failure,
)


def lambda_cause(message: str, error_type: str = "SwapFailed") -> str:
    """A Lambda error's Cause as Step Functions reports it: JSON with errorMessage."""
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "stackTrace": ["  File ..."]}
    )


# --- error_message ---------------------------------------------------------------------------


def test_error_message_unwraps_error_message_when_cause_is_lambda_json() -> None:
    # GIVEN
    error = {"Error": "SwapFailed", "Cause": lambda_cause("xvdf did not detach")}

    # WHEN
    name, message = error_message(error)

    # THEN
    assert (name, message) == ("SwapFailed", "xvdf did not detach")


def test_error_message_keeps_cause_when_it_is_plain_text() -> None:
    # GIVEN a cause from Step Functions itself
    error = {"Error": "States.Timeout", "Cause": "The task timed out."}

    # WHEN
    result = error_message(error)

    # THEN
    assert result == ("States.Timeout", "The task timed out.")


def test_error_message_keeps_cause_when_it_is_json_without_error_message() -> None:
    # GIVEN JSON that is not a Lambda error
    cause = json.dumps({"detail": "x"})

    # WHEN
    _, message = error_message({"Error": "States.Runtime", "Cause": cause})

    # THEN
    assert message == cause


def test_error_message_becomes_wait_timed_out_when_error_is_resource_not_ready() -> None:
    # GIVEN a wait whose retries ran out
    error = {"Error": "ResourceNotReady", "Cause": lambda_cause("vol-1 is creating")}

    # WHEN
    name, message = error_message(error)

    # THEN
    assert name == "WaitTimedOut"
    assert message == "gave up waiting: vol-1 is creating"


def test_error_message_defaults_to_task_failed_when_error_is_empty() -> None:
    # GIVEN / WHEN
    result = error_message({})

    # THEN
    assert result == ("States.TaskFailed", "")


# --- summarize_failure -----------------------------------------------------------------------


def test_summarize_failure_says_nothing_changed_when_no_rollback_keys() -> None:
    # GIVEN a failure before any change (e.g. no snapshot set)
    document = {
        "Error": {"Error": "SnapshotSetNotFound", "Cause": lambda_cause("no set", "X")},
        "Unlock": {"Released": True},
    }

    # WHEN
    summary = summarize_failure(document)

    # THEN
    assert summary["Error"] == "SnapshotSetNotFound"
    assert summary["Cause"].startswith("SnapshotSetNotFound: no set. ")
    assert "Nothing on the instance had been changed." in summary["Cause"]
    assert "Lock released." in summary["Cause"]
    assert "rolled back" not in summary["Cause"]


def test_summarize_failure_says_nothing_changed_when_request_rejected() -> None:
    # GIVEN a request rejected by ValidateRequest (no lock, no Unlock)
    document = {"Error": {"Error": "InvalidRequest", "Cause": lambda_cause("DryRun: bad", "X")}}

    # WHEN
    summary = summarize_failure(document)

    # THEN
    assert summary == {
        "Error": "InvalidRequest",
        "Cause": "InvalidRequest: DryRun: bad. Nothing on the instance had been changed.",
    }


def test_summarize_failure_lists_what_was_rolled_back_when_rollback_keys_present() -> None:
    # GIVEN a swap failure followed by a complete rollback
    document = {
        "Error": {"Error": "SwapFailed", "Cause": lambda_cause("attach failed")},
        "RollbackVolumes": ["/dev/sda1", "xvdf"],
        "RollbackPower": "running",
        "RollbackCleanup": {"Deleted": ["vol-new1", "vol-new2"], "LeftBehind": []},
        "Unlock": {"Released": True},
    }

    # WHEN
    summary = summarize_failure(document)

    # THEN
    cause = summary["Cause"]
    assert summary["Error"] == "SwapFailed"
    assert cause.startswith("SwapFailed: attach failed. ")
    assert "/dev/sda1, xvdf" in cause
    assert "Instance running" in cause
    assert "vol-new1, vol-new2" in cause
    assert "Lock released." in cause
    assert "Nothing on the instance had been changed." not in cause
    assert "Could not delete" not in cause


def test_summarize_failure_names_left_behind_volumes_when_cleanup_could_not_delete() -> None:
    # GIVEN a cleanup that left a volume behind, tagged
    document = {
        "Error": {"Error": "VolumeCreationFailed", "Cause": "quota"},
        "RollbackPower": "stopped",
        "RollbackCleanup": {"Deleted": [], "LeftBehind": ["vol-stuck"]},
        "Unlock": {"Released": False},
    }

    # WHEN
    summary = summarize_failure(document)

    # THEN
    cause = summary["Cause"]
    assert "Instance stopped" in cause
    assert "vol-stuck" in cause
    assert "Deleted restored volumes" not in cause
    assert "Lock was not held by this execution." in cause


def test_summarize_failure_becomes_rollback_failed_when_rollback_failure_present() -> None:
    # GIVEN a rollback that failed itself, and the leftovers MarkLeftovers reported
    document = {
        "Error": {"Error": "StartFailed", "Cause": lambda_cause("status checks failed")},
        "RollbackFailure": {
            "Error": "ResourceNotReady",
            "Cause": lambda_cause("vol-orig is detaching", "ResourceNotReady"),
        },
        "Leftovers": "/dev/sda1 on vol-new1; restored volumes tagged cleanup-required: vol-new1",
        "Unlock": {"Released": True},
    }

    # WHEN
    summary = summarize_failure(document)

    # THEN
    cause = summary["Cause"]
    assert summary["Error"] == "RollbackFailed"
    assert cause.startswith("StartFailed: status checks failed. ")
    assert "WaitTimedOut: gave up waiting: vol-orig is detaching" in cause
    assert "/dev/sda1 on vol-new1; restored volumes tagged cleanup-required: vol-new1" in cause
    assert "Nothing on the instance had been changed." not in cause


def test_summarize_failure_becomes_rollback_failed_when_the_lock_could_not_be_released() -> None:
    # GIVEN a complete rollback whose last step, releasing the lock, was refused
    document = {
        "Error": {"Error": "StartFailed", "Cause": lambda_cause("no capacity")},
        "RollbackVolumes": ["/dev/sda1 vol-orig1", "xvdf vol-orig2"],
        "RollbackPower": "running",
        "RollbackCleanup": {"Deleted": ["vol-new1", "vol-new2"], "LeftBehind": []},
        "UnlockError": {
            "Error": "ClientError",
            "Cause": lambda_cause("AccessDeniedException on DeleteItem", "ClientError"),
        },
    }

    # WHEN
    summary = summarize_failure(document)

    # THEN the failure is RollbackFailed: the instance stays locked, and the cause says so
    cause = summary["Cause"]
    assert summary["Error"] == "RollbackFailed"
    assert cause.startswith("StartFailed: no capacity. ")
    assert (
        "the lock could not be released (ClientError: AccessDeniedException on DeleteItem)" in cause
    )
    assert "Lock kept" in cause
    assert "/dev/sda1 vol-orig1, xvdf vol-orig2" in cause
    assert "vol-new1, vol-new2" in cause


def test_summarize_failure_says_leftovers_unknown_when_mark_leftovers_failed() -> None:
    # GIVEN a failed rollback without a Leftovers account
    document = {
        "Error": {"Error": "SwapFailed", "Cause": "x"},
        "RollbackFailure": {"Error": "SwapFailed", "Cause": "y"},
        "LeftoversError": {"Error": "States.TaskFailed", "Cause": "z"},
    }

    # WHEN
    summary = summarize_failure(document)

    # THEN
    assert summary["Error"] == "RollbackFailed"
    assert "unknown, see the execution history" in summary["Cause"]


def test_summarize_failure_reports_wait_timed_out_when_error_is_resource_not_ready() -> None:
    # GIVEN a wait in the swap whose retries ran out, then a rollback
    document = {
        "Error": {"Error": "ResourceNotReady", "Cause": "vol-1 attaching"},
        "RollbackVolumes": ["xvdf"],
    }

    # WHEN
    summary = summarize_failure(document)

    # THEN
    assert summary["Error"] == "WaitTimedOut"
    assert summary["Cause"].startswith("WaitTimedOut: gave up waiting: vol-1 attaching")


def test_summarize_failure_says_volumes_were_swapped_when_failing_after_swap() -> None:
    # GIVEN a failure after the volumes were prepared and swapped, with no rollback
    document = {
        "Error": {"Error": "States.TaskFailed", "Cause": "report failed"},
        "Prepared": {"Created": [], "Stop": {}},
    }

    # WHEN
    summary = summarize_failure(document)

    # THEN
    assert "nothing was rolled back" in summary["Cause"]
    assert "Nothing on the instance had been changed." not in summary["Cause"]


# --- downtime_seconds ------------------------------------------------------------------------

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_downtime_seconds_measures_stop_to_running_when_both_known() -> None:
    # GIVEN
    running = T0 + timedelta(minutes=2, seconds=3, microseconds=456789)

    # WHEN
    seconds = downtime_seconds(T0, running)

    # THEN rounded to milliseconds
    assert seconds == 123.457


@pytest.mark.parametrize(("stop", "running"), [(None, T0), (T0, None), (None, None)])
def test_downtime_seconds_is_none_when_either_end_is_missing(
    stop: datetime | None, running: datetime | None
) -> None:
    # GIVEN a restore that never stopped, or never started again

    # WHEN
    seconds = downtime_seconds(stop, running)

    # THEN
    assert seconds is None


def test_downtime_seconds_is_zero_when_both_instants_equal() -> None:
    # GIVEN / WHEN
    seconds = downtime_seconds(T0, T0)

    # THEN
    assert seconds == 0.0


# --- tags.lineage_value ----------------------------------------------------------------------


def test_lineage_value_puts_replaced_volume_first_when_lineage_exists() -> None:
    # GIVEN
    lineage = "vol-00000000000000002 vol-00000000000000001"

    # WHEN
    value = tags.lineage_value("vol-00000000000000003", lineage)

    # THEN newest first
    assert value == "vol-00000000000000003 vol-00000000000000002 vol-00000000000000001"


def test_lineage_value_is_replaced_volume_when_lineage_empty() -> None:
    # GIVEN / WHEN
    value = tags.lineage_value("vol-00000000000000003", "")

    # THEN
    assert value == "vol-00000000000000003"


def test_lineage_value_removes_duplicates_when_ids_repeat() -> None:
    # GIVEN a lineage naming the replaced volume again, and a repeated ancestor
    lineage = "vol-b  vol-a vol-b\nvol-c vol-a"

    # WHEN
    value = tags.lineage_value("vol-a", lineage)

    # THEN
    assert value == "vol-a vol-b vol-c"


def test_lineage_value_drops_oldest_ids_when_longer_than_a_tag_value() -> None:
    # GIVEN 30 ancestors of 21 characters (far more than 256 characters)
    ancestors = [f"vol-{i:017x}" for i in range(30, 0, -1)]
    newest = "vol-" + "f" * 17

    # WHEN
    value = tags.lineage_value(newest, " ".join(ancestors))

    # THEN the value fits, keeps the newest ones in order, and ends on a whole id
    assert len(value) <= tags.MAX_TAG_VALUE
    ids = value.split()
    assert ids[0] == newest
    assert ids[1:] == ancestors[: len(ids) - 1]
    # one more id would not have fitted
    assert len(value) + 1 + len(ancestors[len(ids) - 1]) > tags.MAX_TAG_VALUE


def test_lineage_value_keeps_everything_when_exactly_256_characters() -> None:
    # GIVEN ids that add up to exactly 256 characters with their separators
    newest = "v" * 127
    ancestor = "a" * 128

    # WHEN
    value = tags.lineage_value(newest, ancestor)

    # THEN
    assert value == f"{newest} {ancestor}"
    assert len(value) == 256


def test_application_downtime_runs_from_the_offline_command_sent_to_the_online_one_finished() -> (
    None
):
    # GIVEN TakeDisksOffline sent at t and BringDisksOnline seen finished 42.5 s later
    sent = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)

    # WHEN / THEN
    assert application_downtime_seconds(sent, sent + timedelta(seconds=42.5)) == 42.5
    assert application_downtime_seconds(sent, None) is None
    assert application_downtime_seconds(None, sent) is None


def test_disk_commands_lists_each_finished_command_in_workflow_order() -> None:
    # GIVEN the workflow's Disks after a rollback (sent commands carry no result)
    def result(step: str) -> dict[str, object]:
        return {
            "Step": step,
            "CommandId": f"c-{step}",
            "Status": "Success",
            "FinishedAt": "2026-01-01T03:00:00+00:00",
            "Disks": [
                {
                    "VolumeId": "vol-1",
                    "DiskNumber": 1,
                    "Offline": False,
                    "ReadOnly": False,
                    "DriveLetters": [],
                    "FolderPaths": ["C:\\Data\\"],
                }
            ],
            "Services": [],
            "OutputExcerpt": f"{step} done",
        }

    disks = {
        "RollbackOnline": result("RollbackDisksOnline"),
        "OfflineSent": {"CommandId": "c-1", "SentAt": "2026-01-01T03:00:00+00:00"},
        "Offline": result("TakeDisksOffline"),
        "RollbackOffline": result("RollbackDisksOffline"),
    }

    # WHEN / THEN only the results, offline first, with step, id, status, the disks (where
    # their volumes are: what has a value), services, excerpt
    assert [c.model_dump(by_alias=True) for c in disk_commands(disks)] == [
        {
            "Step": step,
            "CommandId": f"c-{step}",
            "Status": "Success",
            "Disks": [
                {
                    "VolumeId": "vol-1",
                    "DriveLetters": None,
                    "FolderPaths": ["C:\\Data\\"],
                    "LockedVolumes": None,
                }
            ],
            "Services": [],
            "OutputExcerpt": f"{step} done",
        }
        for step in ("TakeDisksOffline", "RollbackDisksOffline", "RollbackDisksOnline")
    ]


def test_summarize_failure_of_an_online_restore_says_what_its_disk_commands_did() -> None:
    # GIVEN an online restore whose new disks did not come online, rolled back
    document = {
        "Request": {"Mode": "Online"},
        "Error": {"Error": "DiskCommandFailed", "Cause": "BringDisksOnline: ... Access denied"},
        "Disks": {
            "RollbackOffline": {"Disks": [{"VolumeId": "vol-new1"}, {"VolumeId": "vol-new2"}]},
            "RollbackOnline": {"Services": [{"Name": "MSSQLSERVER", "Status": "Running"}]},
        },
        "RollbackVolumes": ["xvdf vol-old1", "xvdg vol-old2"],
        "RollbackCleanup": {"Deleted": ["vol-new1", "vol-new2"], "LeftBehind": []},
        "Unlock": {"Released": True},
    }

    # WHEN
    summary = summarize_failure(document)

    # THEN the named error stays; the cause says which disks went offline, that the
    # originals' came back with the services, and that the instance was not stopped
    assert summary["Error"] == "DiskCommandFailed"
    cause = summary["Cause"]
    assert "Access denied" in cause
    assert "Restored volumes' disks taken offline: vol-new1, vol-new2." in cause
    assert "Original volumes' disks online again, services: MSSQLSERVER Running." in cause
    assert "The instance was not stopped (Mode Online)." in cause
    assert "Instance running" not in cause


def test_report_of_an_in_place_restore_has_no_online_fields() -> None:
    # GIVEN an in-place report and the same as Mode "Online"
    now = datetime(2026, 1, 1, tzinfo=UTC)
    report = RestoreReport(
        instance_id="i-0123456789abcdef0",
        snapshot_set_id="set-1",
        status="Succeeded",
        volumes=[],
        started_at=now,
        finished_at=now,
        downtime_seconds=60.0,
        snapshot_set_created_at=now,
        skipped_sets=[],
        replaced_volumes="kept",
        power_state="running",
    )

    # WHEN both are serialized as the state machine outputs them
    in_place = report.model_dump(mode="json", by_alias=True)
    online = report.model_copy(update={"mode": "Online"}).model_dump(mode="json", by_alias=True)

    # THEN only the online one has ApplicationDowntimeSeconds and DiskCommands
    assert in_place["Mode"] == "InPlace"
    assert not {"ApplicationDowntimeSeconds", "DiskCommands"} & set(in_place)
    assert {"ApplicationDowntimeSeconds", "DiskCommands"} <= set(online)


def test_summarize_failure_ends_each_sentence_so_that_none_run_together() -> None:
    # GIVEN an error whose message has no full stop, then a rollback
    document = {
        "Error": {"Error": "SwapFailed", "Cause": "attach failed on call 1"},
        "RollbackVolumes": ["/dev/sda1 vol-orig1"],
        "Unlock": {"Released": True},
    }

    # WHEN the failure is summarized
    cause = summarize_failure(document)["Cause"]

    # THEN each sentence ends before the next begins
    assert cause == (
        "SwapFailed: attach failed on call 1. Original volumes back on their devices: "
        "/dev/sda1 vol-orig1. Lock released."
    )
