"""AttachRestoredVolumes: attach each new volume at its device, root first."""

from typing import Any

from vss_restore import clients
from vss_restore.lambda_task import logger, task
from vss_restore.swap import attach_restored, new_volume_ids
from vss_restore.task_events import SwapEvent


@task
def handler(event: dict[str, Any]) -> list[str]:
    parsed = SwapEvent.model_validate(event)
    attached = attach_restored(clients.ec2(), parsed.plan, parsed.created, online=parsed.online)
    new_ids = new_volume_ids(parsed.plan, parsed.created)
    logger.info(
        "replacements attaching" if attached else "no replacement left to attach",
        extra={"attached": {d: new_ids[d] for d in attached}, "online": parsed.online},
    )
    return attached
