"""WaitOriginalsDetached: ResourceNotReady until no planned device holds its original."""

from typing import Any

from vss_restore import clients
from vss_restore.lambda_task import log_wait_done, task
from vss_restore.swap import devices_free
from vss_restore.task_events import SwapWaitEvent
from vss_restore.waiting import POLL_SWAP_SECONDS, poll


@task
def handler(event: dict[str, Any]) -> None:
    parsed = SwapWaitEvent.model_validate(event)
    ec2 = clients.ec2()
    poll(
        lambda now: devices_free(ec2, parsed.plan, parsed.entered_at, parsed.timeout_seconds, now),
        POLL_SWAP_SECONDS,
    )
    log_wait_done("originals detached", parsed)
