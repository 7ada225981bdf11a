"""WaitMountAttached: ResourceNotReady until every new volume is attached to the target."""

from typing import Any

from vss_restore import clients
from vss_restore.lambda_task import log_wait_done, task
from vss_restore.mounts import mounts_attached
from vss_restore.task_events import SwapWaitEvent
from vss_restore.waiting import POLL_SWAP_SECONDS, poll


@task
def handler(event: dict[str, Any]) -> None:
    parsed = SwapWaitEvent.model_validate(event)
    ec2 = clients.ec2()
    poll(
        lambda now: mounts_attached(
            ec2, parsed.plan, parsed.created, parsed.entered_at, parsed.timeout_seconds, now
        ),
        POLL_SWAP_SECONDS,
    )
    log_wait_done("mount volumes attached", parsed)
