"""vss-restore in a real account: restore, rolled-back restore, drill, fleet (run in this order).

Each test checks what AWS holds afterwards with boto3, including the invariants I1-I6.
"""

from __future__ import annotations

from typing import Any

from acceptance.executions import Machines
from acceptance.run import World
from vss_restore import tags
from vss_restore.local.invariants import InstanceState, check_invariants

# Generous bounds: a Windows stop, swap, boot and status checks take minutes each.
RESTORE_MINUTES = 60
FLEET_MINUTES = 90


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
