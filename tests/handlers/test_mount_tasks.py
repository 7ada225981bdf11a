"""The mount's tasks (Mode "Mount"): PlanMount, AttachMountVolumes, WaitMountAttached and
UnmountVolumes, each called with the event its state gives it, made of the real outputs of
the tasks before it (ValidateRequest, FindSnapshotSet, CreateVolumes, SendDiskCommand, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tests.conftest import RecoveryHosts
from tests.handlers.conftest import CallTask
from tests.handlers.emulator import Malformed, misplaced_refusals
from tests.handlers.events import LIMITS, REGION, REMOVED
from tests.handlers.mode_events import LONG_AGO, RETRIES, Execution, mount_request
from tests.handlers.mode_worlds import (
    Inventory,
    commands,
    forge_cleanup_tags,
    instance,
    retag,
    volume,
    volume_ids,
    vss_set,
    windows_server,
)
from vss_restore import tags
from vss_restore.drill import CleanupPass
from vss_restore.errors import (
    DiskCommandFailed,
    InstanceNotFound,
    NoFreeDevice,
    ResourceNotReady,
    SwapFailed,
    WaitTimedOut,
)
from vss_restore.local import LocalEngine, world
from vss_restore.local.invariants import InstanceState
from vss_restore.models import RestorePlan
from vss_restore.mounts import MOUNT_DEVICE_NAMES, Unmounted
from vss_restore.records import Records
from vss_restore.windows_disks import document_name

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

StartMount = Callable[..., Execution]


@pytest.fixture
def server(ec2: EC2Client) -> str:
    return windows_server(ec2)


@pytest.fixture
def snapshots(ec2: EC2Client, server: str) -> dict[str, str]:
    """The server's VSS set: device → snapshot."""
    return vss_set(ec2, server)


@pytest.fixture
def start_mount(
    call_task: CallTask, server: str, snapshots: dict[str, str], recovery_hosts: RecoveryHosts
) -> StartMount:
    """A mount of the server's set (on the server itself unless ``target``, which is made a
    recovery host), validated and its set found."""

    def start(**options: Any) -> Execution:
        if options.get("target"):
            recovery_hosts(options["target"])
        run = Execution.start(call_task, mount_request(server, **options))
        run.found()
        return run

    return start


# An execution no one ran, named in forged tags.
FORGED_EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:vss-restore-mount:forged"
# A moment every recorded expiry in these tests is past.
PAST = datetime(2020, 1, 1, tzinfo=UTC)


def plan(run: Execution) -> RestorePlan:
    return RestorePlan.model_validate(run.step("PlanMount", run.plan_mount(), "Plan"))


def created(run: Execution) -> list[str]:
    """The mount planned and its volumes created (CreateVolumes, ``ResultPath: $.Created``)."""
    plan(run)
    return [c["VolumeId"] for c in run.step("CreateVolumes", run.create_volumes(), "Created")]


def attached(run: Execution) -> list[str]:
    new = created(run)
    run.step("AttachMountVolumes", run.attach_mount_volumes(), None)
    run.step("WaitMountAttached", run.wait_mount_attached(), None, retries=RETRIES)
    return new


def mounted(run: Execution) -> list[str]:
    """The whole mount: attached, and the disks online read-only (MountDisks)."""
    new = attached(run)
    run.step("SendDiskCommand", run.mount_disks(), "MountCommand")
    waiting = run.wait_disk_command("MountCommand", "MountDisks", instance_id=run.mount_target)
    run.step("WaitDiskCommand", waiting, "Mounted", retries=RETRIES)
    return new


# --- PlanMount ---------------------------------------------------------------------------------


