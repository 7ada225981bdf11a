"""CleanupDrill: remove a drill's clone and volumes; or, scheduled, every expired drill's.

``{"Execution", "EnteredTime", "TimeoutSeconds"}`` removes that execution's resources and
waits until they are gone. ``{"Expired": true}`` makes one pass over every resource tagged
``vss-restore:drill`` whose ``vss-restore:expires-at`` has passed (the daily schedule and
``vss-restore cleanup``); one whose expiry cannot be read is left alone and named in
``Warnings``.
"""

from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.drill import CleanupPass, cleanup_pass, remove_drill
from vss_restore.lambda_task import logger, task
from vss_restore.models import Model
from vss_restore.task_events import WaitEvent
from vss_restore.waiting import utcnow


class OneDrill(WaitEvent):
    execution: str = Field(alias="Execution")


class Expired(Model):
    expired: bool = Field(alias="Expired")


@task
def handler(event: dict[str, Any]) -> CleanupPass:
    ec2 = clients.ec2()
    if "Expired" in event:
        Expired.model_validate(event)
        done = cleanup_pass(ec2, now=utcnow())
    else:
        parsed = OneDrill.model_validate(event)
        done = remove_drill(ec2, parsed.execution, parsed.entered_at, parsed.timeout_seconds)
    logger.info(
        "drill resources removed",
        extra={
            "terminated": done.terminated,
            "deleted_volumes": done.deleted,
            "deleted_groups": done.deleted_groups,
            "pending": done.pending,
            "warnings": done.warnings,
        },
    )
    return done
