"""Finding an instance's VSS snapshots (by current volumes and by lineage) and choosing a set."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from vss_restore import tags
from vss_restore.devices import restore_order
from vss_restore.errors import InvalidRequest, SnapshotSetIncomplete, SnapshotSetNotFound
from vss_restore.models import (
    MAX_MOUNT_VOLUMES,
    ChoosesBootVolume,
    ChosenSet,
    InstanceFacts,
    MountRequest,
    OnlineRequest,
    RestoreRequest,
    SetMember,
    SkippedSet,
    too_many_to_mount,
)
from vss_restore.snapshot_sets import (
    Snapshot,
    SnapshotSet,
    Verdict,
    group_into_sets,
    judge,
    select_set,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

_FILTER_VALUES_MAX = 200
MAX_SKIPPED_REPORTED = 10


def refuse_root_online(request: RestoreRequest, facts: InstanceFacts) -> None:
    """Mode "Online" never replaces the instance's root device (``RootDeviceName``, whatever
    its name): Windows cannot take its boot disk offline, nor EC2 detach it while it runs."""
    root = facts.root_device_name
    if isinstance(request, OnlineRequest) and request.devices and root in request.devices:
        raise InvalidRequest(
            "Devices",
            f"lists {root}, the root device of {facts.instance_id}: an online restore never "
            'replaces the boot volume (restore it with Mode "InPlace")',
        )


def leaves_out_root(request: RestoreRequest) -> bool:
    """Whether the root device is left out: always online (Windows cannot take its boot disk
    offline), for a mount unless Devices lists it, else as ExcludeBootVolume says."""
    if isinstance(request, OnlineRequest):
        return True
    if isinstance(request, MountRequest):
        return request.devices is None
    return isinstance(request, ChoosesBootVolume) and request.exclude_boot_volume


def target_devices(request: RestoreRequest, facts: InstanceFacts) -> list[str]:
    """The devices this restore replaces, root first; ``InvalidRequest`` for unknown ones.

    Mode "Online": data devices only, by default every attached one. Mode "Mount": by default
    the data devices, the root only if Devices lists it.
    """
    refuse_root_online(request, facts)
    attached = [v.device for v in facts.volumes]
    if request.devices:
        for device in request.devices:
            if device not in attached:
                raise InvalidRequest(
                    "Devices",
                    f"{device} is not attached to {facts.instance_id} ({', '.join(attached)})",
                )
        wanted = list(request.devices)
    else:
        wanted = attached
    if leaves_out_root(request):
        wanted = [d for d in wanted if d != facts.root_device_name]
    if not wanted and isinstance(request, OnlineRequest):
        raise InvalidRequest(
            "Devices", f"{facts.instance_id} has no data volume: nothing to restore online"
        )
    if isinstance(request, MountRequest) and len(wanted) > MAX_MOUNT_VOLUMES:
        raise InvalidRequest("Devices", too_many_to_mount(len(wanted)))
    if not wanted and isinstance(request, MountRequest):
        raise InvalidRequest(
            "Devices",
            f"{facts.instance_id} has no data volume: list {facts.root_device_name} in "
            "Devices to mount a copy of its boot volume",
        )
    if not wanted:
        raise InvalidRequest("ExcludeBootVolume", "leaves no device to restore")
    return restore_order(wanted, facts.root_device_name)


def lineage_volume_ids(ec2: EC2Client, facts: InstanceFacts) -> set[str]:
    """Every volume that has held one of the instance's devices and that we can still name.

    Current volumes, plus volumes earlier restores created for this instance, plus the
    ancestors recorded in their lineage tags (which survive deleting the originals).
    """
    ids = {v.volume_id for v in facts.volumes}
    pages = ec2.get_paginator("describe_volumes").paginate(
        Filters=[{"Name": f"tag:{tags.INSTANCE_ID}", "Values": [facts.instance_id]}]
    )
    ours = [v for page in pages for v in page["Volumes"]]
    current = _describe_volumes(ec2, ids)
    for volume in [*ours, *current]:
        ids.add(volume["VolumeId"])
        volume_tags = tags.tag_dict(volume.get("Tags"))
        ids.update(volume_tags.get(tags.LINEAGE, "").split())
        if volume_tags.get(tags.REPLACED_VOLUME_ID):
            ids.add(volume_tags[tags.REPLACED_VOLUME_ID])
    return ids


def _volume_id_filters(ids: Iterable[str]) -> list[list[dict[str, Any]]]:
    """One ``volume-id`` filter per 200 ids (EC2's limit on a filter's values)."""
    id_list = sorted(ids)
    return [
        [{"Name": "volume-id", "Values": id_list[start : start + _FILTER_VALUES_MAX]}]
        for start in range(0, len(id_list), _FILTER_VALUES_MAX)
    ]


def _describe_volumes(ec2: EC2Client, ids: Iterable[str]) -> list[dict[str, Any]]:
    paginator = ec2.get_paginator("describe_volumes")
    return [
        dict(v)
        for filters in _volume_id_filters(ids)
        for page in paginator.paginate(Filters=filters)  # type: ignore[arg-type]
        for v in page["Volumes"]
    ]


def find_snapshots(ec2: EC2Client, instance_id: str, volume_ids: Iterable[str]) -> list[Snapshot]:
    """Own snapshots of those volumes, or tagged with the instance id, with their tags."""
    filter_sets = [
        *_volume_id_filters(volume_ids),
        [{"Name": f"tag:{tags.INSTANCE_ID}", "Values": [instance_id]}],
    ]
    seen: dict[str, Snapshot] = {}
    paginator = ec2.get_paginator("describe_snapshots")
    for filters in filter_sets:
        for page in paginator.paginate(OwnerIds=["self"], Filters=filters):  # type: ignore[arg-type]
            for raw in page["Snapshots"]:
                seen.setdefault(raw["SnapshotId"], to_snapshot(raw))
    return list(seen.values())


def to_snapshot(raw: Any) -> Snapshot:
    return Snapshot(
        snapshot_id=raw["SnapshotId"],
        volume_id=raw.get("VolumeId", ""),
        start_time=raw["StartTime"],
        state=raw.get("State", "unknown"),
        volume_size=int(raw.get("VolumeSize", 0)),
        encrypted=bool(raw.get("Encrypted", False)),
        kms_key_id=raw.get("KmsKeyId"),
        tags=tags.tag_dict(raw.get("Tags")),
    )


def choose_set(
    snapshots: Sequence[Snapshot], request: RestoreRequest, devices: Sequence[str], instance_id: str
) -> ChosenSet:
    """Apply the selection rules; raise the named error that explains an empty result."""
    sets = group_into_sets(s for s in snapshots if s.is_vss)
    selection = select_set(sets, devices, request.restore_point_in_time, request.snapshot_set_id)
    if selection.chosen is None:
        if request.snapshot_set_id and selection.passed_over:
            verdict = selection.passed_over[0]
            raise SnapshotSetIncomplete(
                f"snapshot set {request.snapshot_set_id} cannot be restored: "
                + "; ".join(verdict.reasons)
            )
        if request.snapshot_set_id:
            raise SnapshotSetNotFound(
                f"no snapshot set {request.snapshot_set_id} among the snapshots of {instance_id}"
            )
        raise SnapshotSetNotFound(
            _nothing_complete(instance_id, devices, request, selection.passed_over, sets)
        )
    chosen = selection.chosen.snapshot_set
    return ChosenSet(
        snapshot_set_id=chosen.set_id,
        created_at=chosen.created_at,
        grouped_by=chosen.grouped_by,
        members=[_member(chosen.member_for(d)) for d in devices],  # type: ignore[arg-type]
        skipped=[_skipped(v) for v in selection.passed_over[:MAX_SKIPPED_REPORTED]],
    )


def _nothing_complete(
    instance_id: str,
    devices: Sequence[str],
    request: RestoreRequest,
    passed_over: list[Verdict],
    sets: Sequence[SnapshotSet],
) -> str:
    when = (
        f" at or before {request.restore_point_in_time.isoformat()}"
        if request.restore_point_in_time
        else ""
    )
    text = f"no complete AppConsistent snapshot set of {instance_id} covering {', '.join(devices)}{when}"
    if not passed_over and sets:  # every set is newer than the point in time
        oldest = sets[-1]
        return (
            f"{text}: every snapshot set of {instance_id} was taken after that time; the oldest "
            f"is {oldest.set_id}, taken {oldest.created_at.isoformat()}"
        )
    if not passed_over:
        return text + "; no VSS snapshots were found"
    details = "; ".join(
        f"{v.snapshot_set.set_id}: {', '.join(v.reasons)}"
        for v in passed_over[:MAX_SKIPPED_REPORTED]
    )
    root_missing_only = bool(devices) and all(
        v.reasons == [f"no snapshot of {devices[0]}"] for v in passed_over
    )
    if (
        root_missing_only
        and isinstance(request, ChoosesBootVolume)
        and not leaves_out_root(request)
    ):
        details += (
            " (sets taken without the boot volume: set ExcludeBootVolume to restore the rest)"
        )
    return f"{text}; passed over {details}"


def _member(snap: Snapshot) -> SetMember:
    return SetMember(
        device=snap.device or "",
        snapshot_id=snap.snapshot_id,
        volume_id=snap.volume_id,
        volume_size=snap.volume_size,
        encrypted=snap.encrypted,
        kms_key_id=snap.kms_key_id,
    )


def _skipped(verdict: Verdict) -> SkippedSet:
    return SkippedSet(
        snapshot_set_id=verdict.snapshot_set.set_id,
        created_at=verdict.snapshot_set.created_at,
        reasons=verdict.reasons,
    )


def find_snapshot_set(ec2: EC2Client, request: RestoreRequest, facts: InstanceFacts) -> ChosenSet:
    devices = target_devices(request, facts)
    snapshots = find_snapshots(ec2, facts.instance_id, lineage_volume_ids(ec2, facts))
    return choose_set(snapshots, request, devices, facts.instance_id)


def catalogue(ec2: EC2Client, facts: InstanceFacts) -> list[dict[str, Any]]:
    """Every VSS snapshot set of the instance, newest first, judged against its devices.

    ``Latest`` marks the set a restore with no set id or point in time would choose.
    """
    devices = restore_order([v.device for v in facts.volumes], facts.root_device_name)
    snapshots = find_snapshots(ec2, facts.instance_id, lineage_volume_ids(ec2, facts))
    entries: list[dict[str, Any]] = []
    chosen = False
    for snapshot_set in group_into_sets(s for s in snapshots if s.is_vss):
        verdict = judge(snapshot_set, devices)
        entries.append(
            {
                "SnapshotSetId": snapshot_set.set_id,
                "CreatedAt": snapshot_set.created_at.isoformat(),
                "GroupedBy": snapshot_set.grouped_by,
                "Devices": restore_order(
                    [d for d in snapshot_set.devices if d], facts.root_device_name
                ),
                "Complete": verdict.complete,
                "Reasons": verdict.reasons,
                "Latest": verdict.complete and not chosen,
                "Snapshots": [
                    {
                        "Device": m.device,
                        "SnapshotId": m.snapshot_id,
                        "State": m.state,
                        "AppConsistent": m.app_consistent,
                    }
                    for m in snapshot_set.members
                ],
            }
        )
        chosen = chosen or verdict.complete
    return entries
