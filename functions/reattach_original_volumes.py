"""ReattachOriginalVolumes (rollback): converge every planned device back to its original."""

from typing import Any

from vss_restore import clients
from vss_restore.errors import ResourceNotReady
from vss_restore.lambda_task import logger, task
from vss_restore.swap import reattach_originals
from vss_restore.task_events import RollbackEvent
from vss_restore.waiting import utcnow


@task
def handler(event: dict[str, Any]) -> list[str]:
    parsed = RollbackEvent.model_validate(event)
    try:
        back = reattach_originals(
            clients.ec2(),
            parsed.plan,
            parsed.instance,
            parsed.entered_at,
            parsed.timeout_seconds,
            utcnow(),
            online=parsed.online,
        )
    except ResourceNotReady as err:
        # Each call takes the next step back (stop, detach a replacement, reattach an original).
        logger.info("rollback step", extra={"step": str(err), "online": parsed.online})
        raise
    logger.info("originals back on their devices", extra={"devices": back})
    return back
