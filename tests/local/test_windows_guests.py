"""The emulator's Windows guests: what the project's disk document does, and what SSM refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from vss_restore import mounts, windows_disks
from vss_restore.errors import DiskCommandFailed, InstanceNotManaged, ResourceNotReady
from vss_restore.local import world
from vss_restore.local.engine import LocalEngine

REGION = "us-east-1"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:vss-restore:online-1"


@pytest.fixture
def ssm(engine: LocalEngine) -> Any:
    return boto3.client("ssm", region_name=REGION)


def data_volumes(ec2: Any, instance_id: str) -> dict[str, str]:
    return {d: v for d, v in world.attached(ec2, instance_id).items() if d != "/dev/sda1"}


def run(
    ssm: Any, instance_id: str, action: Any, volumes: list[str], services: list[str], step: str
) -> Any:
    command_id = windows_disks.send_disk_command(
        ssm, instance_id, action, volumes, services, EXECUTION, step
    )
    with pytest.raises(ResourceNotReady):  # SSM reports InProgress first
        windows_disks.finished_disk_command(ssm, command_id, instance_id, step, datetime.now(UTC))
    return windows_disks.finished_disk_command(
        ssm, command_id, instance_id, step, datetime.now(UTC)
    )


def test_offline_stops_services_and_takes_exactly_the_named_disks_offline(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    data = sorted(data_volumes(ec2, instance_with_volumes).values())
    result = run(
        ssm, instance_with_volumes, "Offline", data[:1], ["MSSQLSERVER"], "TakeDisksOffline"
    )
    assert [(d.volume_id, d.offline) for d in result.disks] == [(data[0], True)]
    assert [(s.name, s.status) for s in result.services] == [("MSSQLSERVER", "Stopped")]
    assert not engine.guests.disk_online(data[0])
    assert all(engine.guests.disk_online(v) for v in data[1:])
    assert engine.guests.stopped_services[instance_with_volumes] == ["MSSQLSERVER"]


def test_detaching_a_volume_whose_disk_is_online_is_recorded_and_offline_first_is_not(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    (first_device, first), (second_device, second) = sorted(
        data_volumes(ec2, instance_with_volumes).items()
    )[:2]
    run(ssm, instance_with_volumes, "Offline", [first], [], "TakeDisksOffline")
    ec2.detach_volume(VolumeId=first, InstanceId=instance_with_volumes, Device=first_device)
    assert engine.guests.violations == []
    ec2.detach_volume(VolumeId=second, InstanceId=instance_with_volumes, Device=second_device)
    assert engine.guests.violations == [
        f"{second} detached from {instance_with_volumes} while its disk was online"
    ]


def test_a_volume_attached_to_a_running_instance_arrives_offline_and_online_brings_it_up(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    volume_id = ec2.create_volume(AvailabilityZone=world.DEFAULT_AZ, Size=10)["VolumeId"]
    ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_with_volumes, Device="xvdp")
    assert not engine.guests.disk_online(volume_id)
    result = run(
        ssm, instance_with_volumes, "Online", [volume_id], ["MSSQLSERVER"], "BringDisksOnline"
    )
    assert [(d.offline, d.read_only, d.signature_reset) for d in result.disks] == [
        (False, False, False)
    ]
    assert engine.guests.disk_online(volume_id)


def test_a_mounted_copy_of_an_online_disk_gets_a_new_signature_a_free_letter_and_read_only(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    source = sorted(data_volumes(ec2, instance_with_volumes).values())[0]
    snapshot = ec2.create_snapshot(VolumeId=source)["SnapshotId"]
    copy = ec2.create_volume(AvailabilityZone=world.DEFAULT_AZ, SnapshotId=snapshot)["VolumeId"]
    ec2.attach_volume(VolumeId=copy, InstanceId=instance_with_volumes, Device="xvdp")
    result = run(ssm, instance_with_volumes, "MountReadOnly", [copy], [], "MountDisks")
    (disk,) = result.disks
    assert (disk.offline, disk.read_only, disk.signature_reset) == (False, True, True)
    # C: and the three data volumes' D:, E:, F: are taken
    assert disk.drive_letters == ["G"]


def test_a_disk_command_runs_on_the_instance_the_request_names_not_every_one_moto_answers(
    engine: LocalEngine, ec2: Any, instance_with_volumes: str
) -> None:
    # GIVEN a second instance, and SendCommand as moto answers it: naming both instances
    other = world.windows_instance(ec2, name="web02")
    data = sorted(data_volumes(ec2, instance_with_volumes).values())
    context: dict[str, Any] = {"client_region": REGION}
    request = {
        "InstanceIds": [instance_with_volumes],
        "DocumentName": windows_disks.document_name(),
        "Parameters": {"Action": ["Offline"], "VolumeIds": [",".join(data)]},
    }
    assert engine.guests.check_parameters({"body": json.dumps(request)}, context) is None
    answer = {
        "Command": {**request, "CommandId": "c-1", "InstanceIds": [instance_with_volumes, other]}
    }
    engine.guests.record_command(answer, context)

    # WHEN the command is seen finished
    status, _ = engine.guests.finish("c-1", REGION) or ("none", "")

    # THEN it ran on the instance the request named: its disks are offline, the other's not
    assert status == "Success"
    assert not any(engine.guests.disk_online(v) for v in data)
    assert all(engine.guests.disk_online(v) for v in world.attached(ec2, other).values())


def test_a_command_for_a_volume_not_attached_fails_and_names_it(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    stray = ec2.create_volume(AvailabilityZone=world.DEFAULT_AZ, Size=10)["VolumeId"]
    with pytest.raises(DiskCommandFailed, match=stray):
        run(ssm, instance_with_volumes, "Offline", [stray], [], "TakeDisksOffline")


def test_an_unknown_service_fails_the_offline_command_before_any_service_stops(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    # GIVEN an instance that has MSSQLSERVER but no SQLAgent
    engine.guests.known_services[instance_with_volumes] = {"MSSQLSERVER"}
    data = sorted(data_volumes(ec2, instance_with_volumes).values())
    # WHEN Offline names both, THEN it fails naming SQLAgent, having changed nothing
    with pytest.raises(DiskCommandFailed, match="SQLAgent"):
        run(ssm, instance_with_volumes, "Offline", data, ["MSSQLSERVER", "SQLAgent"], "Take")
    assert engine.guests.stopped_services.get(instance_with_volumes, []) == []
    assert all(engine.guests.disk_online(v) for v in data)


def test_an_offline_command_failed_after_its_services_leaves_them_stopped_and_the_disks_online(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    # GIVEN the next Offline failing on a disk once its services are stopped
    engine.guests.fail_next("Offline", "Set-Disk : The disk is in use.", after_services=True)
    data = sorted(data_volumes(ec2, instance_with_volumes).values())

    # WHEN it runs, THEN it fails with that output: MSSQLSERVER stopped, every disk online
    with pytest.raises(DiskCommandFailed, match="The disk is in use"):
        run(ssm, instance_with_volumes, "Offline", data, ["MSSQLSERVER"], "TakeDisksOffline")
    assert engine.guests.stopped_services[instance_with_volumes] == ["MSSQLSERVER"]
    assert all(engine.guests.disk_online(v) for v in data)


def test_online_starts_the_stopped_services_and_skips_one_that_does_not_exist(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    # GIVEN MSSQLSERVER stopped with the first data disk offline; no SQLAgent on the instance
    engine.guests.known_services[instance_with_volumes] = {"MSSQLSERVER"}
    first = sorted(data_volumes(ec2, instance_with_volumes).values())[0]
    run(ssm, instance_with_volumes, "Offline", [first], ["MSSQLSERVER"], "TakeDisksOffline")
    # WHEN Online names both (as a rollback after a failed Offline does)
    result = run(
        ssm, instance_with_volumes, "Online", [first], ["MSSQLSERVER", "SQLAgent"], "Rollback"
    )
    # THEN it succeeds: MSSQLSERVER runs again, SQLAgent is reported as not found
    assert [(s.name, s.status) for s in result.services] == [
        ("MSSQLSERVER", "Running"),
        ("SQLAgent", "NotFound"),
    ]
    assert engine.guests.stopped_services[instance_with_volumes] == []
    assert engine.guests.disk_online(first)


def test_ssm_refuses_parameters_the_document_does_not_allow(
    engine: LocalEngine, ssm: Any, instance_with_volumes: str
) -> None:
    document = windows_disks.document_name()
    bad = [
        {"Action": ["Format"], "VolumeIds": ["vol-0123456789abcdef0"]},
        {"Action": ["Offline"], "VolumeIds": ["vol-1'; Remove-Item C:\\ -Recurse; '"]},
        {"Action": ["Offline"], "VolumeIds": ["vol-0123456789abcdef0"], "Services": ["a'b"]},
        {"Action": ["Offline"], "VolumeIds": ["vol-0123456789abcdef0"], "Extra": ["x"]},
        {"Action": ["Offline"]},
    ]
    for parameters in bad:
        with pytest.raises(ClientError) as raised:
            ssm.send_command(
                InstanceIds=[instance_with_volumes], DocumentName=document, Parameters=parameters
            )
        assert raised.value.response["Error"]["Code"] == "InvalidParameters", parameters


def test_a_running_instance_is_managed_unless_unregistered_and_a_stopped_one_never(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    windows_disks.require_managed(ssm, instance_with_volumes)
    engine.guests.unmanaged.add(instance_with_volumes)
    with pytest.raises(InstanceNotManaged, match="not registered"):
        windows_disks.require_managed(ssm, instance_with_volumes)
    stopped = world.windows_instance(ec2, running=False, name="db02")
    with pytest.raises(InstanceNotManaged):
        windows_disks.require_managed(ssm, stopped)


def test_a_retried_send_finds_the_steps_command_instead_of_sending_another(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    volume = sorted(data_volumes(ec2, instance_with_volumes).values())[0]
    first = windows_disks.send_disk_command(
        ssm, instance_with_volumes, "Offline", [volume], [], EXECUTION, "TakeDisksOffline"
    )
    again = windows_disks.send_disk_command(
        ssm, instance_with_volumes, "Offline", [volume], [], EXECUTION, "TakeDisksOffline"
    )
    # another step's command waits until the first has ended (it reads InProgress once)
    with pytest.raises(ResourceNotReady, match=f"{first} .*is InProgress"):
        windows_disks.send_disk_command(
            ssm, instance_with_volumes, "Online", [volume], [], EXECUTION, "BringDisksOnline"
        )
    other_step = windows_disks.send_disk_command(
        ssm, instance_with_volumes, "Online", [volume], [], EXECUTION, "BringDisksOnline"
    )
    assert first == again != other_step


def test_fail_next_fails_one_command_and_changes_nothing(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    volume = sorted(data_volumes(ec2, instance_with_volumes).values())[0]
    engine.guests.fail_next("Offline", "Set-Disk : The disk is in use")
    with pytest.raises(DiskCommandFailed, match="in use"):
        run(ssm, instance_with_volumes, "Offline", [volume], [], "TakeDisksOffline")
    assert engine.guests.disk_online(volume)
    run(ssm, instance_with_volumes, "Offline", [volume], [], "TakeDisksOfflineAgain")
    assert not engine.guests.disk_online(volume)


def test_the_document_parses_its_own_result_line_and_refuses_output_without_one() -> None:
    output = 'Offline vol-1: done\nVSS-RESTORE-RESULT {"Disks": [], "Services": []}'
    assert windows_disks.parse_result(output) == {"Disks": [], "Services": []}
    with pytest.raises(DiskCommandFailed, match="no result line"):
        windows_disks.parse_result("WARNING: something\n")


# --- everything checked before anything stops ---------------------------------------------


def test_an_offline_for_a_disk_not_found_fails_before_any_service_stops(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    # GIVEN a volume that is not attached to the instance, among attached ones
    stray = ec2.create_volume(AvailabilityZone=world.DEFAULT_AZ, Size=10)["VolumeId"]
    data = sorted(data_volumes(ec2, instance_with_volumes).values())

    # WHEN Offline names it with SQL Server, THEN it fails naming it, having changed nothing
    with pytest.raises(DiskCommandFailed, match=stray):
        run(ssm, instance_with_volumes, "Offline", [*data, stray], ["MSSQLSERVER"], "Take")
    assert engine.guests.stopped_services.get(instance_with_volumes, []) == []
    assert all(engine.guests.disk_online(v) for v in data)


def test_an_online_that_cannot_find_a_disk_still_brings_the_others_up_and_starts_services(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    # GIVEN SQL Server stopped and a data disk offline, and a volume that is not attached
    first = sorted(data_volumes(ec2, instance_with_volumes).values())[0]
    run(ssm, instance_with_volumes, "Offline", [first], ["MSSQLSERVER"], "TakeDisksOffline")
    stray = ec2.create_volume(AvailabilityZone=world.DEFAULT_AZ, Size=10)["VolumeId"]

    # WHEN a rollback's Online names both, THEN it fails naming the missing one...
    with pytest.raises(DiskCommandFailed, match=stray):
        run(ssm, instance_with_volumes, "Online", [stray, first], ["MSSQLSERVER"], "Rollback")
    # ... having brought the disk it found online and started SQL Server first
    assert engine.guests.disk_online(first)
    assert engine.guests.stopped_services[instance_with_volumes] == []


def test_no_disk_of_a_xen_instance_is_found_so_offline_stops_nothing(
    engine: LocalEngine, ec2: Any, ssm: Any
) -> None:
    # GIVEN a running Windows instance of a Xen type: its disks' serial is not the volume id
    xen = world.windows_instance(ec2, name="xen01", instance_type="t2.large")
    data = sorted(data_volumes(ec2, xen).values())

    # WHEN Offline names its data volumes, THEN no disk is found and nothing stopped
    with pytest.raises(DiskCommandFailed, match="no disk has the serial number"):
        run(ssm, xen, "Offline", data, ["MSSQLSERVER"], "TakeDisksOffline")
    assert engine.guests.stopped_services.get(xen, []) == []
    assert all(engine.guests.disk_online(v) for v in data)


def test_offline_of_some_of_the_dynamic_disks_is_refused_and_of_all_of_them_proceeds(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    # GIVEN two data disks that are dynamic (a striped volume over both)
    first, second, third = sorted(data_volumes(ec2, instance_with_volumes).values())
    engine.guests.dynamic |= {first, second}

    # WHEN Offline names only one of them, THEN it is refused naming both, nothing changed
    with pytest.raises(DiskCommandFailed, match=f"{first}.*dynamic disk.*{second}"):
        run(ssm, instance_with_volumes, "Offline", [first, third], ["MSSQLSERVER"], "Take")
    assert engine.guests.stopped_services.get(instance_with_volumes, []) == []
    assert all(engine.guests.disk_online(v) for v in (first, second, third))

    # WHEN it names both, THEN both go offline together
    result = run(ssm, instance_with_volumes, "Offline", [first, second], ["MSSQLSERVER"], "Both")
    assert [d.offline for d in result.disks] == [True, True]


def test_a_mounted_read_only_copy_of_a_dynamic_disk_goes_offline_alone_the_original_not(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    # GIVEN two dynamic disks, and a copy of the first mounted read-only (a mount)
    first, second, _ = sorted(data_volumes(ec2, instance_with_volumes).values())
    engine.guests.dynamic |= {first, second}
    snapshot = ec2.create_snapshot(VolumeId=first)["SnapshotId"]
    copy = ec2.create_volume(AvailabilityZone=world.DEFAULT_AZ, SnapshotId=snapshot)["VolumeId"]
    ec2.attach_volume(VolumeId=copy, InstanceId=instance_with_volumes, Device="xvdp")
    run(ssm, instance_with_volumes, "MountReadOnly", [copy], [], "MountDisks")

    # WHEN the copy is taken offline alone (an unmount), THEN it goes: nothing uses it
    result = run(ssm, instance_with_volumes, "Offline", [copy], [], "UnmountDisks")
    assert [d.offline for d in result.disks] == [True]
    # ... while the original alone is still refused
    with pytest.raises(DiskCommandFailed, match="dynamic disk"):
        run(ssm, instance_with_volumes, "Offline", [first], [], "TakeDisksOffline")


def test_offline_refuses_a_pool_member_and_a_disk_windows_will_not_take_offline(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    first, second, third = sorted(data_volumes(ec2, instance_with_volumes).values())
    engine.guests.pools["data"] = {first, second}
    engine.guests.unofflineable[third] = "it holds a page file (F:\\pagefile.sys)"
    for volumes, reason in (([first, second], "storage pool 'data'"), ([third], "page file")):
        with pytest.raises(DiskCommandFailed, match=reason):
            run(ssm, instance_with_volumes, "Offline", volumes, ["MSSQLSERVER"], reason[:8])
    assert engine.guests.stopped_services.get(instance_with_volumes, []) == []
    assert all(engine.guests.disk_online(v) for v in (first, second, third))


# --- dependent services ---------------------------------------------------------------------


def test_offline_records_the_running_dependents_it_stops_and_online_starts_them_again(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    # GIVEN SQL Server Agent, and a job runner depending on it, both running
    engine.guests.dependents[instance_with_volumes] = {
        "MSSQLSERVER": ["SQLSERVERAGENT"],
        "SQLSERVERAGENT": ["JobRunner"],
    }
    first = sorted(data_volumes(ec2, instance_with_volumes).values())[0]

    # WHEN Offline names only MSSQLSERVER
    offline = run(ssm, instance_with_volumes, "Offline", [first], ["MSSQLSERVER"], "Take")

    # THEN it says what stopped with it, and all three are stopped
    (stopped,) = offline.services
    assert (stopped.name, stopped.stopped_with) == ("MSSQLSERVER", ["SQLSERVERAGENT", "JobRunner"])
    assert engine.guests.stopped_services[instance_with_volumes] == [
        "MSSQLSERVER",
        "SQLSERVERAGENT",
        "JobRunner",
    ]

    # WHEN Online names MSSQLSERVER, THEN all three run again, the dependents reported as such
    online = run(ssm, instance_with_volumes, "Online", [first], ["MSSQLSERVER"], "Bring")
    assert [(s.name, s.status, s.dependent_of) for s in online.services] == [
        ("MSSQLSERVER", "Running", None),
        ("SQLSERVERAGENT", "Running", "MSSQLSERVER"),
        ("JobRunner", "Running", "MSSQLSERVER"),
    ]
    assert engine.guests.stopped_services[instance_with_volumes] == []


# --- output that cannot lose its result -------------------------------------------------------


def test_a_slow_service_stop_leaves_the_result_first_in_output_that_fits_run_command(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    # GIVEN SQL Server taking 20 minutes to stop (Stop-Service warns every 2 s meanwhile)
    engine.guests.slow_stops["MSSQLSERVER"] = 1200
    data = sorted(data_volumes(ec2, instance_with_volumes).values())

    # WHEN Offline runs
    command_id = windows_disks.send_disk_command(
        ssm, instance_with_volumes, "Offline", data, ["MSSQLSERVER"], EXECUTION, "Take"
    )
    ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_with_volumes)
    output = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_with_volumes)[
        "StandardOutputContent"
    ]

    # THEN its result is the first line, and the whole output fits in what SSM keeps
    assert output.startswith(windows_disks.RESULT_MARKER)
    assert "Waiting for service" not in output
    assert len(output.splitlines()) <= 1 + 40
    result = windows_disks.finished_disk_command(
        ssm, command_id, instance_with_volumes, "Take", datetime.now(UTC)
    )
    assert [d.offline for d in result.disks] == [True] * len(data)


# --- disk identities: copies collide through any chain of snapshots ------------------------


def copy_of(ec2: Any, volume_id: str) -> str:
    """A volume made from a new snapshot of ``volume_id``."""
    snapshot = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
    return str(
        ec2.create_volume(AvailabilityZone=world.DEFAULT_AZ, SnapshotId=snapshot)["VolumeId"]
    )


def test_a_copy_of_a_copy_collides_with_the_first_volume_and_its_mount_gets_its_own_identity(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    # GIVEN a copy of a copy of a volume that is online on the instance
    original = sorted(data_volumes(ec2, instance_with_volumes).values())[0]
    grandchild = copy_of(ec2, copy_of(ec2, original))
    ec2.attach_volume(VolumeId=grandchild, InstanceId=instance_with_volumes, Device="xvdp")

    # WHEN it is mounted, THEN it gets an identity of its own, read-only
    (disk,) = run(ssm, instance_with_volumes, "MountReadOnly", [grandchild], [], "Mount").disks
    assert (disk.offline, disk.read_only, disk.signature_reset) == (False, True, True)

    # AND a copy of the mounted copy carries that new identity: it collides with the copy
    # (online, read-only), not with the original
    great = copy_of(ec2, grandchild)
    ec2.attach_volume(VolumeId=great, InstanceId=instance_with_volumes, Device="xvdq")
    with pytest.raises(DiskCommandFailed, match=rf"{great} collides .*the disk of {grandchild}"):
        run(ssm, instance_with_volumes, "Online", [great], [], "BringDisksOnline")


def test_two_volumes_made_from_one_snapshot_collide_as_copies_of_one_image_do(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    # GIVEN two volumes of one snapshot (as an AMI's), the first online on the instance
    image_volume = ec2.create_volume(AvailabilityZone=world.DEFAULT_AZ, Size=10)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=image_volume)["SnapshotId"]
    first, second = (
        ec2.create_volume(AvailabilityZone=world.DEFAULT_AZ, SnapshotId=snapshot)["VolumeId"]
        for _ in range(2)
    )
    ec2.attach_volume(VolumeId=first, InstanceId=instance_with_volumes, Device="xvdp")
    run(ssm, instance_with_volumes, "Online", [first], [], "BringDisksOnline")
    ec2.attach_volume(VolumeId=second, InstanceId=instance_with_volumes, Device="xvdq")

    # WHEN the second is mounted, THEN it collides with the first and gets its own identity
    (disk,) = run(ssm, instance_with_volumes, "MountReadOnly", [second], [], "Mount").disks
    assert disk.signature_reset


@pytest.mark.parametrize(
    ("step", "still_stopped"),
    [("BringDisksOnline", ["MSSQLSERVER"]), ("RollbackDisksOnline", [])],
    ids=["restore-starts-nothing", "rollback-starts-the-services"],
)
def test_online_refuses_a_copy_of_a_disk_still_attached_and_leaves_it_offline(
    engine: LocalEngine,
    ec2: Any,
    ssm: Any,
    instance_with_volumes: str,
    step: str,
    still_stopped: list[str],
) -> None:
    # GIVEN a copy of a volume that is still online on the instance, attached beside it
    original = sorted(data_volumes(ec2, instance_with_volumes).values())[0]
    copy = copy_of(ec2, original)
    ec2.attach_volume(VolumeId=copy, InstanceId=instance_with_volumes, Device="xvdp")
    engine.guests.stopped_services[instance_with_volumes] = ["MSSQLSERVER"]

    # WHEN a restore's or a rollback's Online brings it up, THEN it fails naming the disk and
    # the collision; the disk keeps its identity and stays offline. A restore's starts
    # nothing (its rollback puts the originals back first); a rollback's starts the services
    with pytest.raises(DiskCommandFailed, match=rf"{copy} collides .*the disk of {original}"):
        run(ssm, instance_with_volumes, "Online", [copy], ["MSSQLSERVER"], step)
    assert not engine.guests.disk_online(copy)
    assert not engine.guests.disks[copy].signature_reset
    assert engine.guests.stopped_services[instance_with_volumes] == still_stopped


# --- drive letters run out ------------------------------------------------------------------


def test_a_mount_needing_more_drive_letters_than_are_free_is_refused_and_changes_nothing(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    # GIVEN C: and the three data volumes' D: to F: taken (20 letters free), and 21 volumes
    # attached to the running instance
    used = set(world.attached(ec2, instance_with_volumes))
    devices = [d for d in mounts.MOUNT_DEVICE_NAMES if d not in used][:21]
    volumes = []
    for device in devices:
        volume = ec2.create_volume(AvailabilityZone=world.DEFAULT_AZ, Size=1)["VolumeId"]
        ec2.attach_volume(VolumeId=volume, InstanceId=instance_with_volumes, Device=device)
        volumes.append(volume)

    # WHEN they are mounted, THEN the command is refused naming the letters, and every disk
    # is still offline, without a letter
    with pytest.raises(DiskCommandFailed, match=r"need 21 drive letter\(s\) and 20 of D: to Z:"):
        run(ssm, instance_with_volumes, "MountReadOnly", volumes, [], "MountDisks")
    assert not any(engine.guests.disk_online(v) for v in volumes)
    assert all(engine.guests.disks[v].letters == () for v in volumes)

    # AND 20 of them fit: each gets one of G: to Z:
    mounted = run(ssm, instance_with_volumes, "MountReadOnly", volumes[:20], [], "Mount20").disks
    assert sorted(d.drive_letters[0] for d in mounted) == list("GHIJKLMNOPQRSTUVWXYZ")


# --- device locations after detach ---------------------------------------------------------


def test_a_volume_at_a_location_whose_disk_went_offline_and_was_detached_boots_offline(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    # GIVEN a data volume taken offline and detached from the running instance
    (device, volume), *others = sorted(data_volumes(ec2, instance_with_volumes).items())
    run(ssm, instance_with_volumes, "Offline", [volume], [], "TakeDisksOffline")
    ec2.detach_volume(VolumeId=volume, InstanceId=instance_with_volumes, Device=device)

    # WHEN another volume is attached there while the instance is stopped, and it starts
    ec2.stop_instances(InstanceIds=[instance_with_volumes])
    newcomer = ec2.create_volume(AvailabilityZone=world.DEFAULT_AZ, Size=10)["VolumeId"]
    ec2.attach_volume(VolumeId=newcomer, InstanceId=instance_with_volumes, Device=device)
    ec2.start_instances(InstanceIds=[instance_with_volumes])

    # THEN its disk is offline (the location is flagged), every other disk online
    assert not engine.guests.disk_online(newcomer)
    assert all(engine.guests.disk_online(v) for _, v in others)


def test_after_an_online_swap_and_a_reboot_every_volume_and_the_restored_one_are_online(
    engine: LocalEngine, ec2: Any, ssm: Any, instance_with_volumes: str
) -> None:
    # GIVEN an online swap as the workflow does it: the original offline, detached, its
    # copy attached at the same device and brought online
    (device, original), *others = sorted(data_volumes(ec2, instance_with_volumes).items())
    restored = copy_of(ec2, original)
    run(ssm, instance_with_volumes, "Offline", [original], [], "TakeDisksOffline")
    ec2.detach_volume(VolumeId=original, InstanceId=instance_with_volumes, Device=device)
    ec2.attach_volume(VolumeId=restored, InstanceId=instance_with_volumes, Device=device)
    run(ssm, instance_with_volumes, "Online", [restored], [], "BringDisksOnline")

    # WHEN the instance reboots (stop, start)
    ec2.stop_instances(InstanceIds=[instance_with_volumes])
    ec2.start_instances(InstanceIds=[instance_with_volumes])

    # THEN the restored volume and every remaining one come online: bringing the restored
    # disk online at the location cleared its flag
    assert engine.guests.disk_online(restored)
    assert all(engine.guests.disk_online(v) for _, v in others)