def test_plan_mount_plans_the_sets_data_volumes_at_free_devices_in_the_targets_zone(
    ec2: EC2Client, start_mount: StartMount, snapshots: dict[str, str]
) -> None:
    # GIVEN a recovery host in another zone, using xvdf and xvdg already
    target = windows_server(
        ec2, name="recovery", az="us-east-1b", disks=(*world.DEMO_DISKS[:2], world.Disk("xvdg"))
    )
    run = start_mount(target=target, expires_in_hours=3)
    before = Inventory.capture(ec2)

    # WHEN the mount is planned
    planned = plan(run)

    # THEN the set's data volume is planned in the host's zone, at its first free device
    (spec,) = planned.volumes
    assert (spec.device, spec.snapshot_id) == ("xvdf", snapshots["xvdf"])
    assert spec.availability_zone == "us-east-1b"
    assert spec.tags[tags.MOUNTED_ON] == target
    assert spec.tags[tags.MOUNT_DEVICE] == "xvdh"
    assert spec.tags[tags.MOUNT_SOURCE_INSTANCE] == run.instance_id
    # ... until the request's hours from now, for this execution; the source's root untouched
    expires = datetime.fromisoformat(spec.tags[tags.MOUNT_EXPIRES_AT])
    assert timedelta(hours=2, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=3)
    assert (planned.execution, planned.untouched_devices) == (run.execution, ["/dev/sda1"])
    # ... and planning created nothing
    assert Inventory.capture(ec2) == before


def test_plan_mount_fails_with_no_free_device_and_creates_nothing_when_the_target_is_full(
    ec2: EC2Client, start_mount: StartMount
) -> None:
    # GIVEN a recovery host that holds a volume at every device name a mount may take
    target = windows_server(ec2, name="recovery")
    for device in MOUNT_DEVICE_NAMES:
        if device not in world.attached(ec2, target):
            filler = ec2.create_volume(AvailabilityZone=world.DEFAULT_AZ, Size=1)["VolumeId"]
            ec2.attach_volume(VolumeId=filler, InstanceId=target, Device=device)
    run = start_mount(target=target)
    before = Inventory.capture(ec2)

    # WHEN the mount is planned / THEN NoFreeDevice says why; nothing was created
    with pytest.raises(NoFreeDevice, match="0 free device name"):
        plan(run)
    assert Inventory.capture(ec2) == before


def test_plan_mount_fails_with_instance_not_found_when_the_target_is_gone(
    ec2: EC2Client, start_mount: StartMount
) -> None:
    # GIVEN a mount on a recovery host that has gone since the request was checked
    target = windows_server(ec2, name="recovery")
    run = start_mount(target=target)
    ec2.terminate_instances(InstanceIds=[target])
    gone = {**run.plan_mount(), "TargetInstanceId": "i-0123456789abcdef0"}

    # WHEN the mount is planned / THEN InstanceNotFound names it
    with pytest.raises(InstanceNotFound, match="i-0123456789abcdef0"):
        run.step("PlanMount", gone, "Plan")


# --- AttachMountVolumes ------------------------------------------------------------------------


def test_attach_mount_volumes_attaches_each_volume_at_its_planned_device_once_when_retried(
    engine: LocalEngine, ec2: EC2Client, start_mount: StartMount, server: str
) -> None:
    # GIVEN a mount on the server, its volume created
    run = start_mount()
    (new,) = created(run)
    live = world.attached(ec2, server)

    # WHEN its volumes are attached, and the task runs again (a retry)
    first = run.step("AttachMountVolumes", run.attach_mount_volumes(), None)
    again = run.step("AttachMountVolumes", run.attach_mount_volumes(), None)

    # THEN the volume is at the planned free device, the first call said so, the retry
    # attached nothing more
    assert (first, again) == (["xvdg"], [])
    assert world.attached(ec2, server) == {**live, "xvdg": new}
    # ... its disk arrived offline (Windows' policy for a disk added to a running server)
    assert not engine.guests.disk_online(new)


