"""Checking the reliability invariants I1-I6 against what the emulator holds after a run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3

from vss_restore import tags
from vss_restore.instance import attached_volumes, describe_instance, power_state

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

    from vss_restore.local.engine import ExecutionResult


@dataclass(frozen=True)
class InstanceState:
    """What an instance held before a restore: devices, their flags, its power state."""

    instance_id: str
    volumes: dict[str, str]
    delete_on_termination: dict[str, bool]
    power_state: str

    @classmethod
    def capture(cls, ec2: EC2Client, instance_id: str) -> InstanceState:
        raw = describe_instance(ec2, instance_id)
        on_device = attached_volumes(raw)
        return cls(
            instance_id=instance_id,
            volumes={d: e["VolumeId"] for d, e in on_device.items()},
            delete_on_termination={
                d: bool(e.get("DeleteOnTermination")) for d, e in on_device.items()
            },
            power_state=power_state(raw),
        )


def _volumes(ec2: EC2Client, filters: list[Any]) -> list[dict[str, Any]]:
    pages = ec2.get_paginator("describe_volumes").paginate(Filters=filters)
    return [dict(v) for page in pages for v in page["Volumes"]]


@dataclass(frozen=True)
class Outcome:
    """What one execution left behind, gathered once for all the checks."""

    before: InstanceState
    after: InstanceState
    succeeded: bool
    restored_devices: set[str]
    ours_by_device: dict[str, list[dict[str, Any]]]
    originals_left: set[str]
    may_delete_originals: bool
    rollback_failed: bool


def _outcome(
    ec2: EC2Client, before: InstanceState, result: ExecutionResult, request: dict[str, Any]
) -> Outcome:
    ours = _volumes(ec2, [{"Name": f"tag:{tags.EXECUTION}", "Values": [result.execution_arn]}])
    by_device: dict[str, list[dict[str, Any]]] = {}
    for volume in ours:
        by_device.setdefault(tags.tag_dict(volume.get("Tags")).get(tags.DEVICE, "?"), []).append(
            volume
        )
    succeeded = result.status == "SUCCEEDED" and not request.get("DryRun", False)
    restored = (
        {v["Device"] for v in (result.output or {}).get("Volumes", [])} if succeeded else set()
    )
    originals = _volumes(ec2, [{"Name": "volume-id", "Values": list(before.volumes.values())}])
    return Outcome(
        before=before,
        after=InstanceState.capture(ec2, before.instance_id),
        succeeded=result.status == "SUCCEEDED",
        restored_devices=restored,
        ours_by_device=by_device,
        originals_left={v["VolumeId"] for v in originals},
        may_delete_originals=succeeded and bool(request.get("DeleteReplacedVolumes", False)),
        rollback_failed=result.error == "RollbackFailed",
    )


def _i1_devices_consistent(o: Outcome) -> list[str]:
    """Each device holds its original or its restored volume, all of one point in time."""
    found: list[str] = []
    for device, original in o.before.volumes.items():
        now = o.after.volumes.get(device)
        new_ids = [v["VolumeId"] for v in o.ours_by_device.get(device, [])]
        if now is None:
            found.append(f"I1: {device} holds no volume")
        elif device in o.restored_devices and now not in new_ids:
            found.append(f"I1: {device} holds {now}, not the volume restored for it")
        elif device not in o.restored_devices and now != original:
            found.append(f"I1: {device} holds {now}, not its original {original}")
    set_ids = {
        tags.tag_dict(v.get("Tags")).get(tags.SNAPSHOT_SET_ID)
        for device in o.restored_devices
        for v in o.ours_by_device.get(device, [])
    }
    if len(set_ids) > 1:
        found.append(f"I1: restored volumes come from several sets: {sorted(map(str, set_ids))}")
    return found


def _i2_originals_kept(o: Outcome) -> list[str]:
    return [
        f"I2: original {original} of {device} was deleted"
        for device, original in o.before.volumes.items()
        if original not in o.originals_left
        and not (o.may_delete_originals and device in o.restored_devices)
    ]


def _i3_one_volume_per_device(o: Outcome) -> list[str]:
    return [
        f"I3: {len(volumes)} volumes created for {device}: {[v['VolumeId'] for v in volumes]}"
        for device, volumes in o.ours_by_device.items()
        if len(volumes) > 1
    ]


def _i4_lock_released(ec2: EC2Client, o: Outcome, execution_arn: str, lock_table: str) -> list[str]:
    item = (
        boto3.client("dynamodb", region_name=ec2.meta.region_name)
        .get_item(TableName=lock_table, Key={"InstanceId": {"S": o.before.instance_id}})
        .get("Item")
    )
    held = bool(item) and item.get("Owner", {}).get("S") == execution_arn  # type: ignore[union-attr]
    # A failed rollback keeps its lock on purpose: the instance needs a person first.
    return ["I4: the execution left its lock behind"] if held and not o.rollback_failed else []


def _i5_power_state_restored(o: Outcome) -> list[str]:
    if o.succeeded or o.after.power_state == o.before.power_state:
        return []
    return [f"I5: instance is {o.after.power_state}, was {o.before.power_state}"]


def _i6_nothing_untagged(o: Outcome) -> list[str]:
    if o.succeeded:
        return []
    return [
        f"I6: {v['VolumeId']} left behind without a cleanup tag"
        for volumes in o.ours_by_device.values()
        for v in volumes
        if v["State"] not in ("deleting", "deleted")
        and tags.tag_dict(v.get("Tags")).get(tags.STATUS) != tags.STATUS_CLEANUP_REQUIRED
    ]


def check_invariants(
    ec2: EC2Client,
    before: InstanceState,
    result: ExecutionResult,
    request: dict[str, Any],
    lock_table: str,
) -> list[str]:
    """Every invariant the execution broke, as readable sentences (empty: all hold)."""
    o = _outcome(ec2, before, result, request)
    return [
        *_i1_devices_consistent(o),
        *_i2_originals_kept(o),
        *_i3_one_volume_per_device(o),
        *_i4_lock_released(ec2, o, result.execution_arn, lock_table),
        *_i5_power_state_restored(o),
        *_i6_nothing_untagged(o),
    ]
