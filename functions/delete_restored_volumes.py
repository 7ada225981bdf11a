"""DeleteRestoredVolumes (rollback): delete what this execution created, tag what can't be."""

from typing import Any

from pydantic import Field

from vss_restore import clients, records
from vss_restore.lambda_task import logger, task
from vss_restore.task_events import WaitEvent
from vss_restore.volumes import delete_volumes_of_execution
from vss_restore.waiting import utcnow


class Event(WaitEvent):
    execution: str = Field(alias="Execution")


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    parsed = Event.model_validate(event)
    cleanup = delete_volumes_of_execution(
        clients.ec2(),
        records.configured(),
        parsed.execution,
        "restore",
        parsed.entered_at,
        parsed.timeout_seconds,
        utcnow(),
    )
    logger.info(
        "restored volumes deleted",
        extra={"deleted": cleanup.deleted, "left_behind": cleanup.left_behind},
    )
    return {"Deleted": cleanup.deleted, "LeftBehind": cleanup.left_behind}
