"""Mode "Mount": a set's volumes attached read-only beside the live ones, and taken away again."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.conftest import RECOVERY_HOST_TAG, RecoveryHosts, VssSetFactory
from tests.integration.helpers import attached, power_state, volume_tags, volumes_of
from vss_restore import tags
from vss_restore.local import ExecutionResult, Fault, LocalEngine, world
from vss_restore.local.engine import LOCK_TABLE_NAME
from vss_restore.local.invariants import InstanceState
from vss_restore.mounts import MOUNT_DEVICE_NAMES
from vss_restore.records import Records
from vss_restore.settings import reload_settings

DATA_DEVICES = ["xvdf", "xvdg", "xvdh"]


@pytest.fixture
def stops(engine: LocalEngine) -> list[str]:
    """The instances the workflow asked EC2 to stop (a mount never does)."""
    asked: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        asked.extend(params.get("body", {}).get("InstanceId.1", []) or ["?"])

    engine.observe("before-call.ec2.StopInstances", record)
    return asked


@pytest.fixture
def target(ec2: Any, recovery_hosts: RecoveryHosts) -> str:
    """A running recovery host with a root and one data volume, in another zone."""
    host = world.windows_instance(ec2, world.DEMO_DISKS[:2], name="recovery", az="us-east-1b")
    recovery_hosts(host)
    return host


def _locks() -> list[Any]:
    return boto3.client("dynamodb", region_name="us-east-1").scan(TableName=LOCK_TABLE_NAME)[
        "Items"
    ]


def _mounts(result: ExecutionResult) -> list[dict[str, Any]]:
    assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
    assert result.output is not None
    return list(result.output["Mounts"])


def _assert_live_volumes_untouched(
    engine: LocalEngine, ec2: Any, before: InstanceState, instance_id: str
) -> None:
    """Every volume the instance had is on its device with its disk online; same power state."""
    after = attached(ec2, instance_id)
    assert {d: v for d, v in after.items() if d in before.volumes} == before.volumes
    assert all(engine.guests.disk_online(v) for v in before.volumes.values())
    assert power_state(ec2, instance_id) == before.power_state


def test_mount_attaches_the_sets_data_volumes_read_only_with_drive_letters_on_the_instance(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    stops: list[str],
) -> None:
    # GIVEN a running instance with a complete set
    snapshots = vss_set("set-1", hours_ago=2)
    before = InstanceState.capture(ec2, instance_with_volumes)

    # WHEN its set is mounted on itself
    result = engine.run({"InstanceId": instance_with_volumes, "Mode": "Mount"})

    # THEN each data device's snapshot is on a new volume at a free device, read-only, lettered
    mounts = _mounts(result)
    assert [m["Device"] for m in mounts] == DATA_DEVICES
    assert [m["SnapshotId"] for m in mounts] == [snapshots[d] for d in DATA_DEVICES]
    assert [m["AttachedAs"] for m in mounts] == ["xvdi", "xvdj", "xvdk"]
    holding = attached(ec2, instance_with_volumes)
    for mount in mounts:
        assert holding[mount["AttachedAs"]] == mount["VolumeId"]
        disk = engine.guests.disks[mount["VolumeId"]]
        assert (disk.offline, disk.read_only) == (False, True)
        assert disk.letters == (mount["DriveLetter"],)
    assert len({m["DriveLetter"] for m in mounts}) == len(mounts)
    # ...and the live volumes, the power state and the lock are as they were
    _assert_live_volumes_untouched(engine, ec2, before, instance_with_volumes)
    assert stops == []
    assert engine.guests.violations == []
    assert _locks() == []
    report = result.output or {}
    assert (report["Mode"], report["TargetInstanceId"]) == ("Mount", instance_with_volumes)
    assert (report["Volumes"], report["ReplacedVolumes"]) == ([], "untouched")
    # ... expiring 24 hours after a moment of the run (however long the run took; the
    # expiry is kept to the second)
    started = datetime.fromisoformat(report["StartedAt"])
    finished = datetime.fromisoformat(report["FinishedAt"])
    expires = datetime.fromisoformat(report["ExpiresAt"])
    day = timedelta(hours=24)
    assert started + day - timedelta(seconds=1) <= expires <= finished + day


def test_mount_of_a_volume_bitlocker_unlocks_by_hand_says_it_is_locked_and_keeps_its_letter(
    engine: LocalEngine, ec2: Any, instance_with_volumes: str, vss_set: VssSetFactory
) -> None:
    # GIVEN xvdf protected by BitLocker without auto-unlock, xvdg with auto-unlock
    vss_set("set-1", hours_ago=2)
    volumes = attached(ec2, instance_with_volumes)
    engine.guests.bitlocker[volumes["xvdf"]] = "by-hand"
    engine.guests.bitlocker[volumes["xvdg"]] = "auto-unlock"

    # WHEN the set is mounted
    result = engine.run({"InstanceId": instance_with_volumes, "Mode": "Mount"})

    # THEN it succeeds: the copy of xvdf has its letter and is reported locked (to be
    # unlocked with its recovery key), the others are not
    assert result.status == "SUCCEEDED", result.cause
    locked = {m["Device"]: (m["Locked"], bool(m["DriveLetter"])) for m in _mounts(result)}
    assert locked == {"xvdf": (True, True), "xvdg": (False, True), "xvdh": (False, True)}


def test_mount_volumes_carry_the_mount_tags_and_stay_out_of_the_sources_lineage(
    engine: LocalEngine, ec2: Any, instance_with_volumes: str, vss_set: VssSetFactory
) -> None:
    # GIVEN a set / WHEN it is mounted for 3 hours
    vss_set("set-1", hours_ago=2)
    result = engine.run({"InstanceId": instance_with_volumes, "Mode": "Mount", "ExpiresInHours": 3})

    # THEN every volume says what it is a mount of, where, and until when
    mount = _mounts(result)[0]
    labels = volume_tags(ec2, mount["VolumeId"])
    assert labels[tags.MOUNTED_ON] == instance_with_volumes
    assert labels[tags.MOUNT_DEVICE] == mount["AttachedAs"]
    assert labels[tags.MOUNT_SOURCE_INSTANCE] == instance_with_volumes
    assert labels[tags.DEVICE] == mount["Device"]
    assert labels[tags.SNAPSHOT_ID] == mount["SnapshotId"]
    assert labels[tags.EXECUTION] == result.execution_arn
    assert labels[tags.CREATED_BY] == tags.CREATED_BY_VALUE
    assert labels[tags.MOUNT_EXPIRES_AT] == (result.output or {})["ExpiresAt"].replace(
        "Z", "+00:00"
    )
    assert tags.INSTANCE_ID not in labels
    assert tags.LINEAGE not in labels


def test_mount_on_a_target_in_another_zone_creates_the_volumes_there_and_leaves_the_source_alone(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    target: str,
    stops: list[str],
) -> None:
    # GIVEN a stopped source with a set, and a running recovery host in us-east-1b
    vss_set("set-1", hours_ago=2)
    ec2.stop_instances(InstanceIds=[instance_with_volumes])
    source_before = InstanceState.capture(ec2, instance_with_volumes)
    target_before = InstanceState.capture(ec2, target)

    # WHEN the source's set is mounted on the recovery host for 2 hours
    result = engine.run(
        {
            "InstanceId": instance_with_volumes,
            "Mode": "Mount",
            "TargetInstanceId": target,
            "ExpiresInHours": 2,
        }
    )

    # THEN the volumes are in the host's zone, at its free devices, read-only
    mounts = _mounts(result)
    assert [m["AttachedAs"] for m in mounts] == ["xvdg", "xvdh", "xvdi"]
    for mount in mounts:
        volume = ec2.describe_volumes(VolumeIds=[mount["VolumeId"]])["Volumes"][0]
        assert volume["AvailabilityZone"] == "us-east-1b"
        assert volume["Attachments"][0]["InstanceId"] == target
        assert engine.guests.disks[mount["VolumeId"]].read_only
    report = result.output or {}
    assert report["TargetInstanceId"] == target
    started = datetime.fromisoformat(report["StartedAt"])
    assert abs(datetime.fromisoformat(report["ExpiresAt"]) - started - timedelta(hours=2)) < (
        timedelta(seconds=5)
    )
    # ...and neither the source (still stopped) nor the host's own volumes changed
    assert InstanceState.capture(ec2, instance_with_volumes) == source_before
    _assert_live_volumes_untouched(engine, ec2, target_before, target)
    assert stops == []
    assert _locks() == []


def test_mount_of_the_root_happens_only_when_devices_lists_it(
    engine: LocalEngine, ec2: Any, instance_with_volumes: str, vss_set: VssSetFactory, target: str
) -> None:
    # GIVEN a set / WHEN its root and one data device are mounted on the recovery host
    vss_set("set-1", hours_ago=2)
    result = engine.run(
        {
            "InstanceId": instance_with_volumes,
            "Mode": "Mount",
            "TargetInstanceId": target,
            "Devices": ["/dev/sda1", "xvdg"],
        }
    )

    # THEN exactly those two are mounted, the root first
    assert [m["Device"] for m in _mounts(result)] == ["/dev/sda1", "xvdg"]


def test_mount_dry_run_plans_the_mounts_and_changes_nothing(
    engine: LocalEngine, ec2: Any, instance_with_volumes: str, vss_set: VssSetFactory
) -> None:
    # GIVEN a set
    vss_set("set-1", hours_ago=2)
    before = InstanceState.capture(ec2, instance_with_volumes)
    volumes = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}

    # WHEN a mount is only planned
    result = engine.run({"InstanceId": instance_with_volumes, "Mode": "Mount", "DryRun": True})

    # THEN the report shows where each volume would go, and nothing was created or attached
    mounts = _mounts(result)
    assert (result.output or {})["Status"] == "DryRun"
    assert [(m["AttachedAs"], m["VolumeId"]) for m in mounts] == [
        ("xvdi", None),
        ("xvdj", None),
        ("xvdk", None),
    ]
    assert {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]} == volumes
    assert InstanceState.capture(ec2, instance_with_volumes) == before
    assert _locks() == []


def _fill_devices(ec2: Any, instance_id: str) -> None:
    """Take every device name a mount could use on the instance."""
    for device in MOUNT_DEVICE_NAMES:
        if device in attached(ec2, instance_id):
            continue
        volume_id = ec2.create_volume(AvailabilityZone="us-east-1b", Size=1)["VolumeId"]
        ec2.attach_volume(Device=device, InstanceId=instance_id, VolumeId=volume_id)


BadTarget = Callable[[LocalEngine, Any, str], dict[str, Any]]


def _stopped(engine: LocalEngine, ec2: Any, target: str) -> dict[str, Any]:
    ec2.stop_instances(InstanceIds=[target])
    return {"TargetInstanceId": target}


def _unmanaged(engine: LocalEngine, ec2: Any, target: str) -> dict[str, Any]:
    engine.guests.unmanaged.add(target)
    return {"TargetInstanceId": target}


def _unknown(engine: LocalEngine, ec2: Any, target: str) -> dict[str, Any]:
    return {"TargetInstanceId": "i-0123456789abcdef0"}


def _full(engine: LocalEngine, ec2: Any, target: str) -> dict[str, Any]:
    _fill_devices(ec2, target)
    return {"TargetInstanceId": target}


def _too_long(engine: LocalEngine, ec2: Any, target: str) -> dict[str, Any]:
    return {"TargetInstanceId": target, "ExpiresInHours": 0}


def _xen(engine: LocalEngine, ec2: Any, target: str) -> dict[str, Any]:
    """A recovery host of a Xen instance type: its disks' serial is not the volume id."""
    xen = world.windows_instance(
        ec2, world.DEMO_DISKS[:2], name="xen", az="us-east-1b", instance_type="t2.large"
    )
    key, value = RECOVERY_HOST_TAG
    ec2.create_tags(Resources=[xen], Tags=[{"Key": key, "Value": value}])
    return {"TargetInstanceId": xen}


