"""Mode "Mount": a snapshot set's volumes attached beside the live ones, read-only.

A mount creates a volume from each snapshot of the set in the target instance's zone (the
source instance itself by default), attaches them at device names the target does not use,
and brings their Windows disks online read-only with drive letters through the project's
disk document. Nothing attached before is touched and no instance is stopped.

Each volume records its mount in its tags (``mounted-on``, ``mount-device``,
``mount-expires-at``, ...): the plan carries them, the report is read from them, and
``unmount`` and ``cleanup`` find a mount's volumes by them, never by anything else.
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from vss_restore import tags, waiting
from vss_restore.errors import (
    DiskCommandFailed,
    NoFreeDevice,
    ResourceNotReady,
    SwapFailed,
    TerminalError,
    WaitTimedOut,
)
from vss_restore.instance import attached_volumes, describe_instance, power_state
from vss_restore.models import (
    ChosenSet,
    CreatedVolume,
    InstanceFacts,
    Model,
    RestorePlan,
    RestoreReport,
    VolumeSpec,
)
from vss_restore.planning import volume_specs
from vss_restore.records import Records, unrecorded
from vss_restore.swap import all_at_once, attach_call, detach_call, new_volume_ids
from vss_restore.volumes import delete_volumes_of_execution, mark_for_cleanup, volumes_by_id
from vss_restore.waiting import not_ready
from vss_restore.windows_disks import (
    DiskCommandResult,
    DiskState,
    finished_disk_command,
    given_up,
    send_disk_command,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ssm import SSMClient

# Device names a mount may take on the target, in order: those AWS recommends for EBS
# volumes on Windows instances, xvd[f-z] and then xvdc[a-x] ("Device names on Windows
# instances", Amazon EC2 User Guide).
MOUNT_DEVICE_NAMES: tuple[str, ...] = (
    *(f"xvd{c}" for c in string.ascii_lowercase[5:]),
    *(f"xvdc{c}" for c in string.ascii_lowercase[:24]),
)
# The rollback's disk command: sent once per execution (its Comment says which).
UNMOUNT_STEP = "UnmountDisks"
_ATTACHED = ("attaching", "attached")


# --- planning (the set is chosen by discovery.find_snapshot_set) ------------------------------


def free_devices(target: Mapping[str, Any], count: int) -> list[str]:
    """The first ``count`` of ``MOUNT_DEVICE_NAMES`` the target does not use; ``NoFreeDevice``."""
    used = set(_by_device(dict(target)))
    free = [name for name in MOUNT_DEVICE_NAMES if name not in used]
    if len(free) < count:
        raise NoFreeDevice(
            f"{target['InstanceId']} has {len(free)} free device name(s) of "
            f"{MOUNT_DEVICE_NAMES[0]}-xvdz and xvdca-xvdcx, and the set has {count} volume(s) "
            "to mount: mount fewer Devices, or unmount earlier mounts; nothing was changed"
        )
    return free[:count]


def plan_mount(
    source: InstanceFacts,
    target: Mapping[str, Any],
    chosen: ChosenSet,
    originals: Mapping[str, Mapping[str, Any]],
    execution: str,
    now: datetime,
    hours: int,
    *,
    initialization_rate: int | None = None,
    fast_restored: Collection[str] = frozenset(),
) -> RestorePlan:
    """A volume per member of the set, in the target's zone, each with its mount in its tags.

    The volumes keep the source volumes' settings (``planning.volume_specs``); snapshots are
    regional, so a target in another zone of the Region gets its volumes in its own zone.
    """
    in_target_zone = source.model_copy(
        update={"availability_zone": target["Placement"]["AvailabilityZone"]}
    )
    specs = volume_specs(
        in_target_zone,
        chosen,
        originals,
        execution,
        initialization_rate=initialization_rate,
        fast_restored=fast_restored,
    )
    devices = free_devices(target, len(specs))
    expires_at = (now + timedelta(hours=hours)).replace(microsecond=0).isoformat()
    mounted = [
        spec.model_copy(
            update={
                "delete_on_termination": False,
                "tags": mount_tags(
                    spec, source.instance_id, target["InstanceId"], device, expires_at
                ),
            }
        )
        for spec, device in zip(specs, devices, strict=True)
    ]
    in_set = {m.device for m in chosen.members}
    return RestorePlan(
        instance_id=source.instance_id,
        snapshot_set_id=chosen.snapshot_set_id,
        execution=execution,
        volumes=mounted,
        untouched_devices=[v.device for v in source.volumes if v.device not in in_set],
    )


def mount_tags(
    spec: VolumeSpec, source_id: str, target_id: str, device: str, expires_at: str
) -> dict[str, str]:
    """The restore tags that apply to a mount's volume, and the mount's own."""
    kept = {
        k: v
        for k, v in spec.tags.items()
        if k not in (tags.INSTANCE_ID, tags.REPLACED_VOLUME_ID, tags.LINEAGE)
    }
    return {
        **kept,
        "Name": f"vss-restore mount of {source_id} {spec.device} on {target_id}",
        tags.STATUS: tags.STATUS_MOUNTED,
        tags.MOUNT_SOURCE_INSTANCE: source_id,
        tags.MOUNTED_ON: target_id,
        tags.MOUNT_DEVICE: device,
        tags.MOUNT_EXPIRES_AT: expires_at,
    }


@dataclass(frozen=True)
class PlannedMount:
    """One volume of a mount plan, read from its tags."""

    device: str
    snapshot_id: str
    target_id: str
    attach_as: str
    expires_at: str


def planned_mounts(plan: RestorePlan) -> list[PlannedMount]:
    return [
        PlannedMount(
            device=spec.device,
            snapshot_id=spec.snapshot_id,
            target_id=spec.tags[tags.MOUNTED_ON],
            attach_as=spec.tags[tags.MOUNT_DEVICE],
            expires_at=spec.tags[tags.MOUNT_EXPIRES_AT],
        )
        for spec in plan.volumes
    ]


# --- attaching --------------------------------------------------------------------------------


def _running_target(ec2: EC2Client, instance_id: str) -> dict[str, Any]:
    raw = describe_instance(ec2, instance_id)
    if power_state(raw) != "running":
        raise SwapFailed(f"{instance_id} is {power_state(raw)}; a mount needs it running")
    return raw


def _by_device(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The instance's ``Ebs`` entries by device name without ``/dev/`` (as the plan names them)."""
    return {d.removeprefix("/dev/"): e for d, e in attached_volumes(raw).items()}


