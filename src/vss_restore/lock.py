"""One restore per instance at a time: a DynamoDB item per instance, written conditionally.

The item expires (``ExpiresAt``, a DynamoDB TTL attribute) so that an execution that
died without releasing it cannot block the instance forever; an expired item is taken
over even before DynamoDB's TTL sweeper has removed it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from vss_restore.aws_errors import error_code
from vss_restore.errors import RestoreInProgress

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_CONDITION_FAILED = "ConditionalCheckFailedException"


def acquire(
    ddb: DynamoDBClient,
    table: str,
    instance_id: str,
    owner: str,
    now: datetime,
    ttl: timedelta,
) -> None:
    """Take the instance's lock for ``owner`` (idempotent for the same owner)."""
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


def holder_of(ddb: DynamoDBClient, table: str, instance_id: str) -> str:
    item = ddb.get_item(
        TableName=table, Key={"InstanceId": {"S": instance_id}}, ConsistentRead=True
    ).get("Item", {})
    owner = item.get("Owner", {}).get("S", "unknown execution")
    since = item.get("AcquiredAt", {}).get("S", "an unknown time")
    return f"{owner} since {since}"


def release(ddb: DynamoDBClient, table: str, instance_id: str, owner: str) -> bool:
    """Release the lock if ``owner`` holds it; False if it was not held by ``owner``."""
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