def _not_a_recovery_host(engine: LocalEngine, ec2: Any, target: str) -> dict[str, Any]:
    """Another running, managed instance of the account, without the recovery-host tag."""
    ec2.delete_tags(Resources=[target], Tags=[{"Key": RECOVERY_HOST_TAG[0]}])
    return {"TargetInstanceId": target}


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (_stopped, "InstanceNotRunning"),
        (_unmanaged, "InstanceNotManaged"),
        (_unknown, "InstanceNotFound"),
        (_full, "NoFreeDevice"),
        (_too_long, "InvalidRequest"),
        (_not_a_recovery_host, "InvalidRequest"),
        (_xen, "InstanceTypeNotSupported"),
    ],
    ids=[
        "stopped",
        "unmanaged",
        "unknown",
        "no-free-device",
        "bad-expiry",
        "not-recovery-host",
        "xen",
    ],
)
def test_mount_fails_with_a_named_error_and_changes_nothing_when_the_target_cannot_take_it(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    target: str,
    make: BadTarget,
    error: str,
) -> None:
    # GIVEN a set, and a target that cannot take a mount
    vss_set("set-1", hours_ago=2)
    fields = make(engine, ec2, target)
    source_before = InstanceState.capture(ec2, instance_with_volumes)
    target_before = InstanceState.capture(ec2, target)
    volumes = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}

    # WHEN the set is mounted there
    result = engine.run({"InstanceId": instance_with_volumes, "Mode": "Mount", **fields})

    # THEN the execution fails with the named error, and nothing changed anywhere
    assert (result.status, result.error) == ("FAILED", error), result.cause
    assert {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]} == volumes
    assert InstanceState.capture(ec2, instance_with_volumes) == source_before
    assert InstanceState.capture(ec2, target) == target_before
    assert _locks() == []


