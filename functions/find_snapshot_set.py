"""FindSnapshotSet: record the instance as it is now and choose the snapshot set to restore."""

from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.discovery import find_snapshot_set
from vss_restore.instance import describe_instance, instance_facts
from vss_restore.lambda_task import logger, task
from vss_restore.models import CarriedRequest, Model


class Event(Model):
    request: CarriedRequest = Field(alias="Request")


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    request = Event.model_validate(event).request
    ec2 = clients.ec2()
    facts = instance_facts(describe_instance(ec2, request.instance_id))
    chosen = find_snapshot_set(ec2, request, facts)
    logger.info(
        "snapshot set chosen",
        extra={
            "snapshot_set_id": chosen.snapshot_set_id,
            "created_at": chosen.created_at.isoformat(),
            "grouped_by": chosen.grouped_by,
            "devices": [m.device for m in chosen.members],
            "skipped": [{"id": s.snapshot_set_id, "why": s.reasons} for s in chosen.skipped],
        },
    )
    return {
        "Instance": facts.model_dump(mode="json", by_alias=True),
        "SnapshotSet": chosen.model_dump(mode="json", by_alias=True),
    }
