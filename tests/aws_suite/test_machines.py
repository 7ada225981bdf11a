"""How the acceptance suite starts and follows executions, on the emulator's deployed machines."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from acceptance.executions import Machines
from tests.conftest import REGION, VssSetFactory
from vss_restore.local import LocalEngine
from vss_restore.local.engine import LOCK_TABLE_NAME
from vss_restore.local.invariants import InstanceState, check_invariants


@pytest.fixture
def machines(engine: LocalEngine) -> Machines:
    return Machines(
        sfn=boto3.client("stepfunctions", region_name=REGION),
        restore_arn=engine.state_machine_arn,
        fleet_arn=engine.fleet_state_machine_arn,
        poll_seconds=0.05,
    )


def test_machines_run_returns_the_report_when_the_restore_succeeds(
    machines: Machines, ec2: Any, instance_with_volumes: str, vss_set: VssSetFactory
) -> None:
    # GIVEN an instance with a complete set
    vss_set("set-1", hours_ago=2)
    request = {"InstanceId": instance_with_volumes}
    before = InstanceState.capture(ec2, instance_with_volumes)

    # WHEN the suite runs a restore and waits for it
    result = machines.run(request, minutes=5)

    # THEN it has the execution's outcome and report, and the invariant checks accept it
    assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
    assert result.output is not None
    assert result.output["SnapshotSetId"] == "set-1"
    assert result.execution_arn.startswith(
        machines.restore_arn.replace("stateMachine", "execution")
    )
    assert "AttachRestoredVolumes" in result.state_path()
    assert check_invariants(ec2, before, result, request, LOCK_TABLE_NAME) == []


def test_machines_wait_for_state_returns_when_the_execution_entered_the_state(
    machines: Machines, instance_with_volumes: str, vss_set: VssSetFactory
) -> None:
    # GIVEN a restore that has been started
    vss_set("set-1", hours_ago=2)
    execution_arn = machines.start({"InstanceId": instance_with_volumes})

    # WHEN the suite waits for the swap's attach state THEN it returns, and the run ends well
    machines.wait_for_state(execution_arn, "AttachRestoredVolumes", minutes=5)
    assert machines.wait(execution_arn, minutes=5).status == "SUCCEEDED"


def test_machines_wait_for_state_fails_when_the_execution_ended_without_entering_it(
    machines: Machines, instance_with_volumes: str, vss_set: VssSetFactory
) -> None:
    # GIVEN a restore that succeeds, so never rolls back
    vss_set("set-1", hours_ago=2)
    execution_arn = machines.start({"InstanceId": instance_with_volumes})
    machines.wait(execution_arn, minutes=5)

    # WHEN the suite waits for a rollback state THEN it is told the execution ended first
    with pytest.raises(AssertionError, match="ended before entering ReattachOriginalVolumes"):
        machines.wait_for_state(execution_arn, "ReattachOriginalVolumes", minutes=5)


def test_machines_run_follows_the_fleet_and_its_children_when_a_fleet_succeeds(
    machines: Machines, instance_with_volumes: str, vss_set: VssSetFactory
) -> None:
    # GIVEN an instance with a complete set
    vss_set("set-1", hours_ago=2)

    # WHEN the suite runs a fleet of it
    result = machines.run({"Instances": [instance_with_volumes]}, minutes=5, fleet=True)

    # THEN the fleet report names the child execution, which the suite can read back
    assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
    assert result.output is not None
    (entry,) = result.output["Instances"]
    child = machines.result(machines.restore_execution(entry["Execution"]))
    assert child.status == "SUCCEEDED"
    assert child.output is not None
    assert child.output["InstanceId"] == instance_with_volumes
