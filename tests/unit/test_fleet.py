"""Fleet planning: requests, waves, when to go on, and the report."""

from __future__ import annotations

import json

import pytest

from vss_restore.errors import InvalidRequest
from vss_restore.fleet import (
    fleet_report,
    next_step,
    outcome_of,
    parse_fleet_request,
    plan_waves,
    start_wave,
)

A, B, C, D = (f"i-0123456789abcdef{n}" for n in range(4))


def ok(instance: str) -> dict:
    return {"InstanceId": instance, "Status": "SUCCEEDED"}


def failed(instance: str) -> dict:
    return {"InstanceId": instance, "Status": "FAILED", "Error": "SwapFailed"}


def test_parse_splits_fleet_settings_from_restore_options() -> None:
    fleet, options = parse_fleet_request(
        {"Instances": [A, B], "MaxConcurrency": 5, "PowerOnAfterRestore": False}
    )

    assert fleet.instances == [A, B]
    assert fleet.max_concurrency == 5
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
    ],
)
def test_parse_names_the_bad_field(payload: object, field: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_fleet_request(payload)

    assert raised.value.field == field


def test_waves_must_cover_exactly_the_fleet() -> None:
    assert plan_waves([A, B, C], None) == [[A, B, C]]
    assert plan_waves([A, B, C], [[C], [A, B]]) == [[C], [A, B]]
    with pytest.raises(InvalidRequest, match=f"not in any wave: {C}"):
        plan_waves([A, B, C], [[A, B]])
    with pytest.raises(InvalidRequest, match=f"not in the fleet: {D}"):
        plan_waves([A, B, C], [[A, B, C, D]])
    with pytest.raises(InvalidRequest, match="matches no"):
        plan_waves([], None)


def test_next_wave_runs_until_all_are_done_or_too_many_failed() -> None:
    waves = [[A, B], [C], [D]]

    assert next_step(waves, [], 0) == "RunWave"
    assert next_step(waves, [ok(A), ok(B)], 0) == "RunWave"
    assert next_step(waves, [ok(A), failed(B)], 0) == "Stop"
    assert next_step(waves, [ok(A), failed(B)], 25) == "RunWave"  # 1 of 4 = 25 %
    assert next_step(waves, [ok(A), failed(B), failed(C)], 25) == "Stop"
    assert next_step(waves, [ok(A), ok(B), ok(C), ok(D)], 0) == "Report"


def test_start_wave_builds_the_restore_requests_of_the_next_wave() -> None:
    fleet = {
        "Waves": [[A, B], [C]],
        "Options": {"DryRun": True},
        "ToleratedFailurePercentage": 0,
        "Done": [ok(A), ok(B)],
    }

    state = start_wave(fleet)

    assert state["Next"] == "RunWave"
    assert state["CurrentWave"] == [{"InstanceId": C, "DryRun": True}]


def test_outcome_reads_the_child_execution_error_and_its_success() -> None:
    cause = json.dumps(
        {"ExecutionArn": "arn:x", "Error": "SwapFailed", "Cause": "SwapFailed: xvdf", "Input": {}}
    )
    assert outcome_of({"InstanceId": A, "Error": "States.TaskFailed", "Cause": cause}) == {
        "InstanceId": A,
        "Status": "FAILED",
        "Error": "SwapFailed",
        "Cause": "SwapFailed: xvdf",
        "ExecutionArn": "arn:x",
    }
    success = outcome_of(
        {
            "InstanceId": A,
            "ExecutionArn": "arn:y",
            "Output": {"InstanceId": A, "DowntimeSeconds": 9},
        }
    )
    assert success["Status"] == "SUCCEEDED"
    assert success["DowntimeSeconds"] == 9


def test_report_counts_and_names_what_never_started() -> None:
    report = fleet_report([[A, B], [C, D]], [ok(A), failed(B)], 0)

    assert report["Status"] == "Failed"
    assert report["Error"] == "FleetFailureThresholdExceeded"
    assert (report["Total"], report["Succeeded"], report["Failed"]) == (4, 1, 1)
    assert report["NotStarted"] == [C, D]
    assert f"{B}: SwapFailed" in report["Cause"]
    assert fleet_report([[A]], [ok(A)], 0)["Status"] == "Succeeded"
