"""WaitStatusChecks: ResourceNotReady until system and instance checks are ok."""

from typing import Any

from vss_restore import clients
from vss_restore.lambda_task import task
from vss_restore.power import status_checks_passed
from vss_restore.task_events import InstanceWaitEvent
from vss_restore.waiting import POLL_STATUS_CHECKS_SECONDS, poll


@task
def handler(event: dict[str, Any]) -> None:
    parsed = InstanceWaitEvent.model_validate(event)
    ec2 = clients.ec2()
    poll(
        lambda now: status_checks_passed(
            ec2, parsed.instance_id, parsed.entered_at, parsed.timeout_seconds, now
        ),
        POLL_STATUS_CHECKS_SECONDS,
    )