def test_mount_on_another_instance_is_refused_where_the_deployment_has_no_recovery_hosts(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    target: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a deployment without RECOVERY_HOST_TAG_KEY, and an instance tagged as a host anyway
    vss_set("set-1", hours_ago=2)
    monkeypatch.delenv("RECOVERY_HOST_TAG_KEY")
    monkeypatch.delenv("RECOVERY_HOST_TAG_VALUE")
    reload_settings()
    target_before = InstanceState.capture(ec2, target)
    volumes = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}

    # WHEN the set is mounted there
    result = engine.run(
        {"InstanceId": instance_with_volumes, "Mode": "Mount", "TargetInstanceId": target}
    )

    # THEN TargetInstanceId is refused (the set goes only to its own instance), nothing changed
    assert (result.status, result.error) == ("FAILED", "InvalidRequest")
    assert result.cause is not None
    assert "InvalidRequest: TargetInstanceId: " in result.cause
    assert "RECOVERY_HOST_TAG_KEY" in result.cause
    assert {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]} == volumes
    assert InstanceState.capture(ec2, target) == target_before
    assert _locks() == []


def _attach_refused(engine: LocalEngine) -> None:
    engine.inject(Fault("ec2.AttachVolume", code="InvalidParameterValue", occurrence=2))


def _disk_command_fails(engine: LocalEngine) -> None:
    engine.guests.fail_next("MountReadOnly", "Set-Disk : Access denied")