@pytest.mark.parametrize(
    "meanwhile",
    [
        lambda ec2, i: ec2.stop_instances(InstanceIds=[i]),
        lambda ec2, i: ec2.attach_volume(
            VolumeId=ec2.create_volume(AvailabilityZone=world.DEFAULT_AZ, Size=1)["VolumeId"],
            InstanceId=i,
            Device="xvdg",
        ),
    ],
    ids=["target-stopped", "device-taken"],
)
def test_attach_mount_volumes_fails_with_swap_failed_and_attaches_nothing_when_the_target_changed(
    ec2: EC2Client,
    start_mount: StartMount,
    server: str,
    meanwhile: Callable[[EC2Client, str], object],
) -> None:
    # GIVEN a mount whose volume is created, and a target that changed since the plan
    run = start_mount()
    created(run)
    meanwhile(ec2, server)
    before = Inventory.capture(ec2)

    # WHEN the volume is attached / THEN SwapFailed; nothing was attached or displaced
    with pytest.raises(SwapFailed, match=server):
        run.step("AttachMountVolumes", run.attach_mount_volumes(), None)
    assert Inventory.capture(ec2) == before


# --- WaitMountAttached -------------------------------------------------------------------------


@pytest.mark.usefixtures("immediate_waits")
def test_wait_mount_attached_waits_for_each_device_until_its_limit_then_returns_once_attached(
    start_mount: StartMount,
) -> None:
    # GIVEN a mount whose volume is created, not attached yet
    run = start_mount()
    created(run)

    # WHEN it is awaited: not ready within its limit, WaitTimedOut past it
    with pytest.raises(ResourceNotReady, match="xvdg"):
        run.step("WaitMountAttached", run.wait_mount_attached(), None)
    limit = f"limit {LIMITS.SwapWaitTimeoutSeconds} s"
    with pytest.raises(WaitTimedOut, match=limit):
        run.step("WaitMountAttached", run.wait_mount_attached(entered_ago=LONG_AGO), None)

    # THEN once attached, it returns (no output: ResultPath null)
    run.step("AttachMountVolumes", run.attach_mount_volumes(), None)
    assert run.step("WaitMountAttached", run.wait_mount_attached(), None) is None


def test_wait_mount_attached_fails_with_swap_failed_when_its_device_holds_another_volume(
    ec2: EC2Client, start_mount: StartMount, server: str
) -> None:
    # GIVEN a mount whose planned device took another volume before the attach
    run = start_mount()
    created(run)
    other = ec2.create_volume(AvailabilityZone=world.DEFAULT_AZ, Size=1)["VolumeId"]
    ec2.attach_volume(VolumeId=other, InstanceId=server, Device="xvdg")

    # WHEN it is awaited / THEN SwapFailed names the volume there
    with pytest.raises(SwapFailed, match=other):
        run.step("WaitMountAttached", run.wait_mount_attached(), None)


# --- UnmountVolumes ----------------------------------------------------------------------------


@pytest.mark.usefixtures("immediate_waits")
def test_unmount_volumes_takes_the_disks_offline_before_detaching_then_deletes_the_volumes(
    engine: LocalEngine, ec2: EC2Client, start_mount: StartMount, server: str
) -> None:
    # GIVEN a whole mount on the server, its disk online read-only
    run = start_mount()
    live = world.attached(ec2, server)
    (new,) = mounted(run)
    assert engine.guests.disk_online(new)

    # WHEN the rollback unmounts: the disk command is running, so it hands over to the
    # Retry with the volume still attached; called again, it finishes
    event = run.unmount_volumes()
    with pytest.raises(ResourceNotReady, match="UnmountDisks"):
        run.step("UnmountVolumes", event, "RollbackCleanup")
    assert world.attached(ec2, server)["xvdg"] == new
    done = Unmounted.model_validate(run.step("UnmountVolumes", event, "RollbackCleanup"))

    # THEN the mount's volume was detached only once its disk was offline, and is deleted
    assert (done.deleted, done.left_behind) == ([new], [])
    assert new not in volume_ids(ec2)
    assert engine.guests.violations == []
    (unmount,) = [c for c in commands(server) if "UnmountDisks" in c["Comment"]]
    assert unmount["Parameters"]["Action"] == ["Offline"]
    # ... and the server holds what it held before the mount
    assert world.attached(ec2, server) == live


