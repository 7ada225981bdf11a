"""Simulation mode's volume initialization: progress over modelled time, from the estimate."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
import pytest

from vss_restore.initialization import estimate_seconds
from vss_restore.local import LocalEngine
from vss_restore.local.initialization_model import (
    SimulatedInitialization,
    progress_at,
    seconds_to_initialize,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

AZ = "us-east-1a"


def test_seconds_to_initialize_is_the_restores_estimate_for_each_mode() -> None:
    # GIVEN / WHEN / THEN: the model and the report's estimate are one figure
    assert seconds_to_initialize(100, 200, fast_restored=False) == estimate_seconds(
        100, "ProvisionedRate", 200
    )
    assert seconds_to_initialize(100, None, fast_restored=False) == estimate_seconds(
        100, "Default", None
    )
    assert seconds_to_initialize(100, None, fast_restored=True) == 0.0


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [(-5.0, (0, 100)), (0.0, (0, 100)), (25.0, (25, 75)), (99.9, (99, 1)), (100.0, (100, 0))],
)
def test_progress_at_counts_up_to_100_when_time_passes(
    elapsed: float, expected: tuple[int, int]
) -> None:
    # GIVEN a 100 s initialization / WHEN / THEN
    assert progress_at(elapsed, 100.0) == expected


def restored_10_gib_volume(ec2: EC2Client, rate_mibps: int) -> tuple[str, str]:
    """(source, restored): a 10 GiB volume, and one created from its snapshot at the rate."""
    source = ec2.create_volume(AvailabilityZone=AZ, Size=10)["VolumeId"]
    snapshot_id = ec2.create_snapshot(VolumeId=source)["SnapshotId"]
    volume_id = ec2.create_volume(
        AvailabilityZone=AZ, SnapshotId=snapshot_id, Size=10, VolumeInitializationRate=rate_mibps
    )["VolumeId"]
    return source, volume_id


def test_describe_volume_status_shows_modelled_progress_when_simulated(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a 10 GiB volume created at 100 MiB/s (102.4 s), available at model time 0,
    # and the simulation's view of DescribeVolumeStatus on a clock the test moves
    _, volume_id = restored_10_gib_volume(ec2, rate_mibps=100)
    clock = {"now": 0.0}
    model = SimulatedInitialization(lambda: clock["now"], {volume_id: 0.0}.get)
    for event_name, hook in model.hooks():
        engine.observe(event_name, hook)
    observed = boto3.client("ec2", region_name=engine.region)  # a client made after the hook

    def details_at(model_seconds: float) -> tuple[int, int]:
        clock["now"] = model_seconds
        (status,) = observed.describe_volume_status(VolumeIds=[volume_id])["VolumeStatuses"]
        found = status["InitializationStatusDetails"]
        return found["Progress"], found["EstimatedTimeToCompleteInSeconds"]

    # WHEN model time passes / THEN half-way it is 50 % with 51 s left, then complete
    assert details_at(51.2) == (50, 51)
    assert details_at(102.4) == (100, 0)


def test_initialized_at_is_available_at_plus_the_modelled_duration(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a 10 GiB volume at 200 MiB/s (51.2 s) that became available at model time 30
    source, volume_id = restored_10_gib_volume(ec2, rate_mibps=200)
    model = SimulatedInitialization(lambda: 0.0, {volume_id: 30.0}.get)

    # WHEN / THEN (a volume the simulation did not create has no such time)
    assert model.initialized_at(engine.region, volume_id) == 81.2
    assert model.initialized_at(engine.region, source) is None
