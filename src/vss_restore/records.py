"""What vss-restore created: one item per resource in a table the stack owns.

A tag is not an identity: anyone who may tag a resource could give a production instance a
drill's or a mount's tags, and a cleanup that chose by tag would remove it. So every resource
a restore, a drill or a mount creates (volumes, a clone, its isolation group) is recorded
here with its execution the moment its id is known, and cleanups remove only recorded ids;
a tagged resource with no record is reported, never removed.

The record's expiry is the one the resource was created with: changing the resource's
expiry tag afterwards changes nothing. A restore's volumes have no expiry (only that
restore's rollback may remove them) and their records are forgotten once the restore has
succeeded: volumes in production use are out of reach of every cleanup. A record goes when
its resource is gone.

A resource created in the moment before a crash is recorded when the task is tried again
(each creation is idempotent and finds the first); if it never is, the resource is reported
by the cleanups as tagged but unrecorded, for a person to look at.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from vss_restore import clients, tags, waiting
from vss_restore.aws_errors import TRANSIENT_CODES, error_code
from vss_restore.settings import RECORDS_TABLE_ENV, settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Purpose = Literal["restore", "drill", "mount"]

# The table's key, and its index of an execution's records (as the stack and the local
# engine create it).
KEY = "ResourceId"
BY_EXECUTION = "ByExecution"
TABLE_SCHEMA = {
    "KeySchema": [{"AttributeName": KEY, "KeyType": "HASH"}],
    "AttributeDefinitions": [
        {"AttributeName": KEY, "AttributeType": "S"},
        {"AttributeName": "Execution", "AttributeType": "S"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": BY_EXECUTION,
            "KeySchema": [{"AttributeName": "Execution", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
}
# DynamoDB's BatchWriteItem takes at most 25 requests.
_BATCH = 25
_UNPROCESSED_PAUSE_SECONDS = 0.5


def purpose_of(labels: Mapping[str, str]) -> Purpose:
    """What a resource was created for, from the tags it is created with (pure)."""
    if tags.DRILL in labels:
        return "drill"
    if tags.MOUNTED_ON in labels:
        return "mount"
    return "restore"


def expiry_of(labels: Mapping[str, str]) -> datetime | None:
    """The expiry a resource is created with (a drill's or a mount's); None for a restore's."""
    text = labels.get(tags.EXPIRES_AT) or labels.get(tags.MOUNT_EXPIRES_AT)
    return tags.expiry(text) if text else None


@dataclass(frozen=True)
class Record:
    resource_id: str
    execution: str
    purpose: Purpose
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def _item(record: Record, now: datetime) -> dict[str, dict[str, str]]:
    item: dict[str, dict[str, str]] = {
        KEY: {"S": record.resource_id},
        "Execution": {"S": record.execution},
        "Purpose": {"S": record.purpose},
        "CreatedAt": {"S": now.isoformat(timespec="seconds")},
    }
    if record.expires_at is not None:
        item["ExpiresAt"] = {"N": str(int(record.expires_at.timestamp()))}
    return item


def _record(item: Mapping[str, Any]) -> Record:
    expires = item.get("ExpiresAt", {}).get("N")
    purpose = item["Purpose"]["S"]
    return Record(
        resource_id=item[KEY]["S"],
        execution=item["Execution"]["S"],
        purpose=purpose if purpose in ("drill", "mount") else "restore",
        expires_at=datetime.fromtimestamp(int(expires), UTC) if expires else None,
    )


