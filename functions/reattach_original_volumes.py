"""ReattachOriginalVolumes (rollback): converge every planned device back to its original."""

from typing import Any

from vss_restore import clients
from vss_restore.lambda_task import task
from vss_restore.swap import reattach_originals
from vss_restore.task_events import RollbackEvent
from vss_restore.waiting import utcnow


@task
def handler(event: dict[str, Any]) -> list[str]:
    parsed = RollbackEvent.model_validate(event)
    return reattach_originals(
        clients.ec2(),
        parsed.plan,
        parsed.instance,
        parsed.entered_at,
        parsed.timeout_seconds,
        utcnow(),
        online=parsed.online,
    )