def attach_mounts(ec2: EC2Client, plan: RestorePlan, created: list[CreatedVolume]) -> list[str]:
    """Attach each new volume at its planned device of the target; returns the devices attached now.

    A device that holds another volume now (something was attached there since the plan)
    is ``SwapFailed``: nothing attached before is ever displaced.
    """
    new_ids = new_volume_ids(plan, created)
    mounts = planned_mounts(plan)
    target = mounts[0].target_id
    on_device = _by_device(_running_target(ec2, target))
    calls: list[Callable[[], None]] = []
    attached: list[str] = []
    for mount in mounts:
        volume_id = new_ids[mount.device]
        current = on_device.get(mount.attach_as, {}).get("VolumeId")
        if current == volume_id:
            continue  # attached by an earlier attempt
        if current is not None:
            raise SwapFailed(
                f"{mount.attach_as} of {target} now holds {current}; {volume_id} is not "
                "attached there (nothing attached before is displaced)"
            )
        calls.append(attach_call(ec2, target, mount.attach_as, volume_id))
        attached.append(mount.attach_as)
    all_at_once(calls)
    return attached


def mounts_attached(
    ec2: EC2Client,
    plan: RestorePlan,
    created: list[CreatedVolume],
    entered_at: datetime,
    timeout_seconds: int,
    now: datetime,
) -> None:
    """Return when every new volume is attached at its device of the target."""
    new_ids = new_volume_ids(plan, created)
    mounts = planned_mounts(plan)
    on_device = _by_device(describe_instance(ec2, mounts[0].target_id))
    waiting: list[str] = []
    for mount in mounts:
        ebs = on_device.get(mount.attach_as, {})
        if ebs.get("VolumeId") not in (None, new_ids[mount.device]):
            raise SwapFailed(
                f"{mount.attach_as} holds {ebs.get('VolumeId')}, not {new_ids[mount.device]}"
            )
        if ebs.get("Status") != "attached":
            waiting.append(f"{mount.attach_as} ({ebs.get('Status', 'detached')})")
    if waiting:
        not_ready(
            "mounts not yet attached: " + ", ".join(waiting), entered_at, timeout_seconds, now
        )


