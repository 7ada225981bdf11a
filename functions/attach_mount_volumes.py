"""AttachMountVolumes: attach each new volume at its planned free device of the target."""

from typing import Any

from vss_restore import clients
from vss_restore.lambda_task import logger, task
from vss_restore.mounts import attach_mounts
from vss_restore.task_events import SwapEvent


@task
def handler(event: dict[str, Any]) -> list[str]:
    parsed = SwapEvent.model_validate(event)
    attached = attach_mounts(clients.ec2(), parsed.plan, parsed.created)
    logger.info("mount volumes attaching", extra={"devices": attached})
    return attached
