"""Faults during an online restore: I1-I6 hold, the instance never stops, no disk detached online."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.conftest import VssSetFactory
from tests.integration.conftest import RestoreRunner
from tests.integration.helpers import attached, volumes_of
from tests.integration.online_helpers import OnlineWatch
from vss_restore.errors import SwapFailed
from vss_restore.local import Fault, LocalEngine, world
from vss_restore.local.engine import LOCK_TABLE_NAME
from vss_restore.local.fidelity import CommandOutcome
from vss_restore.local.invariants import InstanceState
from vss_restore.models import CreatedVolume, RestorePlan, VolumeSpec
from vss_restore.swap import attach_restored, detach_originals

SERVICES = ["MSSQLSERVER"]


@pytest.fixture
def watch(engine: LocalEngine) -> OnlineWatch:
    return OnlineWatch(engine).start()


def _lock_owner(instance_id: str) -> str | None:
    item = (
        boto3.client("dynamodb", region_name="us-east-1")
        .get_item(TableName=LOCK_TABLE_NAME, Key={"InstanceId": {"S": instance_id}})
        .get("Item")
    )
    return item["Owner"]["S"] if item else None


# Each mutating call of an online restore, refused for good from its first call (the
# ``restore`` fixture checks I1-I6 after each run, I5 as "never stopped").
REFUSED_FOR_GOOD = [
    ("dynamodb.PutItem", "AccessDeniedException"),
    ("ec2.CreateVolume", "VolumeLimitExceeded"),
    ("ssm.SendCommand", "AccessDeniedException"),
    ("ec2.DetachVolume", "UnauthorizedOperation"),
    ("ec2.AttachVolume", "InvalidVolume.ZoneMismatch"),
    ("ec2.ModifyInstanceAttribute", "UnauthorizedOperation"),
    ("ec2.CreateTags", "UnauthorizedOperation"),
    ("ec2.DeleteVolume", "UnauthorizedOperation"),
    ("dynamodb.DeleteItem", "AccessDeniedException"),
]


@pytest.mark.parametrize(
    ("operation", "code"), REFUSED_FOR_GOOD, ids=[o for o, _ in REFUSED_FOR_GOOD]
)
def test_online_restore_keeps_every_invariant_without_a_stop_when_a_call_is_refused(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    watch: OnlineWatch,
    operation: str,
    code: str,
) -> None:
    # GIVEN a set, a data volume deleted on termination (so that the flag is set again), and
    # the operation refused from its first call on
    vss_set("set-1", hours_ago=1)
    ec2.modify_instance_attribute(
        InstanceId=instance_with_volumes,
        BlockDeviceMappings=[{"DeviceName": "xvdg", "Ebs": {"DeleteOnTermination": True}}],
    )
    fault = engine.inject(Fault(operation, code=code, permanent=True))

    # WHEN an online restore runs (the fixture checks I1-I6)
    done = restore(Mode="Online", StopServices=SERVICES, DeleteReplacedVolumes=True)

    # THEN the fault was reached; the instance never stopped and no disk was detached online
    assert fault.injected >= 1
    watch.assert_never_stopped_nor_detached_online()
    # ... and after a failure, every service runs again unless the rollback itself failed
    if done.result.status == "FAILED" and done.result.error != "RollbackFailed":
        assert engine.guests.stopped_services.get(instance_with_volumes, []) == []
        assert InstanceState.capture(ec2, instance_with_volumes) == done.before


def test_a_first_offline_command_that_stopped_services_then_failed_starts_them_again(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    watch: OnlineWatch,
) -> None:
    # GIVEN TakeDisksOffline stopping both services, then failing on a disk
    vss_set("set-1", hours_ago=1)
    engine.guests.fail_next("Offline", "Set-Disk : The disk is in use.", after_services=True)

    # WHEN an online restore runs
    done = restore(Mode="Online", StopServices=["SQLSERVERAGENT", "MSSQLSERVER"])

    # THEN DiskCommandFailed; the rollback started both services again; nothing else changed
    assert done.result.error == "DiskCommandFailed"
    assert "The disk is in use." in (done.result.cause or "")
    assert engine.guests.stopped_services[instance_with_volumes] == []
    assert InstanceState.capture(ec2, instance_with_volumes) == done.before
    assert volumes_of(ec2, done.result) == []
    assert "SendDiskCommandRollbackDisksOnline" in done.result.state_path()
    watch.assert_never_stopped_nor_detached_online()


def test_disks_that_do_not_come_online_roll_back_to_the_originals_with_services_running(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    watch: OnlineWatch,
) -> None:
    # GIVEN BringDisksOnline failing in Windows
    vss_set("set-1", hours_ago=1)
    engine.guests.fail_next("Online", "Set-Disk : The disk is write-protected.")

    # WHEN an online restore runs
    done = restore(Mode="Online", StopServices=SERVICES)

    # THEN DiskCommandFailed quotes the command's output
    assert done.result.error == "DiskCommandFailed"
    cause = done.result.cause or ""
    assert cause.startswith("DiskCommandFailed: BringDisksOnline: ")
    assert "The disk is write-protected." in cause
    # ... the restored disks were taken offline before their volumes were detached; the
    # originals are back, their disks online, SQL Server running; nothing was stopped
    path = done.result.state_path()
    assert path.index("WaitDiskCommandRollbackDisksOffline") < path.index(
        "ReattachOriginalVolumesOnline"
    )
    assert InstanceState.capture(ec2, instance_with_volumes) == done.before
    assert all(engine.guests.disk_online(v) for v in done.before.volumes.values())
    assert engine.guests.stopped_services[instance_with_volumes] == []
    assert volumes_of(ec2, done.result) == []
    assert "Original volumes' disks online again, services: MSSQLSERVER Running." in cause
    assert "The instance was not stopped (Mode Online)." in cause
    watch.assert_never_stopped_nor_detached_online()


def test_a_failed_validation_rolls_the_online_restore_back(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    watch: OnlineWatch,
) -> None:
    # GIVEN a validation document that finds the database broken
    vss_set("set-1", hours_ago=1)
    document = "vss-restore-validation-sql"
    boto3.client("ssm", region_name="us-east-1").create_document(
        Name=document,
        Content=json.dumps(
            {
                "schemaVersion": "2.2",
                "description": "checks",
                "mainSteps": [
                    {
                        "action": "aws:runPowerShellScript",
                        "name": "check",
                        "inputs": {"runCommand": ["exit 3"]},
                    }
                ],
            }
        ),
        DocumentType="Command",
    )
    engine.ssm.respond(document, CommandOutcome("Failed", "database SALES is suspect", 3))

    # WHEN the online restore runs with it
    done = restore(Mode="Online", StopServices=SERVICES, ValidationDocument=document)

    # THEN ValidationFailed quotes the output, and everything is as before, services running
    assert done.result.error == "ValidationFailed"
    assert "database SALES is suspect" in (done.result.cause or "")
    assert InstanceState.capture(ec2, instance_with_volumes) == done.before
    assert engine.guests.stopped_services[instance_with_volumes] == []
    assert all(engine.guests.disk_online(v) for v in done.before.volumes.values())
    watch.assert_never_stopped_nor_detached_online()


def test_rollback_fails_and_keeps_the_lock_when_the_originals_disks_cannot_come_online(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    watch: OnlineWatch,
) -> None:
    # GIVEN BringDisksOnline failing, and the rollback's RollbackDisksOnline failing too
    vss_set("set-1", hours_ago=1)
    engine.guests.fail_next("Online", "Set-Disk : Access denied")
    engine.guests.fail_next("Online", "Set-Disk : Access denied (again)")

    # WHEN an online restore runs (the fixture checks I1-I6)
    done = restore(Mode="Online", StopServices=SERVICES)

    # THEN RollbackFailed, saying why; the originals are back on their devices; the lock
    # is kept for a person to look; nothing was stopped or detached online
    assert done.result.error == "RollbackFailed"
    cause = done.result.cause or ""
    assert "RollbackDisksOnline" in cause
    assert "Access denied (again)" in cause
    assert attached(ec2, instance_with_volumes) == done.before.volumes
    assert _lock_owner(instance_with_volumes) == done.result.execution_arn
    watch.assert_never_stopped_nor_detached_online()


def test_no_volume_is_detached_when_the_restored_disks_cannot_be_taken_offline(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    watch: OnlineWatch,
) -> None:
    # GIVEN the second AttachVolume refused (one restored volume is attached by then), and
    # every SSM command after TakeDisksOffline refused: the rollback cannot take it offline
    vss_set("set-1", hours_ago=1)
    engine.inject(Fault("ec2.AttachVolume", code="AttachmentLimitExceeded", occurrence=2))
    engine.inject(
        Fault("ssm.SendCommand", code="AccessDeniedException", occurrence=2, permanent=True)
    )

    # WHEN an online restore runs (the fixture checks I1-I6)
    done = restore(Mode="Online", StopServices=SERVICES)

    # THEN RollbackFailed: the rollback stopped before detaching anything it had attached
    assert done.result.error == "RollbackFailed"
    assert "ReattachOriginalVolumesOnline" not in done.result.state_path()
    detached = [v for what, _, v in watch.events if what == "detach"]
    restored = {v["VolumeId"] for v in volumes_of(ec2, done.result)}
    assert not restored & set(detached)
    watch.assert_never_stopped_nor_detached_online()


@pytest.mark.parametrize("instance_type", ["t2.large", "m4.xlarge"])
def test_an_online_restore_of_a_xen_instance_is_refused_before_anything_changes(
    engine: LocalEngine, ec2: Any, instance_type: str
) -> None:
    # GIVEN a running Windows instance of a Xen type (its disks' serial is not the volume
    # id), with a snapshot set
    instance_id = world.windows_instance(ec2, name="xen01", instance_type=instance_type)
    world.vss_snapshot_set(
        ec2, instance_id, taken_at=datetime.now(UTC) - timedelta(hours=1), set_id="set-1"
    )
    before = InstanceState.capture(ec2, instance_id)
    volumes = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    watch = OnlineWatch(engine).start()

    # WHEN an online restore of it runs
    result = engine.run({"InstanceId": instance_id, "Mode": "Online", "StopServices": SERVICES})

    # THEN it is refused, saying why and what to do instead, before anything changed: no
    # command sent, no service stopped, no volume created, nothing locked
    assert (result.status, result.error) == ("FAILED", "InstanceTypeNotSupported")
    cause = result.cause or ""
    assert instance_type in cause
    assert "Nitro System" in cause
    assert 'Mode "InPlace"' in cause
    assert not [s for s in result.state_path() if "DiskCommand" in s or "Lock" in s]
    assert boto3.client("ssm", region_name="us-east-1").list_commands()["Commands"] == []
    assert engine.guests.stopped_services.get(instance_id, []) == []
    assert {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]} == volumes
    assert InstanceState.capture(ec2, instance_id) == before
    assert _lock_owner(instance_id) is None
    watch.assert_never_stopped_nor_detached_online()


def test_an_online_restore_of_part_of_a_striped_volume_is_refused_with_nothing_changed(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    watch: OnlineWatch,
) -> None:
    # GIVEN xvdf and xvdg dynamic disks holding a striped volume
    vss_set("set-1", hours_ago=1)
    before = attached(ec2, instance_with_volumes)
    engine.guests.dynamic |= {before["xvdf"], before["xvdg"]}
    volumes = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}

    # WHEN only xvdf is restored online
    done = restore(Mode="Online", Devices=["xvdf"], StopServices=SERVICES)

    # THEN the disk command refuses it, naming both disks, before anything stopped: SQL
    # Server runs, every disk is online, the instance and its volumes are as they were
    assert done.result.error == "DiskCommandFailed"
    cause = done.result.cause or ""
    assert "dynamic disk" in cause
    assert before["xvdf"] in cause
    assert before["xvdg"] in cause
    _assert_nothing_changed(engine, ec2, instance_with_volumes, done, volumes, watch)


def _assert_nothing_changed(
    engine: LocalEngine,
    ec2: Any,
    instance_id: str,
    done: Any,
    volumes: set[str],
    watch: OnlineWatch,
) -> None:
    """A refusal before anything changed: no service stopped, every disk online, nothing
    taken offline or detached, the instance and the account's volumes as they were."""
    assert engine.guests.stopped_services[instance_id] == []
    assert all(engine.guests.disk_online(v) for v in attached(ec2, instance_id).values())
    assert [what for what, _, _ in watch.events if what in ("offline", "detach")] == []
    assert InstanceState.capture(ec2, instance_id) == done.before
    assert {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]} == volumes
    watch.assert_never_stopped_nor_detached_online()