def _result_lost_once_mounted(engine: LocalEngine) -> None:
    """The disks come online, but the answer that says so is lost (an error instead)."""
    engine.inject(
        Fault("ssm.GetCommandInvocation", code="AccessDeniedException", occurrence=2, applied=True)
    )


@pytest.mark.parametrize(
    ("fault", "error", "were_online"),
    [
        (_attach_refused, "SwapFailed", False),
        (_disk_command_fails, "DiskCommandFailed", False),
        (_result_lost_once_mounted, "AwsAccessDenied", True),
    ],
    ids=["attach", "disk-command", "after-mounted"],
)
def test_mount_rolls_back_leaving_nothing_attached_or_undeleted_when_a_step_fails(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    target: str,
    stops: list[str],
    fault: Callable[[LocalEngine], None],
    error: str,
    were_online: bool,
) -> None:
    # GIVEN a set, a recovery host, and a fault at one step of the mount
    vss_set("set-1", hours_ago=2)
    target_before = InstanceState.capture(ec2, target)
    fault(engine)

    # WHEN the set is mounted there
    result = engine.run(
        {"InstanceId": instance_with_volumes, "Mode": "Mount", "TargetInstanceId": target}
    )

    # THEN it fails with the step's error, and every volume it created is gone
    assert (result.status, result.error) == ("FAILED", error), result.cause
    assert [v["VolumeId"] for v in volumes_of(ec2, result)] == []
    assert InstanceState.capture(ec2, target) == target_before
    _assert_live_volumes_untouched(engine, ec2, target_before, target)
    assert engine.guests.violations == []  # no disk was online when its volume was detached
    created = {v for what, i, v in engine.guests.events if (what, i) == ("attach", target)} - set(
        target_before.volumes.values()
    )
    assert created
    for volume_id in created:
        seen = [what for what, _, v in engine.guests.events if v == volume_id]
        if were_online:  # mounted before the fault: offline again, then detached
            assert seen[-3:] == ["online", "offline", "detach"], seen
        else:
            assert "online" not in seen, seen
    assert stops == []
    assert _locks() == []
    assert "Deleted" in (result.cause or "")


