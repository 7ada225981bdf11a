"""vss-restore in a real account (run in this order): restore, rolled-back restore, drill,
fleet; then, on the disks instance, an online restore, a refused online restore of part of a
striped volume, and a mount.

Each test checks what AWS holds afterwards with boto3, including the invariants I1-I6; the
disk tests also look inside Windows through SSM Run Command.
"""

from __future__ import annotations

from typing import Any

import boto3

from acceptance.executions import Machines
from acceptance.guest import (
    GuestControl,
    disk_read_only_script,
    read_marker_script,
    service_status_script,
    write_marker_script,
)
from acceptance.run import World
from acceptance.sandbox import MARKER_DEVICE, STRIPE_DEVICES
from vss_restore import tags
from vss_restore.local.invariants import InstanceState, check_invariants
from vss_restore.mounts import unmount
from vss_restore.records import Records

# Generous bounds: a Windows stop, swap, boot and status checks take minutes each.
RESTORE_MINUTES = 60
FLEET_MINUTES = 90
# Stopped and started again by the online restores; runs on every Windows Server on EC2.
SERVICE = "W32Time"


def _assert_invariants(
    ec2: Any, world: World, before: InstanceState, result: Any, request: dict[str, Any]
) -> None:
    violations = check_invariants(ec2, before, result, request, world.stack.lock_table_name)
    assert violations == [], violations


def test_restore_succeeds_and_attaches_the_set_when_it_is_complete(
    ec2: Any, world: World, machines: Machines
) -> None:
    # GIVEN the first instance, running, with one VSS-tagged set
    instance = world.instances[0]
    request = {"InstanceId": instance}
    before = InstanceState.capture(ec2, instance)

    # WHEN it is restored
    result = machines.run(request, RESTORE_MINUTES)

    # THEN it runs on new volumes made from that set's snapshots, and I1-I6 hold
    assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
    assert result.output is not None
    _assert_invariants(ec2, world, before, result, request)
    after = InstanceState.capture(ec2, instance)
    assert after.power_state == "running"
    restored = {v["Device"]: v for v in result.output["Volumes"]}
    assert set(restored) == set(before.volumes)
    for device, volume_id in after.volumes.items():
        assert volume_id == restored[device]["NewVolumeId"] != before.volumes[device]
        volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
        assert volume["SnapshotId"] == world.sets[instance][device]


def test_restore_rolls_back_when_the_instance_is_stopped_during_its_status_checks(
    ec2: Any, world: World, machines: Machines
) -> None:
    # GIVEN a restore of the first instance that has swapped its volumes and started it
    instance = world.instances[0]
    request = {"InstanceId": instance}
    before = InstanceState.capture(ec2, instance)
    execution_arn = machines.start(request)
    machines.wait_for_state(execution_arn, "WaitStatusChecks", RESTORE_MINUTES)

    # WHEN someone stops the instance out of band before its status checks pass
    ec2.stop_instances(InstanceIds=[instance])
    result = machines.wait(execution_arn, RESTORE_MINUTES)

    # THEN the restore fails with StartFailed and puts back the volumes and power state
    assert result.status == "FAILED"
    assert result.error == "StartFailed", result.cause
    assert "ReattachOriginalVolumes" in result.state_path()
    _assert_invariants(ec2, world, before, result, request)
    after = InstanceState.capture(ec2, instance)
    assert after.volumes == before.volumes
    assert after.delete_on_termination == before.delete_on_termination
    assert after.power_state == before.power_state == "running"


def test_drill_proves_the_set_and_removes_its_clone_when_it_succeeds(
    ec2: Any, world: World, machines: Machines
) -> None:
    # GIVEN the first instance and the run's network without inbound rules
    instance = world.instances[0]
    before = InstanceState.capture(ec2, instance)
    request = {
        "InstanceId": instance,
        "Mode": "Clone",
        "SubnetId": world.subnet_id,
        "SecurityGroupIds": [world.group_id],
    }

    # WHEN a drill clones it
    result = machines.run(request, RESTORE_MINUTES)

    # THEN the clone passed its status checks and is gone with its volumes; the source is as it was
    assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
    assert result.output is not None
    assert result.output["Status"] == "Succeeded"
    assert result.output["Clone"] == "removed"
    clone = ec2.describe_instances(InstanceIds=[result.output["CloneInstanceId"]])
    assert clone["Reservations"][0]["Instances"][0]["State"]["Name"] in (
        "shutting-down",
        "terminated",
    )
    left = ec2.describe_volumes(Filters=[{"Name": f"tag:{tags.DRILL}", "Values": [instance]}])
    assert [v["VolumeId"] for v in left["Volumes"] if v["State"] != "deleting"] == []
    assert InstanceState.capture(ec2, instance) == before


def test_fleet_restores_both_instances_when_run_two_at_a_time(
    ec2: Any, world: World, machines: Machines
) -> None:
    # GIVEN both instances, each with its set
    before = {i: InstanceState.capture(ec2, i) for i in world.instances}

    # WHEN the fleet machine restores them together
    result = machines.run(
        {"Instances": list(world.instances), "MaxConcurrency": 2}, FLEET_MINUTES, fleet=True
    )

    # THEN both restores succeeded, each with I1-I6 holding
    assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
    assert result.output is not None
    assert (result.output["Succeeded"], result.output["Failed"]) == (2, 0)
    for entry in result.output["Instances"]:
        instance = entry["InstanceId"]
        child = machines.result(machines.restore_execution(entry["Execution"]))
        assert child.status == "SUCCEEDED", f"{instance}: {child.error}: {child.cause}"
        _assert_invariants(ec2, world, before[instance], child, {"InstanceId": instance})
        assert InstanceState.capture(ec2, instance).power_state == "running"