@dataclass(frozen=True)
class Records:
    """The table of what vss-restore created (``RECORDS_TABLE_NAME``)."""

    ddb: DynamoDBClient
    table: str

    def created(
        self,
        resource_ids: Iterable[str],
        execution: str,
        labels: Mapping[str, str],
    ) -> None:
        """Record resources just created with ``labels`` (their tags); safe to repeat."""
        when = datetime.now(UTC)
        purpose, expires_at = purpose_of(labels), expiry_of(labels)
        items = [
            _item(Record(resource_id, execution, purpose, expires_at), when)
            for resource_id in dict.fromkeys(resource_ids)
        ]
        self._write([{"PutRequest": {"Item": item}} for item in items])

    def forget(self, resource_ids: Collection[str]) -> None:
        """Drop the records of resources that are gone (or now in production use)."""
        self._write(
            [{"DeleteRequest": {"Key": {KEY: {"S": r}}}} for r in dict.fromkeys(resource_ids)]
        )

    def of_execution(self, execution: str, purpose: Purpose) -> list[Record]:
        """The records of ``execution``'s resources created for ``purpose``."""
        pages = self.ddb.get_paginator("query").paginate(
            TableName=self.table,
            IndexName=BY_EXECUTION,
            KeyConditionExpression="Execution = :execution",
            FilterExpression="Purpose = :purpose",
            ExpressionAttributeValues={":execution": {"S": execution}, ":purpose": {"S": purpose}},
        )
        return [_record(item) for page in pages for item in page["Items"]]

    def age(self, execution: str | None, purpose: Purpose, expires_at: datetime) -> None:
        """Give ``execution``'s records (None: all) for ``purpose`` a new expiry: the local
        world's passing of time."""
        chosen = (
            self.all_of(purpose) if execution is None else self.of_execution(execution, purpose)
        )
        for record in chosen:
            self.ddb.update_item(
                TableName=self.table,
                Key={KEY: {"S": record.resource_id}},
                UpdateExpression="SET ExpiresAt = :at",
                ExpressionAttributeValues={":at": {"N": str(int(expires_at.timestamp()))}},
            )

    def all_of(self, purpose: Purpose) -> list[Record]:
        """Every record for ``purpose``, expired or not (a scheduled pass reads them once)."""
        pages = self.ddb.get_paginator("scan").paginate(
            TableName=self.table,
            FilterExpression="Purpose = :purpose",
            ExpressionAttributeValues={":purpose": {"S": purpose}},
            ConsistentRead=True,
        )
        return [_record(item) for page in pages for item in page["Items"]]

    def _write(self, requests: list[dict[str, object]]) -> None:
        for start in range(0, len(requests), _BATCH):
            pending: dict[str, object] = {self.table: requests[start : start + _BATCH]}
            # Unprocessed requests (throttling) are sent again until DynamoDB takes them.
            while pending:
                answer = self.ddb.batch_write_item(RequestItems=pending)  # type: ignore[arg-type]
                pending = dict(answer.get("UnprocessedItems") or {})
                if pending:
                    waiting.sleep(_UNPROCESSED_PAUSE_SECONDS)


def configured() -> Records:
    """The deployment's table (``RECORDS_TABLE_NAME``, which the stack sets)."""
    table = settings().records_table
    if not table:
        raise RuntimeError(f"{RECORDS_TABLE_ENV} is not set: no record of what was created")
    return Records(clients.dynamodb(), table)


# DynamoDB's answers that a later attempt may not get (its throttling has names of its own).
_RECORD_AGAIN = TRANSIENT_CODES | {
    "ProvisionedThroughputExceededException",
    "InternalServerError",
}


def record_or_undo(
    records: Records,
    resource_ids: list[str],
    execution: str,
    labels: Mapping[str, str],
    undo: Callable[[], object],
) -> None:
    """Record resources just created; when the record cannot be written for good, ``undo``
    the creation first: no cleanup would ever remove what is not recorded. A throttled or
    failed write is left to the task's retry, which finds the resource and records it."""
    try:
        records.created(resource_ids, execution, labels)
    except ClientError as err:
        if error_code(err) not in _RECORD_AGAIN:
            undo()
        raise


def unrecorded(kind: str, resource_ids: Iterable[str]) -> list[str]:
    """A warning per tagged resource with no record: reported, never removed (pure)."""
    return [
        f"{resource_id} carries vss-restore's {kind} tags but vss-restore has no record of "
        "creating it: left alone"
        for resource_id in resource_ids
    ]