def test_an_online_restore_of_a_volume_bitlocker_leaves_to_be_unlocked_by_hand_is_refused(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    watch: OnlineWatch,
) -> None:
    # GIVEN xvdf protected by BitLocker without auto-unlock (someone unlocked it by hand)
    vss_set("set-1", hours_ago=1)
    before = attached(ec2, instance_with_volumes)
    engine.guests.bitlocker[before["xvdf"]] = "by-hand"
    volumes = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}

    # WHEN it is restored online
    done = restore(Mode="Online", Devices=["xvdf"], StopServices=SERVICES)

    # THEN the disk command refuses it before anything stopped: its copy would come up
    # locked, with SQL Server unable to read it
    assert done.result.error == "DiskCommandFailed"
    cause = done.result.cause or ""
    assert before["xvdf"] in cause
    assert "BitLocker without auto-unlock" in cause
    _assert_nothing_changed(engine, ec2, instance_with_volumes, done, volumes, watch)


def test_an_online_restore_of_auto_unlocked_and_folder_mounted_volumes_reports_where_they_are(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    watch: OnlineWatch,
) -> None:
    # GIVEN xvdf protected by BitLocker with auto-unlock, and xvdg mounted in C:\Data\
    # (a volume with no drive letter, by design)
    vss_set("set-1", hours_ago=1)
    before = attached(ec2, instance_with_volumes)
    engine.guests.bitlocker[before["xvdf"]] = "auto-unlock"
    engine.guests.folders[before["xvdg"]] = ("C:\\Data\\",)

    # WHEN both are restored online
    done = restore(Mode="Online", Devices=["xvdf", "xvdg"], StopServices=SERVICES)

    # THEN it succeeds, and the report says where each restored volume can be read
    assert done.result.status == "SUCCEEDED", done.result.cause
    online = next(c for c in done.report["DiskCommands"] if c["Step"] == "BringDisksOnline")
    by_volume = {d["VolumeId"]: d for d in online["Disks"]}
    now = attached(ec2, instance_with_volumes)
    assert by_volume[now["xvdg"]]["FolderPaths"] == ["C:\\Data\\"]
    assert not by_volume[now["xvdf"]]["LockedVolumes"]
    watch.assert_never_stopped_nor_detached_online()