def test_unmount_volumes_deletes_the_volumes_without_a_disk_command_when_never_attached(
    ec2: EC2Client, start_mount: StartMount, server: str
) -> None:
    # GIVEN a mount that failed after its volume was created
    run = start_mount()
    (new,) = created(run)

    # WHEN the rollback unmounts
    done = Unmounted.model_validate(run.step("UnmountVolumes", run.unmount_volumes(), None))

    # THEN the volume is deleted; no disk was touched
    assert (done.deleted, done.left_behind) == ([new], [])
    assert new not in volume_ids(ec2)
    assert commands(server) == []


def test_unmount_volumes_tags_what_stays_for_cleanup_when_the_disk_command_fails(
    engine: LocalEngine, ec2: EC2Client, start_mount: StartMount, server: str
) -> None:
    # GIVEN a whole mount, and a disk Windows will not take offline
    run = start_mount()
    (new,) = mounted(run)
    engine.guests.fail_next("Offline", "Set-Disk : The disk is in use")

    # WHEN the rollback unmounts / THEN DiskCommandFailed with the command's output
    with pytest.raises(DiskCommandFailed, match="The disk is in use"):
        run.step("UnmountVolumes", run.unmount_volumes(), None)

    # ... the volume stays attached, its disk online, tagged for cleanup
    assert world.attached(ec2, server)["xvdg"] == new
    assert engine.guests.disk_online(new)
    assert tags.tag_dict(volume(ec2, new)["Tags"])[tags.STATUS] == tags.STATUS_CLEANUP_REQUIRED


@pytest.mark.usefixtures("immediate_waits")
def test_unmount_volumes_cancels_a_disk_command_it_gives_up_on_and_tags_what_stays(
    engine: LocalEngine, ec2: EC2Client, start_mount: StartMount, server: str
) -> None:
    # GIVEN a whole mount, and a guest that never finishes the next disk command
    run = start_mount()
    (new,) = mounted(run)
    engine.ssm.hang(document_name(), commands=1)
    event = run.unmount_volumes()
    with pytest.raises(ResourceNotReady, match="UnmountDisks"):
        run.step("UnmountVolumes", event, None)

    # WHEN the rollback's unmount has waited past its limit
    # THEN it gives up, and the command is cancelled: not left to run behind the next one
    with pytest.raises(WaitTimedOut, match="it was cancelled"):
        run.step("UnmountVolumes", run.unmount_volumes(entered_ago=LONG_AGO), None)
    (unmount,) = [c for c in commands(server) if "UnmountDisks" in c["Comment"]]
    ssm = boto3.client("ssm", region_name=REGION)
    statuses = [
        ssm.get_command_invocation(CommandId=unmount["CommandId"], InstanceId=server)["Status"]
        for _ in range(2)
    ]
    assert statuses == ["Cancelling", "Cancelled"]
    # ... the volume stays attached, its disk online, tagged for cleanup
    assert world.attached(ec2, server)["xvdg"] == new
    assert tags.tag_dict(volume(ec2, new)["Tags"])[tags.STATUS] == tags.STATUS_CLEANUP_REQUIRED


def test_unmount_volumes_removes_only_expired_mounts_when_called_by_the_schedule(
    call_task: CallTask, ec2: EC2Client, records: Records, start_mount: StartMount, server: str
) -> None:
    # GIVEN two mounts of the server's set, the first one past its recorded expiry
    expired, fresh = start_mount(), start_mount()
    (old,) = mounted(expired)
    (new,) = mounted(fresh)
    records.age(expired.execution, "mount", PAST)

    # WHEN the hourly schedule calls the unmount
    done = call_task("UnmountVolumes", {"Expired": True})

    # THEN the expired mount is gone (and its record); the other is still mounted
    assert done == {"Unmounted": [old], "Warnings": []}
    assert old not in volume_ids(ec2)
    assert records.of_execution(expired.execution, "mount") == []
    assert world.attached(ec2, server)[volume(ec2, new)["Attachments"][0]["Device"]] == new


