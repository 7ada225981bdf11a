"""WaitDiskCommand: the disk command's result once it has succeeded (DiskCommandFailed if not)."""

from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.lambda_task import log_wait_done, task
from vss_restore.task_events import InstanceWaitEvent
from vss_restore.waiting import POLL_SWAP_SECONDS, poll_within
from vss_restore.windows_disks import DiskCommandResult, finished_disk_command


class Event(InstanceWaitEvent):
    command_id: str = Field(alias="CommandId")
    step: str = Field(alias="Step")


@task
def handler(event: dict[str, Any]) -> DiskCommandResult:
    parsed = Event.model_validate(event)
    ssm = clients.ssm()
    result = poll_within(
        lambda now: finished_disk_command(
            ssm, parsed.command_id, parsed.instance_id, parsed.step, now
        ),
        POLL_SWAP_SECONDS,
        parsed.entered_at,
        parsed.timeout_seconds,
    )
    log_wait_done("disk command", parsed, step=parsed.step, command_id=parsed.command_id)
    return result
