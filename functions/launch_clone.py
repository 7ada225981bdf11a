"""LaunchClone: the drill's clone, launched once per execution."""

from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.drill import ClonePlan, LaunchedClone, launch_clone
from vss_restore.lambda_task import task
from vss_restore.models import Model


class Event(Model):
    plan: ClonePlan = Field(alias="Plan")


@task
def handler(event: dict[str, Any]) -> LaunchedClone:
    plan = Event.model_validate(event).plan
    return launch_clone(clients.ec2(), plan)
