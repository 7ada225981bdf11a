"""Fleet restores: one child restore per instance, wave by wave, failures tolerated or not;
a stopped fleet or a retried start never aborts or doubles a restore."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tests.integration.helpers import STATE_DATA_LIMIT, largest_state_data
from vss_restore.fleet import EVENTS_PER_CYCLE, execution_arn
from vss_restore.local import LocalEngine, simulation, world
from vss_restore.local.engine import LOCK_TABLE_NAME
from vss_restore.local.faults import Fault
from vss_restore.local.invariants import InstanceState
from vss_restore.local.simulation import Simulation
from vss_restore.workflow.asl import STANDARD_RETRY

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.type_defs import ExecutionListItemTypeDef

HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)
TWO_DISKS = world.DEMO_DISKS[:2]


@pytest.fixture
def fleet(engine: LocalEngine) -> list[str]:
    """Four tagged servers with a VSS set each, except the third (it cannot be restored)."""
    ec2 = boto3.client("ec2", region_name=engine.region)
    instances = []
    for n in range(4):
        instance = world.windows_instance(ec2, TWO_DISKS, name=f"app{n}")
        ec2.create_tags(Resources=[instance], Tags=[{"Key": "Tier", "Value": "app"}])
        if n != 2:
            world.vss_snapshot_set(ec2, instance, taken_at=HOUR_AGO, set_id=f"set-{n}")
        instances.append(instance)
    return instances


def written_report(history: list[Any]) -> dict[str, Any]:
    """The report ReportFleet wrote (the state's output also when the fleet failed)."""
    return next(
        json.loads(e["stateExitedEventDetails"]["output"])["Report"]
        for e in reversed(history)
        if e["type"] == "TaskStateExited"
        and e["stateExitedEventDetails"]["name"].startswith("ReportFleet")
    )


def restorable(ec2: Any, count: int) -> list[str]:
    """``count`` servers of one disk, each with a VSS set."""
    servers = []
    for n in range(count):
        server = world.windows_instance(ec2, TWO_DISKS[:1], name=f"srv{n}")
        world.vss_snapshot_set(ec2, server, taken_at=HOUR_AGO, set_id=f"srv-{n}")
        servers.append(server)
    return servers


def started_order(engine: LocalEngine, report: dict[str, Any]) -> list[str]:
    sfn = boto3.client("stepfunctions", region_name=engine.region)
    starts = {
        line["InstanceId"]: sfn.describe_execution(
            executionArn=execution_arn(engine.state_machine_arn, line["Execution"])
        )["startDate"]
        for line in report["Instances"]
    }
    return sorted(starts, key=starts.__getitem__)


def test_fleet_restores_every_instance_and_tolerates_one_failure(
    engine: LocalEngine, ec2: Any, fleet: list[str]
) -> None:
    # GIVEN four servers by tag, one without snapshots, and 25 % tolerated failures
    before = {i: InstanceState.capture(ec2, i) for i in fleet}
    request = {"TagFilter": {"Key": "Tier", "Values": ["app"]}, "ToleratedFailurePercentage": 25}

    # WHEN the fleet is restored
    result = engine.run(request, timeout=120, machine="fleet")

    # THEN it succeeds with one failed instance, left untouched, and three restored
    assert result.status == "SUCCEEDED", result.cause
    assert largest_state_data(result.history) < STATE_DATA_LIMIT // 20
    report = result.output
    assert report is not None
    assert (report["Total"], report["Succeeded"], report["Failed"]) == (4, 3, 1)
    by_instance = {line["InstanceId"]: line for line in report["Instances"]}
    assert set(by_instance) == set(fleet)
    assert by_instance[fleet[2]]["Status"] == "FAILED"
    assert by_instance[fleet[2]]["Error"] == "SnapshotSetNotFound"
    assert InstanceState.capture(ec2, fleet[2]) == before[fleet[2]]
    for instance in (fleet[0], fleet[1], fleet[3]):
        assert by_instance[instance]["Status"] == "SUCCEEDED"
        now = world.attached(ec2, instance)
        assert set(now) == set(before[instance].volumes)
        assert not set(now.values()) & set(before[instance].volumes.values())


def test_waves_run_in_order_and_a_failed_wave_stops_the_next(
    engine: LocalEngine, ec2: Any, fleet: list[str]
) -> None:
    # GIVEN waves [0, 1], [2], [3] and no failure tolerated
    waves = [[fleet[0], fleet[1]], [fleet[2]], [fleet[3]]]
    before_last = InstanceState.capture(ec2, fleet[3])

    # WHEN the fleet is restored
    result = engine.run(
        {"Instances": fleet, "Waves": waves, "MaxConcurrency": 2}, timeout=120, machine="fleet"
    )

    # THEN wave 1 ran before wave 2, wave 2's failure stopped the fleet, wave 3 never started
    assert result.status == "FAILED"
    assert result.error == "FleetFailureThresholdExceeded"
    assert "1 of 4 restores failed" in (result.cause or "")
    assert f"not started: {fleet[3]}" in (result.cause or "")
    assert InstanceState.capture(ec2, fleet[3]) == before_last
    report = written_report(result.history)
    assert report["NotStarted"] == [fleet[3]]
    assert [line["InstanceId"] for line in report["Instances"]] == fleet[:3]


def test_waves_are_respected_in_order(engine: LocalEngine, fleet: list[str]) -> None:
    # GIVEN waves that run instance 3 first, then 0 and 1 (instance 2 is left out of the fleet)
    chosen = [fleet[3], fleet[0], fleet[1]]
    waves = [[fleet[3]], [fleet[0], fleet[1]]]

    # WHEN
    result = engine.run({"Instances": chosen, "Waves": waves}, timeout=120, machine="fleet")

    # THEN the first wave's restore started before any of the second's
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None
    order = started_order(engine, result.output)
    assert order[0] == fleet[3]
    assert set(order[1:]) == {fleet[0], fleet[1]}


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({}, "$"),
        ({"Instances": ["i-nothex"]}, "Instances"),
        ({"Instances": ["i-0123456789abcdef0"], "TagFilter": {"Key": "a", "Values": ["b"]}}, "$"),
        ({"Instances": ["i-0123456789abcdef0"], "SnapshotSetId": "x"}, "SnapshotSetId"),
        ({"Instances": ["i-0123456789abcdef0"], "MaxConcurrency": 0}, "MaxConcurrency"),
        ({"Instances": ["i-0123456789abcdef0"], "MaxConcurrency": 101}, "MaxConcurrency"),
        ({"Instances": ["i-0123456789abcdef0"], "ToleratedFailurePercentage": 101}, "Tolerated"),
        ({"Instances": ["i-0123456789abcdef0"], "Waves": [["i-0123456789abcdef1"]]}, "Waves"),
        ({"Instances": ["i-0123456789abcdef0"], "PowerOnAfterRestore": "yes"}, "PowerOn"),
        ({"TagFilter": {"Key": "Tier", "Values": ["nothing-has-this"]}}, "TagFilter"),
    ],
)
def test_bad_fleet_requests_are_rejected_before_any_restore_starts(
    engine: LocalEngine, fleet: list[str], request_fields: dict[str, Any], field: str
) -> None:
    result = engine.run(request_fields, timeout=60, machine="fleet")

    assert result.status == "FAILED"
    assert result.error == "InvalidRequest"
    assert field in (result.cause or "")
    sfn = boto3.client("stepfunctions", region_name=engine.region)
    assert sfn.list_executions(stateMachineArn=engine.state_machine_arn)["executions"] == []


