"""Failures during a restore roll the instance back: original volumes, power state, no leftovers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import VssSetFactory
from tests.integration.conftest import RestoreRunner
from tests.integration.helpers import attached, volume_exists, volumes_of
from vss_restore.local import Fault, LocalEngine
from vss_restore.local.invariants import InstanceState
from vss_restore.local.responses import HookAnswer

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


def _rolled_back(ec2: EC2Client, instance_id: str, before: InstanceState) -> None:
    """Every device on its original volume, flags and power state as before."""
    assert InstanceState.capture(ec2, instance_id) == before


def test_fault_during_attach_puts_every_device_back_on_its_original_volume(
    engine: LocalEngine,
    ec2: EC2Client,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
) -> None:
    # GIVEN AttachVolume refusing the second attachment (the root is already swapped by then)
    vss_set("set-1", hours_ago=1)
    fault = engine.inject(Fault("ec2.AttachVolume", code="InvalidParameterValue", occurrence=2))

    # WHEN the restore runs
    done = restore()

    # THEN it fails with SwapFailed after putting everything back and deleting all four new volumes
    assert fault.injected == 1
    assert (done.result.status, done.result.error) == ("FAILED", "SwapFailed")
    assert "ReattachOriginalVolumes" in done.result.state_path()
    _rolled_back(ec2, instance_with_volumes, done.before)
    assert volumes_of(ec2, done.result) == []
    assert done.result.cause is not None
    deleted = done.result.cause.split("Deleted restored volumes: ")[1].split(".")[0].split(", ")
    assert len(deleted) == 4
    for expected in (
        "Original volumes back on their devices",
        "Instance running, as before",
        "Lock released",
    ):
        assert expected in done.result.cause


def test_fault_before_swap_deletes_new_volumes_and_restarts_the_instance(
    engine: LocalEngine,
    ec2: EC2Client,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
) -> None:
    # GIVEN CreateVolume refusing the third volume while the instance is being stopped
    vss_set("set-1", hours_ago=1)
    engine.inject(Fault("ec2.CreateVolume", code="InsufficientVolumeCapacity", occurrence=3))

    # WHEN the restore runs
    done = restore()

    # THEN VolumeCreationFailed; the swap never began, the instance runs again, new volumes are gone
    assert done.result.error == "VolumeCreationFailed"
    path = done.result.state_path()
    assert "DetachOriginalVolumes" not in path
    assert "RestorePowerState" in path
    assert "StopInstance" in path  # it was stopped, and so had to be started again
    _rolled_back(ec2, instance_with_volumes, done.before)
    assert volumes_of(ec2, done.result) == []
    assert done.result.cause is not None
    assert "xvdg" in done.result.cause


def test_start_refused_after_swap_rolls_back_and_starts_on_original_volumes(
    engine: LocalEngine,
    ec2: EC2Client,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
) -> None:
    # GIVEN StartInstances refusing once (no capacity), after the volumes were swapped
    vss_set("set-1", hours_ago=1)
    engine.inject(Fault("ec2.StartInstances", code="InsufficientInstanceCapacity"))

    # WHEN the restore runs
    done = restore()

    # THEN it fails with StartFailed, and the instance runs again on its original volumes
    assert done.result.error == "StartFailed"
    _rolled_back(ec2, instance_with_volumes, done.before)


@pytest.mark.parametrize(
    "operation", ["ec2.AttachVolume", "ec2.DetachVolume", "ec2.StopInstances", "ec2.CreateVolume"]
)
def test_throttled_call_is_retried_and_the_restore_succeeds(
    engine: LocalEngine, vss_set: VssSetFactory, restore: RestoreRunner, operation: str
) -> None:
    # GIVEN one call answered with RequestLimitExceeded
    vss_set("set-1", hours_ago=1)
    fault = engine.inject(Fault(operation, code="RequestLimitExceeded"))

    # WHEN the restore runs
    done = restore()

    # THEN the task is retried and the restore completes
    assert fault.injected == 1
    assert done.report["Status"] == "Succeeded"


def test_create_volume_task_retried_after_success_creates_no_second_volume(
    engine: LocalEngine,
    ec2: EC2Client,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
) -> None:
    # GIVEN the second CreateVolume succeeds but its answer is lost, so the task is retried
    vss_set("set-1", hours_ago=1)
    fault = engine.inject(
        Fault("ec2.CreateVolume", code="InternalError", occurrence=2, applied=True)
    )

    # WHEN the restore runs
    done = restore()

    # THEN the retried task made no second volume: exactly one per device, all attached
    assert fault.injected == 1
    assert done.report["Status"] == "Succeeded"
    created = volumes_of(ec2, done.result)
    assert len(created) == 4
    assert sorted(attached(ec2, instance_with_volumes).values()) == sorted(
        v["VolumeId"] for v in created
    )
    assert engine.dispatcher is not None
    assert engine.dispatcher.invocations.count("vss-restore-create_volumes") == 2
    assert all(volume_exists(ec2, v) for v in done.before.volumes.values())


def _status_checks(state: str) -> Callable[..., None]:
    """An after-call hook that makes DescribeInstanceStatus report ``state`` for both checks."""

    def rewrite(parsed: dict[str, Any], **_: object) -> None:
        for status in parsed.get("InstanceStatuses", []):
            status["InstanceStatus"]["Status"] = state
            status["SystemStatus"]["Status"] = state

    return rewrite


def test_failed_status_checks_after_start_roll_back_to_the_original_volumes(
    engine: LocalEngine,
    ec2: EC2Client,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
) -> None:
    # GIVEN the instance comes up on the restored volumes with impaired status checks
    vss_set("set-1", hours_ago=1)
    engine.observe("after-call.ec2.DescribeInstanceStatus", _status_checks("impaired"))

    # WHEN the restore runs
    done = restore()

    # THEN StartFailed: it was stopped again, the originals put back, and it runs on them
    assert done.result.error == "StartFailed"
    assert done.result.cause is not None
    assert "impaired" in done.result.cause
    _rolled_back(ec2, instance_with_volumes, done.before)


def test_wait_past_its_limit_fails_with_wait_timed_out_and_rolls_back(
    ec2: EC2Client, instance_with_volumes: str, vss_set: VssSetFactory
) -> None:
    # GIVEN status checks that never finish initializing, a 1 s limit, and retries that really sleep
    from tests.integration.helpers import assert_invariants  # noqa: PLC0415
    from vss_restore.definition import Limits  # noqa: PLC0415

    vss_set("set-1", hours_ago=1)
    with LocalEngine(limits=Limits(StatusCheckTimeoutSeconds=1), time_scale=0.05) as slow:
        slow.observe("after-call.ec2.DescribeInstanceStatus", _status_checks("initializing"))
        before = InstanceState.capture(ec2, instance_with_volumes)
        request = {"InstanceId": instance_with_volumes}

        # WHEN the restore runs
        result = slow.run(request, timeout=60)

        # THEN WaitTimedOut, rolled back
        assert result.error == "WaitTimedOut"
        assert result.cause is not None
        assert "limit 1 s" in result.cause
        _rolled_back(ec2, instance_with_volumes, before)
        assert_invariants(ec2, before, result, request)


def test_rollback_step_failing_once_is_retried_and_completes(
    engine: LocalEngine,
    ec2: EC2Client,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
) -> None:
    # GIVEN a refused second attach, and the rollback's first detach (the 5th) throttled once
    vss_set("set-1", hours_ago=1)
    engine.inject(Fault("ec2.AttachVolume", code="InvalidParameterValue", occurrence=2))
    throttled = engine.inject(Fault("ec2.DetachVolume", code="RequestLimitExceeded", occurrence=5))

    # WHEN the restore runs
    done = restore()

    # THEN the throttled rollback step was retried and the rollback completed
    assert throttled.injected == 1
    assert done.result.error == "SwapFailed"
    assert done.result.cause is not None
    assert "RollbackFailed" not in done.result.cause
    _rolled_back(ec2, instance_with_volumes, done.before)


def test_rollback_that_cannot_complete_fails_with_rollback_failed_and_says_what_is_where(
    engine: LocalEngine, ec2: EC2Client, instance_with_volumes: str, vss_set: VssSetFactory
) -> None:
    # GIVEN the swap fails at the second attach and every later attach is denied
    from vss_restore import tags  # noqa: PLC0415

    vss_set("set-1", hours_ago=1)
    engine.inject(Fault("ec2.AttachVolume", code="InvalidParameterValue", occurrence=2))
    engine.inject(Fault("ec2.AttachVolume", code="UnauthorizedOperation", occurrence=3, times=100))
    before = InstanceState.capture(ec2, instance_with_volumes)

    # WHEN the restore runs
    result = engine.run({"InstanceId": instance_with_volumes})

    # THEN RollbackFailed; the cause names each device's state and the tagged leftovers
    assert result.error == "RollbackFailed"
    assert result.cause is not None
    for device, original in before.volumes.items():
        assert f"{device} holds" in result.cause
        assert f"original {original} is " in result.cause
    created = volumes_of(ec2, result)
    assert created
    for volume in created:
        assert volume["VolumeId"] in result.cause
        assert tags.tag_dict(volume["Tags"])[tags.STATUS] == tags.STATUS_CLEANUP_REQUIRED
    assert "Lock kept" in result.cause


class StaleReads:
    """EC2 reads lag writes: after the Nth AttachVolume, the next DescribeInstances omits that device."""

    def __init__(self, after_attach: int) -> None:
        self.after_attach = after_attach
        self.attaches = 0
        self.device: str | None = None
        self.served = False

    def params(self, params: dict[str, Any], **_: object) -> None:
        self.last_device = params.get("Device")

    def attached(self, **_: object) -> None:
        self.attaches += 1
        if self.attaches == self.after_attach:
            self.device = self.last_device

    def describe(self, parsed: dict[str, Any], **_: object) -> None:
        if self.device and not self.served:
            for reservation in parsed.get("Reservations", []):
                for instance in reservation["Instances"]:
                    instance["BlockDeviceMappings"] = [
                        m
                        for m in instance.get("BlockDeviceMappings", [])
                        if m["DeviceName"] != self.device
                    ]
            self.served = True


def test_rollback_completes_when_a_read_just_after_reattaching_is_stale(
    engine: LocalEngine,
    ec2: EC2Client,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
) -> None:
    # GIVEN a start refused after the swap, and the read after the rollback's first attach missing it
    vss_set("set-1", hours_ago=1)
    engine.inject(Fault("ec2.StartInstances", code="InsufficientInstanceCapacity"))
    stale = StaleReads(after_attach=5)  # 4 attaches in the swap, then the rollback's first
    engine.observe("provide-client-params.ec2.AttachVolume", stale.params)
    engine.observe("after-call.ec2.AttachVolume", stale.attached)
    engine.observe("after-call.ec2.DescribeInstances", stale.describe)

    # WHEN the restore runs
    done = restore()

    # THEN the stale read did not make the rollback attach twice and fail: it completed
    assert stale.served
    assert done.result.error == "StartFailed"
    _rolled_back(ec2, instance_with_volumes, done.before)


def test_a_stale_stopped_read_right_after_start_does_not_roll_back_a_good_restore(
    engine: LocalEngine, vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN the first read after StartInstances still says "stopped"
    vss_set("set-1", hours_ago=1)
    state = {"started": False, "served": False}

    def started(**_: object) -> None:
        state["started"] = True

    def describe(parsed: dict[str, Any], **_: object) -> None:
        if state["started"] and not state["served"]:
            for reservation in parsed.get("Reservations", []):
                for instance in reservation["Instances"]:
                    instance["State"] = {"Code": 80, "Name": "stopped"}
            state["served"] = True

    engine.observe("after-call.ec2.StartInstances", started)
    engine.observe("after-call.ec2.DescribeInstances", describe)

    # WHEN the restore runs
    done = restore()

    # THEN it waited through the stale read and succeeded
    assert state["served"]
    assert done.report["Status"] == "Succeeded"


def test_a_new_volume_not_yet_known_to_describe_is_waited_for_not_failed(
    engine: LocalEngine, vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN the first DescribeVolumes after CreateVolume does not know the new volumes yet:
    # by id it fails with InvalidVolume.NotFound, by filter it lists nothing (as EC2 may)
    from vss_restore.local.responses import error_answer  # noqa: PLC0415

    vss_set("set-1", hours_ago=1)
    state = {"created": False, "served": False}

    def created(**_: object) -> None:
        state["created"] = True

    def by_id(params: dict[str, Any], **_: object) -> HookAnswer | None:
        if (
            state["created"]
            and not state["served"]
            and any(k.startswith("VolumeId.") for k in params["body"])
        ):
            state["served"] = True
            return error_answer("InvalidVolume.NotFound", "The volume does not exist.")
        return None

    def by_filter(parsed: dict[str, Any], **_: object) -> None:
        if state["created"] and not state["served"]:
            parsed["Volumes"] = []
            state["served"] = True

    engine.observe("after-call.ec2.CreateVolume", created)
    engine.observe("before-call.ec2.DescribeVolumes", by_id)
    engine.observe("after-call.ec2.DescribeVolumes", by_filter)

    # WHEN the restore runs
    done = restore()

    # THEN the wait polled again instead of failing
    assert state["served"]
    assert done.report["Status"] == "Succeeded"


def test_a_lagging_pending_status_read_is_waited_for_not_failed(
    engine: LocalEngine, vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN the first DescribeInstanceStatus still reports the instance pending
    vss_set("set-1", hours_ago=1)
    state = {"served": False}

    def pending_once(parsed: dict[str, Any], **_: object) -> None:
        if not state["served"]:
            for status in parsed.get("InstanceStatuses", []):
                status["InstanceState"] = {"Code": 0, "Name": "pending"}
            state["served"] = True

    engine.observe("after-call.ec2.DescribeInstanceStatus", pending_once)

    # WHEN the restore runs
    done = restore()

    # THEN the status-check wait polled again and the restore succeeded
    assert state["served"]
    assert done.report["Status"] == "Succeeded"
