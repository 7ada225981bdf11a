"""Creating the replacement volumes, waiting for them, and cleaning them up."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from vss_restore import tags, waiting
from vss_restore.aws_errors import TRANSIENT_CODES, error_code, failing_as
from vss_restore.errors import VolumeCreationFailed
from vss_restore.instance import attached_volumes, describe_instance
from vss_restore.models import CreatedVolume, RestorePlan, VolumeSpec
from vss_restore.records import Purpose, Records
from vss_restore.waiting import not_ready

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# EC2 takes at most 200 values in one filter.
_FILTER_VALUES = 200


def create_volume_kwargs(spec: VolumeSpec, user_tags: dict[str, str]) -> dict[str, Any]:
    """CreateVolume's arguments: the spec's settings, its own tags and ``user_tags``."""
    labels = {
        **tags.copyable_user_tags(user_tags, room=tags.MAX_TAGS - len(spec.tags)),
        **spec.tags,
    }
    kwargs: dict[str, Any] = {
        "AvailabilityZone": spec.availability_zone,
        "SnapshotId": spec.snapshot_id,
        "VolumeType": spec.volume_type,
        "Size": spec.size,
        "Encrypted": spec.encrypted,
        "ClientToken": spec.client_token,
        "TagSpecifications": [{"ResourceType": "volume", "Tags": tags.tag_list(labels)}],
    }
    if spec.iops:
        kwargs["Iops"] = spec.iops
    if spec.throughput:
        kwargs["Throughput"] = spec.throughput
    if spec.encrypted and spec.kms_key_id:
        kwargs["KmsKeyId"] = spec.kms_key_id
    if spec.multi_attach_enabled:
        kwargs["MultiAttachEnabled"] = True
    if spec.initialization_rate is not None:
        kwargs["VolumeInitializationRate"] = spec.initialization_rate
    return kwargs


def original_tags(ec2: EC2Client, plan: RestorePlan) -> dict[str, dict[str, str]]:
    """Volume → its tags, for each volume the plan replaces (one that is gone has none).

    The plan does not carry them: 26 devices with 50 long tags each would take it past
    Step Functions' 256 KiB of state data.
    """
    ids = [spec.replaced_volume_id for spec in plan.volumes]
    found = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": ids}])["Volumes"]
    return {v["VolumeId"]: tags.tag_dict(v.get("Tags")) for v in found}


def create_volumes(ec2: EC2Client, plan: RestorePlan, records: Records) -> list[CreatedVolume]:
    """Create every planned volume, with its original's user tags, and record each; safe to
    repeat (each carries its ClientToken, so a retry finds and records the first)."""
    with failing_as(VolumeCreationFailed, "DescribeVolumes of the volumes to replace"):
        user_tags = original_tags(ec2, plan)
    created: list[CreatedVolume] = []
    for spec in plan.volumes:
        kwargs = create_volume_kwargs(spec, user_tags.get(spec.replaced_volume_id, {}))
        with failing_as(
            VolumeCreationFailed, f"{spec.device}: CreateVolume from {spec.snapshot_id}"
        ):
            volume = ec2.create_volume(**kwargs)
        records.created([volume["VolumeId"]], plan.execution, spec.tags)
        created.append(CreatedVolume(device=spec.device, volume_id=volume["VolumeId"]))
    return created


def volumes_available(
    ec2: EC2Client,
    created: list[CreatedVolume],
    entered_at: datetime,
    timeout_seconds: int,
    now: datetime,
) -> None:
    """Return when all are available; ``VolumeCreationFailed`` if one ended in ``error``."""
    # A filter, not VolumeIds: a volume created a moment ago may not be listed yet, and
    # VolumeIds would then fail with InvalidVolume.NotFound; missing means still creating.
    found = ec2.describe_volumes(
        Filters=[{"Name": "volume-id", "Values": [c.volume_id for c in created]}]
    )
    states = {v["VolumeId"]: v["State"] for v in found["Volumes"]}
    failed = [c for c in created if states.get(c.volume_id) == "error"]
    if failed:
        raise VolumeCreationFailed(
            "volume creation ended in error: "
            + ", ".join(f"{c.device} {c.volume_id}" for c in failed)
        )
    pending = [c for c in created if states.get(c.volume_id) != "available"]
    if pending:
        not_ready(
            "volumes not yet available: "
            + ", ".join(f"{c.device} {c.volume_id} ({states.get(c.volume_id)})" for c in pending),
            entered_at,
            timeout_seconds,
            now,
        )


def volumes_of_execution(ec2: EC2Client, execution: str) -> list[dict[str, Any]]:
    """The volumes this execution created, found by tag (also when a response was lost)."""
    pages = ec2.get_paginator("describe_volumes").paginate(
        Filters=[{"Name": f"tag:{tags.EXECUTION}", "Values": [execution[: tags.MAX_TAG_VALUE]]}]
    )
    return [dict(v) for page in pages for v in page["Volumes"]]


def pages_by_id(
    ec2: EC2Client, operation: str, filter_name: str, ids: list[str]
) -> Iterator[dict[str, Any]]:
    """The ``operation`` (a Describe call) pages of those of ``ids`` that exist: a filter, so
    one that is gone is simply not listed, in chunks of as many values as a filter takes."""
    for start in range(0, len(ids), _FILTER_VALUES):
        chunk = ids[start : start + _FILTER_VALUES]
        paginator = cast("Any", ec2).get_paginator(operation)
        yield from paginator.paginate(Filters=[{"Name": filter_name, "Values": chunk}])


def volumes_by_id(ec2: EC2Client, volume_ids: list[str]) -> list[dict[str, Any]]:
    """Those of ``volume_ids`` that exist."""
    pages = pages_by_id(ec2, "describe_volumes", "volume-id", volume_ids)
    return [dict(v) for page in pages for v in page["Volumes"]]


@dataclass
class Cleanup:
    deleted: list[str] = field(default_factory=list)
    left_behind: list[str] = field(default_factory=list)


def delete_volumes_of_execution(
    ec2: EC2Client,
    records: Records,
    execution: str,
    purpose: Purpose,
    entered_at: datetime,
    timeout_seconds: int,
    now: datetime,
) -> Cleanup:
    """Delete the volumes this execution recorded creating (for ``purpose``); tag for cleanup
    whatever cannot be deleted. A volume tagged with the execution but not recorded is left
    alone and named in ``left_behind``: a tag is not proof that we created it."""
    cleanup = Cleanup()
    recorded = [r.resource_id for r in records.of_execution(execution, purpose)]
    unknown = [
        v["VolumeId"]
        for v in volumes_of_execution(ec2, execution)
        if v["VolumeId"] not in recorded and v["State"] not in ("deleting", "deleted")
    ]
    # Ours but unrecorded (its record could not be written) or someone else's: either way
    # a person decides; the tag says so, and the report names it.
    mark_for_cleanup(ec2, unknown)
    cleanup.left_behind.extend(
        f"{volume_id} (tagged with this execution, not recorded as created by it: left alone)"
        for volume_id in unknown
    )
    busy: list[str] = []
    for volume in volumes_by_id(ec2, recorded):
        volume_id, state = volume["VolumeId"], volume["State"]
        if state in ("deleting", "deleted"):
            cleanup.deleted.append(volume_id)
        elif state in {"available", "error"}:
            try:
                ec2.delete_volume(VolumeId=volume_id)
                cleanup.deleted.append(volume_id)
            except ClientError as err:
                if error_code(err) in TRANSIENT_CODES:
                    raise
                mark_for_cleanup(ec2, [volume_id])
                cleanup.left_behind.append(f"{volume_id} ({error_code(err)})")
        else:
            busy.append(f"{volume_id} ({state})")
    records.forget(cleanup.deleted)
    if busy:
        not_ready("volumes still busy: " + ", ".join(busy), entered_at, timeout_seconds, now)
    return cleanup


def mark_for_cleanup(ec2: EC2Client, volume_ids: list[str]) -> None:
    if volume_ids:
        ec2.create_tags(
            Resources=volume_ids, Tags=[{"Key": tags.STATUS, "Value": tags.STATUS_CLEANUP_REQUIRED}]
        )


def finalize_replaced(
    ec2: EC2Client,
    records: Records,
    plan: RestorePlan,
    created: list[CreatedVolume],
    delete: bool,
) -> list[str]:
    """After success: mark new volumes restored and forget their records (they are in
    production use now: no cleanup may reach them); mark replaced ones, then delete them if
    asked.

    The mark (``vss-restore:status=replaced``) comes first: it records what replaced the
    volume, and it is the tag the deployed IAM policy requires before a DeleteVolume.
    Returns warnings (a replaced volume that could not be deleted is kept, marked).
    """
    new_ids = {c.device: c.volume_id for c in created}
    ec2.create_tags(
        Resources=list(new_ids.values()), Tags=[{"Key": tags.STATUS, "Value": tags.STATUS_RESTORED}]
    )
    records.forget(list(new_ids.values()))
    marked: list[str] = []
    for spec in plan.volumes:
        try:
            ec2.create_tags(
                Resources=[spec.replaced_volume_id],
                Tags=tags.tag_list(
                    {
                        tags.REPLACED_BY: new_ids[spec.device],
                        tags.REPLACED_BY_EXECUTION: plan.execution[: tags.MAX_TAG_VALUE],
                        tags.STATUS: tags.STATUS_REPLACED,
                    }
                ),
            )
        except ClientError as err:
            if delete and error_code(err) == "InvalidVolume.NotFound":
                continue  # deleted by an earlier attempt of this task
            raise
        marked.append(spec.replaced_volume_id)
    if not delete:
        return []
    devices = {s.replaced_volume_id: s.device for s in plan.volumes}
    return [
        f"kept {volume_id} ({devices[volume_id]}): DeleteVolume failed: {code}"
        for volume_id, code in delete_marked(ec2, marked).items()
    ]


# A tag written a moment ago may not satisfy an IAM tag condition yet: DeleteVolume of a
# volume just marked ``replaced`` is then refused (UnauthorizedOperation) for a few seconds.
TAG_VISIBILITY_DELAYS = (1.0, 2.0, 4.0, 8.0)


def delete_marked(ec2: EC2Client, volume_ids: list[str]) -> dict[str, str]:
    """Delete volumes tagged just before; volume → error code of those that are kept.

    A refusal is tried again after each of ``TAG_VISIBILITY_DELAYS`` (15 s in all, shared
    by the volumes: a refusal that outlasts them is a real one, not a delay).
    """
    delays = list(TAG_VISIBILITY_DELAYS)
    kept: dict[str, str] = {}
    for volume_id in volume_ids:
        while True:
            try:
                ec2.delete_volume(VolumeId=volume_id)
                break
            except ClientError as err:
                code = error_code(err)
                if code in TRANSIENT_CODES:
                    raise
                if code == "UnauthorizedOperation" and delays:
                    waiting.sleep(delays.pop(0))
                    continue
                kept[volume_id] = code
                break
    return kept


def mark_leftovers(ec2: EC2Client, plan: RestorePlan) -> str:
    """After a failed rollback: tag what this execution created and say where everything is."""
    ours = volumes_of_execution(ec2, plan.execution)
    live = [v["VolumeId"] for v in ours if v["State"] not in ("deleting", "deleted")]
    mark_for_cleanup(ec2, live)
    raw = describe_instance(ec2, plan.instance_id)
    on_device = attached_volumes(raw)
    originals = {
        v["VolumeId"]: v["State"]
        for v in ec2.describe_volumes(
            Filters=[{"Name": "volume-id", "Values": [s.replaced_volume_id for s in plan.volumes]}]
        )["Volumes"]
    }
    restored = {tags.tag_dict(v.get("Tags")).get(tags.DEVICE): v for v in ours}
    where = [f"instance {plan.instance_id} is {raw.get('State', {}).get('Name', 'unknown')}"]
    for spec in plan.volumes:
        holder = on_device.get(spec.device, {}).get("VolumeId")
        new = restored.get(spec.device, {})
        kind = (
            "its original"
            if holder == spec.replaced_volume_id
            else "the restored volume"
            if holder
            else ""
        )
        where.append(
            f"{spec.device} holds {f'{holder} ({kind})' if holder else 'no volume'}; "
            f"original {spec.replaced_volume_id} is {originals.get(spec.replaced_volume_id, 'gone')}"
            + (f", restored {new['VolumeId']} is {new['State']}" if new else "")
        )
    tagged = f"restored volumes tagged {tags.STATUS}={tags.STATUS_CLEANUP_REQUIRED}: {', '.join(live) or 'none'}"
    return "; ".join([*where, tagged])
