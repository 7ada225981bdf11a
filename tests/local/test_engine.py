"""LocalEngine: joining or starting the emulator, running executions, its clock, its cleanup."""

from __future__ import annotations

import itertools
import os
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)

from tests.conftest import NOW
from tests.integration.helpers import attached, snapshot_of_volume, volume_exists
from vss_restore.local import ExecutionTimeout, Fault, LocalEngine, world
from vss_restore.local.engine import STATE_MACHINE_NAME
from vss_restore.local.timing import TASK_POLL_FLOOR_SECONDS, ScaledRetryClock

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

REGION = "us-east-1"
SMALL = (world.Disk("/dev/sda1", size=30), world.Disk("xvdf", size=20))


def _restorable(ec2: EC2Client, az: str = world.DEFAULT_AZ) -> tuple[str, dict[str, str]]:
    """A running two-disk instance and one VSS set of it (device → snapshot id)."""
    instance_id = world.windows_instance(ec2, SMALL, az=az)
    snapshots = world.vss_snapshot_set(
        ec2, instance_id, taken_at=NOW - timedelta(hours=1), set_id="set-1"
    )
    return instance_id, snapshots


def test_engine_restores_resources_created_before_it_when_joining_an_active_mock() -> None:
    # GIVEN an emulator already running, holding an instance, its VSS set and a loose volume
    with mock_aws():
        outer = boto3.client("ec2", region_name=REGION)
        instance_id, snapshots = _restorable(outer)
        originals = attached(outer, instance_id)
        loose = outer.create_volume(AvailabilityZone=world.DEFAULT_AZ, Size=5)["VolumeId"]

        # WHEN the engine starts inside it and restores the instance
        with LocalEngine(region=REGION) as engine:
            inner = boto3.client("ec2", region_name=REGION)
            seen_inside = volume_exists(inner, loose)
            result = engine.run({"InstanceId": instance_id})

        # THEN the engine saw the earlier resources and restored them; after it exits the
        # outer emulator still holds everything, restored volumes included
        assert seen_inside
        assert result.status == "SUCCEEDED", result.cause
        now_attached = attached(outer, instance_id)
        assert set(now_attached) == set(originals)
        for device, snapshot_id in snapshots.items():
            assert now_attached[device] != originals[device]
            assert snapshot_of_volume(outer, now_attached[device]) == snapshot_id
        assert all(volume_exists(outer, v) for v in originals.values())
        assert volume_exists(outer, loose)


def test_engine_removes_its_hooks_when_it_exits_inside_an_active_mock() -> None:
    # GIVEN an emulator already running, and an engine that came and went inside it
    with mock_aws():
        with LocalEngine(region=REGION):
            pass

        # WHEN a fresh client sends the same ClientToken twice
        ec2 = boto3.client("ec2", region_name=REGION)
        first = ec2.create_volume(AvailabilityZone=world.DEFAULT_AZ, Size=5, ClientToken="t")
        second = ec2.create_volume(AvailabilityZone=world.DEFAULT_AZ, Size=5, ClientToken="t")

        # THEN the engine's fidelity rules are gone: plain moto makes two volumes
        assert first["VolumeId"] != second["VolumeId"]


