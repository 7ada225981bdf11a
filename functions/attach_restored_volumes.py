"""AttachRestoredVolumes: attach each new volume at its device, root first."""

from typing import Any

from vss_restore import clients
from vss_restore.lambda_task import task
from vss_restore.swap import attach_restored
from vss_restore.task_events import SwapEvent


@task
def handler(event: dict[str, Any]) -> list[str]:
    parsed = SwapEvent.model_validate(event)
    return attach_restored(clients.ec2(), parsed.plan, parsed.created, online=parsed.online)