# --- the report -------------------------------------------------------------------------------


class Mount(Model):
    device: str = Field(alias="Device")
    snapshot_id: str = Field(alias="SnapshotId")
    volume_id: str | None = Field(alias="VolumeId")
    attached_as: str = Field(alias="AttachedAs")
    drive_letter: str | None = Field(alias="DriveLetter")
    # BitLocker keeps the volume locked: it must be unlocked (its recovery key) to be read.
    locked: bool = Field(default=False, alias="Locked")


class MountReport(RestoreReport):
    """A mount's report: the restore report's fields (``Volumes`` empty: nothing is replaced),
    and where each volume of the set is mounted, until when."""

    mode: Literal["Mount"] = Field(default="Mount", alias="Mode")
    target_instance_id: str = Field(alias="TargetInstanceId")
    mounts: list[Mount] = Field(alias="Mounts")
    expires_at: datetime = Field(alias="ExpiresAt")


def _mount(planned: PlannedMount, volume_id: str | None, disks: dict[str, DiskState]) -> Mount:
    """Where a planned mount's volume is: its first drive letter, and whether BitLocker keeps
    it locked (pure)."""
    disk = disks.get(volume_id or "")
    return Mount(
        device=planned.device,
        snapshot_id=planned.snapshot_id,
        volume_id=volume_id,
        attached_as=planned.attach_as,
        drive_letter=disk.drive_letters[0] if disk and disk.drive_letters else None,
        locked=bool(disk and disk.locked_volumes),
    )


def build_mount_report(
    plan: RestorePlan,
    chosen: ChosenSet,
    created: list[CreatedVolume] | None,
    disks: DiskCommandResult | None,
    *,
    dry_run: bool,
    started_at: datetime,
    finished_at: datetime,
    power_state: str,
) -> MountReport:
    new_ids = {c.device: c.volume_id for c in created or []}
    by_volume = {d.volume_id: d for d in disks.disks} if disks else {}
    mounts = planned_mounts(plan)
    return MountReport(
        instance_id=plan.instance_id,
        snapshot_set_id=plan.snapshot_set_id,
        status="DryRun" if dry_run else "Succeeded",
        volumes=[],
        started_at=started_at,
        finished_at=finished_at,
        downtime_seconds=None if dry_run else 0.0,
        snapshot_set_created_at=chosen.created_at,
        skipped_sets=chosen.skipped,
        replaced_volumes="untouched",
        power_state=power_state,
        target_instance_id=mounts[0].target_id,
        mounts=[_mount(m, new_ids.get(m.device), by_volume) for m in mounts],
        expires_at=datetime.fromisoformat(mounts[0].expires_at),
    )


# --- unmounting -------------------------------------------------------------------------------


def is_mount_volume(volume: Mapping[str, Any], execution: str | None = None) -> bool:
    """True for a volume a mount created (of ``execution``, if given)."""
    labels = tags.tag_dict(volume.get("Tags"))
    ours = labels.get(tags.CREATED_BY) == tags.CREATED_BY_VALUE and tags.MOUNTED_ON in labels
    return ours and (
        execution is None or labels.get(tags.EXECUTION) == execution[: tags.MAX_TAG_VALUE]
    )


