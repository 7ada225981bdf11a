"""Time to full performance: how each restored volume initializes, and how long it takes.

A volume created from a snapshot loads its blocks from Amazon S3 after creation (volume
initialization); until every block is there, the first read of a block is slow. EBS offers
two ways to make that predictable (AWS, "Initialize Amazon EBS volumes", EBS User Guide):

- ``ProvisionedRate``: ``VolumeInitializationRate`` (100-300 MiB/s) on ``CreateVolume`` or a
  launch's block device mapping; the snapshot's blocks arrive at that rate after creation.
- ``FastSnapshotRestore``: a snapshot with fast snapshot restore ``enabled`` in the volume's
  Availability Zone gives a volume that is fully initialized at creation (while the
  snapshot's volume creation credits last). A rate given with such a snapshot replaces
  fast snapshot restore, so the restore does not send one for it.
- ``Default``: neither; AWS documents only that the default rate fluctuates.

The estimates are pure functions of the volume's size, so a plan, a report and a benchmark
compute the same number.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Literal

from vss_restore.errors import InvalidRequest
from vss_restore.waiting import not_ready

if TYPE_CHECKING:
    from datetime import datetime

    from mypy_boto3_ec2 import EC2Client

    from vss_restore.models import CreatedVolume, VolumeSpec

InitializationMode = Literal["FastSnapshotRestore", "ProvisionedRate", "Default"]
FAST_SNAPSHOT_RESTORE: InitializationMode = "FastSnapshotRestore"
PROVISIONED_RATE: InitializationMode = "ProvisionedRate"
DEFAULT: InitializationMode = "Default"

# The range EBS accepts for VolumeInitializationRate, in MiB/s (CreateVolume, EbsBlockDevice).
MIN_RATE_MIBPS = 100
MAX_RATE_MIBPS = 300
# An assumption, not an AWS figure: AWS documents no default initialization rate (only that
# it fluctuates). 50 MiB/s is half of the lowest rate one can provision, so an estimate of
# a default initialization errs on the long side.
ASSUMED_DEFAULT_RATE_MIBPS = 50
MIB_PER_GIB = 1024


def mode_for(
    snapshot_id: str, rate_mibps: int | None, fast_restored: Collection[str]
) -> InitializationMode:
    """How a volume from ``snapshot_id`` initializes: FSR wins over a rate, a rate over default."""
    if snapshot_id in fast_restored:
        return FAST_SNAPSHOT_RESTORE
    if rate_mibps is not None:
        return PROVISIONED_RATE
    return DEFAULT


def rate_for(mode: InitializationMode, rate_mibps: int | None) -> int | None:
    """The ``VolumeInitializationRate`` to send: only for ``ProvisionedRate``."""
    return rate_mibps if mode == PROVISIONED_RATE else None


def estimate_seconds(size_gib: int, mode: InitializationMode, rate_mibps: int | None) -> float:
    """Seconds from creation until a volume of ``size_gib`` is fully initialized.

    ``FastSnapshotRestore``: 0 (initialized at creation). ``ProvisionedRate``: size ÷ rate
    (the blocks arrive at the rate given). ``Default``: size ÷ ``ASSUMED_DEFAULT_RATE_MIBPS``,
    an assumption. The size is the volume's, an upper bound of the snapshot's data.
    """
    if mode == FAST_SNAPSHOT_RESTORE:
        return 0.0
    if mode == PROVISIONED_RATE:
        if rate_mibps is None or not MIN_RATE_MIBPS <= rate_mibps <= MAX_RATE_MIBPS:
            raise ValueError(f"a provisioned rate of {rate_mibps} MiB/s is out of range")
        rate = rate_mibps
    else:
        rate = ASSUMED_DEFAULT_RATE_MIBPS
    return round(size_gib * MIB_PER_GIB / rate, 1)


def fast_restored_snapshots(
    ec2: EC2Client, snapshot_ids: Iterable[str], availability_zone: str
) -> frozenset[str]:
    """The snapshots whose fast snapshot restore is ``enabled`` in ``availability_zone``.

    ``optimizing`` gives only part of the benefit (AWS), so it counts as not enabled.
    """
    wanted = sorted(set(snapshot_ids))
    if not wanted:
        return frozenset()
    pages = ec2.get_paginator("describe_fast_snapshot_restores").paginate(
        Filters=[
            {"Name": "snapshot-id", "Values": wanted},
            {"Name": "availability-zone", "Values": [availability_zone]},
            {"Name": "state", "Values": ["enabled"]},
        ]
    )
    return frozenset(
        str(item["SnapshotId"])
        for page in pages
        for item in page.get("FastSnapshotRestores", [])
        if item.get("State") == "enabled" and item.get("AvailabilityZone") == availability_zone
    )


def missed_fast_restore(
    ec2: EC2Client, planned: Sequence[VolumeSpec], created: Sequence[CreatedVolume]
) -> set[str]:
    """Devices planned for fast snapshot restore whose volume EC2 made without it.

    EC2 says so in ``FastRestored`` (false when the snapshot's volume creation credits had
    run out); a volume that does not say is taken as planned.
    """
    fast = {s.device for s in planned if s.initialization == FAST_SNAPSHOT_RESTORE}
    devices = {c.volume_id: c.device for c in created if c.device in fast}
    if not devices:
        return set()
    found = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": sorted(devices)}])
    return {
        devices[v["VolumeId"]]
        for v in found["Volumes"]
        if v["VolumeId"] in devices and v.get("FastRestored") is False
    }


def require_sdk_support(ec2: EC2Client, field: str) -> None:
    """``InvalidRequest`` naming ``field`` if this boto3 cannot send a rate or read progress.

    Lambda's runtime brings its own boto3; one older than EBS's Provisioned Rate for Volume
    Initialization would refuse the parameter only at CreateVolume, after the restore began.
    """
    model = ec2.meta.service_model
    known = {
        ("CreateVolume", "VolumeInitializationRate"): model.operation_model(
            "CreateVolume"
        ).input_shape,
        ("EbsBlockDevice", "VolumeInitializationRate"): model.shape_for("EbsBlockDevice"),
        ("VolumeStatusItem", "InitializationStatusDetails"): model.shape_for("VolumeStatusItem"),
    }
    if not all(member in getattr(shape, "members", {}) for (_, member), shape in known.items()):
        import botocore  # noqa: PLC0415 - only for the message

        raise InvalidRequest(
            field,
            f"this deployment's boto3 (botocore {botocore.__version__}) does not know EBS's "
            "volume initialization rate; deploy with a newer one",
        )


def volumes_initialized(
    ec2: EC2Client,
    created: Sequence[CreatedVolume],
    entered_at: datetime,
    timeout_seconds: int,
    now: datetime,
) -> None:
    """Return when EBS reports every volume fully initialized (``Progress`` 100).

    ``ResourceNotReady`` (naming each volume's progress) while one is not, ``WaitTimedOut``
    past ``timeout_seconds``. A volume without initialization details counts as not yet
    initialized: AWS may take up to 5 minutes to update them.
    """
    ids = [c.volume_id for c in created]
    statuses = ec2.describe_volume_status(VolumeIds=ids)["VolumeStatuses"]
    progress = {
        s["VolumeId"]: s.get("InitializationStatusDetails", {}).get("Progress") for s in statuses
    }
    pending = [c for c in created if progress.get(c.volume_id) != 100]
    if pending:
        not_ready(
            "volumes still initializing: "
            + ", ".join(
                f"{c.device} {c.volume_id} ({_percent(progress.get(c.volume_id))})" for c in pending
            ),
            entered_at,
            timeout_seconds,
            now,
        )


def _percent(progress: int | None) -> str:
    return "progress not reported yet" if progress is None else f"{progress}%"
