"""WaitInstanceStopped: ResourceNotReady until the instance is stopped."""

from typing import Any

from vss_restore import clients
from vss_restore.lambda_task import task
from vss_restore.power import instance_stopped
from vss_restore.task_events import InstanceWaitEvent
from vss_restore.waiting import utcnow


@task
def handler(event: dict[str, Any]) -> None:
    parsed = InstanceWaitEvent.model_validate(event)
    instance_stopped(
        clients.ec2(), parsed.instance_id, parsed.entered_at, parsed.timeout_seconds, utcnow()
    )
