"""The AWS code path (no --local): a deployed state machine, here the emulator's, by ARN."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vss_restore.local import LocalEngine
from vss_restore.local.world import attached

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


def test_restore_status_and_history_against_a_deployed_state_machine(
    cli: Any, engine: LocalEngine, deployed_demo_server: tuple[EC2Client, str]
) -> None:
    ec2, instance = deployed_demo_server
    before = attached(ec2, instance)

    started = cli("--region", engine.region, "restore", "--instance-id", instance, "--yes")

    assert started.exit_code == 0, started.stderr
    assert started.json["Status"] == "RUNNING"
    arn = started.json["ExecutionArn"]
    assert engine.wait(arn).status == "SUCCEEDED"
    status = cli("--region", engine.region, "status", arn)
    assert status.exit_code == 0
    assert status.json["Status"] == "SUCCEEDED"
    after = attached(ec2, instance)
    assert {v["NewVolumeId"] for v in status.json["Report"]["Volumes"]} == set(after.values())
    assert not set(before.values()) & set(after.values())
    history = cli("--region", engine.region, "history", "--instance-id", instance)
    assert [r["ExecutionArn"] for r in history.json["Restores"]] == [arn]


def test_history_skips_executions_of_other_instances(
    cli: Any, engine: LocalEngine, deployed_demo_server: tuple[EC2Client, str]
) -> None:
    _, instance = deployed_demo_server
    other = engine.run({"InstanceId": "i-0123456789abcdef0"})
    mine = engine.run({"InstanceId": instance, "DryRun": True})

    history = cli("history", "--instance-id", instance)

    arns = [r["ExecutionArn"] for r in history.json["Restores"]]
    assert arns == [mine.execution_arn]
    assert other.execution_arn not in arns
