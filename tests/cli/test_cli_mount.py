"""``mount``, ``unmount`` and the expiry of mounts in ``cleanup``, run as a user types them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.cli.conftest import DEMO_INSTANCE, LATEST_COMPLETE_SET, assert_refused
from vss_restore import tags
from vss_restore.cli import target
from vss_restore.cli.mounts import mount_approval
from vss_restore.local import ExecutionResult, LocalEngine
from vss_restore.local.engine import RECORDS_TABLE_NAME
from vss_restore.records import Records


def test_mount_local_mounts_the_demo_servers_data_volumes_read_only(cli: Any) -> None:
    # GIVEN the demo server / WHEN its latest set is mounted on it
    outcome = cli("--local", "mount", "--yes", "--wait", "--expires-in-hours", "4")

    # THEN the report lists each data device's mount, with its drive letter
    assert outcome.exit_code == 0, outcome.stderr
    summary = outcome.json
    assert (summary["Mode"], summary["Status"]) == ("Mount", "SUCCEEDED")
    report = summary["Report"]
    assert report["InstanceId"] == report["TargetInstanceId"] == DEMO_INSTANCE
    assert report["SnapshotSetId"] == LATEST_COMPLETE_SET
    assert [m["Device"] for m in report["Mounts"]] == ["xvdf", "xvdg", "xvdh"]
    assert all(m["DriveLetter"] and m["VolumeId"] for m in report["Mounts"])
    started = datetime.fromisoformat(report["StartedAt"])
    assert abs(datetime.fromisoformat(report["ExpiresAt"]) - started - timedelta(hours=4)) < (
        timedelta(seconds=5)
    )


def test_mount_table_shows_where_each_volume_is_mounted(cli: Any) -> None:
    outcome = cli("--local", "--output", "table", "mount", "--yes", "--wait")

    assert outcome.exit_code == 0, outcome.stderr
    assert f"Mounted read-only on {DEMO_INSTANCE}" in outcome.stdout
    assert "Attached as" in outcome.stdout
    assert "Expires" in outcome.stdout


def test_mount_dry_run_creates_nothing_and_shows_the_devices_it_would_take(cli: Any) -> None:
    outcome = cli("--local", "mount", "--dry-run", "--device", "xvdg")

    assert outcome.exit_code == 0, outcome.stderr
    report = outcome.json["Report"]
    assert report["Status"] == "DryRun"
    assert [(m["Device"], m["VolumeId"]) for m in report["Mounts"]] == [("xvdg", None)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expires-in-hours", "0"], "--expires-in-hours"),
        (["--target-instance-id", DEMO_INSTANCE], "--target-instance-id"),
    ],
)
def test_bad_mount_options_start_nothing(cli: Any, args: list[str], message: str) -> None:
    # --yes: the option is refused, not the missing terminal (which is checked first)
    outcome = cli("--local", "mount", "--yes", *args)

    assert outcome.exit_code == 2, outcome.stderr
    assert message in outcome.stderr
    assert "Started" not in outcome.stderr


def test_mount_without_a_terminal_and_without_yes_starts_nothing(cli: Any) -> None:
    outcome = cli("--local", "mount")

    assert_refused(outcome, "asks for confirmation", "--yes")
    assert "Started" not in outcome.stderr


@pytest.fixture
def mounted(
    engine: LocalEngine, deployed_demo_server: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, str, ExecutionResult]:
    """The demo server's latest set mounted on it by the deployed machine.

    The command's own AWS calls go through the emulator's Windows guests, as the workflow's
    do (its session is the one the engine hooks), so that its disk commands take effect."""
    monkeypatch.setattr(target, "aws_session", lambda options: boto3._get_default_session())
    ec2, instance = deployed_demo_server
    result = engine.run({"InstanceId": instance, "Mode": "Mount"})
    assert result.status == "SUCCEEDED", result.cause
    return ec2, instance, result


def _volume_ids(result: ExecutionResult) -> list[str]:
    return sorted(m["VolumeId"] for m in (result.output or {})["Mounts"])


def _existing(ec2: Any, volume_ids: list[str]) -> list[str]:
    found = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": volume_ids}])
    return sorted(v["VolumeId"] for v in found["Volumes"])


def test_unmount_takes_the_disks_offline_detaches_and_deletes_the_mount_then_does_nothing_again(
    cli: Any, engine: LocalEngine, mounted: tuple[Any, str, ExecutionResult]
) -> None:
    # GIVEN a mount
    ec2, instance, result = mounted
    volumes = _volume_ids(result)
    live = {d: v for d, v in _attached(ec2, instance).items() if v not in volumes}

    # WHEN it is unmounted, twice
    first = cli("--region", engine.region, "unmount", result.execution_arn, "--yes")
    again = cli("--region", engine.region, "unmount", result.execution_arn, "--yes")

    # THEN its volumes went offline before they were detached, and are deleted
    assert first.exit_code == 0, first.stderr
    assert sorted(first.json["Deleted"]) == volumes
    assert _existing(ec2, volumes) == []
    for volume_id in volumes:
        order = [what for what, _, v in engine.guests.events if v == volume_id]
        assert order[-2:] == ["offline", "detach"]
    assert engine.guests.violations == []
    # ...the live volumes stayed, online; and a second unmount finds nothing left to do
    assert _attached(ec2, instance) == live
    assert all(engine.guests.disk_online(v) for v in live.values())
    assert again.exit_code == 0, again.stderr
    assert again.json["Deleted"] == []
    assert sorted(again.json["AlreadyGone"]) == volumes


def test_unmount_keeps_the_volumes_attached_and_tagged_when_windows_refuses_then_succeeds_later(
    cli: Any, engine: LocalEngine, mounted: tuple[Any, str, ExecutionResult]
) -> None:
    # GIVEN a mount whose disks Windows refuses to take offline once
    ec2, instance, result = mounted
    volumes = _volume_ids(result)
    engine.guests.fail_next("Offline", "Set-Disk : The disk is in use")

    # WHEN it is unmounted, and unmounted again
    refused = cli("--region", engine.region, "unmount", result.execution_arn, "--yes")
    tagged = {
        v["VolumeId"]: tags.tag_dict(v["Tags"])[tags.STATUS]
        for v in ec2.describe_volumes(VolumeIds=volumes)["Volumes"]
    }
    attached_then = {v for v in _attached(ec2, instance).values() if v in volumes}
    again = cli("--region", engine.region, "unmount", result.execution_arn, "--yes")

    # THEN the first leaves every volume attached (no disk is pulled from under Windows) and
    # tagged for cleanup; the second, with a command of its own, takes them away
    assert refused.exit_code != 0
    assert "DiskCommandFailed" in refused.stderr
    assert attached_then == set(volumes)
    assert set(tagged.values()) == {tags.STATUS_CLEANUP_REQUIRED}
    assert again.exit_code == 0, again.stderr
    assert _existing(ec2, volumes) == []
    assert engine.guests.violations == []


def _attached(ec2: Any, instance: str) -> dict[str, str]:
    raw = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    return {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in raw["BlockDeviceMappings"]}


def test_unmount_refuses_a_listed_volume_that_is_not_tagged_as_the_executions_mount(
    cli: Any, engine: LocalEngine, mounted: tuple[Any, str, ExecutionResult]
) -> None:
    # GIVEN a mount one of whose volumes has lost its mount tag
    ec2, _, result = mounted
    volumes = _volume_ids(result)
    ec2.delete_tags(Resources=[volumes[0]], Tags=[{"Key": tags.MOUNTED_ON}])

    # WHEN it is unmounted
    outcome = cli("--region", engine.region, "unmount", result.execution_arn, "--yes")

    # THEN nothing is taken away
    assert_refused(outcome, volumes[0], "not tagged as its mounts")
    assert _existing(ec2, volumes) == volumes
    assert all(engine.guests.disk_online(v) for v in volumes)


def test_unmount_refuses_an_execution_that_is_not_a_mount(
    cli: Any, engine: LocalEngine, deployed_demo_server: tuple[Any, str]
) -> None:
    _, instance = deployed_demo_server
    dry_run = engine.run({"InstanceId": instance, "DryRun": True})

    outcome = cli("--region", engine.region, "unmount", dry_run.execution_arn, "--yes")

    assert_refused(outcome, "is not a mount")


def test_cleanup_unmounts_only_expired_mounts_and_lists_them_first_with_dry_run(
    cli: Any, engine: LocalEngine, mounted: tuple[Any, str, ExecutionResult]
) -> None:
    # GIVEN an expired mount, and a second one that has not expired
    ec2, instance, expired = mounted
    current = engine.run({"InstanceId": instance, "Mode": "Mount", "Devices": ["xvdg"]})
    assert current.status == "SUCCEEDED", current.cause
    Records(boto3.client("dynamodb", region_name=engine.region), RECORDS_TABLE_NAME).age(
        expired.execution_arn, "mount", datetime.now(UTC) - timedelta(hours=1)
    )

    # WHEN cleanup runs with --dry-run, then for real
    preview = cli("--region", engine.region, "cleanup", "--dry-run")
    done = cli("--region", engine.region, "cleanup", "--yes")

    # THEN the preview lists the expired mount's volumes and changes nothing; then only they go
    assert preview.exit_code == 0, preview.stderr
    assert sorted(preview.json["UnmountedVolumes"]) == _volume_ids(expired)
    assert done.exit_code == 0, done.stderr
    assert sorted(done.json["UnmountedVolumes"]) == _volume_ids(expired)
    assert _existing(ec2, _volume_ids(expired)) == []
    assert _existing(ec2, _volume_ids(current)) == _volume_ids(current)
    assert engine.guests.violations == []


def test_history_shows_a_mount_as_mode_mount(
    cli: Any, engine: LocalEngine, mounted: tuple[Any, str, ExecutionResult]
) -> None:
    _, instance, result = mounted

    outcome = cli("--region", engine.region, "history", "--instance-id", instance)

    assert outcome.exit_code == 0, outcome.stderr
    (entry,) = [e for e in outcome.json["Restores"] if e["ExecutionArn"] == result.execution_arn]
    assert (entry["Mode"], entry["Status"]) == ("Mount", "SUCCEEDED")


def test_mount_confirmation_says_what_is_mounted_where_read_only_and_until_when(
    demo_server: tuple[Any, str],
) -> None:
    # GIVEN the demo server with its sets
    ec2, instance = demo_server
    now = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)

    # WHEN a mount of the latest complete set is about to start
    approval = mount_approval(
        ec2, {"InstanceId": instance, "Mode": "Mount", "ExpiresInHours": 6}, now
    )

    # THEN the question names the set, each device and where it goes, read-only, no stop,
    # and the expiry; and the request is pinned to exactly that set and those devices
    for text in (LATEST_COMPLETE_SET, "READ-ONLY", "Nothing is stopped", "2026-12-02 02:00:00"):
        assert text in approval.question
    for device, attach_as in (("xvdf", "xvdi"), ("xvdg", "xvdj"), ("xvdh", "xvdk")):
        assert any(
            line.split()[::2] == [device, attach_as] for line in approval.question.splitlines()
        )
    assert approval.request["SnapshotSetId"] == LATEST_COMPLETE_SET
    assert approval.request["Devices"] == ["xvdf", "xvdg", "xvdh"]
