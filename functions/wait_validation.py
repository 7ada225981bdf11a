"""WaitValidation: the validation command's result once it has finished (never raises on it)."""

from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.drill import ValidationResult
from vss_restore.lambda_task import log_wait_done, task
from vss_restore.run_command import finished_validation
from vss_restore.task_events import InstanceWaitEvent
from vss_restore.waiting import POLL_POWER_SECONDS, poll_within


class Event(InstanceWaitEvent):
    command_id: str = Field(alias="CommandId")
    document: str = Field(alias="Document")


@task
def handler(event: dict[str, Any]) -> ValidationResult:
    parsed = Event.model_validate(event)
    ssm = clients.ssm()
    result = poll_within(
        lambda now: finished_validation(
            ssm, parsed.command_id, parsed.instance_id, parsed.document, now
        ),
        POLL_POWER_SECONDS,
        parsed.entered_at,
        parsed.timeout_seconds,
    )
    log_wait_done("validation", parsed, document=parsed.document, status=result.status)
    return result
