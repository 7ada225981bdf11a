"""WaitInstanceRunning: ResourceNotReady while pending; StartFailed if it stops instead."""

from typing import Any

from vss_restore import clients
from vss_restore.lambda_task import task
from vss_restore.power import instance_running
from vss_restore.task_events import InstanceWaitEvent
from vss_restore.waiting import utcnow


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    parsed = InstanceWaitEvent.model_validate(event)
    now = utcnow()
    instance_running(
        clients.ec2(), parsed.instance_id, parsed.entered_at, parsed.timeout_seconds, now
    )
    return {"RunningAt": now.isoformat()}