def test_an_online_restore_of_every_disk_of_a_striped_volume_swaps_them_together(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    watch: OnlineWatch,
) -> None:
    # GIVEN xvdf and xvdg dynamic disks holding a striped volume
    vss_set("set-1", hours_ago=1)
    before = attached(ec2, instance_with_volumes)
    engine.guests.dynamic |= {before["xvdf"], before["xvdg"]}

    # WHEN both are restored online
    done = restore(Mode="Online", Devices=["xvdf", "xvdg"], StopServices=SERVICES)

    # THEN both were swapped, in one disk command each way
    assert done.result.status == "SUCCEEDED", done.result.cause
    now = attached(ec2, instance_with_volumes)
    assert now["xvdf"] != before["xvdf"]
    assert now["xvdg"] != before["xvdg"]
    assert now["xvdh"] == before["xvdh"]
    offline = [v for what, _, v in watch.events if what == "offline"]
    assert sorted(offline) == sorted([before["xvdf"], before["xvdg"]])
    assert engine.guests.stopped_services[instance_with_volumes] == []
    watch.assert_never_stopped_nor_detached_online()


def test_a_striped_pair_whose_second_attach_fails_rolls_back_with_sql_server_running(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    watch: OnlineWatch,
) -> None:
    # GIVEN xvdf and xvdg dynamic disks of a striped volume, both restored, and the second
    # AttachVolume refused: one restored dynamic disk (offline) is attached when it fails
    vss_set("set-1", hours_ago=1)
    before = attached(ec2, instance_with_volumes)
    engine.guests.dynamic |= {before["xvdf"], before["xvdg"]}
    engine.inject(Fault("ec2.AttachVolume", code="AttachmentLimitExceeded", occurrence=2))

    # WHEN the online restore runs
    done = restore(Mode="Online", Devices=["xvdf", "xvdg"], StopServices=SERVICES)

    # THEN the rollback took the one attached restored disk offline (it was not in use)
    # and put the originals back, their disks online, SQL Server running
    assert done.result.status == "FAILED"
    assert done.result.error != "RollbackFailed", done.result.cause
    assert attached(ec2, instance_with_volumes) == before
    assert all(engine.guests.disk_online(v) for v in before.values())
    assert engine.guests.stopped_services[instance_with_volumes] == []
    watch.assert_never_stopped_nor_detached_online()