def recorded_mount_volumes(
    ec2: EC2Client, records: Records, execution: str
) -> list[dict[str, Any]]:
    """The volumes ``execution``'s mount recorded creating that still exist: the only ones an
    unmount or a cleanup may take away."""
    return volumes_by_id(ec2, [r.resource_id for r in records.of_execution(execution, "mount")])


def mount_volumes(ec2: EC2Client, execution: str) -> list[dict[str, Any]]:
    """The volumes ``execution``'s mount created, found by their tags."""
    pages = ec2.get_paginator("describe_volumes").paginate(
        Filters=[
            {"Name": f"tag:{tags.EXECUTION}", "Values": [execution[: tags.MAX_TAG_VALUE]]},
            {"Name": "tag-key", "Values": [tags.MOUNTED_ON]},
        ]
    )
    return [dict(v) for page in pages for v in page["Volumes"] if is_mount_volume(v, execution)]


class Unmounted(Model):
    """What an unmount did: volumes deleted, and those left behind (tagged for cleanup)."""

    deleted: list[str] = Field(default_factory=list, alias="Deleted")
    left_behind: list[str] = Field(default_factory=list, alias="LeftBehind")


def _attachment(volume: Mapping[str, Any]) -> dict[str, Any] | None:
    found = [
        dict(a)
        for a in volume.get("Attachments") or []
        if a.get("State") in (*_ATTACHED, "detaching")
    ]
    return found[0] if found else None


def unmount_step(
    ec2: EC2Client,
    ssm: SSMClient,
    records: Records,
    volumes: list[dict[str, Any]],
    execution: str,
    entered_at: datetime,
    timeout_seconds: int,
    now: datetime,
    document: str | None = None,
    step: str = UNMOUNT_STEP,
) -> Unmounted:
    """One step towards ``volumes`` (a mount's) being gone; ``ResourceNotReady`` until they are.

    In order: the disks of attached volumes are taken offline on a running target (one
    disk command per execution), then the volumes are detached, and once available deleted.
    A volume that cannot be removed is tagged ``status=cleanup-required``; so is every
    volume still there when the wait times out or the disk command fails.
    """
    try:
        return _unmount_step(
            ec2, ssm, records, volumes, execution, entered_at, timeout_seconds, now, document, step
        )
    except (WaitTimedOut, DiskCommandFailed):
        live = [v["VolumeId"] for v in volumes if v.get("State") not in ("deleting", "deleted")]
        mark_for_cleanup(ec2, live)
        raise


def _unmount_step(
    ec2: EC2Client,
    ssm: SSMClient,
    records: Records,
    volumes: list[dict[str, Any]],
    execution: str,
    entered_at: datetime,
    timeout_seconds: int,
    now: datetime,
    document: str | None,
    step: str,
) -> Unmounted:
    attached = [(v, a) for v in volumes if (a := _attachment(v)) is not None]
    if any(a["State"] == "attaching" for _, a in attached):
        not_ready("mount volumes still attaching", entered_at, timeout_seconds, now)
    online = [(v, a) for v, a in attached if a["State"] == "attached"]
    if online:
        target = str(online[0][1]["InstanceId"])
        if power_state(describe_instance(ec2, target)) == "running":
            # Windows must let go of the disks before EC2 takes them away.
            try:
                command_id = send_disk_command(
                    ssm,
                    target,
                    "Offline",
                    [v["VolumeId"] for v, _ in online],
                    [],
                    execution,
                    step,
                    document,
                )
            except ResourceNotReady as err:  # another disk command still runs there
                not_ready(str(err), entered_at, timeout_seconds, now)
            try:
                finished_disk_command(ssm, command_id, target, step, now)
            except ResourceNotReady as err:
                try:
                    not_ready(str(err), entered_at, timeout_seconds, now)
                except WaitTimedOut as timed_out:
                    raise given_up(ssm, command_id, target, timed_out) from err
        all_at_once(
            [
                detach_call(ec2, str(a["InstanceId"]), str(a["Device"]), v["VolumeId"])
                for v, a in online
            ]
        )
    # Then delete them (tagging what cannot be), as a restore's rollback deletes its volumes.
    cleanup = delete_volumes_of_execution(
        ec2, records, execution, "mount", entered_at, timeout_seconds, now
    )
    return Unmounted(deleted=cleanup.deleted, left_behind=cleanup.left_behind)


