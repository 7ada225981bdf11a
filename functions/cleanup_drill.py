"""CleanupDrill: remove a drill's clone and volumes; or, scheduled, every expired drill's.

``{"Execution", "EnteredTime", "TimeoutSeconds"}`` removes the resources that execution
recorded creating and waits until they are gone. ``{"Expired": true}`` makes one pass over
every recorded drill resource whose expiry has passed (the daily schedule and
``vss-restore cleanup``). A resource carrying drill tags with no record is left alone and
named in ``Unrecorded`` and ``Warnings``.
"""

from typing import Any

from pydantic import Field

from vss_restore import clients, records
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
    ec2, recorded = clients.ec2(), records.configured()
    if "Expired" in event:
        Expired.model_validate(event)
        done = cleanup_pass(ec2, recorded, now=utcnow())
    else:
        parsed = OneDrill.model_validate(event)
        done = remove_drill(
            ec2, recorded, parsed.execution, parsed.entered_at, parsed.timeout_seconds
        )
    logger.info(
        "drill resources removed",
        extra={
            "terminated": done.terminated,
            "deleted_volumes": done.deleted,
            "deleted_groups": done.deleted_groups,
            "pending": done.pending,
            "unrecorded": done.unrecorded,
            "warnings": done.warnings,
        },
    )
    return done
