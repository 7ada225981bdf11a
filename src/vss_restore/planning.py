"""Planning a restore: one replacement volume per device, with the original's settings."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from vss_restore import tags
from vss_restore.devices import restore_order
from vss_restore.errors import InvalidRequest
from vss_restore.initialization import mode_for, rate_for
from vss_restore.models import ChosenSet, InstanceFacts, RestorePlan, SetMember, VolumeSpec

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# Only these volume types take a provisioned IOPS / throughput value.
IOPS_TYPES = frozenset({"io1", "io2", "gp3"})
THROUGHPUT_TYPES = frozenset({"gp3"})
MULTI_ATTACH_TYPES = frozenset({"io1", "io2"})


def client_token(execution: str, device: str) -> str:
    """Same execution and device → same token, so a retried CreateVolume makes no second volume."""
    return hashlib.sha256(f"{execution}|{device}".encode()).hexdigest()[:64]


def describe_originals(ec2: EC2Client, volume_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not volume_ids:
        return {}
    volumes = ec2.describe_volumes(VolumeIds=list(volume_ids))["Volumes"]
    return {v["VolumeId"]: dict(v) for v in volumes}


def plan_restore(
    facts: InstanceFacts,
    chosen: ChosenSet,
    originals: Mapping[str, Mapping[str, Any]],
    execution: str,
    *,
    initialization_rate: int | None = None,
    fast_restored: Collection[str] = frozenset(),
) -> RestorePlan:
    """A volume spec per device of the chosen set, root first (pure).

    ``fast_restored``: the set's snapshots with fast snapshot restore enabled in the
    instance's zone; their volumes are created without ``initialization_rate``.
    """
    specs = volume_specs(
        facts,
        chosen,
        originals,
        execution,
        initialization_rate=initialization_rate,
        fast_restored=fast_restored,
    )
    restored = {s.device for s in specs}
    return RestorePlan(
        instance_id=facts.instance_id,
        snapshot_set_id=chosen.snapshot_set_id,
        execution=execution,
        volumes=specs,
        untouched_devices=restore_order(
            [v.device for v in facts.volumes if v.device not in restored], facts.root_device_name
        ),
    )


def volume_specs(
    facts: InstanceFacts,
    chosen: ChosenSet,
    originals: Mapping[str, Mapping[str, Any]],
    execution: str,
    *,
    initialization_rate: int | None = None,
    fast_restored: Collection[str] = frozenset(),
) -> list[VolumeSpec]:
    """One volume spec per member of the set, with its original's settings, root first.

    Each says how its volume initializes (``initialization.mode_for``).
    """
    specs: list[VolumeSpec] = []
    for member in chosen.members:
        attached = facts.volume_at(member.device)
        if attached is None:
            raise InvalidRequest(
                "Devices", f"{member.device} is not attached to {facts.instance_id}"
            )
        original = originals[attached.volume_id]
        spec = volume_spec(
            facts,
            member,
            original,
            attached.delete_on_termination,
            chosen.snapshot_set_id,
            execution,
        )
        mode = mode_for(member.snapshot_id, initialization_rate, fast_restored)
        specs.append(
            spec.model_copy(
                update={
                    "initialization": mode,
                    "initialization_rate": rate_for(mode, initialization_rate),
                }
            )
        )
    ordered = restore_order([s.device for s in specs], facts.root_device_name)
    specs.sort(key=lambda s: ordered.index(s.device))
    return specs


def volume_spec(
    facts: InstanceFacts,
    member: SetMember,
    original: Mapping[str, Any],
    delete_on_termination: bool,
    snapshot_set_id: str,
    execution: str,
) -> VolumeSpec:
    device, snapshot_id = member.device, member.snapshot_id
    volume_type = str(original.get("VolumeType", "gp3"))
    encrypted = bool(original.get("Encrypted")) or member.encrypted
    # The original volume's key wins: snapshots of CMK volumes may not report theirs.
    kms_key_id = (original.get("KmsKeyId") or member.kms_key_id) if encrypted else None
    original_tags = tags.tag_dict(original.get("Tags"))
    ours = {
        tags.INSTANCE_ID: facts.instance_id,
        tags.DEVICE: device,
        tags.REPLACED_VOLUME_ID: original["VolumeId"],
        tags.LINEAGE: tags.lineage_value(original["VolumeId"], original_tags.get(tags.LINEAGE, "")),
        tags.SNAPSHOT_SET_ID: snapshot_set_id[: tags.MAX_TAG_VALUE],
        tags.SNAPSHOT_ID: snapshot_id,
        tags.EXECUTION: execution[: tags.MAX_TAG_VALUE],
        tags.CREATED_BY: tags.CREATED_BY_VALUE,
        tags.STATUS: tags.STATUS_RESTORING,
    }
    return VolumeSpec(
        device=device,
        snapshot_id=snapshot_id,
        replaced_volume_id=original["VolumeId"],
        availability_zone=facts.availability_zone,
        volume_type=volume_type,
        size=max(int(original.get("Size", 0)), member.volume_size),
        iops=original.get("Iops") if volume_type in IOPS_TYPES else None,
        throughput=original.get("Throughput") if volume_type in THROUGHPUT_TYPES else None,
        encrypted=encrypted,
        kms_key_id=kms_key_id,
        multi_attach_enabled=bool(original.get("MultiAttachEnabled"))
        and volume_type in MULTI_ATTACH_TYPES,
        delete_on_termination=delete_on_termination,
        # Only our own: CreateVolumes adds the original's user tags (they would make the
        # plan too big for the state data).
        tags=ours,
        client_token=client_token(execution, device),
    )
