"""WaitInstanceStopped: ResourceNotReady until the instance is stopped."""

from typing import Any

from vss_restore import clients
from vss_restore.lambda_task import log_wait_done, task
from vss_restore.power import instance_stopped
from vss_restore.task_events import InstanceWaitEvent
from vss_restore.waiting import POLL_POWER_SECONDS, poll


@task
def handler(event: dict[str, Any]) -> None:
    parsed = InstanceWaitEvent.model_validate(event)
    ec2 = clients.ec2()
    poll(
        lambda now: instance_stopped(
            ec2, parsed.instance_id, parsed.entered_at, parsed.timeout_seconds, now
        ),
        POLL_POWER_SECONDS,
    )
    log_wait_done("instance stopped", parsed)
