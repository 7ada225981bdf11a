"""ValidateRequest: reject bad input and unknown or unrestorable instances before any change."""

from typing import Any

from pydantic import AwareDatetime, Field

from vss_restore import clients
from vss_restore.instance import describe_instance, instance_facts
from vss_restore.lambda_task import task
from vss_restore.models import Model, RestoreRequest


class Event(Model):
    request: Any = Field(alias="Request")
    execution: str = Field(alias="Execution")
    started_at: AwareDatetime = Field(alias="StartedAt")


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    parsed = Event.model_validate(event)
    request = RestoreRequest.parse(parsed.request)
    instance_facts(describe_instance(clients.ec2(), request.instance_id))
    return {
        "Request": request.to_payload(),
        "Execution": parsed.execution,
        "StartedAt": parsed.started_at.isoformat(),
    }
