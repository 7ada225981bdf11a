"""boto3 clients for the tasks, created once per Lambda container with standard retries."""

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

# Standard mode retries throttling and 5xx answers with jittered backoff inside the task,
# before the state machine's own Retry takes over.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="vss-restore")


@functools.cache
def ec2() -> EC2Client:
    return boto3.client("ec2", config=_CONFIG)


@functools.cache
def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb", config=_CONFIG)


@functools.cache
def ssm() -> SSMClient:
    return boto3.client("ssm", config=_CONFIG)


@functools.cache
def cloudwatch() -> CloudWatchClient:
    return boto3.client("cloudwatch", config=_CONFIG)


@functools.cache
def events() -> EventBridgeClient:
    return boto3.client("events", config=_CONFIG)


@functools.cache
def sfn() -> SFNClient:
    return boto3.client("stepfunctions", config=_CONFIG)


@functools.cache
def iam() -> Any:
    return boto3.client("iam", config=_CONFIG)


_ALL = (ec2, dynamodb, ssm, cloudwatch, events, sfn, iam)


def reset() -> None:
    """Forget cached clients (the local engine calls this when the emulator starts or stops)."""
    for client in _ALL:
        client.cache_clear()
