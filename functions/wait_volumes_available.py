"""WaitVolumesAvailable: ResourceNotReady until every new volume is available."""

from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.lambda_task import log_wait_done, task
from vss_restore.models import CreatedVolume
from vss_restore.task_events import WaitEvent
from vss_restore.volumes import volumes_available
from vss_restore.waiting import POLL_VOLUMES_SECONDS, poll


class Event(WaitEvent):
    created: list[CreatedVolume] = Field(alias="Created")


@task
def handler(event: dict[str, Any]) -> None:
    parsed = Event.model_validate(event)
    ec2 = clients.ec2()
    poll(
        lambda now: volumes_available(
            ec2, parsed.created, parsed.entered_at, parsed.timeout_seconds, now
        ),
        POLL_VOLUMES_SECONDS,
    )
    log_wait_done("volumes available", parsed, volume_ids=[c.volume_id for c in parsed.created])
