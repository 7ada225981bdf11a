"""StartInstance: start the instance on its restored volumes."""

from typing import Any

from vss_restore import clients
from vss_restore.lambda_task import logger, task
from vss_restore.power import start_instance
from vss_restore.task_events import InstanceEvent
from vss_restore.waiting import utcnow


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    requested_at = utcnow()
    start_instance(clients.ec2(), InstanceEvent.model_validate(event).instance_id)
    logger.info("start requested")
    return {"StartRequestedAt": requested_at.isoformat()}