def test_mount_rollback_tags_the_volumes_it_cannot_delete(
    engine: LocalEngine, ec2: Any, instance_with_volumes: str, vss_set: VssSetFactory, target: str
) -> None:
    # GIVEN a mount whose second attach is refused, and whose volumes cannot be deleted
    vss_set("set-1", hours_ago=2)
    _attach_refused(engine)
    engine.inject(Fault("ec2.DeleteVolume", code="InvalidVolume.InUse", permanent=True))

    # WHEN the set is mounted
    result = engine.run(
        {"InstanceId": instance_with_volumes, "Mode": "Mount", "TargetInstanceId": target}
    )

    # THEN what is left is detached and tagged for cleanup, never left untagged
    assert (result.status, result.error) == ("FAILED", "SwapFailed"), result.cause
    left = volumes_of(ec2, result)
    assert len(left) == 3
    for volume in left:
        assert volume["State"] == "available"
        assert tags.tag_dict(volume["Tags"])[tags.STATUS] == tags.STATUS_CLEANUP_REQUIRED
    assert "tagged for cleanup" in (result.cause or "")


def test_scheduled_unmount_removes_only_expired_mounts_and_leaves_live_volumes_alone(
    engine: LocalEngine,
    ec2: Any,
    records: Records,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
) -> None:
    # GIVEN two mounts of the instance's set, the first past its expiry
    vss_set("set-1", hours_ago=2)
    before = InstanceState.capture(ec2, instance_with_volumes)
    first = engine.run({"InstanceId": instance_with_volumes, "Mode": "Mount"})
    expired = _mounts(first)
    current = _mounts(
        engine.run({"InstanceId": instance_with_volumes, "Mode": "Mount", "Devices": ["xvdf"]})
    )
    records.age(first.execution_arn, "mount", datetime.now(UTC) - timedelta(minutes=5))

    # WHEN the hourly schedule invokes UnmountVolumes as the stack configures it
    answer = boto3.client("lambda", region_name=engine.region).invoke(
        FunctionName=engine.function_arn("UnmountVolumes"), Payload=b'{"Expired": true}'
    )

    # THEN the expired mount's volumes are offline, detached and deleted; the other stays
    assert "FunctionError" not in answer, answer["Payload"].read()
    removed = sorted(m["VolumeId"] for m in expired)
    assert sorted(json.loads(answer["Payload"].read())["Unmounted"]) == removed
    remaining = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    assert not remaining & set(removed)
    assert {m["VolumeId"] for m in current} <= remaining
    assert engine.guests.violations == []
    _assert_live_volumes_untouched(engine, ec2, before, instance_with_volumes)


