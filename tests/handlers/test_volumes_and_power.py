"""CreateVolumes, the waits for volumes, stopping and starting the instance and the waits
for its power state, status checks and the volumes' initialization."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from tests.handlers.conftest import CallTask
from tests.handlers.emulator import AwsCalls, Emulator, Malformed, Shown, misplaced_refusals
from tests.handlers.events import REMOVED, now
from tests.handlers.in_place import InPlaceRun, Server, waits_until
from vss_restore import tags
from vss_restore.errors import (
    IncorrectState,
    InstanceNotRestorable,
    ResourceNotReady,
    RestoreError,
    StartFailed,
    VolumeCreationFailed,
)
from vss_restore.local import Fault, LocalEngine
from vss_restore.power import START_GRACE

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

pytestmark = pytest.mark.usefixtures("immediate_waits")


# --- CreateVolumes -------------------------------------------------------------------------


def test_create_volumes_creates_each_planned_volume_from_its_snapshot_as_the_plan_says(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a plan
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("PlanRestore")
    attached_before = aws.attached(server.instance_id)

    # WHEN CreateVolumes runs
    created = run.run("CreateVolumes")

    # THEN a volume per planned device, in the plan's order, each available as the spec
    # says, with the spec's tags and the user tags of the volume it replaces
    assert [c["Device"] for c in created] == [s.device for s in run.plan.volumes]
    for spec in run.plan.volumes:
        volume = aws.volume(run.created[spec.device])
        assert volume is not None
        assert volume["State"] == "available"
        assert volume["SnapshotId"] == spec.snapshot_id
        assert volume["AvailabilityZone"] == spec.availability_zone
        assert (volume["VolumeType"], volume["Size"]) == (spec.volume_type, spec.size)
        assert (volume.get("Iops"), volume.get("Throughput")) == (spec.iops, spec.throughput)
        made = tags.tag_dict(volume["Tags"])
        assert made.items() >= spec.tags.items()
        user = tags.user_tags(aws.volume_tags(spec.replaced_volume_id))
        assert user
        assert made.items() >= user.items()
    # AND the instance still holds its own volumes
    assert aws.attached(server.instance_id) == attached_before


def test_create_volumes_makes_no_second_volume_when_it_runs_again(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the volumes a first CreateVolumes made
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("CreateVolumes")
    first = run.created

    # WHEN the task runs again (a retry after a lost answer)
    run.run("CreateVolumes")

    # THEN it answers with the same volumes and made no others
    assert run.created == first
    assert sorted(v["VolumeId"] for v in aws.volumes_of(run.execution)) == sorted(first.values())


def test_create_volumes_fails_with_volume_creation_failed_naming_the_device_when_ec2_refuses(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN EC2 refuses every CreateVolume (the account's volume quota is reached)
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("PlanRestore")
    engine.inject(Fault("ec2.CreateVolume", code="VolumeLimitExceeded", permanent=True))
    before = aws.held()

    # WHEN CreateVolumes runs, THEN the named error says which device and snapshot
    root = run.plan.volumes[0]
    with pytest.raises(VolumeCreationFailed, match=f"{root.device}.*{root.snapshot_id}"):
        run.run("CreateVolumes")
    # AND nothing was created
    assert aws.held() == before


# --- WaitVolumesAvailable ------------------------------------------------------------------


def test_wait_volumes_available_waits_while_a_volume_is_creating_and_returns_once_available(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the volumes created, xvdf's still creating
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("CreateVolumes")
    shown = Shown.on(engine)
    shown.volume_states[run.created["xvdf"]] = "creating"

    # WHEN WaitVolumesAvailable runs while it creates, past its limit, and once it is available
    waited_for, output = waits_until(run, "WaitVolumesAvailable", shown.volume_states.clear)

    # THEN it names the volume it waits for, and then returns (its state passes Created on)
    assert f"xvdf {run.created['xvdf']} (creating)" in waited_for
    assert output is None


def test_wait_volumes_available_fails_with_volume_creation_failed_when_a_volume_ended_in_error(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the volumes created, xvdg's ended in error
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("CreateVolumes")
    Shown.on(engine).volume_states[run.created["xvdg"]] = "error"

    # WHEN WaitVolumesAvailable runs, THEN waiting cannot help: it names the volume
    with pytest.raises(VolumeCreationFailed, match=f"xvdg {run.created['xvdg']}"):
        run.run("WaitVolumesAvailable")


# --- StopInstance and WaitInstanceStopped --------------------------------------------------


def test_stop_instance_stops_a_running_instance_and_says_when_the_downtime_began(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a running server
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("ValidateRequest")
    asked_from = now()

    # WHEN StopInstance runs
    stop = run.run("StopInstance")

    # THEN the server is stopped, and the downtime the report measures begins now
    assert aws.power_state(server.instance_id) == "stopped"
    assert stop["WasRunning"] is True
    assert asked_from <= datetime.fromisoformat(stop["StopRequestedAt"]) <= now()


def test_stop_instance_leaves_a_stopped_instance_alone_and_says_it_was_not_running(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a stopped server
    server = Server.build(ec2, running=False)
    run = InPlaceRun.of(call_task, server).through("ValidateRequest")
    calls = AwsCalls(engine)

    # WHEN StopInstance runs
    with calls.recording():
        stop = run.run("StopInstance")

    # THEN it asks EC2 for no stop, and says there was no downtime to measure
    assert stop == {"WasRunning": False, "StopRequestedAt": None}
    assert "ec2.StopInstances" not in calls.made
    assert Emulator.of(ec2).power_state(server.instance_id) == "stopped"


def _shown_pending(engine: LocalEngine, instance_id: str) -> None:
    Shown.on(engine).instance_states[instance_id] = "pending"


def _stop_refused(engine: LocalEngine, instance_id: str) -> None:
    engine.inject(Fault("ec2.StopInstances", code="OperationNotPermitted", permanent=True))


@pytest.mark.parametrize(
    ("given", "error"),
    [(_shown_pending, IncorrectState), (_stop_refused, InstanceNotRestorable)],
    ids=["pending", "stop-refused"],
)
def test_stop_instance_raises_its_named_error_and_leaves_the_instance_running_when_it_cannot_stop(
    engine: LocalEngine,
    call_task: CallTask,
    ec2: EC2Client,
    given: Callable[[LocalEngine, str], None],
    error: type[RestoreError],
) -> None:
    # GIVEN an instance still pending (IncorrectState: retried), or one EC2 will not stop
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("ValidateRequest")
    given(engine, server.instance_id)

    # WHEN StopInstance runs, THEN its named error; the instance still runs
    with pytest.raises(error, match=server.instance_id):
        run.run("StopInstance")
    assert aws.power_state(server.instance_id) == "running"


def test_wait_instance_stopped_waits_while_the_instance_is_stopping(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a server asked to stop, still stopping
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("ValidateRequest")
    run.run("StopInstance")
    shown = Shown.on(engine)
    shown.instance_states[server.instance_id] = "stopping"

    # WHEN WaitInstanceStopped runs while it stops, past its limit, and once it is stopped
    waited_for, output = waits_until(run, "WaitInstanceStopped", shown.instance_states.clear)

    # THEN it says what it waits for, then returns
    assert waited_for == f"{server.instance_id} is stopping, not stopped"
    assert output is None


# --- StartInstance, WaitInstanceRunning, WaitStatusChecks ----------------------------------


def test_start_instance_starts_a_stopped_instance_and_says_when_it_asked(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a stopped server
    server = Server.build(ec2, running=False)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("ValidateRequest")
    asked_from = now()

    # WHEN StartInstance runs
    started = run.run("StartInstance")

    # THEN the server runs, and the task says when it asked
    assert aws.power_state(server.instance_id) == "running"
    assert asked_from <= datetime.fromisoformat(started["StartRequestedAt"]) <= now()


def test_start_instance_makes_no_call_to_start_an_instance_that_already_runs(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a running server
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("ValidateRequest")
    calls = AwsCalls(engine)

    # WHEN StartInstance runs
    with calls.recording():
        run.run("StartInstance")

    # THEN it asked EC2 for no start
    assert "ec2.StartInstances" not in calls.made
    assert Emulator.of(ec2).power_state(server.instance_id) == "running"


def _shown_stopping(engine: LocalEngine, instance_id: str) -> None:
    Shown.on(engine).instance_states[instance_id] = "stopping"


def _start_refused(engine: LocalEngine, instance_id: str) -> None:
    engine.inject(Fault("ec2.StartInstances", code="UnauthorizedOperation", permanent=True))


@pytest.mark.parametrize(
    ("given", "error"),
    [(_shown_stopping, IncorrectState), (_start_refused, StartFailed)],
    ids=["stopping", "start-refused"],
)
def test_start_instance_raises_its_named_error_and_leaves_the_instance_stopped_when_it_cannot_start(
    engine: LocalEngine,
    call_task: CallTask,
    ec2: EC2Client,
    given: Callable[[LocalEngine, str], None],
    error: type[RestoreError],
) -> None:
    # GIVEN a server still stopping (IncorrectState: retried), or one EC2 will not start
    server = Server.build(ec2, running=False)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("ValidateRequest")
    given(engine, server.instance_id)

    # WHEN StartInstance runs, THEN its named error; the server is still stopped
    with pytest.raises(error, match=server.instance_id):
        run.run("StartInstance")
    assert aws.power_state(server.instance_id) == "stopped"


def test_wait_instance_running_waits_while_pending_and_returns_when_it_ran(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a server just started, still pending
    server = Server.build(ec2, running=False)
    run = InPlaceRun.of(call_task, server).through("ValidateRequest")
    run.run("StartInstance")
    shown = Shown.on(engine)
    shown.instance_states[server.instance_id] = "pending"

    # WHEN WaitInstanceRunning runs while pending, past its limit, and once it runs
    waited_for, running = waits_until(run, "WaitInstanceRunning", shown.instance_states.clear)

    # THEN it says what it waits for, then when the instance ran
    assert waited_for == f"{server.instance_id} is pending"
    # The report measures the downtime up to RunningAt ($.Running).
    assert now() - datetime.fromisoformat(running["RunningAt"]) < timedelta(seconds=5)
    assert run.document["Running"] == running


@pytest.mark.parametrize(
    ("entered_ago", "error"),
    [(timedelta(0), ResourceNotReady), (START_GRACE + timedelta(seconds=1), StartFailed)],
    ids=["read-just-after-start", "after-the-grace"],
)
def test_wait_instance_running_takes_a_stopped_instance_for_a_failed_start_only_after_the_grace(
    engine: LocalEngine,
    call_task: CallTask,
    ec2: EC2Client,
    entered_ago: timedelta,
    error: type[RestoreError],
) -> None:
    # GIVEN an instance that reads stopped after StartInstance (a read that lags, or a start
    # that did not take)
    server = Server.build(ec2, running=False)
    run = InPlaceRun.of(call_task, server).through("ValidateRequest")
    Shown.on(engine).instance_states[server.instance_id] = "stopped"

    # WHEN WaitInstanceRunning runs that long after its state was entered
    # THEN it waits through the first seconds, then fails the start
    with pytest.raises(error, match=server.instance_id):
        run.run("WaitInstanceRunning", entered_ago=entered_ago)


def test_wait_status_checks_waits_while_they_initialize_and_returns_the_healthy_instances_volumes(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a running server whose status checks are initializing
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("ValidateRequest")
    shown = Shown.on(engine)
    shown.status_checks[server.instance_id] = ("initializing", "initializing")

    # WHEN WaitStatusChecks runs meanwhile, past its limit, and once both are ok
    waited_for, passed = waits_until(run, "WaitStatusChecks", shown.status_checks.clear)

    # THEN it says what it waits for, then when they passed and what the instance holds
    assert "system initializing, instance initializing" in waited_for
    assert now() - datetime.fromisoformat(passed["PassedAt"]) < timedelta(seconds=5)
    assert passed["Volumes"] == Emulator.of(ec2).attached(server.instance_id)


def _impaired(shown: Shown, instance_id: str) -> None:
    shown.status_checks[instance_id] = ("ok", "impaired")


def _stopped_again(shown: Shown, instance_id: str) -> None:
    shown.instance_states[instance_id] = "stopped"


@pytest.mark.parametrize("given", [_impaired, _stopped_again], ids=["impaired", "stopped"])
def test_wait_status_checks_fails_with_start_failed_when_a_check_is_impaired_or_it_stopped(
    engine: LocalEngine,
    call_task: CallTask,
    ec2: EC2Client,
    given: Callable[[Shown, str], None],
) -> None:
    # GIVEN a check reported impaired, or the instance stopped while they were awaited
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("ValidateRequest")
    given(Shown.on(engine), server.instance_id)

    # WHEN WaitStatusChecks runs, THEN waiting cannot help: StartFailed
    with pytest.raises(StartFailed, match=server.instance_id):
        run.run("WaitStatusChecks")


# --- WaitVolumesInitialized ----------------------------------------------------------------


def test_wait_volumes_initialized_waits_for_each_volume_still_loading_and_says_when_all_were(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN restored volumes: xvdf 40 % initialized, xvdg's progress not reported yet
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server, wait_for_initialization=True).through("CreateVolumes")
    shown = Shown.on(engine)
    shown.initialization.update({run.created["xvdf"]: 40, run.created["xvdg"]: None})

    # WHEN WaitVolumesInitialized runs meanwhile, past its limit, and once they are loaded
    waited_for, initialized = waits_until(run, "WaitVolumesInitialized", shown.initialization.clear)

    # THEN it names each volume and its progress, then says when all were initialized
    assert f"xvdf {run.created['xvdf']} (40%)" in waited_for
    assert f"xvdg {run.created['xvdg']} (progress not reported yet)" in waited_for
    assert "/dev/sda1" not in waited_for
    assert now() - datetime.fromisoformat(initialized["InitializedAt"]) < timedelta(seconds=5)


# --- malformed events ----------------------------------------------------------------------


def test_each_task_refuses_a_malformed_event_naming_the_field_before_any_aws_call(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the events a restore gives these tasks, each with one field as the workflow
    # never sends it
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("CreateVolumes")
    cases = [
        Malformed(
            "CreateVolumes",
            "Plan.Volumes.0.SnapshotId",
            REMOVED,
            ("Plan", "Volumes", 0, "SnapshotId"),
        ),
        Malformed("WaitVolumesAvailable", "TimeoutSeconds", "0", ("TimeoutSeconds",)),
        Malformed("WaitVolumesAvailable", "Created", REMOVED, ("Created",)),
        Malformed("StopInstance", "InstanceId", REMOVED, ("InstanceId",)),
        Malformed("WaitInstanceStopped", "EnteredTime", "2026-01-01T00:00:00", ("EnteredTime",)),
        Malformed("StartInstance", "InstanceId", None, ("InstanceId",)),
        Malformed("WaitInstanceRunning", "TimeoutSeconds", "ten minutes", ("TimeoutSeconds",)),
        Malformed("WaitStatusChecks", "EnteredTime", REMOVED, ("EnteredTime",)),
        Malformed(
            "WaitVolumesInitialized", "Created.0.VolumeId", REMOVED, ("Created", 0, "VolumeId")
        ),
    ]

    # WHEN each task gets its malformed event, THEN it refuses it before any AWS call,
    # its ValidationError naming the field
    assert misplaced_refusals(engine, call_task, run.event, cases) == []