def test_a_fleet_by_tag_is_refused_when_the_tag_matches_an_instance_not_approved(
    engine: LocalEngine, fleet: list[str]
) -> None:
    # GIVEN sets approved for three of the four tagged servers (the fourth tagged since)
    approved = {i: f"set-{n}" for n, i in enumerate(fleet[:3])}
    request = {"TagFilter": {"Key": "Tier", "Values": ["app"]}, "SnapshotSets": approved}

    # WHEN the fleet runs
    result = engine.run(request, timeout=60, machine="fleet")

    # THEN it is refused, naming the instance without an approved set, and nothing started
    assert (result.status, result.error) == ("FAILED", "InvalidRequest")
    assert f"no set for: {fleet[3]}" in (result.cause or "")
    sfn = boto3.client("stepfunctions", region_name=engine.region)
    assert sfn.list_executions(stateMachineArn=engine.state_machine_arn)["executions"] == []


def test_a_fleet_of_clone_drills_reports_each_clone_and_touches_no_source(
    engine: LocalEngine, ec2: Any, fleet: list[str]
) -> None:
    # GIVEN the tagged servers (one without snapshots) and an isolated subnet
    subnet, group = world.isolated_subnet(ec2)
    before = {i: InstanceState.capture(ec2, i) for i in fleet}

    # WHEN the scheduled game day's request runs: drills of every tagged server
    result = engine.run(
        {
            "TagFilter": {"Key": "Tier", "Values": ["app"]},
            "Mode": "Clone",
            "SubnetId": subnet,
            "SecurityGroupIds": [group],
            "ToleratedFailurePercentage": 100,
        },
        timeout=120,
        machine="fleet",
    )

    # THEN every server was drilled, the one without snapshots failed, and no source changed
    assert result.status == "SUCCEEDED", result.cause
    report = result.output
    assert report is not None
    by_instance = {line["InstanceId"]: line for line in report["Instances"]}
    assert by_instance[fleet[2]]["Error"] == "SnapshotSetNotFound"
    for instance in (fleet[0], fleet[1], fleet[3]):
        assert by_instance[instance]["Status"] == "SUCCEEDED"
        assert by_instance[instance]["CloneInstanceId"].startswith("i-")
        assert by_instance[instance]["RtoSeconds"] is not None
    assert {i: InstanceState.capture(ec2, i) for i in fleet} == before


