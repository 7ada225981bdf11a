"""Giving a drill's clone the set's root volume, with the in-place restore's swap steps.

EC2 launches an instance with its AMI's root snapshot only (a launch may resize or retype
the root, never give it another snapshot). So the clone starts on the AMI's root; this
module creates a volume from the set's root snapshot in the clone's zone, stops the clone,
detaches the AMI's root, attaches the set's root at the root device, deletes the AMI's
root and starts the clone again. Each call looks at what the clone holds now and takes the
next step, so a retry or a lost answer never repeats one.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError
from pydantic import Field

from vss_restore import tags
from vss_restore.aws_errors import TRANSIENT_CODES, error_code, failing_as
from vss_restore.drill import ClonePlan
from vss_restore.errors import CloneLaunchFailed
from vss_restore.instance import attached_volumes, describe_instance, power_state
from vss_restore.models import Model, RestorePlan
from vss_restore.power import start_instance, stop_instance
from vss_restore.records import Records
from vss_restore.swap import (
    attach_restored,
    detach_originals,
    devices_free,
    restored_attached,
    set_delete_on_termination,
)
from vss_restore.volumes import create_volumes, volumes_available
from vss_restore.waiting import POLL_POWER_SECONDS, not_ready, poll_within

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


# Stands for the AMI's root in a swap plan once it is detached (no device holds this id).
NOT_YET_KNOWN = "vol-detached"


class CloneRoot(Model):
    """The clone's root after the swap (``Swapped`` false: the set holds no root snapshot)."""

    swapped: bool = Field(alias="Swapped")
    device: str = Field(alias="Device")
    volume_id: str | None = Field(default=None, alias="VolumeId")
    image_root_volume_id: str | None = Field(default=None, alias="ImageRootVolumeId")


def _swap_plan(plan: ClonePlan, clone_id: str, image_root_id: str) -> RestorePlan:
    """The in-place restore's plan for one device: the clone's root, replacing the AMI's."""
    assert plan.root_volume is not None  # noqa: S101 - callers check
    return RestorePlan(
        instance_id=clone_id,
        snapshot_set_id=plan.snapshot_set_id,
        execution=plan.execution,
        volumes=[plan.root_volume.model_copy(update={"replaced_volume_id": image_root_id})],
        untouched_devices=[],
    )


def _image_root_volumes(ec2: EC2Client, records: Records, plan: ClonePlan, keep: str) -> list[str]:
    """This drill's detached volumes made from the AMI's root snapshot (not ``keep``), of
    those it recorded."""
    if not plan.image_root_snapshot_id:
        return []
    ours = {r.resource_id for r in records.of_execution(plan.execution, "drill")}
    found = ec2.describe_volumes(
        Filters=[
            {"Name": f"tag:{tags.EXECUTION}", "Values": [plan.execution[: tags.MAX_TAG_VALUE]]},
            {"Name": "snapshot-id", "Values": [plan.image_root_snapshot_id]},
            {"Name": "status", "Values": ["available"]},
        ]
    )["Volumes"]
    return [v["VolumeId"] for v in found if v["VolumeId"] != keep and v["VolumeId"] in ours]


# A clone in these states will never run again.
ENDED_STATES = ("shutting-down", "terminated")


def swap_clone_root(
    ec2: EC2Client,
    records: Records,
    plan: ClonePlan,
    clone_id: str,
    entered_at: datetime,
    timeout_seconds: int,
) -> CloneRoot:
    """Converge the clone onto the set's root volume, then start it.

    ``ResourceNotReady`` while a step is under way (the state machine polls again),
    ``WaitTimedOut`` past ``timeout_seconds``; refusals are ``CloneLaunchFailed`` or the swap's
    own named errors. The drill's cleanup removes whatever a failure leaves: every volume
    here carries the drill's tags.
    """
    if plan.root_volume is None:
        return CloneRoot(swapped=False, device=plan.root_device)
    device = plan.root_device
    # Creating needs only the spec; which volume it replaces is known once the clone is read.
    created = create_volumes(ec2, _swap_plan(plan, clone_id, NOT_YET_KNOWN), records)
    new_id = created[0].volume_id

    def step(now: datetime) -> CloneRoot:
        raw = describe_instance(ec2, clone_id)
        on_clone = attached_volumes(raw)
        # The disks RunInstances made for the clone (the AMI's root among them) are the
        # drill's too: recorded before any is detached.
        records.created([v["VolumeId"] for v in on_clone.values()], plan.execution, plan.labels)
        holder = on_clone.get(device, {})
        state = power_state(raw)
        if holder.get("VolumeId") == new_id and holder.get("Status") == "attached":
            return _finish(ec2, records, plan, clone_id, new_id, state)
        if state in ENDED_STATES:
            # EC2 ended it (say, its role may not use a volume's KMS key): no wait helps.
            reason = raw.get("StateReason", {}).get("Message") or "no reason given"
            raise CloneLaunchFailed(f"clone {clone_id} is {state}: {reason}")
        volumes_available(ec2, created, entered_at, timeout_seconds, now)
        if state == "running":
            stop_instance(ec2, clone_id)
        if state != "stopped":
            not_ready(f"clone {clone_id} is {state}; stopping it", entered_at, timeout_seconds, now)
        image_root = holder.get("VolumeId") or NOT_YET_KNOWN
        swap = _swap_plan(plan, clone_id, image_root if image_root != new_id else NOT_YET_KNOWN)
        detach_originals(ec2, swap, created)
        devices_free(ec2, swap, entered_at, timeout_seconds, now)
        attach_restored(ec2, swap, created)
        restored_attached(ec2, swap, created, entered_at, timeout_seconds, now)
        return _finish(ec2, records, plan, clone_id, new_id, "stopped")

    with failing_as(CloneLaunchFailed, f"giving clone {clone_id} the set's root volume"):
        return poll_within(step, POLL_POWER_SECONDS, entered_at, timeout_seconds)


def _finish(
    ec2: EC2Client, records: Records, plan: ClonePlan, clone_id: str, new_id: str, state: str
) -> CloneRoot:
    """Root swapped: it goes with the clone, the AMI's root goes now, the clone starts."""
    set_delete_on_termination(ec2, clone_id, {plan.root_device: True})
    image_roots = _image_root_volumes(ec2, records, plan, keep=new_id)
    for volume_id in image_roots:
        try:
            ec2.delete_volume(VolumeId=volume_id)
            records.forget([volume_id])
        except ClientError as err:
            if error_code(err) in TRANSIENT_CODES:
                raise
            # Refused: it stays detached and drill-tagged, and the drill's cleanup removes
            # it with the clone (or says it could not). The clone itself is ready.
    if state == "stopped":
        start_instance(ec2, clone_id)
    return CloneRoot(
        swapped=True,
        device=plan.root_device,
        volume_id=new_id,
        image_root_volume_id=image_roots[0] if image_roots else None,
    )
