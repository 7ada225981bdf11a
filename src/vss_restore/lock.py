"""One restore per instance at a time: a DynamoDB item per instance, written conditionally.

The item expires (``ExpiresAt``, a DynamoDB TTL attribute) so that an execution that
died without releasing it cannot block the instance forever; an expired item is taken
over even before DynamoDB's TTL sweeper has removed it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from vss_restore.aws_errors import error_code, refused
from vss_restore.errors import LockTableMissing, RestoreInProgress

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_CONDITION_FAILED = "ConditionalCheckFailedException"


@contextmanager
def _lock_table(table: str) -> Iterator[None]:
    """DynamoDB's refusals of the lock table's calls as named errors: the table missing is
    ``LockTableMissing``, any other permanent refusal names the table."""
    try:
        yield
    except ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            raise LockTableMissing(
                f"the stack's lock table {table} does not exist ({err.operation_name}): it was "
                "deleted, or the state machine names a table that is not there; deploy the "
                "stack again. Nothing was changed by this call"
            ) from err
        refused(err, f"lock table {table}")


def acquire(
    ddb: DynamoDBClient,
    table: str,
    instance_id: str,
    owner: str,
    now: datetime,
    ttl: timedelta,
) -> None:
    """Take the instance's lock for ``owner`` (idempotent for the same owner)."""
    with _lock_table(table):
        try:
            ddb.put_item(
                TableName=table,
                Item={
                    "InstanceId": {"S": instance_id},
                    "Owner": {"S": owner},
                    "AcquiredAt": {"S": now.isoformat()},
                    "ExpiresAt": {"N": str(int((now + ttl).timestamp()))},
                },
                ConditionExpression="attribute_not_exists(InstanceId) OR #o = :owner OR ExpiresAt < :now",
                ExpressionAttributeNames={"#o": "Owner"},
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":now": {"N": str(int(now.timestamp()))},
                },
            )
        except ClientError as err:
            if error_code(err) != _CONDITION_FAILED:
                raise
            holder = holder_of(ddb, table, instance_id)
            raise RestoreInProgress(
                f"{instance_id} is locked by another restore ({holder}); nothing was changed"
            ) from err


@dataclass(frozen=True)
class LockNow:
    """The instance's lock item: who holds it, since when, and until when."""

    owner: str
    acquired_at: str
    expires_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def read_lock(ddb: DynamoDBClient, table: str, instance_id: str) -> LockNow | None:
    """The instance's lock as it is now (a consistent read), or None when it is free."""
    with _lock_table(table):
        item = ddb.get_item(
            TableName=table, Key={"InstanceId": {"S": instance_id}}, ConsistentRead=True
        ).get("Item")
    if not item:
        return None
    expires = item.get("ExpiresAt", {}).get("N")
    return LockNow(
        owner=item.get("Owner", {}).get("S", "unknown execution"),
        acquired_at=item.get("AcquiredAt", {}).get("S", "an unknown time"),
        expires_at=datetime.fromtimestamp(int(expires), UTC) if expires else None,
    )


def holder_of(ddb: DynamoDBClient, table: str, instance_id: str) -> str:
    held = read_lock(ddb, table, instance_id)
    if held is None:
        return "unknown execution since an unknown time"
    return f"{held.owner} since {held.acquired_at}"


def release(ddb: DynamoDBClient, table: str, instance_id: str, owner: str) -> bool:
    """Release the lock if ``owner`` holds it; False if it was not held by ``owner``."""
    with _lock_table(table):
        try:
            ddb.delete_item(
                TableName=table,
                Key={"InstanceId": {"S": instance_id}},
                ConditionExpression="#o = :owner",
                ExpressionAttributeNames={"#o": "Owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as err:
            if error_code(err) == _CONDITION_FAILED:
                return False
            raise
    return True
