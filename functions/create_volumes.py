"""CreateVolumes: a volume per planned device (idempotent through ClientToken)."""

from typing import Any

from vss_restore import clients, records
from vss_restore.lambda_task import logger, task
from vss_restore.models import CreatedVolume
from vss_restore.task_events import PlanEvent
from vss_restore.volumes import create_volumes


@task
def handler(event: dict[str, Any]) -> list[CreatedVolume]:
    created = create_volumes(
        clients.ec2(), PlanEvent.model_validate(event).plan, records.configured()
    )
    logger.info("volumes created", extra={"volumes": {c.device: c.volume_id for c in created}})
    return created