def test_engine_run_returns_an_execution_result_when_started_standalone(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN an engine that started the emulator itself, and a restorable instance
    instance_id, snapshots = _restorable(ec2)

    # WHEN a restore is run
    result = engine.run({"InstanceId": instance_id})

    # THEN the result carries status, report, full history and the path through the states
    assert result.status == "SUCCEEDED", result.cause
    assert result.error is None
    assert result.cause is None
    assert result.execution_arn.startswith(
        f"arn:aws:states:{REGION}:123456789012:execution:{STATE_MACHINE_NAME}:{instance_id}-"
    )
    assert result.output is not None
    assert result.output["Status"] == "Succeeded"
    assert [v["Device"] for v in result.output["Volumes"]] == sorted(snapshots)
    assert result.history[0]["type"] == "ExecutionStarted"
    assert result.history[-1]["type"] == "ExecutionSucceeded"
    path = result.state_path()
    assert path[0] == "ValidateRequest"
    assert path[-1] == "Restored"
    assert {snapshot_of_volume(ec2, v) for v in attached(ec2, instance_id).values()} == set(
        snapshots.values()
    )


def _retry_gaps(history: list[dict[str, Any]]) -> list[float]:
    """Seconds between each failed Lambda attempt and the retry scheduled after it."""
    return [
        (later["timestamp"] - event["timestamp"]).total_seconds()
        for event, later in itertools.pairwise(history)
        if event["type"] == "LambdaFunctionFailed" and later["type"] == "LambdaFunctionScheduled"
    ]


def test_engine_run_raises_execution_timeout_when_execution_outlasts_timeout() -> None:
    # GIVEN retries that really sleep (time_scale > 0) and EC2 throttling every DescribeInstances
    with LocalEngine(region=REGION, time_scale=0.01) as engine:
        throttle = engine.inject(
            Fault("ec2.DescribeInstances", code="RequestLimitExceeded", times=1000)
        )
        started = time.monotonic()

        # WHEN a restore is run with no time to finish
        with pytest.raises(ExecutionTimeout, match="RUNNING"):
            engine.run({"InstanceId": "i-0123456789abcdef0"}, timeout=0, name="throttled")

        # THEN the execution was still running; it goes on retrying and then gives up
        sfn = boto3.client("stepfunctions", region_name=REGION)
        [execution] = sfn.list_executions(stateMachineArn=engine.state_machine_arn)["executions"]
        assert execution["name"] == "throttled"
        result = engine.wait(execution["executionArn"], timeout=30)
        elapsed = time.monotonic() - started
        assert result.status == "FAILED"
        assert result.error == "AwsRetriesExhausted"  # Ec2Throttled, retried out
        assert throttle.injected == 15  # first attempt and MaxAttempts (14) retries
        assert len(engine.clock.slept) == 14
        assert elapsed >= sum(engine.clock.slept) * 0.01
        # each retry waited its drawn interval, scaled (history timestamps are to the ms)
        assert len(_retry_gaps(result.history)) == 14
        for gap, interval in zip(_retry_gaps(result.history), engine.clock.slept, strict=True):
            assert gap >= interval * 0.01 - 0.002, (gap, interval)


def test_scaled_retry_clock_records_retry_interval_without_sleeping_when_time_scale_is_zero(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN the default time_scale 0, and one throttled AttachVolume
    instance_id, _ = _restorable(ec2)
    throttle = engine.inject(Fault("ec2.AttachVolume", code="RequestLimitExceeded"))

    # WHEN a restore is run
    result = engine.run({"InstanceId": instance_id})

    # THEN the task was retried once after a FULL-jitter draw from IntervalSeconds 1; the state
    # was entered once
    assert result.status == "SUCCEEDED", result.cause
    assert throttle.injected == 1
    assert len(engine.clock.slept) == 1
    assert 0 <= engine.clock.slept[0] <= 1
    assert result.state_path().count("AttachRestoredVolumes") == 1


def test_scaled_retry_clock_raises_value_error_when_time_scale_is_negative() -> None:
    # GIVEN / WHEN a clock that would run backwards
    # THEN it is refused, and so is an engine with it
    with pytest.raises(ValueError, match="time_scale"):
        ScaledRetryClock(-0.5)
    with pytest.raises(ValueError, match="time_scale"):
        LocalEngine(time_scale=-1)


def test_task_poll_pauses_for_real_when_the_clock_does_not_sleep() -> None:
    # GIVEN a clock that does not sleep (time scale 0)
    clock = ScaledRetryClock(0.0)
    started = time.monotonic()

    # WHEN a task pauses between two polls
    clock.task_sleep(10.0)

    # THEN the pause counts as asked, yet the task really yields (a task that follows other
    # executions must not spin while they run)
    assert clock.slept == [10.0]
    assert time.monotonic() - started >= TASK_POLL_FLOOR_SECONDS


class _StoppableEnv:
    """What moto's Wait state waits on: the execution's event, set when it stops."""

    def __init__(self, stopped: bool) -> None:
        self.program_state_event = threading.Event()
        if stopped:
            self.program_state_event.set()


def test_a_wait_state_is_scaled_and_cut_short_by_a_stop() -> None:
    # GIVEN a clock at a thousandth of real time, installed over moto's Wait state
    original = WaitFunction.__dict__["_wait_interval"]
    clock = ScaledRetryClock(0.001)
    clock.install()
    try:
        # WHEN a Wait state of 100 s runs, then one of a day in a stopped execution
        started = time.monotonic()
        WaitFunction._wait_interval(None, _StoppableEnv(stopped=False), 100)
        scaled = time.monotonic() - started
        started = time.monotonic()
        WaitFunction._wait_interval(None, _StoppableEnv(stopped=True), 86_400)
        stopped = time.monotonic() - started
    finally:
        clock.uninstall()

    # THEN both count as asked; the first paused 0.1 s at least, the second returned at once
    # (well before a day, scaled: 86 s); moto's own wait is back afterwards
    assert clock.slept == [100, 86_400]
    assert 0.1 <= scaled < 60
    assert stopped < 60
    assert WaitFunction.__dict__["_wait_interval"] is original


def test_engine_restores_moto_retry_clock_when_it_exits() -> None:
    # GIVEN moto's retrier sleeping on the time module
    assert retrier_decl.time is time

    # WHEN an engine runs and exits
    with LocalEngine(region=REGION) as engine:
        inside = retrier_decl.time

    # THEN inside it the retrier slept on the engine's clock; afterwards on time again
    assert inside is not time
    assert inside.sleep == engine.clock.sleep
    assert retrier_decl.time is time


def test_engine_restores_environment_when_it_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN no region or Powertools service name set, and a log level chosen by the caller
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")

    # WHEN an engine runs and exits
    with LocalEngine(region="eu-west-1"):
        inside = {
            k: os.environ.get(k)
            for k in ("AWS_DEFAULT_REGION", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL")
        }

    # THEN inside, it filled in what was missing and kept the caller's choice; afterwards
    # the environment is as it was
    assert inside == {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "POWERTOOLS_SERVICE_NAME": "vss-restore",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
    }
    assert "AWS_DEFAULT_REGION" not in os.environ
    assert "POWERTOOLS_SERVICE_NAME" not in os.environ
    assert os.environ["POWERTOOLS_LOG_LEVEL"] == "DEBUG"


def test_engine_restores_instance_in_its_own_region_when_environment_names_another_region() -> None:
    # GIVEN AWS_DEFAULT_REGION=us-east-1 in the environment (set for every test), an engine for
    # eu-west-1, and a restorable instance there
    assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
    with LocalEngine(region="eu-west-1") as engine:
        ec2 = boto3.client("ec2", region_name="eu-west-1")
        instance_id, snapshots = _restorable(ec2, az="eu-west-1a")

        # WHEN it is restored
        result = engine.run({"InstanceId": instance_id})

        # THEN the engine's tasks find it in the engine's region and restore it
        assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
        restored = attached(ec2, instance_id)
        assert {snapshot_of_volume(ec2, v) for v in restored.values()} == set(snapshots.values())


def test_engine_parses_its_definition_once_for_the_create_and_every_execution() -> None:
    # GIVEN an engine whose restore definition this process has never parsed (limits no
    # other test uses make the rendered text unique)
    from vss_restore.definition import Limits  # noqa: PLC0415
    from vss_restore.local.parse_cache import ParsedDefinitions  # noqa: PLC0415

    with LocalEngine(region=REGION, limits=Limits(VolumeWaitTimeoutSeconds=4321)) as engine:
        ec2 = boto3.client("ec2", region_name=REGION)
        instance_id, _ = _restorable(ec2)
        before = ParsedDefinitions.parses

        # WHEN the state machine is created and runs a restore and a dry run
        restored = engine.run({"InstanceId": instance_id})
        planned = engine.run({"InstanceId": instance_id, "DryRun": True})

    # THEN both executions succeeded, and the definition was parsed exactly once
    assert (restored.status, planned.status) == ("SUCCEEDED", "SUCCEEDED"), restored.cause
    assert ParsedDefinitions.parses - before == 1


def test_engine_still_refuses_an_unparsable_definition_every_time_it_is_created() -> None:
    # GIVEN the definition cache installed by an engine
    with LocalEngine(region=REGION):
        sfn = boto3.client("stepfunctions", region_name=REGION)
        role = "arn:aws:iam::123456789012:role/r"
        broken = '{"StartAt": "A", "States": {"A": {"Type": "NoSuchType", "End": true}}}'

        # WHEN a broken definition is created twice, THEN it is refused both times (a
        # failed parse is never cached as a success)
        for name in ("first", "second"):
            with pytest.raises(ClientError, match="ASLParserException"):
                sfn.create_state_machine(name=name, definition=broken, roleArn=role)


def test_engine_creates_no_state_machine_until_one_is_asked_for() -> None:
    # GIVEN an engine that has started
    with LocalEngine(region=REGION) as engine:
        sfn = boto3.client("stepfunctions", region_name=REGION)
        before = sfn.list_state_machines()["stateMachines"]

        # WHEN the fleet machine is first asked for
        fleet_arn = engine.fleet_state_machine_arn
        after = {m["name"] for m in sfn.list_state_machines()["stateMachines"]}

    # THEN nothing was parsed or created before, and the fleet brought the one machine it
    # starts (the restore machine: drills have a fleet machine of their own)
    assert before == []
    assert fleet_arn.endswith(":vss-restore-fleet")
    assert after == {STATE_MACHINE_NAME, "vss-restore-fleet"}


def test_a_request_runs_on_its_mode_s_machine() -> None:
    # GIVEN an engine / WHEN a drill's and a mount's dry runs are started by their requests
    with LocalEngine(region=REGION) as engine:
        drill = engine.start({"InstanceId": "i-0123456789abcdef0", "Mode": "Clone"})
        mount = engine.start({"InstanceId": "i-0123456789abcdef0", "Mode": "Mount"})
        restore = engine.start({"InstanceId": "i-0123456789abcdef0"})

    # THEN each went to its capability's machine
    assert ":execution:vss-restore-drill:" in drill
    assert ":execution:vss-restore-mount:" in mount
    assert f":execution:{STATE_MACHINE_NAME}:" in restore
