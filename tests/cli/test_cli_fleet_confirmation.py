"""``fleet-restore``'s confirmation (every instance, its Name, set and loss; a typed count for
large fleets), the sets it pins reaching each restore, and fleets in status and history."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tests.cli.conftest import DEMO_INSTANCE, LATEST_COMPLETE_SET
from vss_restore import demo
from vss_restore.cli import commands
from vss_restore.cli.fleet_confirmation import NAME_WIDTH, TYPED_ABOVE, fleet_approval
from vss_restore.cli.target import FLEET_STATE_MACHINE_ARN_ENV, CliError, Target
from vss_restore.fleet import execution_arn
from vss_restore.local import LocalEngine, world

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

LONG_NAME = "payroll-database-primary-eu"  # longer than the Name column
TIER = ("Tier", "payroll")


@pytest.fixture
def at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands, "_interactive", lambda: True)


@pytest.fixture
def large_fleet(
    engine: LocalEngine,
    monkeypatch: pytest.MonkeyPatch,
    deployed_demo_server: tuple[EC2Client, str],
) -> list[str]:
    """The demo server and more servers, past the typed-count threshold, tagged ``TIER``,
    the first extra one with a long Name; the deployed fleet machine named."""
    ec2, instance = deployed_demo_server
    monkeypatch.setenv(FLEET_STATE_MACHINE_ARN_ENV, engine.fleet_state_machine_arn)
    servers = [instance]
    for n in range(TYPED_ABOVE + 1):
        server = world.windows_instance(
            ec2, world.DEMO_DISKS[:2], name=LONG_NAME if n == 0 else f"pay{n:02d}"
        )
        world.vss_snapshot_set(
            ec2, server, taken_at=datetime.now(UTC) - timedelta(hours=3), set_id=f"set-{n}"
        )
        servers.append(server)
    ec2.create_tags(Resources=servers, Tags=[{"Key": TIER[0], "Value": TIER[1]}])
    return servers


def _rows(question: str, instance: str) -> tuple[str, str]:
    """The instance's two lines of the table: id, Name, when taken, loss; then its set."""
    lines = question.splitlines()
    index = next(n for n, line in enumerate(lines) if line.startswith(f"  {instance} "))
    return lines[index], lines[index + 1]


def _table(stderr: str) -> list[str]:
    """The lines shown above the prompt (the test's input is not echoed after it)."""
    shown = re.split(r"\n(?:Type |Restore exactly these\?)", stderr, maxsplit=1)[0]
    return shown.splitlines()


@pytest.mark.usefixtures("at_a_terminal")
def test_confirmation_shows_each_instance_its_name_set_and_what_is_lost_within_80_columns(
    cli: Any,
) -> None:
    # WHEN the demo fleet (three running servers) is to be restored, and the answer is no
    outcome = cli("--local", "fleet-restore", "--tag", "Fleet=demo", stdin="n\n")

    # THEN nothing started
    assert outcome.exit_code == 2
    assert "Not confirmed: nothing was changed." in outcome.stderr
    assert "Started" not in outcome.stderr
    # AND each server has its line: id whole, Name tag, when its set was taken, what is lost;
    # and under it the set that will be restored and what happens to the server
    question = outcome.stderr
    first, second = _rows(question, DEMO_INSTANCE)
    assert " web01 " in first
    assert first.endswith("1 d 0 h LOST")  # the demo's latest complete set is a day old
    assert second.split() == ["set", LATEST_COMPLETE_SET, "running:", "STOPPED,", "then", "started"]
    for name in ("app01", "app02"):
        line = next(row for row in question.splitlines() if f" {name} " in row)
        instance = line.split()[0]
        assert re.fullmatch(r"i-[0-9a-f]{17}", instance)
        assert _rows(question, instance)[1].split()[0:1] == ["set"]
    # AND the totals say how many servers are stopped; no line is wider than 80 columns
    assert "3 restored; 3 running now will be STOPPED" in question
    assert max(len(line) for line in _table(question)) <= 80


@pytest.mark.usefixtures("at_a_terminal")
def test_a_large_fleet_lists_every_instance_and_a_wrong_count_starts_nothing(
    cli: Any, engine: LocalEngine, large_fleet: list[str]
) -> None:
    # WHEN a fleet larger than the threshold is to be restored and a wrong count is typed
    count = len(large_fleet)
    outcome = cli("fleet-restore", "--tag", "=".join(TIER), stdin=f"{count - 1}\n")

    # THEN it asked for the count, and nothing started
    assert f"Type {count} (the number of instances)" in outcome.stderr
    assert outcome.exit_code == 2
    assert "Not confirmed: nothing was changed." in outcome.stderr
    sfn = boto3.client("stepfunctions", region_name=engine.region)
    assert sfn.list_executions(stateMachineArn=engine.fleet_state_machine_arn)["executions"] == []
    assert sfn.list_executions(stateMachineArn=engine.state_machine_arn)["executions"] == []
    # AND every instance was listed, whole, within 80 columns; the long Name was shortened
    lines = outcome.stderr.splitlines()
    for server in large_fleet:
        assert any(line.startswith(f"  {server}  ") for line in lines)
    assert f" {LONG_NAME[: NAME_WIDTH - 1]}… " in outcome.stderr
    assert max(len(line) for line in _table(outcome.stderr)) <= 80


