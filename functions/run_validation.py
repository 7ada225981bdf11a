"""RunValidation: send the validation document to the clone (once per execution)."""

from datetime import datetime
from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.errors import ResourceNotReady
from vss_restore.lambda_task import task
from vss_restore.run_command import send_validation
from vss_restore.task_events import InstanceWaitEvent
from vss_restore.waiting import POLL_STATUS_CHECKS_SECONDS, not_ready, poll


class Event(InstanceWaitEvent):
    document: str = Field(alias="Document")
    parameters: dict[str, list[str]] | None = Field(default=None, alias="Parameters")
    execution: str = Field(alias="Execution")


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    parsed = Event.model_validate(event)
    ssm = clients.ssm()

    def send(now: datetime) -> str:
        try:
            return send_validation(
                ssm, parsed.instance_id, parsed.document, parsed.parameters or {}, parsed.execution
            )
        except ResourceNotReady as err:
            not_ready(str(err), parsed.entered_at, parsed.timeout_seconds, now)

    return {"CommandId": poll(send, POLL_STATUS_CHECKS_SECONDS)}
