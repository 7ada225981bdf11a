"""RestorePowerState (rollback): bring the instance back to the power state it had."""

from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.errors import ResourceNotReady
from vss_restore.lambda_task import logger, task
from vss_restore.models import PowerState
from vss_restore.power import converge_power_state
from vss_restore.task_events import InstanceWaitEvent
from vss_restore.waiting import utcnow


class Event(InstanceWaitEvent):
    wanted: PowerState = Field(alias="Wanted")


@task
def handler(event: dict[str, Any]) -> str:
    parsed = Event.model_validate(event)
    try:
        converge_power_state(
            clients.ec2(),
            parsed.instance_id,
            parsed.wanted,
            parsed.entered_at,
            parsed.timeout_seconds,
            utcnow(),
        )
    except ResourceNotReady as err:
        logger.info("power state being restored", extra={"wanted": parsed.wanted, "step": str(err)})
        raise
    logger.info("power state as it was before the restore", extra={"wanted": parsed.wanted})
    return parsed.wanted