def _unchanged_but(before: InstanceState, after: InstanceState, device: str) -> None:
    """Every device but ``device`` holds the volume it held before."""
    assert {d: v for d, v in after.volumes.items() if d != device} == {
        d: v for d, v in before.volumes.items() if d != device
    }


def _running(guest: GuestControl, instance_id: str, service: str) -> bool:
    return guest.run(instance_id, service_status_script(service)).strip() == "Running"


def test_online_restore_brings_back_the_basic_disk_with_the_instance_running(
    ec2: Any, world: World, machines: Machines, guest: GuestControl
) -> None:
    # GIVEN the disks instance, whose marker reads "after" (it read "before" in the set)
    instance = world.disks_instance
    request = {
        "InstanceId": instance,
        "Mode": "Online",
        "Devices": [MARKER_DEVICE],
        "StopServices": [SERVICE],
    }
    before = InstanceState.capture(ec2, instance)

    # WHEN its marker disk alone is restored online
    result = machines.run(request, RESTORE_MINUTES)

    # THEN the instance never stopped, xvdf holds a volume of the set's snapshot reading
    # "before", the striped disks are untouched, the service runs again, and I1-I6 hold
    assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
    assert result.output is not None
    assert (result.output["PowerState"], result.output["DowntimeSeconds"]) == ("running", None)
    _assert_invariants(ec2, world, before, result, request)
    after = InstanceState.capture(ec2, instance)
    assert after.power_state == "running"
    restored = after.volumes[MARKER_DEVICE]
    assert restored != before.volumes[MARKER_DEVICE]
    volume = ec2.describe_volumes(VolumeIds=[restored])["Volumes"][0]
    assert volume["SnapshotId"] == world.sets[instance][MARKER_DEVICE]
    _unchanged_but(before, after, MARKER_DEVICE)
    assert guest.run(instance, read_marker_script(restored)).strip() == "before"
    online = next(c for c in result.output["DiskCommands"] if c["Step"] == "BringDisksOnline")
    assert {s["Name"]: s["Status"] for s in online["Services"]}[SERVICE] == "Running"
    assert _running(guest, instance, SERVICE)


def test_online_restore_of_one_disk_of_a_striped_volume_is_refused_with_nothing_changed(
    ec2: Any, world: World, machines: Machines, guest: GuestControl
) -> None:
    # GIVEN the disks instance, whose xvdg and xvdh are dynamic disks holding one stripe
    instance = world.disks_instance
    first, second = STRIPE_DEVICES
    request = {
        "InstanceId": instance,
        "Mode": "Online",
        "Devices": [first],
        "StopServices": [SERVICE],
    }
    before = InstanceState.capture(ec2, instance)

    # WHEN only xvdg is restored online
    result = machines.run(request, RESTORE_MINUTES)

    # THEN the disk command refuses it, naming the other dynamic disk; the volumes, the
    # power state and the service are as they were, and I1-I6 hold
    assert result.status == "FAILED"
    assert result.error == "DiskCommandFailed", result.cause
    cause = result.cause or ""
    assert "dynamic disk" in cause
    assert before.volumes[second] in cause
    _assert_invariants(ec2, world, before, result, request)
    assert InstanceState.capture(ec2, instance) == before
    assert _running(guest, instance, SERVICE)


def test_mount_attaches_the_basic_disk_read_only_beside_the_live_one_until_unmounted(
    session: boto3.Session, ec2: Any, world: World, machines: Machines, guest: GuestControl
) -> None:
    # GIVEN the disks instance, its live marker rewritten to "after"
    instance = world.disks_instance
    live = InstanceState.capture(ec2, instance).volumes[MARKER_DEVICE]
    guest.run(instance, write_marker_script(live, "after"))
    request = {"InstanceId": instance, "Mode": "Mount", "Devices": [MARKER_DEVICE]}
    before = InstanceState.capture(ec2, instance)

    # WHEN the set's xvdf is mounted on the instance
    result = machines.run(request, RESTORE_MINUTES)

    # THEN a copy of the set's snapshot is online read-only with a letter, reading "before",
    # beside the live disk, which still reads "after"
    assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
    assert result.output is not None
    (mount,) = result.output["Mounts"]
    assert mount["SnapshotId"] == world.sets[instance][MARKER_DEVICE]
    assert mount["DriveLetter"]
    assert mount["Locked"] is False
    copy = mount["VolumeId"]
    assert guest.run(instance, disk_read_only_script(copy)).strip() == "True"
    assert guest.run(instance, read_marker_script(copy)).strip() == "before"
    assert guest.run(instance, read_marker_script(live)).strip() == "after"
    _unchanged_but(before, InstanceState.capture(ec2, instance), mount["AttachedAs"])

    # ...and once unmounted (as `vss-restore unmount` does), the copy is gone and the
    # instance holds exactly its volumes from before
    records = Records(session.client("dynamodb"), world.stack.records_table_name)
    done = unmount(
        ec2,
        session.client("ssm"),
        records,
        result.execution_arn,
        document=world.stack.disks_document_name,
    )
    assert (done.deleted, done.left_behind) == ([copy], [])
    assert InstanceState.capture(ec2, instance) == before
