"""Time to full performance: rates on the created volumes, fast snapshot restore, the wait."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tests.conftest import VssSetFactory
from tests.integration.conftest import RestoreRunner
from tests.integration.helpers import assert_invariants, attached, volume
from vss_restore.definition import Limits
from vss_restore.local import LocalEngine, world
from vss_restore.local.invariants import InstanceState

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


@dataclass(frozen=True)
class FastRestoreSet:
    snapshots: dict[str, str]  # device -> snapshot id
    zone: str  # where fast snapshot restore is enabled: the instance's zone


@pytest.fixture
def fast_restore_on_xvdf(
    ec2: EC2Client, vss_set: VssSetFactory, instance_with_volumes: str
) -> FastRestoreSet:
    """A set whose xvdf snapshot has fast snapshot restore enabled in the instance's zone."""
    snapshots = vss_set("set-1", hours_ago=1)
    zone = ec2.describe_instances(InstanceIds=[instance_with_volumes])["Reservations"][0][
        "Instances"
    ][0]["Placement"]["AvailabilityZone"]
    ec2.enable_fast_snapshot_restores(
        AvailabilityZones=[zone], SourceSnapshotIds=[snapshots["xvdf"]]
    )
    return FastRestoreSet(snapshots, zone)


def test_restore_creates_every_volume_at_the_requested_rate_and_reports_its_estimate(
    ec2: EC2Client, vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN a set of the demo's four volumes
    vss_set("set-1", hours_ago=1)

    # WHEN the restore asks for 200 MiB/s
    done = restore(InitializationRate=200)

    # THEN each new volume was created at 200 MiB/s, and the report says how long each takes
    report = done.report
    for line in report["Volumes"]:
        created = volume(ec2, line["NewVolumeId"])
        assert created["VolumeInitializationRate"] == 200, line["Device"]
        assert line["Initialization"] == {
            "Mode": "ProvisionedRate",
            "RateMiBps": 200,
            "EstimatedSeconds": round(created["Size"] * 1024 / 200, 1),
        }
    # ... and full performance is the restart plus the slowest (the 200 GiB volume: 1,024 s)
    assert report["FullPerformanceBasis"] == "Estimated"
    assert report["FullPerformanceSeconds"] >= 1024.0
    assert report["Warnings"] == []


def test_restore_uses_fast_snapshot_restore_instead_of_the_rate_when_a_snapshot_has_it(
    ec2: EC2Client, restore: RestoreRunner, fast_restore_on_xvdf: FastRestoreSet
) -> None:
    # GIVEN a set whose xvdf snapshot has fast snapshot restore enabled in the instance's zone
    snapshots = fast_restore_on_xvdf.snapshots

    # WHEN the restore asks for a rate
    report = restore(InitializationRate=200).report

    # THEN xvdf's volume was fast restored, without the rate; the others got the rate
    lines = {line["Device"]: line for line in report["Volumes"]}
    fast = volume(ec2, lines["xvdf"]["NewVolumeId"])
    assert fast["FastRestored"] is True
    assert fast.get("VolumeInitializationRate") is None
    assert lines["xvdf"]["Initialization"] == {
        "Mode": "FastSnapshotRestore",
        "RateMiBps": None,
        "EstimatedSeconds": 0.0,
    }
    assert volume(ec2, lines["xvdg"]["NewVolumeId"])["VolumeInitializationRate"] == 200
    # ... and the report says why xvdf did not get the rate
    (warning,) = report["Warnings"]
    assert warning.startswith(f"xvdf: {snapshots['xvdf']} has fast snapshot restore enabled")


def test_restore_waits_until_every_volume_is_initialized_when_asked(
    engine: LocalEngine, ec2: EC2Client, vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN EBS reports the volumes 40 % initialized the first three times it is asked
    vss_set("set-1", hours_ago=1)
    asked: list[int] = []

    def initializing(parsed: dict[str, Any], **_: Any) -> None:
        asked.append(len(parsed.get("VolumeStatuses", [])))
        if len(asked) <= 3:
            for status in parsed.get("VolumeStatuses", []):
                status["InitializationStatusDetails"]["Progress"] = 40

    engine.observe("after-call.ec2.DescribeVolumeStatus", initializing)

    # WHEN the restore waits for initialization
    report = restore(InitializationRate=300, WaitForInitialization=True).report

    # THEN it asked about all four volumes until they were done, and measured the time
    assert asked == [4, 4, 4, 4]
    assert report["FullPerformanceBasis"] == "Measured"
    assert report["FullPerformanceSeconds"] is not None
    finished = datetime.fromisoformat(report["FinishedAt"])
    started = datetime.fromisoformat(report["StartedAt"])
    assert 0 < report["FullPerformanceSeconds"] <= (finished - started).total_seconds()
    assert report["Warnings"] == []


def test_restore_succeeds_with_a_warning_when_initialization_outlasts_its_limit() -> None:
    # GIVEN volumes that never finish initializing, and a one-second limit on the wait
    with LocalEngine(limits=Limits(InitializationTimeoutSeconds=1)) as engine:
        ec2 = boto3.client("ec2", region_name=engine.region)
        instance_id = world.windows_instance(ec2, world.DEMO_DISKS[:2])
        world.vss_snapshot_set(
            ec2, instance_id, taken_at=datetime.now(UTC) - timedelta(hours=1), set_id="s"
        )

        def never_done(parsed: dict[str, Any], **_: Any) -> None:
            for status in parsed.get("VolumeStatuses", []):
                status["InitializationStatusDetails"]["Progress"] = 10

        engine.observe("after-call.ec2.DescribeVolumeStatus", never_done)
        request = {"InstanceId": instance_id, "WaitForInitialization": True}
        before = InstanceState.capture(ec2, instance_id)

        # WHEN the restore waits for initialization
        result = engine.run(request)

        # THEN the restore stands (no rollback), with the restored volumes on the instance,
        # and the report warns that full performance was not seen
        assert result.status == "SUCCEEDED", result.cause
        assert_invariants(ec2, before, result, request)
        report = result.output
        assert report is not None
        assert attached(ec2, instance_id) == {
            line["Device"]: line["NewVolumeId"] for line in report["Volumes"]
        }
        assert report["FullPerformanceBasis"] == "Estimated"
        (warning,) = report["Warnings"]
        assert "not seen fully initialized" in warning
        assert "10%" in warning


def test_drill_creates_every_clone_volume_at_the_requested_rate(
    engine: LocalEngine,
    ec2: EC2Client,
    vss_set: VssSetFactory,
    instance_with_volumes: str,
    drill_target: dict[str, Any],
) -> None:
    # GIVEN a set and an isolated subnet
    vss_set("set-1", hours_ago=1)

    # WHEN a drill asks for 150 MiB/s and keeps its clone
    result = engine.run(
        {
            "InstanceId": instance_with_volumes,
            **drill_target,
            "KeepClone": True,
            "InitializationRate": 150,
        }
    )

    # THEN every clone volume, the swapped-in root and the launched data volumes, has it
    assert result.status == "SUCCEEDED", result.cause
    report = result.output
    assert report is not None
    assert len(report["Volumes"]) == 4
    for line in report["Volumes"]:
        assert volume(ec2, line["CloneVolumeId"])["VolumeInitializationRate"] == 150, line


def test_restore_reports_the_default_rate_when_fast_snapshot_restore_had_no_credit_left(
    ec2: EC2Client, restore: RestoreRunner, fast_restore_on_xvdf: FastRestoreSet
) -> None:
    # GIVEN xvdf's snapshot (200 GiB: 5 credits) has fast snapshot restore, all credits spent
    snapshot_id, zone = fast_restore_on_xvdf.snapshots["xvdf"], fast_restore_on_xvdf.zone
    spent = [
        ec2.create_volume(AvailabilityZone=zone, SnapshotId=snapshot_id)["VolumeId"]
        for _ in range(5)
    ]
    assert all(volume(ec2, v)["FastRestored"] for v in spent)

    # WHEN the restore runs (planned: fast snapshot restore for xvdf)
    report = restore().report

    # THEN EC2 made xvdf's volume without it, and the report says it loads at the default rate
    line = next(v for v in report["Volumes"] if v["Device"] == "xvdf")
    assert volume(ec2, line["NewVolumeId"])["FastRestored"] is False
    assert line["Initialization"]["Mode"] == "Default"
    assert line["Initialization"]["EstimatedSeconds"] > 0
    (warning,) = report["Warnings"]
    assert warning.startswith("xvdf: created without fast snapshot restore")
