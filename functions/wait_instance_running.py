"""WaitInstanceRunning: ResourceNotReady while pending; StartFailed if it stops instead."""

from typing import Any

from vss_restore import clients
from vss_restore.lambda_task import log_wait_done, task
from vss_restore.power import instance_running
from vss_restore.task_events import InstanceWaitEvent
from vss_restore.waiting import POLL_POWER_SECONDS, poll_until


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    parsed = InstanceWaitEvent.model_validate(event)
    ec2 = clients.ec2()

    running_at = poll_until(
        lambda now: instance_running(
            ec2, parsed.instance_id, parsed.entered_at, parsed.timeout_seconds, now
        ),
        POLL_POWER_SECONDS,
    )
    log_wait_done("instance running", parsed)
    return {"RunningAt": running_at.isoformat()}
