"""A redriven execution changes nothing: every task refuses it and the execution ends with
ExecutionRedriven (AWS resumes a redrive mid-way; the emulator runs the whole execution as a
redriven one, which reaches the same refusal at the first task)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.conftest import VssSetFactory
from tests.integration.helpers import attached, power_state
from vss_restore.local import LocalEngine

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


def _volume_ids(ec2: EC2Client) -> set[str]:
    return {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}


def test_redriven_restore_ends_with_execution_redriven_and_changes_nothing(
    engine: LocalEngine, ec2: EC2Client, instance_with_volumes: str, vss_set: VssSetFactory
) -> None:
    # GIVEN a restorable instance, and an execution that runs as a redriven one
    vss_set("set-1", hours_ago=1)
    before = (attached(ec2, instance_with_volumes), _volume_ids(ec2))
    engine.redrives.redrive("redriven-restore")
    request: dict[str, Any] = {"InstanceId": instance_with_volumes}

    # WHEN it runs
    result = engine.run(request, name="redriven-restore")

    # THEN it fails with the named error at its first task, which made no AWS call
    assert (result.status, result.error) == ("FAILED", "ExecutionRedriven")
    assert result.state_path() == ["ValidateRequest", "ExecutionRedriven"]
    assert "Never redrive" in (result.cause or "")
    # AND the instance, its devices and the account's volumes are as they were
    assert (attached(ec2, instance_with_volumes), _volume_ids(ec2)) == before
    assert power_state(ec2, instance_with_volumes) == "running"

    # AND a new execution of the same request restores as usual (no lock was taken)
    assert engine.run(request).status == "SUCCEEDED"
