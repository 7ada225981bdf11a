"""WaitVolumesInitialized: ResourceNotReady until every restored volume is fully initialized.

Returns when EBS reported it (``InitializedAt``), for the report's measured time to full
performance.
"""

from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.initialization import volumes_initialized
from vss_restore.lambda_task import log_wait_done, task
from vss_restore.models import CreatedVolume
from vss_restore.task_events import WaitEvent
from vss_restore.waiting import POLL_INITIALIZATION_SECONDS, poll_until


class Event(WaitEvent):
    created: list[CreatedVolume] = Field(alias="Created")


@task
def handler(event: dict[str, Any]) -> dict[str, str]:
    parsed = Event.model_validate(event)
    ec2 = clients.ec2()

    initialized_at = poll_until(
        lambda now: volumes_initialized(
            ec2, parsed.created, parsed.entered_at, parsed.timeout_seconds, now
        ),
        POLL_INITIALIZATION_SECONDS,
    )
    log_wait_done("volumes initialized", parsed, volume_ids=[c.volume_id for c in parsed.created])
    return {"InitializedAt": initialized_at.isoformat()}
