"""UnmountVolumes (rollback of a mount): disks offline, detach, delete; tag what stays."""

from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.lambda_task import task
from vss_restore.mounts import Unmounted, mount_volumes, unmount_step, unmounted
from vss_restore.task_events import WaitEvent
from vss_restore.waiting import POLL_SWAP_SECONDS, poll


class Event(WaitEvent):
    execution: str = Field(alias="Execution")


@task
def handler(event: dict[str, Any]) -> Unmounted:
    parsed = Event.model_validate(event)
    ec2, ssm = clients.ec2(), clients.ssm()
    first_seen = [v["VolumeId"] for v in mount_volumes(ec2, parsed.execution)]
    last = poll(
        lambda now: unmount_step(
            ec2,
            ssm,
            mount_volumes(ec2, parsed.execution),
            parsed.execution,
            parsed.entered_at,
            parsed.timeout_seconds,
            now,
        ),
        POLL_SWAP_SECONDS,
    )
    return unmounted(first_seen, last)
