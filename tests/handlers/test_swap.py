"""The swap on the stopped instance: DetachOriginalVolumes, WaitOriginalsDetached,
AttachRestoredVolumes, WaitRestoredAttached, SetDeleteOnTermination; and, after the start,
FinalizeReplacedVolumes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from tests.handlers.conftest import CallTask
from tests.handlers.emulator import Emulator, Malformed, Shown, misplaced_refusals
from tests.handlers.events import REMOVED
from tests.handlers.in_place import InPlaceRun, Server, waits_until
from vss_restore import tags
from vss_restore.errors import SwapFailed
from vss_restore.local import Fault, LocalEngine

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

pytestmark = pytest.mark.usefixtures("immediate_waits")


# --- DetachOriginalVolumes and WaitOriginalsDetached ---------------------------------------


def test_detach_original_volumes_detaches_the_planned_devices_originals_and_nothing_else(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the stopped instance, a restore of its data devices, their volumes created
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server, devices=["xvdf", "xvdg"]).through("WaitInstanceStopped")
    root = aws.attached(server.instance_id)["/dev/sda1"]

    # WHEN DetachOriginalVolumes runs
    detached = run.run("DetachOriginalVolumes")

    # THEN it detached the planned devices' originals, which are available; the root stays
    assert detached == ["xvdf", "xvdg"]
    assert aws.attached(server.instance_id) == {"/dev/sda1": root}
    for volume_id in run.originals.values():
        assert (aws.volume(volume_id) or {}).get("State") == "available"
    # AND run again (a retry), it finds nothing left to detach and changes nothing
    held = aws.held()
    assert run.run("DetachOriginalVolumes") == []
    assert aws.held() == held


def _left_running(run: InPlaceRun, ec2: EC2Client) -> None:
    """The instance was never stopped."""


def _xvdg_swapped_by_hand(run: InPlaceRun, ec2: EC2Client) -> None:
    """Someone put another volume at xvdg while the instance was stopped."""
    run.run("StopInstance")
    ec2.detach_volume(VolumeId=run.originals["xvdg"], InstanceId=run.instance_id, Device="xvdg")
    zone = run.plan.volumes[0].availability_zone
    other = ec2.create_volume(AvailabilityZone=zone, Size=8, VolumeType="gp3")["VolumeId"]
    ec2.attach_volume(VolumeId=other, InstanceId=run.instance_id, Device="xvdg")


@pytest.mark.parametrize(
    ("given", "says"),
    [(_left_running, "is running"), (_xvdg_swapped_by_hand, "xvdg holds vol-")],
    ids=["instance-running", "instance-changed"],
)
def test_detach_original_volumes_fails_with_swap_failed_and_detaches_nothing_when_unsafe(
    call_task: CallTask, ec2: EC2Client, given: Callable[[InPlaceRun, EC2Client], None], says: str
) -> None:
    # GIVEN the volumes created, and an instance that runs or was changed under the restore
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("WaitVolumesAvailable")
    given(run, ec2)
    before = aws.held()

    # WHEN DetachOriginalVolumes runs, THEN SwapFailed says why, and no volume moved
    with pytest.raises(SwapFailed, match=says):
        run.run("DetachOriginalVolumes")
    assert aws.held() == before


def test_wait_originals_detached_waits_while_a_planned_device_holds_its_original(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a read of the instance before the detach has taken effect
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("WaitInstanceStopped")

    # WHEN WaitOriginalsDetached runs before, long after, and once the originals are detached
    waited_for, output = waits_until(
        run, "WaitOriginalsDetached", lambda: run.run("DetachOriginalVolumes")
    )

    # THEN it names each device still holding its original, then returns
    assert waited_for == (
        "originals still attached: /dev/sda1 (attached), xvdf (attached), xvdg (attached)"
    )
    assert output is None


# --- AttachRestoredVolumes and WaitRestoredAttached ----------------------------------------


def test_attach_restored_volumes_puts_each_new_volume_at_its_device_root_first(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the originals detached from the stopped instance
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("WaitOriginalsDetached")

    # WHEN AttachRestoredVolumes runs
    attached = run.run("AttachRestoredVolumes")

    # THEN each device holds its new volume, the root attached first
    assert attached == ["/dev/sda1", "xvdf", "xvdg"]
    assert aws.attached(server.instance_id) == run.created
    # AND a retry attaches nothing twice
    held = aws.held()
    assert run.run("AttachRestoredVolumes") == []
    assert aws.held() == held


def _originals_not_detached(engine: LocalEngine, run: InPlaceRun) -> None:
    """The swap skipped its detach: every device still holds its original."""
    run.run("StopInstance")


def _started_again(engine: LocalEngine, run: InPlaceRun) -> None:
    """The instance runs (someone started it between the detach and the attach)."""
    run.through("WaitOriginalsDetached")
    run.run("StartInstance")


def _attach_refused(engine: LocalEngine, run: InPlaceRun) -> None:
    """EC2 refuses the first attach (the root's)."""
    run.through("WaitOriginalsDetached")
    engine.inject(Fault("ec2.AttachVolume", code="InvalidVolume.ZoneMismatch", permanent=True))


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (_originals_not_detached, "/dev/sda1 holds vol-"),
        (_started_again, "is running"),
        (_attach_refused, r"/dev/sda1: AttachVolume vol-.*ZoneMismatch"),
    ],
    ids=["device-taken", "instance-running", "attach-refused"],
)
def test_attach_restored_volumes_fails_with_swap_failed_and_attaches_nothing_when_it_cannot(
    engine: LocalEngine,
    call_task: CallTask,
    ec2: EC2Client,
    given: Callable[[LocalEngine, InPlaceRun], None],
    says: str,
) -> None:
    # GIVEN a device still taken, an instance running, or an attach EC2 refuses
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("WaitVolumesAvailable")
    given(engine, run)
    before = aws.held()

    # WHEN AttachRestoredVolumes runs, THEN SwapFailed says why, and nothing was attached
    with pytest.raises(SwapFailed, match=says):
        run.run("AttachRestoredVolumes")
    assert aws.held() == before