def expired_mounts(
    ec2: EC2Client, records: Records, now: datetime, warnings: list[str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Execution → its mount volumes, for every recorded mount whose expiry (the one it was
    created with) has passed. A volume tagged as a mount's with no record is left alone, and
    ``warnings`` names it."""
    ours = records.all_of("mount")
    expired = [r for r in ours if r.expired(now)]
    found = {v["VolumeId"]: v for v in volumes_by_id(ec2, [r.resource_id for r in expired])}
    by_execution: dict[str, list[dict[str, Any]]] = {}
    for record in expired:
        if record.resource_id in found:
            by_execution.setdefault(record.execution, []).append(found[record.resource_id])
    if warnings is not None:
        pages = ec2.get_paginator("describe_volumes").paginate(
            Filters=[{"Name": "tag-key", "Values": [tags.MOUNTED_ON]}]
        )
        tagged = [v["VolumeId"] for page in pages for v in page["Volumes"]]
        recorded = {r.resource_id for r in ours}
        warnings.extend(unrecorded("mount", [t for t in tagged if t not in recorded]))
    return by_execution


def unmounted(first_seen: Collection[str], last: Unmounted) -> Unmounted:
    """The whole unmount from its last step: every volume seen at the start is deleted now
    unless the last step left it behind (a step reports only the volumes it still saw)."""
    kept = {entry.split()[0] for entry in last.left_behind}
    deleted = sorted((set(first_seen) | set(last.deleted)) - kept)
    return last.model_copy(update={"deleted": deleted})


def unmount(
    ec2: EC2Client,
    ssm: SSMClient,
    records: Records,
    execution: str,
    *,
    document: str | None = None,
    timeout_seconds: int = 900,
    interval_seconds: float = 2.0,
) -> Unmounted:
    """Take ``execution``'s mount away (``unmount`` and ``cleanup``): disks offline, detach,
    delete; only volumes that execution's mount recorded creating are touched. Safe to repeat.

    Each call sends its own disk command (its step name is drawn for the call): a command
    that failed before, say while the agent was offline, is not reused."""
    step = f"Unmount-{uuid.uuid4().hex[:12]}"
    first_seen = [v["VolumeId"] for v in recorded_mount_volumes(ec2, records, execution)]
    entered_at = waiting.utcnow()
    while True:
        try:
            last = unmount_step(
                ec2,
                ssm,
                records,
                recorded_mount_volumes(ec2, records, execution),
                execution,
                entered_at,
                timeout_seconds,
                waiting.utcnow(),
                document,
                step,
            )
            return unmounted(first_seen, last)
        except ResourceNotReady:
            waiting.sleep(interval_seconds)


def remove_expired_mounts(
    ec2: EC2Client,
    ssm: SSMClient,
    records: Records,
    now: datetime,
    *,
    document: str | None = None,
    dry_run: bool = False,
    interval_seconds: float = 2.0,
    warnings: list[str] | None = None,
) -> list[str]:
    """``cleanup``: unmount every mount whose expiry has passed; the volumes removed (with
    ``dry_run``: the volumes that would be, and nothing changes). A mount that cannot be
    removed does not hold up the others: its error is raised once they have been tried.
    A volume tagged as a mount's with no record is left alone, said in ``warnings``."""
    expired = expired_mounts(ec2, records, now, warnings)
    if dry_run:
        return sorted(v["VolumeId"] for found in expired.values() for v in found)
    removed: list[str] = []
    failures: list[TerminalError] = []
    for execution in sorted(expired):
        try:
            done = unmount(
                ec2, ssm, records, execution, document=document, interval_seconds=interval_seconds
            )
        except TerminalError as err:  # tagged cleanup-required; the others still go
            failures.append(err)
            continue
        removed.extend(done.deleted)
    if failures:
        raise failures[0]
    return sorted(removed)