def test_scheduled_unmount_goes_on_past_a_mount_it_cannot_remove_and_retries_it_next_time(
    engine: LocalEngine,
    ec2: Any,
    records: Records,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
) -> None:
    # GIVEN two expired mounts, and Windows refusing the next disk offline
    vss_set("set-1", hours_ago=2)
    mounts = [
        _mounts(engine.run({"InstanceId": instance_with_volumes, "Mode": "Mount", "Devices": [d]}))
        for d in ("xvdf", "xvdg")
    ]
    volume_ids = [m["VolumeId"] for found in mounts for m in found]
    records.age(None, "mount", datetime.now(UTC) - timedelta(minutes=5))
    engine.guests.fail_next("Offline", "Set-Disk : The disk is in use")
    invoke = boto3.client("lambda", region_name=engine.region).invoke

    # WHEN the schedule runs, then runs again an hour later
    first = invoke(FunctionName=engine.function_arn("UnmountVolumes"), Payload=b'{"Expired": true}')
    existing = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    kept = [v for v in volume_ids if v in existing]
    kept_tags = [volume_tags(ec2, v) for v in kept]
    second = invoke(
        FunctionName=engine.function_arn("UnmountVolumes"), Payload=b'{"Expired": true}'
    )

    # THEN the first run removes one mount, reports the other's error and tags its volume;
    # the second removes that one too, and no disk was ever detached while online
    assert json.loads(first["Payload"].read())["errorType"] == "DiskCommandFailed"
    assert len(kept) == 1
    assert kept_tags[0][tags.STATUS] == tags.STATUS_CLEANUP_REQUIRED
    assert "FunctionError" not in second
    remaining = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    assert not remaining & set(volume_ids)
    assert engine.guests.violations == []


def test_mount_of_more_data_volumes_than_windows_has_drive_letters_fails_before_anything_changes(
    engine: LocalEngine, ec2: Any
) -> None:
    # GIVEN an instance with a root and 24 data volumes: one more than D: to Z:
    data = [world.Disk(f"/dev/sd{c}", size=1) for c in "bcdefghijklmnopqrstuvwxy"]
    instance_id = world.windows_instance(ec2, [world.DEMO_DISKS[0], *data], name="files01")
    world.vss_snapshot_set(
        ec2, instance_id, taken_at=datetime.now(UTC) - timedelta(hours=2), set_id="set-1"
    )
    before = InstanceState.capture(ec2, instance_id)
    volumes = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}

    # WHEN all of them are mounted (Devices left out)
    result = engine.run({"InstanceId": instance_id, "Mode": "Mount"})

    # THEN ValidateRequest refuses, naming Devices and the letters; nothing changed
    assert (result.status, result.error) == ("FAILED", "InvalidRequest")
    assert result.cause is not None
    assert "InvalidRequest: Devices: lists 24 devices to mount" in result.cause
    assert "D: to Z:" in result.cause
    assert {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]} == volumes
    assert InstanceState.capture(ec2, instance_id) == before
    assert _locks() == []
