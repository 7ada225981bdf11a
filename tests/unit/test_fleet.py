"""Fleet planning: requests, waves, child names, what starts next, and the report."""

from __future__ import annotations

import json

import pytest

from vss_restore.errors import InvalidRequest
from vss_restore.fleet import (
    CAUSE_IN_REPORT,
    DEFAULT_START_INTERVAL_SECONDS,
    MAX_FLEET_SIZE,
    STARTING_PER_POLL_SECONDS,
    FleetRun,
    child_name,
    child_request,
    execution_arn,
    fleet_report,
    outcome_of,
    parse_fleet_request,
    plan_waves,
    starts_per_poll,
)

A, B, C, D = (f"i-0123456789abcdef{n}" for n in range(4))


def ok(instance: str) -> dict[str, str]:
    return {"InstanceId": instance, "Status": "SUCCEEDED"}


def failed(instance: str) -> dict[str, str]:
    return {"InstanceId": instance, "Status": "FAILED", "Error": "SwapFailed"}


def test_parse_splits_fleet_settings_from_restore_options() -> None:
    fleet, options = parse_fleet_request(
        {"Instances": [A, B], "MaxConcurrency": 5, "PowerOnAfterRestore": False}
    )

    assert fleet.instances == [A, B]
    assert fleet.max_concurrency == 5
    assert fleet.start_interval_seconds == DEFAULT_START_INTERVAL_SECONDS
    assert options == {"PowerOnAfterRestore": False}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ("not an object", "$"),
        ({"Instances": [A, A]}, "$"),
        ({"Instances": [A], "Devices": ["xvdf"]}, "Devices"),
        ({"Instances": [A], "Waves": [[A], []]}, "$"),
        ({"Instances": [A], "Waves": [[A], [A]]}, "$"),
        ({"Instances": [A], "RestorePointInTime": "yesterday"}, "RestorePointInTime"),
        ({"Instances": [A], "Unknown": 1}, "Unknown"),
        ({"TagFilter": {"Key": "", "Values": ["x"]}}, "TagFilter.Key"),
        ({"Instances": [A], "StartIntervalSeconds": -1}, "StartIntervalSeconds"),
        ({"Instances": [A], "StartIntervalSeconds": 11}, "StartIntervalSeconds"),
        ({"Instances": [A], "SnapshotSetId": "set-a"}, "SnapshotSetId"),
        ({"Instances": [A, B], "SnapshotSets": {A: "set-a"}}, "SnapshotSets"),
        ({"Instances": [A], "SnapshotSets": {A: "set-a", B: "set-b"}}, "SnapshotSets"),
        (
            {
                "Instances": [A],
                "SnapshotSets": {A: "set-a"},
                "RestorePointInTime": "2026-12-01T00:00:00Z",
            },
            "RestorePointInTime",
        ),
    ],
)
def test_parse_names_the_bad_field(payload: object, field: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_fleet_request(payload)

    assert raised.value.field == field


def test_snapshot_sets_must_name_exactly_the_instances_a_tag_resolves_to() -> None:
    # GIVEN sets approved for A and B, by tag
    fleet, _ = parse_fleet_request(
        {"TagFilter": {"Key": "Tier", "Values": ["app"]}, "SnapshotSets": {A: "s-a", B: "s-b"}}
    )

    # WHEN the tag resolves to the approved instances, THEN nothing is refused
    fleet.check_snapshot_sets([B, A])
    # WHEN it also matches C, tagged since the approval, THEN the fleet is refused, naming C
    with pytest.raises(InvalidRequest, match=f"no set for: {C}") as raised:
        fleet.check_snapshot_sets([A, B, C])
    assert raised.value.field == "SnapshotSets"


def test_each_child_request_carries_its_instance_s_pinned_set_and_only_it() -> None:
    options = {"PowerOnAfterRestore": False, "SnapshotSets": {A: "set-a", B: "set-b"}}

    assert child_request(A, options) == {
        "InstanceId": A,
        "PowerOnAfterRestore": False,
        "SnapshotSetId": "set-a",
    }
    assert child_request(C, {"ExcludeBootVolume": True}) == {
        "InstanceId": C,
        "ExcludeBootVolume": True,
    }


def test_waves_must_cover_exactly_the_fleet() -> None:
    assert plan_waves([A, B, C], None) == [[A, B, C]]
    assert plan_waves([A, B, C], [[C], [A, B]]) == [[C], [A, B]]
    with pytest.raises(InvalidRequest, match=f"not in any wave: {C}"):
        plan_waves([A, B, C], [[A, B]])
    with pytest.raises(InvalidRequest, match=f"not in the fleet: {D}"):
        plan_waves([A, B, C], [[A, B, C, D]])
    with pytest.raises(InvalidRequest, match="matches no"):
        plan_waves([], None)


FLEET_EXECUTION = "arn:aws-cn:states:cn-north-1:123456789012:execution:vss-fleet:night-1"
RESTORE_MACHINE = "arn:aws-cn:states:cn-north-1:123456789012:stateMachine:vss-restore"
DRILL_MACHINE = "arn:aws-cn:states:cn-north-1:123456789012:stateMachine:vss-restore-drill"
MACHINES = {"restore": RESTORE_MACHINE, "drill": DRILL_MACHINE, "mount": "unused"}


def run_of(
    waves: list[list[str]], concurrency: int = 10, tolerated: float = 0, interval: float = 0
) -> FleetRun:
    fleet = {
        "Waves": waves,
        "Options": {"DryRun": True},
        "MaxConcurrency": concurrency,
        "ToleratedFailurePercentage": tolerated,
        "StartIntervalSeconds": interval,
        "Execution": FLEET_EXECUTION,
    }
    return FleetRun.of(fleet, MACHINES)


def test_child_name_is_the_same_for_a_fleet_execution_and_instance_and_differs_otherwise() -> None:
    # GIVEN / WHEN
    name = child_name(A, FLEET_EXECUTION)

    # THEN a retried start uses the same name; another fleet or instance another one
    assert name == child_name(A, FLEET_EXECUTION)
    assert name.startswith(f"{A}-")
    assert name != child_name(B, FLEET_EXECUTION)
    assert name != child_name(A, FLEET_EXECUTION + "x")
    assert len(child_name("i-0123456789abcdef0", "e" * 2000)) <= 80  # Step Functions' limit


def test_execution_arn_keeps_the_partition_of_the_state_machine() -> None:
    assert execution_arn(RESTORE_MACHINE, "n") == (
        "arn:aws-cn:states:cn-north-1:123456789012:execution:vss-restore:n"
    )


def test_to_start_fills_the_first_open_wave_up_to_max_concurrency() -> None:
    # GIVEN waves [A, B, C], [D], two at a time, A running
    run = run_of([[A, B, C], [D]], concurrency=2)
    run.running = {A}

    # WHEN / THEN one more of the first wave, never the second wave's
    assert run.to_start() == [B]
    run.running = {A, B}
    assert run.to_start() == []
    run.finished = {i: ok(i) for i in (A, B)}
    run.running = {C}
    assert run.to_start() == []  # D waits for C: its wave has not ended
    run.finished[C] = ok(C)
    run.running = set()
    assert run.to_start() == [D]


def test_to_start_starts_nothing_once_more_failed_than_tolerated() -> None:
    # GIVEN 4 instances, 25 % tolerated
    run = run_of([[A, B], [C, D]], tolerated=25)

    # WHEN / THEN one failure is tolerated, a second is not
    run.finished = {A: failed(A), B: ok(B)}
    assert run.to_start() == [C, D]
    run.finished = {A: failed(A), B: failed(B)}
    assert run.to_start() == []


def test_starts_per_poll_is_what_fits_in_one_reading_when_starts_are_spaced() -> None:
    assert starts_per_poll(0) == MAX_FLEET_SIZE  # no spacing: no limit but MaxConcurrency
    assert starts_per_poll(1.0) == 1 + int(STARTING_PER_POLL_SECONDS)
    assert starts_per_poll(10.0) == 1 + int(STARTING_PER_POLL_SECONDS // 10)
    assert (starts_per_poll(10.0) - 1) * 10.0 <= STARTING_PER_POLL_SECONDS


def test_to_start_starts_no_more_than_one_reading_allows_when_starts_are_spaced() -> None:
    # GIVEN a wave larger than one reading of the fleet may start, spaced 10 s apart
    wave = [f"i-{n:017x}" for n in range(3 * starts_per_poll(10.0))]
    run = run_of([wave], concurrency=100, interval=10.0)

    # WHEN / THEN the first reading starts the first ones; the rest wait for later readings
    assert run.to_start() == wave[: starts_per_poll(10.0)]
    run.running = set(wave[: starts_per_poll(10.0)])
    assert run.to_start() == wave[starts_per_poll(10.0) : 2 * starts_per_poll(10.0)]


@pytest.mark.parametrize(
    ("options", "machine"),
    [
        ({}, RESTORE_MACHINE),
        ({"Mode": "Online"}, RESTORE_MACHINE),
        ({"Mode": "Clone"}, DRILL_MACHINE),
    ],
)
def test_a_fleet_starts_its_requests_on_their_mode_s_machine(
    options: dict[str, str], machine: str
) -> None:
    fleet = {"Waves": [[A]], "Options": options, "MaxConcurrency": 1}
    fleet |= {"ToleratedFailurePercentage": 0, "Execution": FLEET_EXECUTION}
    assert FleetRun.of(fleet, MACHINES).restore_state_machine_arn == machine


def test_a_plan_without_a_start_interval_starts_without_pause() -> None:
    fleet = {"Waves": [[A]], "Options": {}, "MaxConcurrency": 1}
    fleet |= {"ToleratedFailurePercentage": 0, "Execution": FLEET_EXECUTION}
    assert FleetRun.of(fleet, MACHINES).start_interval == 0.0


def test_outcome_reads_the_child_execution_error_and_its_success() -> None:
    # GIVEN a failed and a succeeded child as DescribeExecution gives them
    long_cause = "rolled back: " + "x" * 1000
    failure = {"status": "FAILED", "error": "SwapFailed", "cause": long_cause}
    success = {
        "status": "SUCCEEDED",
        "output": json.dumps({"InstanceId": A, "DowntimeSeconds": 9, "Volumes": [{"a": 1}]}),
    }

    # WHEN
    failed_line = outcome_of(A, "n1", failure)
    ok_line = outcome_of(B, "n2", success)

    # THEN the failure's cause is cut short, the success keeps only its summary
    assert failed_line["Error"] == "SwapFailed"
    assert failed_line["Cause"].startswith("rolled back: ")
    assert len(failed_line["Cause"]) <= CAUSE_IN_REPORT + 3
    assert ok_line == {
        "InstanceId": B,
        "Status": "SUCCEEDED",
        "Execution": "n2",
        "DowntimeSeconds": 9,
    }
    assert outcome_of(C, "n3", {"status": "ABORTED"})["Error"] == "States.Aborted"


def test_report_counts_and_names_what_never_started() -> None:
    report = fleet_report([[A, B], [C, D]], {A: ok(A), B: failed(B)}, 0)

    assert report["Status"] == "Failed"
    assert report["Error"] == "FleetFailureThresholdExceeded"
    assert (report["Total"], report["Succeeded"], report["Failed"]) == (4, 1, 1)
    assert report["NotStarted"] == [C, D]
    assert f"{B}: SwapFailed" in report["Cause"]
    assert fleet_report([[A]], {A: ok(A)}, 0)["Status"] == "Succeeded"


# Step Functions' limit on a state's input or output.
STATE_DATA_LIMIT = 262_144


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED"])
def test_fleet_state_stays_under_the_limit_when_500_instances_end(status: str) -> None:
    # GIVEN the largest fleet, every restore ended with the longest line its report keeps:
    # a 16-volume restore's report, or a failure with a long cause
    instances = [f"i-{n:017x}" for n in range(MAX_FLEET_SIZE)]
    request = {"Instances": instances, "ToleratedFailurePercentage": 100}
    fleet = {
        "Waves": [instances],
        "Options": {},
        "MaxConcurrency": 100,
        "ToleratedFailurePercentage": 100,
        "Execution": FLEET_EXECUTION,
    }
    volumes = [
        {"Device": f"xvd{c}", "SnapshotId": "snap-" + "0" * 17, "NewVolumeId": "vol-" + "1" * 17}
        for c in "bcdefghijklmnopq"
    ]
    restore_report = {
        "InstanceId": instances[0],
        "SnapshotSetId": "{" + "f" * 36 + "}",
        "Status": "Succeeded",
        "Volumes": volumes,
        "StartedAt": "2026-12-01T14:54:05.123456+00:00",
        "FinishedAt": "2026-12-01T15:04:05.123456+00:00",
        "DowntimeSeconds": 312.5,
    }
    described = (
        {"status": "SUCCEEDED", "output": json.dumps(restore_report)}
        if status == "SUCCEEDED"
        else {"status": "FAILED", "error": "RollbackFailed", "cause": "c" * 32_768}
    )
    finished = {i: outcome_of(i, child_name(i, FLEET_EXECUTION), described) for i in instances}

    # WHEN ReportFleet reports: the state then holds the request, the fleet, the loop's last
    # turn (one character per instance) and the report
    run = FleetRun.of(fleet, MACHINES, "F" * len(instances))
    turn = {"Done": True, "Progress": run.progress(), "IdleCycles": 2_000, "WaitSeconds": 0}
    state = {
        **request,
        "Fleet": fleet,
        "Run": turn,
        "Report": fleet_report([instances], finished, 100),
    }

    # THEN it stays well under Step Functions' limit
    assert len(json.dumps(state).encode()) < STATE_DATA_LIMIT * 0.75
