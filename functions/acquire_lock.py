"""AcquireLock: one restore per instance at a time (RestoreInProgress otherwise)."""

from datetime import timedelta
from typing import Any

from pydantic import Field, PositiveInt

from vss_restore import clients, lock
from vss_restore.errors import RestoreInProgress
from vss_restore.lambda_task import logger, task
from vss_restore.task_events import LockEvent
from vss_restore.waiting import utcnow


class Event(LockEvent):
    ttl_seconds: PositiveInt = Field(alias="TtlSeconds")


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    parsed = Event.model_validate(event)
    try:
        lock.acquire(
            clients.dynamodb(),
            parsed.lock_table,
            parsed.instance_id,
            parsed.execution,
            utcnow(),
            timedelta(seconds=parsed.ttl_seconds),
        )
    except RestoreInProgress as err:
        logger.info("lock refused", extra={"locked_instance": parsed.instance_id, "why": str(err)})
        raise
    logger.info(
        "lock acquired",
        extra={"locked_instance": parsed.instance_id, "ttl_seconds": parsed.ttl_seconds},
    )
    return {"Acquired": True}
