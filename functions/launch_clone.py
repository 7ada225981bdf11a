"""LaunchClone: the drill's clone, launched once per execution."""

from typing import Any

from pydantic import Field

from vss_restore import clients, records
from vss_restore.drill import ClonePlan, LaunchedClone, launch_clone
from vss_restore.lambda_task import logger, task
from vss_restore.models import Model


class Event(Model):
    plan: ClonePlan = Field(alias="Plan")


@task
def handler(event: dict[str, Any]) -> LaunchedClone:
    plan = Event.model_validate(event).plan
    clone = launch_clone(clients.ec2(), plan, records.configured())
    logger.info(
        "clone launched",
        extra={
            "clone_instance_id": clone.instance_id,
            "isolated": clone.isolation_group_id is not None,
        },
    )
    return clone
