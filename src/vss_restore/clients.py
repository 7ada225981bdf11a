"""boto3 clients for the tasks, created once per Lambda container with standard retries and
short time-outs."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_stepfunctions import SFNClient

# Standard mode retries throttling, 5xx answers and time-outs with jittered backoff inside
# the task, before the state machine's own Retry takes over. The time-outs are short (AWS
# answers these calls in a second or two) so that one hung call, all its attempts
# included, cannot use up the minute a task has left (botocore's default, 60 s to connect
# and 60 s per read, times the attempts, would): tests/unit/test_clients.py bounds it.
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 6
MAX_ATTEMPTS = 3  # the first call and two retries
CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
    retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    user_agent_extra="vss-restore",
)


@functools.cache
def ec2() -> EC2Client:
    return boto3.client("ec2", config=CONFIG)


@functools.cache
def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb", config=CONFIG)


@functools.cache
def ssm() -> SSMClient:
    return boto3.client("ssm", config=CONFIG)


@functools.cache
def cloudwatch() -> CloudWatchClient:
    return boto3.client("cloudwatch", config=CONFIG)


@functools.cache
def events() -> EventBridgeClient:
    return boto3.client("events", config=CONFIG)


@functools.cache
def sfn() -> SFNClient:
    return boto3.client("stepfunctions", config=CONFIG)


@functools.cache
def iam() -> Any:
    return boto3.client("iam", config=CONFIG)


_ALL = (ec2, dynamodb, ssm, cloudwatch, events, sfn, iam)


def reset() -> None:
    """Forget cached clients (the local engine calls this when the emulator starts or stops)."""
    for client in _ALL:
        client.cache_clear()
