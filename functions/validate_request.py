"""ValidateRequest: reject bad input and unknown or unrestorable instances before any change."""

from typing import Any

from pydantic import AwareDatetime, Field

from vss_restore import clients
from vss_restore.instance import describe_instance, instance_facts
from vss_restore.lambda_task import task
from vss_restore.models import Model, RestoreRequest
from vss_restore.opt_in import OptInTag


class Event(Model):
    request: Any = Field(alias="Request")
    execution: str = Field(alias="Execution")
    started_at: AwareDatetime = Field(alias="StartedAt")


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    parsed = Event.model_validate(event)
    request = RestoreRequest.parse(parsed.request)
    raw = describe_instance(clients.ec2(), request.instance_id)
    instance_facts(raw)
    opt_in = OptInTag.from_env()
    if opt_in is not None:
        opt_in.require(raw)
    return {
        "Request": request.to_payload(),
        "Execution": parsed.execution,
        "StartedAt": parsed.started_at.isoformat(),
    }
