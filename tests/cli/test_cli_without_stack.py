"""An account where the stack is not deployed: what reads EC2 alone works, the rest says why
not; a missing profile or a mistyped Region is named before any AWS call."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tests.cli.conftest import LATEST_COMPLETE_SET, assert_refused
from vss_restore import demo
from vss_restore.local import LocalEngine

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


@pytest.fixture
def aws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """AWS config files that hold one profile, ``ops``."""
    config = tmp_path / "config"
    config.write_text("[profile ops]\nregion = eu-west-1\n")
    credentials = tmp_path / "credentials"
    credentials.write_text("[ops]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    return config


def test_sets_lists_the_sets_when_the_stack_is_not_deployed(
    cli: Any, demo_server: tuple[EC2Client, str]
) -> None:
    _, instance = demo_server

    outcome = cli("sets", "--instance-id", instance)

    assert outcome.exit_code == 0, outcome.stderr
    assert [s["Latest"] for s in outcome.json["Sets"]] == [False, True, False]


def test_plan_chooses_the_set_from_ec2_when_the_stack_is_not_deployed(
    cli: Any, demo_server: tuple[EC2Client, str]
) -> None:
    ec2, instance = demo_server
    volumes_before = ec2.describe_volumes()["Volumes"]

    outcome = cli("plan", "--instance-id", instance, "--devices", "xvdf")

    assert outcome.exit_code == 0, outcome.stderr
    plan = outcome.json
    assert plan["SnapshotSetId"] == LATEST_COMPLETE_SET
    assert plan["Checked"] == "EC2 only"
    assert [m["Device"] for m in plan["Members"]] == ["xvdf"]
    assert [s["Reasons"] for s in plan["Skipped"]]  # the newer, incomplete set and why
    assert "the stack VssRestore is not deployed in us-east-1" in outcome.stderr
    assert ec2.describe_volumes()["Volumes"] == volumes_before
    assert boto3.client("stepfunctions").list_state_machines()["stateMachines"] == []


def test_history_says_the_stack_is_not_deployed_when_it_is_not(
    cli: Any, demo_server: tuple[EC2Client, str]
) -> None:
    _, instance = demo_server

    outcome = cli("history", "--instance-id", instance, "--stack-name", "VssRestoreProd")

    assert_refused(
        outcome, "the stack VssRestoreProd is not deployed in us-east-1", "--state-machine-arn"
    )


def test_a_command_names_the_profile_when_it_is_not_in_the_config(
    cli: Any, aws: None, aws_config: Path
) -> None:
    outcome = cli("sets", "--instance-id", "i-0123456789abcdef0", "--profile", "opps")

    assert_refused(outcome, "no profile named 'opps' in your AWS config files")


def test_a_command_names_the_profile_when_aws_profile_names_a_missing_one(
    cli: Any, aws: None, aws_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nightly")

    outcome = cli("history", "--instance-id", "i-0123456789abcdef0")

    assert_refused(outcome, "no profile named 'nightly'")


def test_a_command_names_the_region_when_it_is_mistyped(
    cli: Any, aws: None, aws_config: Path
) -> None:
    outcome = cli("--region", "eu-wset-1", "sets", "--instance-id", "i-0123456789abcdef0")

    assert_refused(outcome, "unknown AWS Region 'eu-wset-1'", "eu-west-1")
    assert "Unable to locate credentials" not in outcome.stderr


def test_status_reads_an_execution_by_arn_but_needs_the_stack_for_a_name_when_not_deployed(
    cli: Any, engine: LocalEngine
) -> None:
    # GIVEN an execution, and no stack that names its state machine
    ec2 = boto3.client("ec2", region_name=engine.region)
    finished = engine.run({"InstanceId": demo.seed(ec2, datetime.now(UTC)), "DryRun": True})

    # WHEN it is asked for by ARN, then by name
    by_arn = cli("status", finished.execution_arn)
    by_name = cli("status", finished.execution_arn.rsplit(":", 1)[-1])

    # THEN the ARN is enough; the name needs the state machine, and the error says why
    assert by_arn.exit_code == 0, by_arn.stderr
    assert by_arn.json["Status"] == "SUCCEEDED"
    assert by_name.exit_code == 2
    assert "the stack VssRestore is not deployed in us-east-1" in by_name.stderr
