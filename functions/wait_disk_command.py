"""WaitDiskCommand: the disk command's result once it has succeeded (DiskCommandFailed if not).

Past its time (``WaitTimedOut``) the command is cancelled first, so that it cannot change
disks or services behind the rollback's next command.
"""

from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.errors import WaitTimedOut
from vss_restore.lambda_task import log_wait_done, task
from vss_restore.task_events import InstanceWaitEvent
from vss_restore.waiting import POLL_SWAP_SECONDS, poll_within
from vss_restore.windows_disks import (
    DiskCommandResult,
    finished_disk_command,
    given_up,
)


class Event(InstanceWaitEvent):
    command_id: str = Field(alias="CommandId")
    step: str = Field(alias="Step")


@task
def handler(event: dict[str, Any]) -> DiskCommandResult:
    parsed = Event.model_validate(event)
    ssm = clients.ssm()
    try:
        result = poll_within(
            lambda now: finished_disk_command(
                ssm, parsed.command_id, parsed.instance_id, parsed.step, now
            ),
            POLL_SWAP_SECONDS,
            parsed.entered_at,
            parsed.timeout_seconds,
        )
    except WaitTimedOut as err:
        # Given up on: the command must not go on behind the rollback's next one.
        raise given_up(ssm, parsed.command_id, parsed.instance_id, err) from err
    log_wait_done("disk command", parsed, step=parsed.step, command_id=parsed.command_id)
    return result
