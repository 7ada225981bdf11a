"""WaitStatusChecks: ResourceNotReady until system and instance checks are ok."""

from typing import Any

from vss_restore import clients
from vss_restore.lambda_task import task
from vss_restore.power import status_checks_passed
from vss_restore.task_events import InstanceWaitEvent
from vss_restore.waiting import utcnow


@task
def handler(event: dict[str, Any]) -> None:
    parsed = InstanceWaitEvent.model_validate(event)
    status_checks_passed(
        clients.ec2(), parsed.instance_id, parsed.entered_at, parsed.timeout_seconds, utcnow()
    )
