"""The emulator's Windows guests: what the project's disk document does, and what SSM refuses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from vss_restore import windows_disks
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