@pytest.mark.usefixtures("at_a_terminal")
def test_a_large_fleet_starts_with_the_count_typed_and_every_set_shown_pinned(
    cli: Any, monkeypatch: pytest.MonkeyPatch, large_fleet: list[str]
) -> None:
    # GIVEN the fleet's start recorded (and stopped there: what matters is what it asks for)
    started: list[dict[str, Any]] = []

    def start_fleet(_self: Target, request: dict[str, Any]) -> str:
        started.append(request)
        raise CliError("stopped by the test before starting", 1)

    monkeypatch.setattr(Target, "start_fleet", start_fleet)

    # WHEN the right count is typed
    outcome = cli("fleet-restore", "--tag", "=".join(TIER), stdin=f"{len(large_fleet)}\n")

    # THEN the fleet was started with each instance's set, as the table showed it
    assert outcome.exit_code == 1, outcome.stderr
    assert [r["TagFilter"]["Values"] for r in started] == [[TIER[1]]]
    pinned = started[0]["SnapshotSets"]
    assert sorted(pinned) == sorted(large_fleet)
    for server, snapshot_set in pinned.items():
        assert _rows(outcome.stderr, server)[1].split()[:2] == ["set", snapshot_set]


def test_each_restore_of_the_fleet_restores_the_set_approved_not_a_newer_one(
    cli: Any,
    engine: LocalEngine,
    monkeypatch: pytest.MonkeyPatch,
    deployed_demo_server: tuple[EC2Client, str],
) -> None:
    # GIVEN the demo fleet, and a newer complete set of each server that completes after
    # the confirmation was shown and before the fleet starts
    ec2, instance = deployed_demo_server
    servers = demo.seed_fleet(ec2, datetime.now(UTC), instance)
    monkeypatch.setenv(FLEET_STATE_MACHINE_ARN_ENV, engine.fleet_state_machine_arn)
    start = Target.start_fleet

    def newer_sets_then_start(self: Target, request: dict[str, Any]) -> str:
        for n, server in enumerate(servers):
            world.vss_snapshot_set(ec2, server, taken_at=datetime.now(UTC), set_id=f"newer-{n}")
        return start(self, request)

    monkeypatch.setattr(Target, "start_fleet", newer_sets_then_start)

    # WHEN the fleet is restored
    outcome = cli("fleet-restore", "--tag", "Fleet=demo", "--yes", "--wait")

    # THEN each restore was asked for, and restored, the set approved
    assert outcome.exit_code == 0, outcome.stderr
    approved = dict(re.findall(r"^  (i-[0-9a-f]+) (\S+)$", outcome.stderr, re.MULTILINE))
    assert sorted(approved) == sorted(servers)
    assert approved[instance] == LATEST_COMPLETE_SET
    sfn = boto3.client("stepfunctions", region_name=engine.region)
    for line in outcome.json["Report"]["Instances"]:
        assert line["SnapshotSetId"] == approved[line["InstanceId"]]
        child = sfn.describe_execution(
            executionArn=execution_arn(engine.state_machine_arn, line["Execution"])
        )
        assert json.loads(child["input"])["SnapshotSetId"] == approved[line["InstanceId"]]


def test_a_local_fleet_is_kept_and_shown_by_status_and_history(cli: Any) -> None:
    # GIVEN a fleet restored locally (its emulator is gone once the command ends)
    restored = cli("--local", "fleet-restore", "--tag", "Fleet=demo", "--yes", "--wait")
    assert restored.exit_code == 0, restored.stderr
    name = restored.json["Name"]
    restores = {line["InstanceId"]: line for line in restored.json["Report"]["Instances"]}

    # WHEN later commands ask for it
    status = cli("--local", "status", name)
    fleets = cli("--local", "history", "--fleets")
    table = cli("--local", "--output", "table", "history", "--fleets")
    of_demo = cli("--local", "history", "--instance-id", DEMO_INSTANCE)

    # THEN status has the fleet's report
    assert status.exit_code == 0, status.stderr
    assert (status.json["Name"], status.json["Status"]) == (name, "SUCCEEDED")
    assert status.json["Report"]["Succeeded"] == 3
    # AND history lists the fleet, with the sets it pinned, and each restore it ran
    assert fleets.exit_code == 0, fleets.stderr
    [entry] = fleets.json["Fleets"]
    assert (entry["Name"], entry["Status"], entry["Total"]) == (name, "SUCCEEDED", 3)
    assert entry["SnapshotSets"] == {i: r["SnapshotSetId"] for i, r in restores.items()}
    assert name in table.stdout
    assert "3 of 3, 0 failed" in table.stdout
    executions = [r["Name"] for r in of_demo.json["Restores"]]
    assert restores[DEMO_INSTANCE]["Execution"] in executions


def _ec2_refusing(code: str) -> tuple[Any, Stubber]:
    """An EC2 client whose DescribeInstances fails with ``code``."""
    ec2 = boto3.client("ec2", region_name="us-east-1")
    stubber = Stubber(ec2)
    stubber.add_client_error("describe_instances", service_error_code=code)
    return ec2, stubber


def test_a_caller_not_allowed_to_read_ec2_is_asked_without_the_sets_and_told_so() -> None:
    # GIVEN EC2 refusing to describe the fleet's instance: no permission
    ec2, stubber = _ec2_refusing("UnauthorizedOperation")
    request = {"Instances": [DEMO_INSTANCE]}

    # WHEN the fleet's question is made
    with stubber:
        approval = fleet_approval(ec2, request, datetime.now(UTC))

    # THEN it says the sets could not be read, and the request is left as given
    assert "could not be read" in approval.question
    assert approval.request == request


def test_a_read_throttled_past_its_retries_ends_the_command_before_anything_is_asked() -> None:
    # GIVEN EC2 throttling the fleet's reads past botocore's retries
    ec2, stubber = _ec2_refusing("RequestLimitExceeded")

    # WHEN the fleet's question is made, THEN the failure ends the command (nothing unpinned
    # is asked or started)
    with stubber, pytest.raises(ClientError):
        fleet_approval(ec2, {"Instances": [DEMO_INSTANCE]}, datetime.now(UTC))
