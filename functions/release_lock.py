"""ReleaseLock: release the instance's lock if this execution holds it."""

from typing import Any

from vss_restore import clients, lock
from vss_restore.lambda_task import task
from vss_restore.task_events import LockEvent


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    parsed = LockEvent.model_validate(event)
    released = lock.release(
        clients.dynamodb(), parsed.lock_table, parsed.instance_id, parsed.execution
    )
    return {"Released": released}
