"""``make demo``: restore an emulated Windows server from its latest complete VSS snapshot set.

Seeds the embedded emulator with a Windows instance (four differently configured EBS
volumes) and three VSS snapshot sets, the newest of them incomplete; runs the real state
machine through ``LocalEngine``; prints what it chose, why, and what it did.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3

from vss_restore.discovery import find_snapshots
from vss_restore.local import ExecutionResult, LocalEngine, world
from vss_restore.snapshot_sets import group_into_sets, judge

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

COMPARED = ("VolumeType", "Size", "Iops", "Throughput", "Encrypted", "KmsKeyId")
SETS = (
    # (set id, age, devices whose snapshot is not AppConsistent)
    ("5c0b7a3e-1f2d-4e8a-9b6c-3d2e1f0a9b8c", timedelta(days=3), ()),
    ("9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b", timedelta(days=1), ()),
    ("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", timedelta(hours=1), ("xvdg",)),
)


def _describe_disk(volume: dict[str, Any]) -> str:
    """Type, size, and whatever differs from the type's defaults."""
    kind = volume["VolumeType"]
    parts = [f"{kind:<4}", f"{volume['Size']:>4} GiB"]
    if kind in ("io1", "io2") or (kind == "gp3" and volume.get("Iops", 3000) != 3000):
        parts.append(f"{volume['Iops']} IOPS")
    if kind == "gp3" and volume.get("Throughput", 125) != 125:
        parts.append(f"{volume['Throughput']} MiB/s")
    if volume.get("Encrypted"):
        parts.append("encrypted with a customer KMS key")
    return "  ".join(parts)


def _volumes(ec2: EC2Client, ids: list[str]) -> dict[str, dict[str, Any]]:
    return {v["VolumeId"]: dict(v) for v in ec2.describe_volumes(VolumeIds=ids)["Volumes"]}


def seed(ec2: EC2Client, now: datetime) -> str:
    instance_id = world.windows_instance(ec2)
    for set_id, age, not_consistent in SETS:
        world.vss_snapshot_set(
            ec2, instance_id, taken_at=now - age, set_id=set_id, not_app_consistent=not_consistent
        )
    return instance_id


# The demo fleet: the demo server and two smaller application servers, tagged alike.
FLEET_TAG = ("Fleet", "demo")


def seed_fleet(ec2: EC2Client, now: datetime, demo_instance_id: str) -> list[str]:
    """Two more servers with a VSS set each; all three carry ``FLEET_TAG``."""
    servers = [demo_instance_id]
    for name in ("app01", "app02"):
        server = world.windows_instance(ec2, world.DEMO_DISKS[:2], name=name)
        world.vss_snapshot_set(ec2, server, taken_at=now - timedelta(hours=2), set_id=None)
        servers.append(server)
    ec2.create_tags(Resources=servers, Tags=[{"Key": FLEET_TAG[0], "Value": FLEET_TAG[1]}])
    return servers


def _ago(now: datetime, then: datetime | str) -> str:
    when = datetime.fromisoformat(then) if isinstance(then, str) else then
    hours = (now - when).total_seconds() / 3600
    return f"{hours / 24:.0f} days ago" if hours >= 36 else f"{hours:.0f} hours ago"


def print_instance(ec2: EC2Client, instance_id: str) -> dict[str, str]:
    devices = world.attached(ec2, instance_id)
    volumes = _volumes(ec2, list(devices.values()))
    print(f"Instance {instance_id} (web01, Windows), running, {len(devices)} EBS volumes:")
    for device, volume_id in devices.items():
        print(f"  {device:<10} {volume_id}  {_describe_disk(volumes[volume_id])}")
    print()
    print("VSS snapshot sets found for it, newest first:")
    snapshots = find_snapshots(ec2, instance_id, devices.values())
    now = datetime.now(UTC)
    for snapshot_set in group_into_sets(s for s in snapshots if s.is_vss):
        verdict = judge(snapshot_set, list(devices))
        state = "complete" if verdict.complete else "incomplete: " + "; ".join(verdict.reasons)
        print(f"  {snapshot_set.set_id}  taken {_ago(now, snapshot_set.created_at)}  {state}")
    print()
    return devices


def print_report(
    ec2: EC2Client, result: ExecutionResult, before: dict[str, str], seconds: float
) -> None:
    report = result.output or {}
    now = datetime.now(UTC)
    print(f"Result: {result.status} in {seconds:.1f} s (wall clock, emulator)")
    if result.status != "SUCCEEDED":
        print(f"  {result.error}: {result.cause}")
        return
    print(
        f"Chosen set: {report['SnapshotSetId']}, taken {_ago(now, report['SnapshotSetCreatedAt'])}"
    )
    for skipped in report["SkippedSets"]:
        print(f"  skipped newer set {skipped['SnapshotSetId']}: {'; '.join(skipped['Reasons'])}")
    print()
    rows = report["Volumes"]
    volumes = _volumes(
        ec2, [v["NewVolumeId"] for v in rows] + [v["ReplacedVolumeId"] for v in rows]
    )
    print(
        f"  {'Device':<10} {'Snapshot':<22} {'New volume':<22} {'Replaced volume':<22} Settings kept"
    )
    for row in rows:
        new, old = volumes[row["NewVolumeId"]], volumes[row["ReplacedVolumeId"]]
        differ = [a for a in COMPARED if new.get(a) != old.get(a)]
        kept = "all" if not differ else "DIFFERENT: " + ", ".join(differ)
        print(
            f"  {row['Device']:<10} {row['SnapshotId']:<22} {row['NewVolumeId']:<22} "
            f"{row['ReplacedVolumeId']:<22} {kept}"
        )
    now_attached = world.attached(ec2, report["InstanceId"])
    print()
    print(
        f"Instance is {report['PowerState']}; every device holds its restored volume: "
        f"{all(now_attached[r['Device']] == r['NewVolumeId'] for r in rows)}"
    )
    print(
        f"Replaced volumes: {report['ReplacedVolumes']} (detached, tagged vss-restore:replaced-by)"
    )
    print(
        f"Downtime (StopInstances → running): {report['DowntimeSeconds']} s "
        "(the emulator changes state instantly; AWS takes minutes)"
    )
    print(f"Originals before the restore: {', '.join(f'{d}={v}' for d, v in before.items())}")
    print()
    print("State path: " + " → ".join(result.state_path()))


def main() -> int:
    print(
        "vss-restore demo: restore an emulated Windows server from its latest complete VSS snapshot set\n"
    )
    with LocalEngine() as engine:
        ec2 = boto3.client("ec2", region_name=engine.region)
        instance_id = seed(ec2, datetime.now(UTC))
        before = print_instance(ec2, instance_id)
        print(f"Restoring through the state machine ({engine.state_machine_arn}) ...\n")
        started = time.monotonic()
        result = engine.run({"InstanceId": instance_id})
        print_report(ec2, result, before, time.monotonic() - started)
    return 0 if result.status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