def test_wait_restored_attached_waits_while_a_new_volume_is_attaching(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the new volumes attached, xvdf's attachment still attaching
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("AttachRestoredVolumes")
    shown = Shown.on(engine)
    shown.attachments[run.created["xvdf"]] = "attaching"

    # WHEN WaitRestoredAttached runs meanwhile, past its limit, and once it is attached
    waited_for, output = waits_until(run, "WaitRestoredAttached", shown.attachments.clear)

    # THEN it names the device it waits for, then returns
    assert waited_for == "replacements not yet attached: xvdf (attaching)"
    assert output is None


def test_wait_restored_attached_fails_with_swap_failed_when_a_device_holds_another_volume(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the stopped instance, whose devices still hold their originals
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("WaitInstanceStopped")

    # WHEN WaitRestoredAttached runs, THEN waiting cannot help: SwapFailed names the device
    root = run.originals["/dev/sda1"]
    with pytest.raises(SwapFailed, match=f"/dev/sda1 holds {root}, not {run.created['/dev/sda1']}"):
        run.run("WaitRestoredAttached")


# --- SetDeleteOnTermination ----------------------------------------------------------------


def test_set_delete_on_termination_gives_each_new_volume_the_flag_its_original_had(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the new volumes attached (an attach leaves DeleteOnTermination false)
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    flags_before = aws.delete_on_termination(server.instance_id)
    run = InPlaceRun.of(call_task, server).through("WaitRestoredAttached")

    # WHEN SetDeleteOnTermination runs
    changed = run.run("SetDeleteOnTermination")

    # THEN the devices have the flags they had before the restore: only the root's changed
    assert flags_before["/dev/sda1"] is True
    assert changed == ["/dev/sda1"]
    assert aws.delete_on_termination(server.instance_id) == flags_before
    assert aws.attached(server.instance_id) == run.created
    # AND again, nothing is left to change
    assert run.run("SetDeleteOnTermination") == []


def test_set_delete_on_termination_fails_with_swap_failed_and_changes_nothing_when_refused(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the new volumes attached, and EC2 refusing to change their flags
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("WaitRestoredAttached")
    engine.inject(Fault("ec2.ModifyInstanceAttribute", code="UnauthorizedOperation"))
    before = aws.held()

    # WHEN SetDeleteOnTermination runs, THEN SwapFailed; no flag changed
    with pytest.raises(SwapFailed, match=r"DeleteOnTermination.*UnauthorizedOperation"):
        run.run("SetDeleteOnTermination")
    assert aws.held() == before


# --- FinalizeReplacedVolumes ---------------------------------------------------------------


def test_finalize_replaced_volumes_marks_new_and_replaced_volumes_and_keeps_the_replaced(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a restore whose instance passed its status checks on the new volumes
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("WaitStatusChecks")

    # WHEN FinalizeReplacedVolumes runs (DeleteReplacedVolumes false)
    finalized = run.run("FinalizeReplacedVolumes")

    # THEN the new volumes are marked restored; each replaced one is kept, marked with
    # what replaced it and which execution did
    assert finalized == {"ReplacedVolumes": "kept", "Warnings": []}
    for device, new in run.created.items():
        assert aws.volume_tags(new)[tags.STATUS] == tags.STATUS_RESTORED
        replaced = aws.volume_tags(run.originals[device])
        assert replaced[tags.STATUS] == tags.STATUS_REPLACED
        assert replaced[tags.REPLACED_BY] == new
        assert replaced[tags.REPLACED_BY_EXECUTION] == run.execution


def test_finalize_replaced_volumes_deletes_the_replaced_volumes_when_asked_also_on_a_retry(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a restore that asked for its replaced volumes to be deleted
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server, delete_replaced_volumes=True).through("WaitStatusChecks")

    # WHEN FinalizeReplacedVolumes runs
    finalized = run.run("FinalizeReplacedVolumes")

    # THEN the replaced volumes are gone
    assert finalized == {"ReplacedVolumes": "deleted", "Warnings": []}
    assert [aws.volume(v) for v in run.originals.values()] == [None, None, None]
    # AND a retry (the answer was lost) finds them gone and says the same
    assert run.run("FinalizeReplacedVolumes") == finalized
    assert aws.attached(server.instance_id) == run.created


def test_finalize_replaced_volumes_keeps_a_volume_it_may_not_delete_and_warns_of_it(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN EC2 refuses to delete the replaced volumes
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server, delete_replaced_volumes=True).through("WaitStatusChecks")
    engine.inject(Fault("ec2.DeleteVolume", code="VolumeInUse", permanent=True))

    # WHEN FinalizeReplacedVolumes runs
    finalized = run.run("FinalizeReplacedVolumes")

    # THEN each is kept, marked replaced, and named in a warning (the restore succeeded)
    assert finalized["Warnings"] == [
        f"kept {volume} ({device}): DeleteVolume failed: VolumeInUse"
        for device, volume in run.originals.items()
    ]
    for volume in run.originals.values():
        assert aws.volume_tags(volume)[tags.STATUS] == tags.STATUS_REPLACED


# --- malformed events ----------------------------------------------------------------------


def test_each_task_refuses_a_malformed_event_naming_the_field_before_any_aws_call(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the events a restore gives these tasks, each with one field as the workflow
    # never sends it
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("CreateVolumes")
    cases = [
        Malformed("DetachOriginalVolumes", "Online", "yes", ("Online",)),
        Malformed("DetachOriginalVolumes", "Created", REMOVED, ("Created",)),
        Malformed("WaitOriginalsDetached", "TimeoutSeconds", "-5", ("TimeoutSeconds",)),
        Malformed("AttachRestoredVolumes", "Created.0.Device", REMOVED, ("Created", 0, "Device")),
        Malformed("WaitRestoredAttached", "Plan.InstanceId", REMOVED, ("Plan", "InstanceId")),
        Malformed(
            "SetDeleteOnTermination",
            "Plan.Volumes.0.DeleteOnTermination",
            REMOVED,
            ("Plan", "Volumes", 0, "DeleteOnTermination"),
        ),
        Malformed(
            "FinalizeReplacedVolumes", "DeleteReplacedVolumes", "false", ("DeleteReplacedVolumes",)
        ),
    ]

    # WHEN each task gets its malformed event, THEN it refuses it before any AWS call,
    # its ValidationError naming the field
    assert misplaced_refusals(engine, call_task, run.event, cases) == []
