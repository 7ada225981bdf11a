"""The fleet machine's tasks: ResolveFleet, and RunFleet and ReportFleet with ResolveFleet's
real output.

RunFleet starts executions of the machine that runs each instance's request (the restore
machine, or the drill machine for a fleet of drills), one turn of the machine's loop at a
time, until they have ended; ReportFleet reports them. Here
those machines are stand-ins that end at once, as a restore or a drill would, succeeded or
failed per instance: what RunFleet is tested for is which executions it starts, when, with
what input and name, and what it reports of their ends; the restore machine's own runs are
``tests/integration/test_fleet.py``'s.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from pydantic import ValidationError

from tests.handlers.conftest import CallTask
from tests.handlers.events import REGION
from tests.handlers.mode_events import (
    report_fleet,
    resolve_fleet,
    run_fleet,
    stand_in_definition,
)
from tests.handlers.mode_worlds import windows_server
from vss_restore.errors import InvalidRequest
from vss_restore.fleet import (
    FLEET_EVENT_DETAIL_TYPE,
    MAX_FLEET_SIZE,
    POLL_FLEET_SECONDS,
    child_name,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_stepfunctions import SFNClient

TIER = {"Key": "Tier", "Values": ["app"]}
RESTORED = {"SnapshotSetId": "set-1", "DowntimeSeconds": 42.0}
DRILLED = {"SnapshotSetId": "set-1", "RtoSeconds": 310.5, "CloneInstanceId": "i-0c10e0000000000aa"}


@pytest.fixture
def fleet(ec2: EC2Client) -> list[str]:
    """Three servers tagged Tier=app (sorted by id, as ResolveFleet lists them)."""
    servers = [windows_server(ec2, name=f"app{n}") for n in range(3)]
    ec2.create_tags(Resources=servers, Tags=[{"Key": "Tier", "Value": "app"}])
    return sorted(servers)


@pytest.fixture
def sfn() -> SFNClient:
    return boto3.client("stepfunctions", region_name=REGION)


def machines(sfn: SFNClient, failing: dict[str, tuple[str, str]] | None = None) -> dict[str, str]:
    """Stand-ins for each capability's machine: restores and drills that end at once,
    ``failing`` instances failing with (error, cause)."""
    role = "arn:aws:iam::123456789012:role/vss-restore-state-machine"

    def create(name: str, report: dict[str, Any]) -> str:
        definition = stand_in_definition(report, failing)
        return sfn.create_state_machine(name=name, definition=definition, roleArn=role)[
            "stateMachineArn"
        ]

    restore = create("restore-stand-in", RESTORED)
    return {"restore": restore, "drill": create("drill-stand-in", DRILLED), "mount": restore}


def started(sfn: SFNClient, machine: str) -> dict[str, dict[str, Any]]:
    """Name → input of every execution of ``machine``."""
    listed = sfn.list_executions(stateMachineArn=machine)["executions"]
    return {
        e["name"]: json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])
        for e in listed
    }


def follow(
    call_task: CallTask, resolved: dict[str, Any], arns: dict[str, str], timeout: float = 60
) -> dict[str, Any]:
    """The fleet machine's loop: RunFleet turns until all have ended, then ReportFleet.
    (The stand-ins end at once, but moto runs them on threads of its own.)"""
    deadline = time.monotonic() + timeout
    run = call_task("RunFleet", run_fleet(resolved, arns))
    while not run["Done"]:
        assert time.monotonic() < deadline, f"the fleet did not end: {run}"
        time.sleep(0.05)
        run = call_task("RunFleet", run_fleet(resolved, arns, run))
    report: dict[str, Any] = call_task("ReportFleet", report_fleet(resolved, arns))
    return report


# --- ResolveFleet ------------------------------------------------------------------------------


def test_resolve_fleet_plans_one_wave_of_the_tagged_instances_that_can_be_restored(
    call_task: CallTask, ec2: EC2Client, sfn: SFNClient, fleet: list[str]
) -> None:
    # GIVEN three tagged servers, a terminated one tagged too, and an untagged one
    gone = windows_server(ec2, name="gone")
    ec2.create_tags(Resources=[gone], Tags=[{"Key": "Tier", "Value": "app"}])
    ec2.terminate_instances(InstanceIds=[gone])
    windows_server(ec2, name="other")
    event = resolve_fleet({"TagFilter": TIER, "PowerOnAfterRestore": False})

    # WHEN the fleet is resolved
    resolved = call_task("ResolveFleet", event)

    # THEN one wave of the tagged running or stopped servers, every restore's options, the
    # defaults, and the fleet's execution (the restores' names derive from it)
    assert resolved == {
        "Waves": [fleet],
        "Options": {"PowerOnAfterRestore": False},
        "MaxConcurrency": 10,
        "ToleratedFailurePercentage": 0,
        "StartIntervalSeconds": 1.0,
        "Execution": event["Execution"],
    }
    # ... and nothing started
    assert sfn.list_state_machines()["stateMachines"] == []


def test_resolve_fleet_keeps_the_requests_waves_and_settings_for_a_fleet_of_drills(
    call_task: CallTask, fleet: list[str]
) -> None:
    # GIVEN a drill of each server, in two waves, two at a time, one failure tolerated in three
    waves = [[fleet[2]], [fleet[0], fleet[1]]]
    request = {
        "Instances": fleet,
        "Waves": waves,
        "MaxConcurrency": 2,
        "ToleratedFailurePercentage": 34,
        "StartIntervalSeconds": 0,
        "Mode": "Clone",
        "KeepClone": True,
    }

    # WHEN the fleet is resolved / THEN its plan is the request's
    resolved = call_task("ResolveFleet", resolve_fleet(request))
    assert (resolved["Waves"], resolved["Options"]) == (waves, {"Mode": "Clone", "KeepClone": True})
    assert (resolved["MaxConcurrency"], resolved["ToleratedFailurePercentage"]) == (2, 34)
    assert resolved["StartIntervalSeconds"] == 0


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        (None, "$"),
        ({"TagFilter": {"Key": "Tier", "Values": ["nothing-has-this"]}}, "TagFilter"),
        ({"TagFilter": TIER, "Waves": [["i-0123456789abcdef0"]]}, "Waves"),
        ({"TagFilter": TIER, "InstanceId": "i-0123456789abcdef0"}, "InstanceId"),
        ({"TagFilter": TIER, "Mode": "Clone", "StopServices": ["W3SVC"]}, "StopServices"),
        (
            {"TagFilter": TIER, "Mode": "Clone", "ValidationDocument": "AWS-RunPowerShellScript"},
            "ValidationDocument",
        ),
    ],
    ids=[
        "no-request",
        "no-match",
        "waves-not-the-fleet",
        "one-instance-field",
        "mode-field",
        "unvetted-document",
    ],
)
def test_resolve_fleet_fails_with_invalid_request_naming_the_field_and_starts_nothing(
    call_task: CallTask,
    sfn: SFNClient,
    fleet: list[str],
    request_fields: dict[str, Any] | None,
    field: str,
) -> None:
    # GIVEN the tagged fleet and a request it cannot run / WHEN it is resolved
    event = resolve_fleet(request_fields or {})
    if request_fields is None:
        del event["Request"]
    with pytest.raises(InvalidRequest) as refused:
        call_task("ResolveFleet", event)

    # THEN InvalidRequest names the field, and nothing started
    assert refused.value.field == field
    assert sfn.list_state_machines()["stateMachines"] == []


def test_resolve_fleet_refuses_a_plan_the_loop_cannot_follow_to_its_end(
    call_task: CallTask, sfn: SFNClient
) -> None:
    # GIVEN the largest fleet, one restore at a time, each waiting for its initialization
    instances = [f"i-{n:017x}" for n in range(MAX_FLEET_SIZE)]
    request = {"Instances": instances, "MaxConcurrency": 1, "WaitForInitialization": True}

    # WHEN it is resolved
    with pytest.raises(InvalidRequest) as refused:
        call_task("ResolveFleet", resolve_fleet(request))

    # THEN InvalidRequest names MaxConcurrency and the limit it passes, and nothing started
    assert refused.value.field == "MaxConcurrency"
    assert "history" in str(refused.value)
    assert sfn.list_state_machines()["stateMachines"] == []


# --- RunFleet ----------------------------------------------------------------------------------


def test_run_fleet_restores_each_instance_under_its_own_name_and_reports_every_end(
    call_task: CallTask, sfn: SFNClient, fleet: list[str]
) -> None:
    # GIVEN a resolved fleet whose second server's restore fails, one failure tolerated
    request = {"TagFilter": TIER, "ToleratedFailurePercentage": 34, "PowerOnAfterRestore": False}
    resolved = call_task("ResolveFleet", resolve_fleet(request))
    arns = machines(sfn, failing={fleet[1]: ("SnapshotSetNotFound", "no complete set")})

    # WHEN the fleet runs (RunFleet's turns until all have ended, then ReportFleet)
    report = follow(call_task, resolved, arns)

    # THEN each server's restore ran once, named from the fleet's execution, with the options
    names = {i: child_name(i, resolved["Execution"]) for i in fleet}
    assert started(sfn, arns["restore"]) == {
        names[i]: {"InstanceId": i, "PowerOnAfterRestore": False} for i in fleet
    }
    # ... and the report has every end: what succeeded and what failed with its error
    assert (report["Status"], report["Error"]) == ("Succeeded", None)
    assert (report["Total"], report["Succeeded"], report["Failed"]) == (3, 2, 1)
    by_instance = {line["InstanceId"]: line for line in report["Instances"]}
    assert by_instance[fleet[1]] == {
        "InstanceId": fleet[1],
        "Status": "FAILED",
        "Execution": names[fleet[1]],
        "Error": "SnapshotSetNotFound",
        "Cause": "no complete set",
    }
    for instance in (fleet[0], fleet[2]):
        assert by_instance[instance] == {
            "InstanceId": instance,
            "Status": "SUCCEEDED",
            "Execution": names[instance],
            **RESTORED,
        }


def test_run_fleet_starts_the_first_wave_up_to_max_concurrency_then_returns(
    call_task: CallTask, sfn: SFNClient, fleet: list[str]
) -> None:
    # GIVEN a fleet in two waves, one restore at a time
    waves = [[fleet[0], fleet[1]], [fleet[2]]]
    request = {"Instances": fleet, "Waves": waves, "MaxConcurrency": 1}
    resolved = call_task("ResolveFleet", resolve_fleet(request))
    arns = machines(sfn)

    # WHEN RunFleet takes its first turn
    run = call_task("RunFleet", run_fleet(resolved, arns))

    # THEN only the first wave's first restore started, and the turn ended without waiting
    # for it: the machine's Wait state waits, at least the loop's shortest pause
    assert list(started(sfn, arns["restore"])) == [child_name(fleet[0], resolved["Execution"])]
    assert (run["Done"], run["Progress"], run["Running"]) == (False, "R--", 1)
    assert run["WaitSeconds"] >= POLL_FLEET_SECONDS


def test_run_fleet_starts_no_later_wave_once_more_failed_than_tolerated(
    call_task: CallTask, sfn: SFNClient, fleet: list[str]
) -> None:
    # GIVEN a fleet in two waves whose first wave's restore fails, none tolerated
    request = {"Instances": fleet, "Waves": [[fleet[0]], [fleet[1], fleet[2]]]}
    resolved = call_task("ResolveFleet", resolve_fleet(request))
    arns = machines(sfn, failing={fleet[0]: ("SwapFailed", "xvdf: AttachVolume refused")})

    # WHEN the fleet runs
    report = follow(call_task, resolved, arns)

    # THEN the second wave never started, and the report says the fleet failed
    assert list(started(sfn, arns["restore"])) == [child_name(fleet[0], resolved["Execution"])]
    assert (report["Status"], report["Error"]) == ("Failed", "FleetFailureThresholdExceeded")
    assert report["NotStarted"] == [fleet[1], fleet[2]]
    assert f"{fleet[0]}: SwapFailed" in report["Cause"]


def test_run_fleet_reports_again_without_starting_anything_when_retried_after_the_end(
    call_task: CallTask, sfn: SFNClient, fleet: list[str]
) -> None:
    # GIVEN a fleet that has run to its end
    resolved = call_task("ResolveFleet", resolve_fleet({"Instances": fleet}))
    arns = machines(sfn)
    first = follow(call_task, resolved, arns)

    # WHEN the loop runs again from its start (a retry after a lost answer)
    again = follow(call_task, resolved, arns)

    # THEN it reads the same ends back, and started nothing more
    assert again == first
    assert len(started(sfn, arns["restore"])) == len(fleet)


def test_report_fleet_after_the_loop_failed_names_its_error_and_what_never_started(
    call_task: CallTask, sfn: SFNClient, fleet: list[str]
) -> None:
    # GIVEN a fleet, one restore at a time, whose loop failed after its first turn
    request = {"Instances": fleet, "MaxConcurrency": 1}
    resolved = call_task("ResolveFleet", resolve_fleet(request))
    arns = machines(sfn)
    call_task("RunFleet", run_fleet(resolved, arns))
    crash = {"Error": "Runtime.ExitError", "Cause": "RequestId: 1 Error: exited"}

    # WHEN ReportFleet runs on the loop's error
    report = follow_failed(call_task, resolved, arns, crash)

    # THEN the report failed with that error, has the started restore's end and lists the
    # servers never started
    assert (report["Status"], report["Error"]) == ("Failed", "Runtime.ExitError")
    assert "RequestId: 1 Error: exited" in report["Cause"]
    assert [line["InstanceId"] for line in report["Instances"]] == fleet[:1]
    assert report["NotStarted"] == fleet[1:]


def follow_failed(
    call_task: CallTask,
    resolved: dict[str, Any],
    arns: dict[str, str],
    error: dict[str, str],
    timeout: float = 60,
) -> dict[str, Any]:
    """ReportFleet after the loop failed, once the restore it started has ended."""
    deadline = time.monotonic() + timeout
    while True:
        report: dict[str, Any] = call_task("ReportFleet", report_fleet(resolved, arns, error))
        if report["Instances"]:
            return report
        assert time.monotonic() < deadline, f"no restore ended: {report}"
        time.sleep(0.05)


def test_report_fleet_publishes_the_fleets_outcome_without_its_per_instance_lines(
    call_task: CallTask, sfn: SFNClient, fleet: list[str]
) -> None:
    # GIVEN a rule that keeps the fleet events in a queue
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="fleet-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="fleets",
        EventPattern=json.dumps(
            {"source": ["vss-restore"], "detail-type": [FLEET_EVENT_DETAIL_TYPE]}
        ),
    )
    events.put_targets(Rule="fleets", Targets=[{"Id": "q", "Arn": queue_arn}])
    resolved = call_task("ResolveFleet", resolve_fleet({"Instances": fleet}))

    # WHEN the fleet runs to its end
    report = follow(call_task, resolved, machines(sfn))

    # THEN one event says how it ended, its totals, and nothing per instance
    (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    detail = json.loads(message["Body"])["detail"]
    assert detail == {k: v for k, v in report.items() if k != "Instances"}
    assert (detail["Status"], detail["Total"], detail["Succeeded"]) == ("Succeeded", 3, 3)


def test_run_fleet_runs_a_fleet_of_drills_on_the_drill_machine(
    call_task: CallTask, sfn: SFNClient, fleet: list[str]
) -> None:
    # GIVEN a resolved fleet of drills
    request = {"Instances": fleet, "Mode": "Clone", "KeepClone": True}
    resolved = call_task("ResolveFleet", resolve_fleet(request))
    arns = machines(sfn)

    # WHEN the fleet runs
    report = follow(call_task, resolved, arns)

    # THEN every drill ran on the drill machine, none on the restore machine, and the
    # report has each drill's RTO and clone
    assert started(sfn, arns["restore"]) == {}
    drills = started(sfn, arns["drill"])
    assert sorted(i["InstanceId"] for i in drills.values()) == fleet
    assert all(i["Mode"] == "Clone" for i in drills.values())
    assert [(line["RtoSeconds"], line["CloneInstanceId"]) for line in report["Instances"]] == [
        (DRILLED["RtoSeconds"], DRILLED["CloneInstanceId"])
    ] * len(fleet)


def test_run_fleet_refuses_an_event_without_its_machines_and_starts_nothing(
    call_task: CallTask, sfn: SFNClient, fleet: list[str]
) -> None:
    # GIVEN a resolved fleet, and RunFleet's event without the machines to start
    resolved = call_task("ResolveFleet", resolve_fleet({"Instances": fleet}))
    arns = machines(sfn)
    event = {k: v for k, v in run_fleet(resolved, arns).items() if k != "StateMachines"}

    # WHEN it runs / THEN it fails naming the missing field, and nothing started
    with pytest.raises((KeyError, ValidationError), match="StateMachines"):
        call_task("RunFleet", event)
    assert started(sfn, arns["restore"]) == {}