def test_unmount_volumes_goes_by_the_recorded_expiry_whatever_the_expiry_tags_say(
    call_task: CallTask, ec2: EC2Client, start_mount: StartMount, server: str
) -> None:
    # GIVEN two mounts within their hours: one's expiry tag back-dated, one's garbled
    back_dated, garbled = start_mount(), start_mount()
    (first,) = mounted(back_dated)
    (second,) = mounted(garbled)
    retag(ec2, tags.MOUNT_EXPIRES_AT, "2020-01-01T08:30", back_dated.execution)
    retag(ec2, tags.MOUNT_EXPIRES_AT, "31/12/2026", garbled.execution)

    # WHEN the schedule calls the unmount
    done = call_task("UnmountVolumes", {"Expired": True})

    # THEN the pass completes and both are still mounted: the tags are not what it reads
    assert done == {"Unmounted": [], "Warnings": []}
    attached = set(world.attached(ec2, server).values())
    assert {first, second} <= attached


def test_scheduled_passes_leave_a_production_server_with_forged_tags_alone_and_report_it(
    call_task: CallTask, ec2: EC2Client, records: Records, start_mount: StartMount, server: str
) -> None:
    # GIVEN a production server whose instance and volumes carry forged drill and mount
    # tags (expired), beside a real mount past its recorded expiry
    production = world.windows_instance(ec2, world.DEMO_DISKS[:2], name="production")
    disks = sorted(world.attached(ec2, production).values())
    forge_cleanup_tags(
        ec2,
        [production, *disks],
        execution="arn:aws:states:us-east-1:123456789012:execution:vss-restore-mount:forged",
    )
    expired = start_mount()
    (old,) = mounted(expired)
    records.age(expired.execution, "mount", PAST)
    before = InstanceState.capture(ec2, production)

    # WHEN the daily drill cleanup and the hourly mount expiry run
    drills = CleanupPass.model_validate(call_task("CleanupDrill", {"Expired": True}))
    mounts = call_task("UnmountVolumes", {"Expired": True})

    # THEN the real mount is gone, the production server is exactly as it was...
    assert mounts["Unmounted"] == [old]
    assert InstanceState.capture(ec2, production) == before
    assert instance(ec2, production)["State"]["Name"] == "running"
    # ... and both passes name what they left alone
    assert sorted(drills.unrecorded) == sorted([production, *disks])
    assert {w.split()[0] for w in mounts["Warnings"]} == set(disks)
    assert all("no record of creating it" in w for w in [*drills.warnings, *mounts["Warnings"]])


# --- the tasks' input models -------------------------------------------------------------------


def test_mount_tasks_refuse_a_malformed_event_naming_the_field_before_any_aws_call(
    engine: LocalEngine, call_task: CallTask, start_mount: StartMount
) -> None:
    # GIVEN a mount whose volume is created
    run = start_mount()
    created(run)
    events = {
        "PlanMount": run.plan_mount(),
        "AttachMountVolumes": run.attach_mount_volumes(),
        "WaitMountAttached": run.wait_mount_attached(),
        "UnmountVolumes": run.unmount_volumes(),
    }

    # WHEN each task gets its event with a field its state never leaves out or sends so
    # THEN its input model names that field, before any AWS call
    cases = [
        Malformed("PlanMount", "TargetInstanceId", REMOVED, ("TargetInstanceId",)),
        Malformed("AttachMountVolumes", "Created", REMOVED, ("Created",)),
        Malformed("WaitMountAttached", "EnteredTime", REMOVED, ("EnteredTime",)),
        Malformed("UnmountVolumes", "Execution", REMOVED, ("Execution",)),
    ]
    assert misplaced_refusals(engine, call_task, events.__getitem__, cases) == []
