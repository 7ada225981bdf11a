"""The per-instance lock on DynamoDB (emulated): one owner at a time, expiring, released by its owner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import boto3
import pytest

from vss_restore import lock
from vss_restore.errors import RestoreInProgress

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TABLE = "locks"
INSTANCE = "i-0123456789abcdef0"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(hours=6)


@pytest.fixture
def ddb(aws: None) -> DynamoDBClient:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "InstanceId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "InstanceId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


def _owner(ddb: DynamoDBClient) -> str | None:
    item = ddb.get_item(TableName=TABLE, Key={"InstanceId": {"S": INSTANCE}}).get("Item")
    return item["Owner"]["S"] if item else None


def test_acquire_takes_a_free_lock_with_an_expiry(ddb: DynamoDBClient) -> None:
    lock.acquire(ddb, TABLE, INSTANCE, "exec-a", NOW, TTL)
    item = ddb.get_item(TableName=TABLE, Key={"InstanceId": {"S": INSTANCE}})["Item"]
    assert item["Owner"]["S"] == "exec-a"
    assert int(item["ExpiresAt"]["N"]) == int((NOW + TTL).timestamp())


def test_acquire_is_idempotent_when_the_same_execution_retries(ddb: DynamoDBClient) -> None:
    lock.acquire(ddb, TABLE, INSTANCE, "exec-a", NOW, TTL)
    lock.acquire(ddb, TABLE, INSTANCE, "exec-a", NOW + timedelta(seconds=5), TTL)
    assert _owner(ddb) == "exec-a"


def test_acquire_fails_with_restore_in_progress_naming_the_holder_when_held_by_another(
    ddb: DynamoDBClient,
) -> None:
    lock.acquire(ddb, TABLE, INSTANCE, "exec-a", NOW, TTL)
    with pytest.raises(RestoreInProgress, match="exec-a"):
        lock.acquire(ddb, TABLE, INSTANCE, "exec-b", NOW + timedelta(minutes=1), TTL)
    assert _owner(ddb) == "exec-a"


def test_acquire_takes_over_when_the_holder_has_expired(ddb: DynamoDBClient) -> None:
    lock.acquire(ddb, TABLE, INSTANCE, "exec-a", NOW, TTL)
    lock.acquire(ddb, TABLE, INSTANCE, "exec-b", NOW + TTL + timedelta(seconds=1), TTL)
    assert _owner(ddb) == "exec-b"


def test_release_frees_the_lock_only_for_its_owner(ddb: DynamoDBClient) -> None:
    lock.acquire(ddb, TABLE, INSTANCE, "exec-a", NOW, TTL)
    assert lock.release(ddb, TABLE, INSTANCE, "exec-b") is False
    assert _owner(ddb) == "exec-a"
    assert lock.release(ddb, TABLE, INSTANCE, "exec-a") is True
    assert _owner(ddb) is None
    assert lock.release(ddb, TABLE, INSTANCE, "exec-a") is False
