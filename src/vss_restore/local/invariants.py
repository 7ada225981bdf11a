"""Checking the reliability invariants I1-I6 against what the emulator holds after a run."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends

from vss_restore import tags
from vss_restore.instance import attached_volumes, describe_instance, power_state
from vss_restore.local.engine import RECORDS_TABLE_NAME
from vss_restore.records import Purpose, Records

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

    from vss_restore.local.engine import ExecutionResult


@dataclass(frozen=True)
class InstanceState:
    """What an instance held before a restore: devices, their flags, its power state.

    Also every volume the emulator holds (its own record, whatever their tags), so that
    the checks can tell which volumes a run created; it takes no part in comparisons.
    """

    instance_id: str
    volumes: dict[str, str]
    delete_on_termination: dict[str, bool]
    power_state: str
    volumes_in_emulator: frozenset[str] | None = field(default=None, compare=False, repr=False)

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
            volumes_in_emulator=volumes_in_emulator(ec2.meta.region_name),
        )


def volumes_in_emulator(region: str) -> frozenset[str]:
    """The id of every volume the emulator's EC2 backend holds in ``region``."""
    return frozenset(ec2_backends[DEFAULT_ACCOUNT_ID][region].volumes)


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
    execution_arn: str
    # Every volume in the account now, and which of them the run created (emulator's record).
    all_volumes: list[dict[str, Any]]
    created: list[dict[str, Any]]
    accounted_for: str


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
    all_volumes = _volumes(ec2, [])
    new_ids = (
        volumes_in_emulator(ec2.meta.region_name) - before.volumes_in_emulator
        if before.volumes_in_emulator is not None
        else frozenset()
    )
    return Outcome(
        before=before,
        after=InstanceState.capture(ec2, before.instance_id),
        succeeded=result.status == "SUCCEEDED",
        restored_devices=restored,
        ours_by_device=by_device,
        originals_left={v["VolumeId"] for v in originals},
        may_delete_originals=succeeded and bool(request.get("DeleteReplacedVolumes", False)),
        rollback_failed=result.error == "RollbackFailed",
        execution_arn=result.execution_arn,
        all_volumes=all_volumes,
        created=[v for v in all_volumes if v["VolumeId"] in new_ids],
        # Where a run must name what it leaves: the report, or the failure's cause.
        accounted_for=json.dumps(result.output) if result.output else (result.cause or ""),
    )


def _where_things_are_said(o: Outcome) -> list[str]:
    """After ``RollbackFailed``: the cause names each device not on its original, what it
    holds and where its original is."""
    found: list[str] = []
    for device, original in o.before.volumes.items():
        now = o.after.volumes.get(device)
        if now == original:
            continue
        for what in (device, original, now):
            if what is not None and what not in o.accounted_for:
                found.append(
                    f"I1: the RollbackFailed cause does not say where {what} ({device}) is"
                )
    return found


def _i1_devices_consistent(o: Outcome) -> list[str]:
    """Each device holds its original or its restored volume, all of one point in time.

    A failed rollback may leave a device half way (AWS refused to put it back): then the
    cause must say, for every device, what it holds and where its original is.
    """
    if o.rollback_failed:
        return _where_things_are_said(o)
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
    """One volume created per device; no volume attached twice; no device given two volumes."""
    found = [
        f"I3: {len(volumes)} volumes created for {device}: {[v['VolumeId'] for v in volumes]}"
        for device, volumes in o.ours_by_device.items()
        if len(volumes) > 1
    ]
    # The instance's own device list, then the volumes' attachment records: both must agree.
    devices_of: dict[str, list[str]] = defaultdict(list)
    for device, volume_id in o.after.volumes.items():
        devices_of[volume_id].append(device)
    found.extend(
        f"I3: {volume_id} is attached {len(devices)} times: {sorted(devices)}"
        for volume_id, devices in sorted(devices_of.items())
        if len(devices) > 1
    )
    on_device: dict[tuple[str, str], list[str]] = defaultdict(list)
    for volume in o.all_volumes:
        attachments = [a for a in volume.get("Attachments") or [] if a.get("State") != "detached"]
        if len(attachments) > 1:
            found.append(
                f"I3: {volume['VolumeId']} is attached {len(attachments)} times: "
                + ", ".join(f"{a.get('InstanceId')} {a.get('Device')}" for a in attachments)
            )
        for a in attachments:
            on_device[(str(a.get("InstanceId")), str(a.get("Device")))].append(volume["VolumeId"])
    found.extend(
        f"I3: {device} of {instance} is given {len(ids)} volumes: {sorted(ids)}"
        for (instance, device), ids in sorted(on_device.items())
        if len(ids) > 1
    )
    return found


def _i4_lock_released(ec2: EC2Client, o: Outcome, execution_arn: str, lock_table: str) -> list[str]:
    item = (
        boto3.client("dynamodb", region_name=ec2.meta.region_name)
        .get_item(TableName=lock_table, Key={"InstanceId": {"S": o.before.instance_id}})
        .get("Item")
    )
    held = bool(item) and item.get("Owner", {}).get("S") == execution_arn  # type: ignore[union-attr]
    # A failed rollback keeps its lock on purpose: the instance needs a person first. A
    # restore that could not release its lock says so in its report.
    said = o.rollback_failed or (o.succeeded and "UnlockError" in o.accounted_for)
    return ["I4: the execution left its lock behind"] if held and not said else []


