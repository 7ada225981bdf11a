"""MarkLeftovers (rollback failed): tag what this execution created and say where things are."""

from typing import Any

from vss_restore import clients
from vss_restore.lambda_task import logger, task
from vss_restore.task_events import PlanEvent
from vss_restore.volumes import mark_leftovers


@task
def handler(event: dict[str, Any]) -> str:
    where = mark_leftovers(clients.ec2(), PlanEvent.model_validate(event).plan)
    logger.info("leftovers marked", extra={"where": where})
    return where
