"""The AWS code path (no --local): a deployed state machine, here the emulator's, by ARN."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from vss_restore import demo
from vss_restore.local import LocalEngine
from vss_restore.local.world import attached


def test_restore_status_and_history_against_a_deployed_state_machine(
    cli: Any, engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ec2 = boto3.client("ec2", region_name=engine.region)
    instance = demo.seed(ec2, datetime.now(UTC))
    before = attached(ec2, instance)
    monkeypatch.setenv("VSS_RESTORE_STATE_MACHINE_ARN", engine.state_machine_arn)

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
    cli: Any, engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ec2 = boto3.client("ec2", region_name=engine.region)
    instance = demo.seed(ec2, datetime.now(UTC))
    other = engine.run({"InstanceId": "i-0123456789abcdef0"})
    mine = engine.run({"InstanceId": instance, "DryRun": True})
    monkeypatch.setenv("VSS_RESTORE_STATE_MACHINE_ARN", engine.state_machine_arn)

    history = cli("history", "--instance-id", instance)

    arns = [r["ExecutionArn"] for r in history.json["Restores"]]
    assert arns == [mine.execution_arn]
    assert other.execution_arn not in arns
