"""RestorePowerState (rollback): bring the instance back to the power state it had."""

from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.lambda_task import task
from vss_restore.models import PowerState
from vss_restore.power import converge_power_state
from vss_restore.task_events import InstanceWaitEvent
from vss_restore.waiting import utcnow


class Event(InstanceWaitEvent):
    wanted: PowerState = Field(alias="Wanted")


@task
def handler(event: dict[str, Any]) -> str:
    parsed = Event.model_validate(event)
    converge_power_state(
        clients.ec2(),
        parsed.instance_id,
        parsed.wanted,
        parsed.entered_at,
        parsed.timeout_seconds,
        utcnow(),
    )
    return parsed.wanted
