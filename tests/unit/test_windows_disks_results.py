"""The disk document's result as the workflow reads it: found anywhere, checked disk by disk."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vss_restore.errors import DiskCommandFailed
from vss_restore.windows_disks import RESULT_MARKER, check_disk_states, parse_result, purpose_of


def _disk(volume_id: str, *, offline: bool, read_only: bool = False) -> dict[str, Any]:
    return {"VolumeId": volume_id, "DiskNumber": 2, "Offline": offline, "ReadOnly": read_only}


def _result(action: str, *disks: dict[str, Any]) -> dict[str, Any]:
    return {"Action": action, "Disks": list(disks), "Services": []}


def test_the_result_is_found_first_in_the_output_or_after_text_without_a_line_break() -> None:
    result = _result("Offline", _disk("vol-1", offline=True))
    line = RESULT_MARKER + json.dumps(result)
    # first, followed by a tail of progress
    assert parse_result(line + "\n" + "progress\n" * 500) == result
    # after a warning printed without a line break, and with text after it on its line
    assert parse_result("WARNING: Waiting for service 'X (X)' to stop..." + line + " x") == result


def test_a_result_cut_off_by_run_commands_limit_is_named_as_such() -> None:
    line = RESULT_MARKER + json.dumps(_result("Offline", _disk("vol-1", offline=True)))
    with pytest.raises(DiskCommandFailed, match="cut off"):
        parse_result(("WARNING: waiting\n" * 10) + line[:40])


@pytest.mark.parametrize(
    ("action", "disk"),
    [
        ("Offline", _disk("vol-1", offline=False)),
        ("Online", _disk("vol-1", offline=True)),
        ("Online", _disk("vol-1", offline=False, read_only=True)),
        ("MountReadOnly", _disk("vol-1", offline=False, read_only=False)),
        ("MountReadOnly", _disk("vol-1", offline=True, read_only=True)),
    ],
    ids=["offline-online", "online-offline", "online-read-only", "mount-writable", "mount-off"],
)
def test_a_success_whose_disk_is_not_as_its_action_leaves_it_fails_naming_the_disk(
    action: str, disk: dict[str, Any]
) -> None:
    ok = _disk("vol-2", offline=action == "Offline", read_only=action == "MountReadOnly")
    with pytest.raises(DiskCommandFailed, match=r"vol-1 \(disk 2\) is"):
        check_disk_states(_result(action, ok, disk), "TakeDisksOffline")


def test_disks_as_their_action_leaves_them_pass() -> None:
    check_disk_states(_result("Offline", _disk("vol-1", offline=True)), "x")
    check_disk_states(_result("Online", _disk("vol-1", offline=False)), "x")
    check_disk_states(_result("MountReadOnly", _disk("vol-1", offline=False, read_only=True)), "x")
    with pytest.raises(DiskCommandFailed, match="no known action"):
        check_disk_states({"Disks": []}, "x")


def test_the_workflows_disk_steps_say_whose_online_it_is() -> None:
    # GIVEN the restore machine's disk steps / THEN the restore's own are the restore's, the
    # rollback's the rollback's: only a rollback's Online starts services whatever fails
    from vss_restore.workflow import restore  # noqa: PLC0415 - the builder, for its names

    assert [purpose_of(s.step) for s in (restore.TAKE_OFFLINE, restore.BRING_ONLINE)] == [
        "Restore",
        "Restore",
    ]
    assert [purpose_of(s.step) for s in (restore.ROLLBACK_OFFLINE, restore.ROLLBACK_ONLINE)] == [
        "Rollback",
        "Rollback",
    ]


def test_an_online_disk_whose_volume_bitlocker_keeps_locked_fails_and_a_mount_reports_it() -> None:
    locked = {"LockedVolumes": ["E:"]}
    # Online: the services could not read it
    with pytest.raises(DiskCommandFailed, match="BitLocker keeps E: of the disk of vol-1 locked"):
        check_disk_states(_result("Online", {**_disk("vol-1", offline=False), **locked}), "x")
    # a mount: the copy is where it should be; the report says it is locked
    mounted = {**_disk("vol-1", offline=False, read_only=True), **locked}
    check_disk_states(_result("MountReadOnly", mounted), "x")
