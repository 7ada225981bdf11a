"""The rollback: ReattachOriginalVolumes, RestorePowerState, DeleteRestoredVolumes, and
MarkLeftovers when the rollback itself fails."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.handlers.conftest import CallTask
from tests.handlers.emulator import AwsCalls, Emulator, Malformed, misplaced_refusals
from tests.handlers.events import REMOVED
from tests.handlers.in_place import InPlaceRun, Server, waits_until
from vss_restore import tags
from vss_restore.errors import ResourceNotReady, RollbackFailed
from vss_restore.local import Fault, LocalEngine

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

pytestmark = pytest.mark.usefixtures("immediate_waits")


# --- ReattachOriginalVolumes ---------------------------------------------------------------


def test_reattach_original_volumes_puts_every_original_back_with_its_flag_one_step_a_call(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a restore that failed after the swap (the new volumes attached, flags set)
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    flags = aws.delete_on_termination(server.instance_id)
    run = InPlaceRun.of(call_task, server).through("SetDeleteOnTermination")

    # WHEN ReattachOriginalVolumes runs until it stops asking for another call
    with pytest.raises(ResourceNotReady, match="detaching") as first_step:
        run.run("ReattachOriginalVolumes")
    back = run.retried("ReattachOriginalVolumes")

    # THEN each device holds its original again, with the flag it had, and says so
    assert str(first_step.value).count("detaching") == len(run.originals)
    assert back == [f"{device} {volume}" for device, volume in run.originals.items()]
    assert aws.attached(server.instance_id) == run.originals
    assert aws.delete_on_termination(server.instance_id) == flags
    # AND the restored volumes are free to be deleted
    for volume in run.created.values():
        assert (aws.volume(volume) or {}).get("State") == "available"


def test_reattach_original_volumes_stops_an_instance_that_runs_on_the_restored_volumes_first(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a restore that failed after the start (say, its status checks)
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("WaitInstanceRunning")

    # WHEN ReattachOriginalVolumes runs once
    with pytest.raises(ResourceNotReady, match="stopping it"):
        run.run("ReattachOriginalVolumes")

    # THEN it stopped the instance and moved no volume yet ...
    assert aws.power_state(server.instance_id) == "stopped"
    assert aws.attached(server.instance_id) == run.created
    # ... and then puts the originals back (RestorePowerState starts the instance again)
    run.retried("ReattachOriginalVolumes")
    assert aws.attached(server.instance_id) == run.originals


def test_reattach_original_volumes_changes_nothing_when_the_swap_had_not_begun(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a restore that failed while it created the volumes (the instance running)
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("CreateVolumes")
    before = aws.held()

    # WHEN ReattachOriginalVolumes runs, THEN every original is home already: nothing to do
    back = run.run("ReattachOriginalVolumes")

    assert back == [f"{device} {volume}" for device, volume in run.originals.items()]
    assert aws.held() == before


def test_reattach_original_volumes_fails_with_rollback_failed_when_an_original_is_elsewhere(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN xvdf's original moved to another device while the instance was stopped
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("WaitOriginalsDetached")
    original = run.originals["xvdf"]
    ec2.attach_volume(VolumeId=original, InstanceId=server.instance_id, Device="xvdk")

    # WHEN ReattachOriginalVolumes runs, THEN no step can fix that: RollbackFailed says where
    with pytest.raises(RollbackFailed, match=f"{original} of xvdf is attached to .* at xvdk"):
        run.retried("ReattachOriginalVolumes")
    assert aws.attached(server.instance_id)["xvdk"] == original


# --- RestorePowerState ---------------------------------------------------------------------


@pytest.mark.parametrize(("running", "then"), [(True, "StopInstance"), (False, "StartInstance")])
def test_restore_power_state_brings_the_instance_back_to_the_state_it_had(
    call_task: CallTask, ec2: EC2Client, running: bool, then: str
) -> None:
    # GIVEN a server recorded running (or stopped) when the restore began, since stopped
    # (or started) by it
    server = Server.build(ec2, running=running)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("FindSnapshotSet")
    run.run(then)
    was = run.document["Found"]["Instance"]["State"]
    assert aws.power_state(server.instance_id) != was

    # WHEN RestorePowerState runs until it stops asking for another call
    restored = run.retried("RestorePowerState")

    # THEN the instance is as it was, and the task says which state that is
    assert restored == was
    assert aws.power_state(server.instance_id) == was


def test_restore_power_state_makes_no_call_when_the_instance_is_as_it_was(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a restore that failed before it stopped the running server
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("FindSnapshotSet")
    calls = AwsCalls(engine)

    # WHEN RestorePowerState runs, THEN the server is running as it was ...
    with calls.recording():
        assert run.run("RestorePowerState") == "running"

    # ... and it only looked
    assert calls.made
    assert not {"ec2.StartInstances", "ec2.StopInstances"} & set(calls.made)


def test_restore_power_state_fails_with_rollback_failed_when_ec2_refuses_the_start(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the server the restore stopped, and EC2 refusing to start it
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("FindSnapshotSet")
    run.run("StopInstance")
    engine.inject(Fault("ec2.StartInstances", code="UnauthorizedOperation", permanent=True))

    # WHEN RestorePowerState runs, THEN RollbackFailed; the server stays stopped
    with pytest.raises(RollbackFailed, match=f"putting {server.instance_id} back to running"):
        run.run("RestorePowerState")
    assert aws.power_state(server.instance_id) == "stopped"


# --- DeleteRestoredVolumes -----------------------------------------------------------------


def test_delete_restored_volumes_deletes_what_this_execution_created_and_nothing_else(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the volumes this restore created, and one another execution created
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("WaitVolumesAvailable")
    zone = run.plan.volumes[0].availability_zone
    others = ec2.create_volume(
        AvailabilityZone=zone,
        Size=8,
        TagSpecifications=[
            {
                "ResourceType": "volume",
                "Tags": tags.tag_list({tags.EXECUTION: f"{run.execution}-other"}),
            }
        ],
    )["VolumeId"]
    attached = aws.attached(server.instance_id)

    # WHEN DeleteRestoredVolumes runs
    cleanup = run.run("DeleteRestoredVolumes")

    # THEN it deleted exactly this execution's volumes, and says which
    assert sorted(cleanup["Deleted"]) == sorted(run.created.values())
    assert cleanup["LeftBehind"] == []
    assert aws.volumes_of(run.execution) == []
    assert aws.volume(others) is not None
    assert aws.attached(server.instance_id) == attached


def test_delete_restored_volumes_leaves_a_volume_given_this_executions_tag_alone(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the volumes this restore created, and a production volume someone tagged with
    # this execution
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("WaitVolumesAvailable")
    forged = ec2.create_volume(
        AvailabilityZone=run.plan.volumes[0].availability_zone,
        Size=8,
        TagSpecifications=[
            {"ResourceType": "volume", "Tags": tags.tag_list({tags.EXECUTION: run.execution})}
        ],
    )["VolumeId"]

    # WHEN DeleteRestoredVolumes runs
    cleanup = run.run("DeleteRestoredVolumes")

    # THEN only what it recorded creating is deleted; the forged volume stays, named
    assert sorted(cleanup["Deleted"]) == sorted(run.created.values())
    assert aws.volume(forged) is not None
    [left] = cleanup["LeftBehind"]
    assert left.startswith(f"{forged} (tagged with this execution, not recorded")


def test_delete_restored_volumes_waits_while_a_restored_volume_is_still_attached(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the restored volumes still attached (the originals not yet back)
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("WaitRestoredAttached")

    # WHEN DeleteRestoredVolumes runs before, long after, and once the originals are back
    waited_for, cleanup = waits_until(
        run, "DeleteRestoredVolumes", lambda: run.retried("ReattachOriginalVolumes")
    )

    # THEN it waited for each volume in use, then deleted them
    for volume in run.created.values():
        assert f"{volume} (in-use)" in waited_for
    assert sorted(cleanup["Deleted"]) == sorted(run.created.values())
    assert aws.volumes_of(run.execution) == []


def test_delete_restored_volumes_tags_a_volume_it_may_not_delete_and_says_it_is_left_behind(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the restored volumes, and EC2 refusing to delete them
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("WaitVolumesAvailable")
    engine.inject(Fault("ec2.DeleteVolume", code="UnauthorizedOperation", permanent=True))

    # WHEN DeleteRestoredVolumes runs
    cleanup = run.run("DeleteRestoredVolumes")

    # THEN each is left behind, named with the refusal, and tagged for cleanup
    assert cleanup["Deleted"] == []
    assert sorted(cleanup["LeftBehind"]) == sorted(
        f"{volume} (UnauthorizedOperation)" for volume in run.created.values()
    )
    for volume in run.created.values():
        assert aws.volume_tags(volume)[tags.STATUS] == tags.STATUS_CLEANUP_REQUIRED


# --- MarkLeftovers -------------------------------------------------------------------------


def test_mark_leftovers_tags_what_this_execution_created_and_says_where_everything_is(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a rollback that failed with the restored volumes on the devices
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("WaitRestoredAttached")

    # WHEN MarkLeftovers runs
    leftovers = run.run("MarkLeftovers")

    # THEN the cause it gives says the instance's state, what each device holds and where
    # each original is; the restored volumes are tagged for cleanup
    assert f"instance {server.instance_id} is stopped" in leftovers
    for device, original in run.originals.items():
        new = run.created[device]
        assert f"{device} holds {new} (the restored volume); original {original} is available" in (
            leftovers
        )
        assert aws.volume_tags(new)[tags.STATUS] == tags.STATUS_CLEANUP_REQUIRED
    assert run.document["Leftovers"] == leftovers


# --- malformed events ----------------------------------------------------------------------


def test_each_task_refuses_a_malformed_event_naming_the_field_before_any_aws_call(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the events a restore gives these tasks, each with one field as the workflow
    # never sends it
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("CreateVolumes")
    cases = [
        Malformed("ReattachOriginalVolumes", "Instance.Volumes", REMOVED, ("Instance", "Volumes")),
        Malformed("ReattachOriginalVolumes", "Online", 1, ("Online",)),
        Malformed("RestorePowerState", "Wanted", "hibernated", ("Wanted",)),
        Malformed("DeleteRestoredVolumes", "Execution", REMOVED, ("Execution",)),
        Malformed("DeleteRestoredVolumes", "EnteredTime", "yesterday", ("EnteredTime",)),
        Malformed("MarkLeftovers", "Plan", REMOVED, ("Plan",)),
    ]

    # WHEN each task gets its malformed event, THEN it refuses it before any AWS call,
    # its ValidationError naming the field
    assert misplaced_refusals(engine, call_task, run.event, cases) == []
