"""StopInstance: stop the instance if it runs, and note when (downtime starts here)."""

from typing import Any

from vss_restore import clients
from vss_restore.lambda_task import logger, task
from vss_restore.power import stop_instance
from vss_restore.task_events import InstanceEvent
from vss_restore.waiting import utcnow


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    requested_at = utcnow()
    was_running = stop_instance(clients.ec2(), InstanceEvent.model_validate(event).instance_id)
    logger.info(
        "stop requested" if was_running else "stop not needed: already stopped or stopping",
        extra={"was_running": was_running},
    )
    return {
        "WasRunning": was_running,
        "StopRequestedAt": requested_at.isoformat() if was_running else None,
    }
