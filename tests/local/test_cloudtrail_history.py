"""The emulator's CloudTrail event history: StartExecution calls, read with LookupEvents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from vss_restore.local import LocalEngine
from vss_restore.starter import started_by

REGION = "us-east-1"
PASS = '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}'


def _pass_machine() -> str:
    """A one-state machine in the running emulator: its ARN."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    return sfn.create_state_machine(
        name="m", definition=PASS, roleArn="arn:aws:iam::123456789012:role/r"
    )["stateMachineArn"]


def test_bare_emulator_cannot_look_up_events_without_the_rule() -> None:
    # the gap the rule fills: moto has no LookupEvents
    with mock_aws(), pytest.raises(NotImplementedError):
        boto3.client("cloudtrail", region_name=REGION).lookup_events()


def test_lookup_events_finds_who_started_an_execution_when_the_engine_runs() -> None:
    with LocalEngine(region=REGION):
        # GIVEN an execution started through the API
        sfn = boto3.client("stepfunctions", region_name=REGION)
        started = sfn.start_execution(stateMachineArn=_pass_machine(), name="run-1")
        cloudtrail = boto3.client("cloudtrail", region_name=REGION)

        # WHEN CloudTrail is asked who started it, and for events outside its time
        starter = started_by(cloudtrail, started["executionArn"], started["startDate"])
        later = cloudtrail.lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "StartExecution"}],
            StartTime=datetime.now(UTC) + timedelta(hours=1),
        )["Events"]
        other_event = cloudtrail.lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "StopExecution"}]
        )["Events"]

    # THEN the caller's identity is found, and nothing outside the window or of another name
    assert starter == "arn:aws:sts::123456789012:user/moto"
    assert later == []
    assert other_event == []


def test_an_engine_inside_another_leaves_the_outer_ones_history_working_when_it_exits() -> None:
    # GIVEN an engine running inside another (as a test that starts its own does)
    with LocalEngine(region=REGION):
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = _pass_machine()
        with LocalEngine(region=REGION):
            pass

        # WHEN the outer one starts an execution after the inner one has exited
        started = sfn.start_execution(stateMachineArn=machine, name="after-inner")
        cloudtrail = boto3.client("cloudtrail", region_name=REGION)
        starter = started_by(cloudtrail, started["executionArn"], started["startDate"])

    # THEN its history still answers, and after both have exited moto has no rule left
    assert starter == "arn:aws:sts::123456789012:user/moto"
    with mock_aws(), pytest.raises(NotImplementedError):
        boto3.client("cloudtrail", region_name=REGION).lookup_events()
