"""Failures during a restore roll the instance back: original volumes, power state, no leftovers."""

from __future__ import annotations

import pytest

from tests.integration.helpers import (
    assert_invariants,
    attached,
    power_state,
    volume_exists,
    volumes_of,
)
from vss_restore.local import Fault, LocalEngine
from vss_restore.local.invariants import InstanceState


def test_fault_during_attach_puts_every_device_back_on_its_original_volume(
    engine: LocalEngine, ec2, instance_with_volumes: str, vss_set
) -> None:
    # GIVEN a complete set, and AttachVolume refusing the second attachment (root is already swapped)
    vss_set("set-1", hours_ago=1)
    before = InstanceState.capture(ec2, instance_with_volumes)
    fault = engine.inject(Fault("ec2.AttachVolume", code="InvalidParameterValue", occurrence=2))
    request = {"InstanceId": instance_with_volumes}

    # WHEN the restore runs
    result = engine.run(request)

    # THEN it fails with SwapFailed after rolling back everything
    assert fault.injected == 1
    assert result.status == "FAILED"
    assert result.error == "SwapFailed"
    assert "ReattachOriginalVolumes" in result.state_path()
    assert attached(ec2, instance_with_volumes) == before.volumes
    assert InstanceState.capture(ec2, instance_with_volumes) == before
    assert power_state(ec2, instance_with_volumes) == "running"
    assert volumes_of(ec2, result) == []
    deleted = result.cause.split("Deleted restored volumes: ")[1].split(".")[0].split(", ")
    assert len(deleted) == 4
    assert "Original volumes back on their devices" in result.cause
    assert "Instance running, as before the restore" in result.cause
    assert "Lock released" in result.cause
    assert_invariants(ec2, before, result, request)


def test_fault_before_swap_deletes_new_volumes_and_restarts_the_instance(
    engine: LocalEngine, ec2, instance_with_volumes: str, vss_set
) -> None:
    # GIVEN CreateVolume refusing the third volume while the instance is being stopped
    vss_set("set-1", hours_ago=1)
    before = InstanceState.capture(ec2, instance_with_volumes)
    engine.inject(Fault("ec2.CreateVolume", code="InsufficientVolumeCapacity", occurrence=3))
    request = {"InstanceId": instance_with_volumes}

    # WHEN the restore runs
    result = engine.run(request)

    # THEN it fails as VolumeCreationFailed; originals untouched, instance running, new volumes gone
    assert result.status == "FAILED"
    assert result.error == "VolumeCreationFailed"
    path = result.state_path()
    assert "DetachOriginalVolumes" not in path
    assert "ReattachOriginalVolumes" not in path
    assert "RestorePowerState" in path
    assert InstanceState.capture(ec2, instance_with_volumes) == before
    assert all(not volume_exists(ec2, v["VolumeId"]) for v in volumes_of(ec2, result))
    assert "xvdg" in result.cause
    assert_invariants(ec2, before, result, request)


def test_start_refused_after_swap_rolls_back_and_starts_on_original_volumes(
    engine: LocalEngine, ec2, instance_with_volumes: str, vss_set
) -> None:
    # GIVEN StartInstances refusing once (capacity), after the volumes were swapped
    vss_set("set-1", hours_ago=1)
    before = InstanceState.capture(ec2, instance_with_volumes)
    engine.inject(Fault("ec2.StartInstances", code="InsufficientInstanceCapacity"))
    request = {"InstanceId": instance_with_volumes}

    # WHEN the restore runs
    result = engine.run(request)

    # THEN it fails with StartFailed, and the instance runs again on its original volumes
    assert result.status == "FAILED"
    assert result.error == "StartFailed"
    assert InstanceState.capture(ec2, instance_with_volumes) == before
    assert_invariants(ec2, before, result, request)


@pytest.mark.parametrize(
    "operation", ["ec2.AttachVolume", "ec2.DetachVolume", "ec2.StopInstances", "ec2.CreateVolume"]
)
def test_throttled_call_is_retried_and_the_restore_succeeds(
    engine: LocalEngine, ec2, instance_with_volumes: str, vss_set, operation: str
) -> None:
    # GIVEN one call answered with RequestLimitExceeded
    vss_set("set-1", hours_ago=1)
    before = InstanceState.capture(ec2, instance_with_volumes)
    fault = engine.inject(Fault(operation, code="RequestLimitExceeded"))
    request = {"InstanceId": instance_with_volumes}

    # WHEN the restore runs
    result = engine.run(request)

    # THEN the task is retried and the restore completes
    assert fault.injected == 1
    assert result.status == "SUCCEEDED", result.cause
    assert_invariants(ec2, before, result, request)


def test_create_volume_task_retried_after_success_creates_no_second_volume(
    engine: LocalEngine, ec2, instance_with_volumes: str, vss_set
) -> None:
    # GIVEN the second CreateVolume succeeds but its answer is lost, so the task is retried
    vss_set("set-1", hours_ago=1)
    before = InstanceState.capture(ec2, instance_with_volumes)
    fault = engine.inject(
        Fault("ec2.CreateVolume", code="InternalError", occurrence=2, applied=True)
    )
    request = {"InstanceId": instance_with_volumes}

    # WHEN the restore runs
    result = engine.run(request)

    # THEN the retried task made no second volume: exactly one per device, all attached
    assert fault.injected == 1
    assert result.status == "SUCCEEDED", result.cause
    created = volumes_of(ec2, result)
    assert len(created) == 4
    assert sorted(attached(ec2, instance_with_volumes).values()) == sorted(
        v["VolumeId"] for v in created
    )
    assert engine.dispatcher is not None
    assert engine.dispatcher.invocations.count("vss-restore-create_volumes") == 2
    assert_invariants(ec2, before, result, request)
