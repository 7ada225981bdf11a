"""RunValidation: send the validation document to the clone (once per execution)."""

from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.errors import WaitTimedOut
from vss_restore.isolation import CloneIsolation, agent_never_registered
from vss_restore.lambda_task import logger, task
from vss_restore.run_command import send_validation
from vss_restore.task_events import InstanceWaitEvent
from vss_restore.waiting import POLL_STATUS_CHECKS_SECONDS, poll_within


class Event(InstanceWaitEvent):
    document: str = Field(alias="Document")
    parameters: dict[str, list[str]] | None = Field(default=None, alias="Parameters")
    execution: str = Field(alias="Execution")
    # The clone's planned isolation: why its agent may never register.
    isolation: CloneIsolation | None = Field(default=None, alias="Isolation")


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    parsed = Event.model_validate(event)
    ssm = clients.ssm()
    try:
        command_id = poll_within(
            lambda _: send_validation(
                ssm, parsed.instance_id, parsed.document, parsed.parameters or {}, parsed.execution
            ),
            POLL_STATUS_CHECKS_SECONDS,
            parsed.entered_at,
            parsed.timeout_seconds,
        )
    except WaitTimedOut as err:
        # The one thing RunValidation waits for: the clone's agent registering with SSM.
        raise WaitTimedOut(f"{err}: {agent_never_registered(parsed.isolation)}") from err
    logger.info("validation sent", extra={"document": parsed.document, "command_id": command_id})
    return {"CommandId": command_id}