def _one_device_plan(instance_id: str, device: str, original: str) -> RestorePlan:
    spec = VolumeSpec(
        device=device,
        snapshot_id="snap-0123456789abcdef0",
        replaced_volume_id=original,
        availability_zone=world.DEFAULT_AZ,
        volume_type="gp3",
        size=60,
        encrypted=False,
        delete_on_termination=True,
        tags={},
        client_token="token",
    )
    return RestorePlan(
        instance_id=instance_id,
        snapshot_set_id="set-1",
        execution="arn:aws:states:us-east-1:123456789012:execution:vss-restore:x",
        volumes=[spec],
        untouched_devices=[],
    )


def test_online_swap_refuses_the_root_device_and_a_stopped_instance_and_changes_nothing(
    engine: LocalEngine, ec2: Any, instance_with_volumes: str
) -> None:
    # GIVEN plans for the root device and for a data device, and a volume to put there
    volumes = attached(ec2, instance_with_volumes)
    new = ec2.create_volume(AvailabilityZone=world.DEFAULT_AZ, Size=60)["VolumeId"]
    root = _one_device_plan(instance_with_volumes, "/dev/sda1", volumes["/dev/sda1"])
    data = _one_device_plan(instance_with_volumes, "xvdf", volumes["xvdf"])

    # WHEN the online swap is asked to detach the root of the running instance
    with pytest.raises(SwapFailed, match="root device"):
        detach_originals(ec2, root, [CreatedVolume(device="/dev/sda1", volume_id=new)], online=True)
    # ... or to attach on an instance that someone has stopped meanwhile
    ec2.stop_instances(InstanceIds=[instance_with_volumes])
    with pytest.raises(SwapFailed, match="running instance only"):
        attach_restored(ec2, data, [CreatedVolume(device="xvdf", volume_id=new)], online=True)

    # THEN nothing was detached or attached
    assert attached(ec2, instance_with_volumes) == volumes