def restores_of(engine: LocalEngine) -> list[ExecutionListItemTypeDef]:
    sfn = boto3.client("stepfunctions", region_name=engine.region)
    return list(sfn.list_executions(stateMachineArn=engine.state_machine_arn)["executions"])


def wait_for(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_stopping_the_fleet_lets_every_started_restore_finish(
    engine: LocalEngine, ec2: Any, fleet: list[str]
) -> None:
    # GIVEN a fleet of two restorable servers, both restores started
    servers = [fleet[0], fleet[1]]
    before = {i: InstanceState.capture(ec2, i) for i in servers}
    fleet_arn = engine.start({"Instances": servers, "MaxConcurrency": 2}, machine="fleet")
    wait_for(lambda: len(restores_of(engine)) == len(servers))

    # WHEN the fleet is stopped while they run
    sfn = boto3.client("stepfunctions", region_name=engine.region)
    sfn.stop_execution(executionArn=fleet_arn, error="Operator", cause="stopped by hand")

    # THEN each restore goes on to its own end: restored, and its lock released
    wait_for(lambda: all(e["status"] != "RUNNING" for e in restores_of(engine)), timeout=120)
    # The emulator shows ABORTED once the fleet's worker thread notices the stop, which on a
    # busy machine can come after the restores end: wait for it rather than race it.
    wait_for(lambda: sfn.describe_execution(executionArn=fleet_arn)["status"] != "RUNNING")
    assert sfn.describe_execution(executionArn=fleet_arn)["status"] == "ABORTED"
    ended = {
        e["name"]: sfn.describe_execution(executionArn=e["executionArn"])
        for e in restores_of(engine)
    }
    assert {
        n: (d["status"], d.get("error"), d.get("cause")) for n, d in ended.items()
    } == dict.fromkeys(ended, ("SUCCEEDED", None, None))
    for instance in servers:
        now = world.attached(ec2, instance)
        assert set(now) == set(before[instance].volumes)
        assert not set(now.values()) & set(before[instance].volumes.values())
    locks = boto3.client("dynamodb", region_name=engine.region).scan(TableName=LOCK_TABLE_NAME)
    assert locks["Items"] == []


def test_a_retried_run_fleet_starts_no_second_restore(
    engine: LocalEngine, fleet: list[str]
) -> None:
    # GIVEN RunFleet's Lambda dies right after its first StartExecution went through (the
    # first call of all starts the fleet itself)
    servers = [fleet[0], fleet[1]]
    crash = engine.inject(Fault("sfn.StartExecution", occurrence=2, crash=True))

    # WHEN the fleet runs (the state machine runs RunFleet again)
    result = engine.run({"Instances": servers}, timeout=120, machine="fleet")

    # THEN the retry found the restore already started: one restore per instance
    assert crash.injected == 1
    assert result.status == "SUCCEEDED", result.cause
    started = sorted(e["name"].rsplit("-", 1)[0] for e in restores_of(engine))
    assert started == sorted(servers)


def test_a_failing_fleet_waits_for_its_running_restores_and_reports_each(
    engine: LocalEngine, ec2: Any, fleet: list[str]
) -> None:
    # GIVEN three restores at once, one of which (no snapshots) fails; no failure tolerated
    servers = fleet[:3]
    before = {i: InstanceState.capture(ec2, i) for i in servers}

    # WHEN the fleet runs
    result = engine.run({"Instances": servers, "MaxConcurrency": 3}, timeout=120, machine="fleet")

    # THEN it fails only after the other two have ended, and its report says how each ended
    assert result.status == "FAILED"
    assert result.error == "FleetFailureThresholdExceeded"
    report = written_report(result.history)
    statuses = {line["InstanceId"]: line["Status"] for line in report["Instances"]}
    assert statuses == {fleet[0]: "SUCCEEDED", fleet[1]: "SUCCEEDED", fleet[2]: "FAILED"}
    assert {e["status"] for e in restores_of(engine)} == {"SUCCEEDED", "FAILED"}
    for instance in (fleet[0], fleet[1]):
        assert set(world.attached(ec2, instance).values()).isdisjoint(
            before[instance].volumes.values()
        )


def test_a_fleet_succeeds_when_its_burst_overruns_ec2s_describe_bucket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN simulation mode with an account whose describe bucket holds 20 calls and refills
    # 4 a second, and ten servers restored at once: per server, what AWS's bucket (100, 20 a
    # second) gives a fleet of fifty
    monkeypatch.setitem(simulation.BUCKETS, "describe", (20, 4))
    with LocalEngine(simulation=Simulation(seed=0)) as engine:
        world.fix_ids(0)  # the same ids, hence the same draws, on every run
        ec2 = boto3.client("ec2", region_name=engine.region)
        servers = []
        for n in range(10):
            server = world.windows_instance(ec2, TWO_DISKS[:1], name=f"burst{n}")
            world.vss_snapshot_set(ec2, server, taken_at=HOUR_AGO, set_id=f"burst-{n}")
            servers.append(server)
        before = {i: InstanceState.capture(ec2, i) for i in servers}

        # WHEN the fleet restores them, all allowed to run at once
        result = engine.run(
            {"Instances": servers, "MaxConcurrency": 10}, timeout=3600, machine="fleet"
        )

        # THEN EC2 throttled the fleet's calls, yet every restore succeeded and swapped
        assert engine.simulated is not None
        assert engine.simulated.throttled > 0
        assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
        restores = restores_of(engine)
        assert len(restores) == len(servers)
        assert {e["status"] for e in restores} == {"SUCCEEDED"}
        for server in servers:
            assert set(world.attached(ec2, server).values()).isdisjoint(
                before[server].volumes.values()
            )


def test_a_stopped_fleet_starts_no_restore_after_the_stop(engine: LocalEngine, ec2: Any) -> None:
    # GIVEN four servers, one restore at a time, the fleet stopped as soon as the first
    # restore exists (the other three still queued)
    servers = restorable(ec2, 4)
    fleet_arn = engine.start({"Instances": servers, "MaxConcurrency": 1}, machine="fleet")
    wait_for(lambda: len(restores_of(engine)) >= 1)
    sfn = boto3.client("stepfunctions", region_name=engine.region)

    # WHEN the fleet is stopped
    sfn.stop_execution(executionArn=fleet_arn, error="Operator", cause="stopped by hand")

    # THEN once it and its restores have ended, none of them started after the stop: the
    # restore under way finished, the queued servers were never started
    wait_for(lambda: sfn.describe_execution(executionArn=fleet_arn)["status"] != "RUNNING")
    wait_for(lambda: all(e["status"] != "RUNNING" for e in restores_of(engine)), timeout=120)
    stopped = sfn.describe_execution(executionArn=fleet_arn)
    assert stopped["status"] == "ABORTED"
    late = [e["name"] for e in restores_of(engine) if e["startDate"] > stopped["stopDate"]]
    assert late == []
    assert len(restores_of(engine)) < len(servers)
    assert {e["status"] for e in restores_of(engine)} == {"SUCCEEDED"}


def test_a_crash_in_each_turn_of_the_loop_does_not_fail_the_fleet(
    engine: LocalEngine, ec2: Any
) -> None:
    # GIVEN seven servers, one restore at a time, and RunFleet's Lambda dying right after
    # each of its StartExecution calls went through: seven crashes, more than one state's
    # retries allow (the first StartExecution of all starts the fleet itself; a retried turn
    # finds its restore running and starts nothing)
    servers = restorable(ec2, 7)
    crashes = [
        engine.inject(Fault("sfn.StartExecution", occurrence=2 + n, crash=True))
        for n in range(len(servers))
    ]
    retries = next(r for r in STANDARD_RETRY if "Runtime.ExitError" in r.errors)
    assert len(crashes) > retries.attempts

    # WHEN the fleet runs
    result = engine.run({"Instances": servers, "MaxConcurrency": 1}, timeout=300, machine="fleet")

    # THEN each crash was retried in its own turn, and every server was restored once
    assert [c.injected for c in crashes] == [1] * len(servers)
    assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
    started = sorted(e["name"].rsplit("-", 1)[0] for e in restores_of(engine))
    assert started == sorted(servers)
    # ... and each turn of the loop wrote the events the history budget counts on
    assert turn_lengths(result.history) == {EVENTS_PER_CYCLE}


def turn_lengths(history: list[Any]) -> set[int]:
    """Events from one RunFleet entry to the next, for the turns without a retry."""
    entered = [
        n
        for n, e in enumerate(history)
        if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "RunFleet"
    ]
    failed = {n for n, e in enumerate(history) if e["type"] == "LambdaFunctionFailed"}
    return {b - a for a, b in itertools.pairwise(entered) if not any(a < f < b for f in failed)}


def test_a_fleet_whose_loop_fails_writes_its_report_then_fails_with_the_loops_error(
    engine: LocalEngine, ec2: Any
) -> None:
    # GIVEN three servers, one restore at a time, and Step Functions refusing RunFleet the
    # second restore's start (an error no Retry takes; the first call starts the fleet)
    servers = restorable(ec2, 3)
    engine.inject(Fault("sfn.StartExecution", code="AccessDeniedException", occurrence=3))

    # WHEN the fleet runs
    result = engine.run({"Instances": servers, "MaxConcurrency": 1}, timeout=300, machine="fleet")

    # THEN it failed with the loop's error, after writing a report of what started, what
    # ended and what never started
    assert result.status == "FAILED"
    report = written_report(result.history)
    assert result.error == report["Error"]
    assert "AccessDeniedException" in (result.cause or "")
    assert [(line["InstanceId"], line["Status"]) for line in report["Instances"]] == [
        (servers[0], "SUCCEEDED")
    ]
    assert report["NotStarted"] == servers[1:]
    assert f"not started: {', '.join(servers[1:])}" in (result.cause or "")
