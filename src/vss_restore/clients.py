"""boto3 clients for the tasks, created once per Lambda container with standard retries."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client

# Standard mode retries throttling and 5xx answers with jittered backoff inside the task,
# before the state machine's own Retry takes over.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="vss-restore")


@functools.cache
def ec2() -> EC2Client:
    return boto3.client("ec2", config=_CONFIG)


@functools.cache
def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb", config=_CONFIG)


def reset() -> None:
    """Forget cached clients (the local engine calls this when the emulator starts or stops)."""
    ec2.cache_clear()
    dynamodb.cache_clear()
