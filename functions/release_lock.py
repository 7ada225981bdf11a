"""ReleaseLock: release the instance's lock if this execution holds it."""

from typing import Any

from vss_restore import clients, lock
from vss_restore.lambda_task import logger, task
from vss_restore.task_events import LockEvent


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    parsed = LockEvent.model_validate(event)
    released = lock.release(
        clients.dynamodb(), parsed.lock_table, parsed.instance_id, parsed.execution
    )
    logger.info(
        "lock released" if released else "lock not released: this execution does not hold it",
        extra={"locked_instance": parsed.instance_id, "released": released},
    )
    return {"Released": released}