def _i5_power_state_restored(o: Outcome, online: bool) -> list[str]:
    """After a rollback, the power state of before; after a failed one, the cause says which.

    Mode "Online": the power state never changes, whatever happened (it is never stopped).
    """
    if online and o.after.power_state != o.before.power_state:
        return [
            f"I5: an online restore left the instance {o.after.power_state}, "
            f"was {o.before.power_state}"
        ]
    if o.succeeded or o.after.power_state == o.before.power_state:
        return []
    if o.rollback_failed and f"{o.before.instance_id} is {o.after.power_state}" in o.accounted_for:
        return []
    return [f"I5: instance is {o.after.power_state}, was {o.before.power_state}"]


def _i6_nothing_untagged(o: Outcome) -> list[str]:
    """Every volume the run created (the emulator's record, not tags) is accounted for.

    After success: in the report. After a failure: deleted, or tagged for cleanup and
    named in the cause. Either way it carries the execution's tag.
    """
    found: list[str] = []
    for v in o.created:
        if (
            tags.tag_dict(v.get("Tags")).get(tags.EXECUTION)
            != o.execution_arn[: tags.MAX_TAG_VALUE]
        ):
            found.append(f"I6: {v['VolumeId']} was created during the run without its tags")
    live = {
        v["VolumeId"]: v
        for v in [*o.created, *(v for vs in o.ours_by_device.values() for v in vs)]
        if v["State"] not in ("deleting", "deleted")
    }
    for volume_id, v in sorted(live.items()):
        if o.succeeded:
            if volume_id not in o.accounted_for:
                found.append(f"I6: {volume_id} was created during the run but is not in the report")
            continue
        if tags.tag_dict(v.get("Tags")).get(tags.STATUS) != tags.STATUS_CLEANUP_REQUIRED:
            found.append(f"I6: {volume_id} left behind without a cleanup tag")
        if volume_id not in o.accounted_for:
            found.append(f"I6: {volume_id} left behind but not named in the cause")
    return found


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
        *_i5_power_state_restored(o, online=request.get("Mode") == "Online"),
        *_i6_nothing_untagged(o),
    ]


def _recorded(region: str, purpose: Purpose) -> set[str]:
    """The ids the local engine's records table holds for ``purpose``."""
    table = Records(boto3.client("dynamodb", region_name=region), RECORDS_TABLE_NAME)
    return {r.resource_id for r in table.all_of(purpose)}


def _drill_tagged(
    ec2: EC2Client,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Instances (terminated ones too), volumes and security groups tagged as a drill's."""
    drill: list[Any] = [{"Name": "tag-key", "Values": [tags.DRILL]}]
    instances = [
        dict(i)
        for page in ec2.get_paginator("describe_instances").paginate(Filters=drill)
        for r in page["Reservations"]
        for i in r["Instances"]
    ]
    groups = [dict(g) for g in ec2.describe_security_groups(Filters=drill)["SecurityGroups"]]
    return instances, _volumes(ec2, drill), groups


def check_drill_invariants(
    ec2: EC2Client, before: InstanceState, result: ExecutionResult
) -> list[str]:
    """What a drill must hold after every run, as readable sentences (empty: all hold).

    At most one clone; the source instance as it was; nothing tagged for the drill left
    behind (instances not terminated, volumes, security groups), unless the drill says
    it could not remove them (``DrillCleanupFailed``) and they carry their expiry tag and
    are recorded (the daily cleanup removes only what is); and every volume the run created
    (the emulator's record) carries the drill's tag.
    """
    found: list[str] = []
    instances, volumes, groups = _drill_tagged(ec2)
    if len(instances) > 1:
        found.append(
            f"D1: {len(instances)} clones launched: {[i['InstanceId'] for i in instances]}"
        )
    after = InstanceState.capture(ec2, before.instance_id)
    if after != before:
        found.append(f"D3: the source changed: {before} became {after}")
    left = [
        (i["InstanceId"], i.get("Tags"))
        for i in instances
        if i["State"]["Name"] not in ("shutting-down", "terminated")
    ]
    left += [
        (v["VolumeId"], v.get("Tags")) for v in volumes if v["State"] not in ("deleting", "deleted")
    ]
    left += [(g["GroupId"], g.get("Tags")) for g in groups]
    kept_on_purpose = result.error == "DrillCleanupFailed"
    recorded = _recorded(ec2.meta.region_name, "drill") if kept_on_purpose else set()
    # A live clone's own disks go with it when it is terminated: they need no record.
    on_recorded_clone = {
        v["VolumeId"]
        for v in volumes
        if any(a.get("InstanceId") in recorded for a in v.get("Attachments") or [])
    }
    for resource, labels in left:
        if not kept_on_purpose:
            found.append(f"D2: {resource} of the drill left behind")
        elif tags.EXPIRES_AT not in tags.tag_dict(labels):
            found.append(f"D2: {resource} left behind without {tags.EXPIRES_AT}")
        elif resource not in recorded | on_recorded_clone:
            found.append(f"D2: {resource} left behind unrecorded: no cleanup would remove it")
    if before.volumes_in_emulator is not None:
        new = volumes_in_emulator(ec2.meta.region_name) - before.volumes_in_emulator
        tagged = {v["VolumeId"] for v in volumes}
        found.extend(
            f"D2: {v} created during the drill without its tags" for v in sorted(new - tagged)
        )
    return found
