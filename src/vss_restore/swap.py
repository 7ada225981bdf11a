"""Swapping volumes on a stopped instance, and swapping them back on rollback.

Mode "Online" swaps data volumes of a running instance (``online=True``): EC2 detaches a
data volume from a running instance, never its root volume, and the workflow has taken
the volumes' Windows disks offline first. Nothing here stops or starts an instance then.

Every function looks at what the instance holds now before it acts, so running it again
(a retry, a redrive) never detaches or attaches twice.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from vss_restore.aws_errors import TRANSIENT_CODES, error_code, failing_as
from vss_restore.devices import restore_order
from vss_restore.errors import RollbackFailed, SwapFailed
from vss_restore.instance import attached_volumes, describe_instance, power_state
from vss_restore.models import CreatedVolume, InstanceFacts, RestorePlan
from vss_restore.waiting import not_ready

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import InstanceBlockDeviceMappingSpecificationTypeDef


def new_volume_ids(plan: RestorePlan, created: list[CreatedVolume]) -> dict[str, str]:
    """Device → replacement volume id, for every planned device."""
    by_device = {c.device: c.volume_id for c in created}
    missing = [s.device for s in plan.volumes if s.device not in by_device]
    if missing:
        raise SwapFailed(f"no replacement volume for {', '.join(missing)}")
    return by_device


def _stopped_instance(ec2: EC2Client, instance_id: str) -> dict[str, Any]:
    raw = describe_instance(ec2, instance_id)
    if power_state(raw) != "stopped":
        raise SwapFailed(
            f"{instance_id} is {power_state(raw)}; volumes are swapped only while stopped"
        )
    return raw


def _instance_to_swap(ec2: EC2Client, plan: RestorePlan, *, online: bool) -> dict[str, Any]:
    """The instance, stopped (in place) or running with only data devices planned (online)."""
    if not online:
        return _stopped_instance(ec2, plan.instance_id)
    raw = describe_instance(ec2, plan.instance_id)
    if power_state(raw) != "running":
        raise SwapFailed(
            f"{plan.instance_id} is {power_state(raw)}; an online restore swaps volumes of a "
            "running instance only"
        )
    root = raw.get("RootDeviceName", "/dev/sda1")
    if any(s.device == root for s in plan.volumes):
        raise SwapFailed(f"{root} is the root device: an online restore never swaps it")
    return raw


# Independent calls go out together (the instance is down: wait for the slowest call, not
# for their sum); a few at a time, within EC2's mutating-call bucket.
MAX_CONCURRENT_CALLS = 8


def all_at_once(calls: list[Callable[[], None]]) -> None:
    """Run the calls concurrently; every call finishes, then the first failure is raised."""
    if len(calls) <= 1:
        for call in calls:
            call()
        return
    with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_CALLS, len(calls))) as pool:
        # Each call keeps the caller's context variables (the invocation it belongs to).
        futures = [pool.submit(contextvars.copy_context().run, call) for call in calls]
    failures = [f.exception() for f in futures if f.exception() is not None]
    if failures:
        raise failures[0]  # type: ignore[misc]


def detach_call(
    ec2: EC2Client, instance_id: str, device: str, volume_id: str
) -> Callable[[], None]:
    """A ``DetachVolume`` to run (with ``all_at_once``); its failure is ``SwapFailed``."""

    def call() -> None:
        with failing_as(SwapFailed, f"{device}: DetachVolume {volume_id}"):
            ec2.detach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=device)

    return call


def attach_call(
    ec2: EC2Client, instance_id: str, device: str, volume_id: str
) -> Callable[[], None]:
    """An ``AttachVolume`` to run (with ``all_at_once``); its failure is ``SwapFailed``."""

    def call() -> None:
        with failing_as(SwapFailed, f"{device}: AttachVolume {volume_id}"):
            ec2.attach_volume(Device=device, InstanceId=instance_id, VolumeId=volume_id)

    return call


def detach_originals(
    ec2: EC2Client, plan: RestorePlan, created: list[CreatedVolume], *, online: bool = False
) -> list[str]:
    """Detach the original volume of every planned device; returns the devices detached now."""
    new_ids = new_volume_ids(plan, created)
    on_device = attached_volumes(_instance_to_swap(ec2, plan, online=online))
    detached: list[str] = []
    calls: list[Callable[[], None]] = []
    for spec in plan.volumes:
        current = on_device.get(spec.device, {}).get("VolumeId")
        if current is None or current == new_ids[spec.device]:
            continue  # already detached (a retry) or already swapped
        if current != spec.replaced_volume_id:
            raise SwapFailed(
                f"{spec.device} holds {current}, not {spec.replaced_volume_id}: the instance changed during the restore"
            )
        if on_device[spec.device].get("Status") != "detaching":
            calls.append(detach_call(ec2, plan.instance_id, spec.device, current))
            detached.append(spec.device)
    all_at_once(calls)
    return detached


def devices_free(
    ec2: EC2Client, plan: RestorePlan, entered_at: datetime, timeout_seconds: int, now: datetime
) -> None:
    """Return when no planned device still holds its original volume."""
    on_device = attached_volumes(describe_instance(ec2, plan.instance_id))
    busy = [
        f"{s.device} ({on_device[s.device].get('Status')})"
        for s in plan.volumes
        if on_device.get(s.device, {}).get("VolumeId") == s.replaced_volume_id
    ]
    if busy:
        not_ready("originals still attached: " + ", ".join(busy), entered_at, timeout_seconds, now)


def attach_restored(
    ec2: EC2Client, plan: RestorePlan, created: list[CreatedVolume], *, online: bool = False
) -> list[str]:
    """Attach each replacement at its device: the root first, then the others together."""
    new_ids = new_volume_ids(plan, created)
    raw = _instance_to_swap(ec2, plan, online=online)
    on_device = attached_volumes(raw)
    root = raw.get("RootDeviceName", "/dev/sda1")
    attached: list[str] = []
    for device in restore_order([s.device for s in plan.volumes], root):
        current = on_device.get(device, {}).get("VolumeId")
        if current == new_ids[device]:
            continue
        if current is not None:
            raise SwapFailed(f"{device} holds {current}; cannot attach {new_ids[device]} there")
        attached.append(device)
    calls = [attach_call(ec2, plan.instance_id, d, new_ids[d]) for d in attached]
    if attached and attached[0] == root:
        calls[0]()
        calls = calls[1:]
    all_at_once(calls)
    return attached


def restored_attached(
    ec2: EC2Client,
    plan: RestorePlan,
    created: list[CreatedVolume],
    entered_at: datetime,
    timeout_seconds: int,
    now: datetime,
) -> None:
    new_ids = new_volume_ids(plan, created)
    on_device = attached_volumes(describe_instance(ec2, plan.instance_id))
    for spec in plan.volumes:
        ebs = on_device.get(spec.device, {})
        if ebs.get("VolumeId") not in (None, new_ids[spec.device]):
            raise SwapFailed(
                f"{spec.device} holds {ebs.get('VolumeId')}, not {new_ids[spec.device]}"
            )
    waiting = [
        f"{s.device} ({on_device.get(s.device, {}).get('Status', 'detached')})"
        for s in plan.volumes
        if on_device.get(s.device, {}).get("Status") != "attached"
    ]
    if waiting:
        not_ready(
            "replacements not yet attached: " + ", ".join(waiting), entered_at, timeout_seconds, now
        )


def set_delete_on_termination(
    ec2: EC2Client, instance_id: str, wanted: dict[str, bool]
) -> list[str]:
    """Give each device the DeleteOnTermination flag it had; returns the devices changed."""
    on_device = attached_volumes(describe_instance(ec2, instance_id))
    changes: list[InstanceBlockDeviceMappingSpecificationTypeDef] = [
        {"DeviceName": device, "Ebs": {"DeleteOnTermination": flag}}
        for device, flag in wanted.items()
        if device in on_device and bool(on_device[device].get("DeleteOnTermination")) != flag
    ]
    if changes:
        with failing_as(SwapFailed, "ModifyInstanceAttribute DeleteOnTermination"):
            ec2.modify_instance_attribute(InstanceId=instance_id, BlockDeviceMappings=changes)
    return [str(c["DeviceName"]) for c in changes]


def _attachment_of(volume: dict[str, Any]) -> dict[str, Any] | None:
    attachments = volume.get("Attachments") or []
    return dict(attachments[0]) if attachments else None


def reattach_originals(  # noqa: RET503 - ends in not_ready, which always raises
    ec2: EC2Client,
    plan: RestorePlan,
    facts: InstanceFacts,
    entered_at: datetime,
    timeout_seconds: int,
    now: datetime,
    *,
    online: bool = False,
) -> list[str]:
    """Rollback: converge every planned device back to its original volume.

    Each call takes the next safe step (stop the instance, detach a replacement, attach
    an original) and raises ResourceNotReady until every device holds its original.
    ``online``: the instance is never stopped (only data devices are planned, and the
    replacements' disks were taken offline before this runs).
    The originals' own attachment records (DescribeVolumes) decide, not only the
    instance's device list, which can lag just after a change.
    Returns "device volume" for every planned device once all hold their originals.
    """
    raw = describe_instance(ec2, plan.instance_id)
    on_device = attached_volumes(raw)
    originals = {
        v["VolumeId"]: _attachment_of(dict(v))
        for v in ec2.describe_volumes(VolumeIds=[s.replaced_volume_id for s in plan.volumes])[
            "Volumes"
        ]
    }

    def home(spec_volume: str, device: str) -> str | None:
        """The original's attachment state if it is on its own device of this instance."""
        attachment = originals.get(spec_volume)
        if (
            attachment
            and attachment.get("InstanceId") == plan.instance_id
            and attachment.get("Device") == device
        ):
            return str(attachment.get("State"))
        return None

    if all(home(s.replaced_volume_id, s.device) == "attached" for s in plan.volumes):
        set_delete_on_termination(
            ec2, plan.instance_id, {v.device: v.delete_on_termination for v in facts.volumes}
        )
        return [f"{s.device} {s.replaced_volume_id}" for s in plan.volumes]
    state = power_state(raw)
    if online:
        if state not in ("running", "stopped"):
            not_ready(f"{plan.instance_id} is {state}", entered_at, timeout_seconds, now)
    elif state in ("running", "pending"):
        with failing_as(RollbackFailed, f"StopInstances {plan.instance_id}"):
            ec2.stop_instances(InstanceIds=[plan.instance_id])
        not_ready(
            f"{plan.instance_id} is {state}; stopping it to put the originals back",
            entered_at,
            timeout_seconds,
            now,
        )
    if state != "stopped" and not online:
        not_ready(f"{plan.instance_id} is {state}", entered_at, timeout_seconds, now)
    progress = [
        _step_back(
            ec2,
            plan.instance_id,
            spec.device,
            spec.replaced_volume_id,
            on_device.get(spec.device),
            originals.get(spec.replaced_volume_id),
            home(spec.replaced_volume_id, spec.device),
        )
        for spec in plan.volumes
    ]
    not_ready(
        "putting originals back: " + "; ".join(p for p in progress if p),
        entered_at,
        timeout_seconds,
        now,
    )


# AttachVolume answers on rollback that mean "an attach may already be under way".
_LOOK_AGAIN = ("VolumeInUse", "IncorrectState", "InvalidParameterValue")


def _step_back(
    ec2: EC2Client,
    instance_id: str,
    device: str,
    original: str,
    holder: dict[str, Any] | None,
    original_attachment: dict[str, Any] | None,
    at_home: str | None,
) -> str:
    """One step towards ``device`` holding ``original``; says what is under way ('' when done)."""
    if at_home == "attached":
        return ""
    if at_home is not None:
        return f"{original} is {at_home} at {device}"
    if original_attachment is not None:
        raise RollbackFailed(
            f"original {original} of {device} is attached to {original_attachment.get('InstanceId')} "
            f"at {original_attachment.get('Device')}"
        )
    if holder is not None and holder.get("VolumeId") != original:
        if holder.get("Status") != "detaching":
            with failing_as(RollbackFailed, f"{device}: DetachVolume {holder['VolumeId']}"):
                ec2.detach_volume(
                    VolumeId=holder["VolumeId"], InstanceId=instance_id, Device=device
                )
        return f"detaching {holder['VolumeId']} from {device}"
    try:
        ec2.attach_volume(Device=device, InstanceId=instance_id, VolumeId=original)
    except ClientError as err:
        code = error_code(err)
        # An attach just made may not show yet; EC2 then refuses a second one: look again.
        # Another transient answer goes to the state machine's Retry, as everywhere else.
        if code in _LOOK_AGAIN:
            return f"attaching {original} at {device}"
        if code in TRANSIENT_CODES:
            raise
        raise RollbackFailed(f"{device}: AttachVolume {original} failed: {code}") from err
    return f"attaching {original} at {device}"
