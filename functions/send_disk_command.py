"""SendDiskCommand: run the project's disk document on the instance (once per step)."""

from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.lambda_task import task
from vss_restore.models import Model
from vss_restore.waiting import utcnow
from vss_restore.windows_disks import DiskAction, send_disk_command


class Event(Model):
    instance_id: str = Field(alias="InstanceId")
    action: DiskAction = Field(alias="Action")
    volume_ids: list[str] = Field(alias="VolumeIds", min_length=1)
    services: list[str] | None = Field(default=None, alias="Services")
    execution: str = Field(alias="Execution")
    step: str = Field(alias="Step")


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    parsed = Event.model_validate(event)
    sent_at = utcnow()
    command_id = send_disk_command(
        clients.ssm(),
        parsed.instance_id,
        parsed.action,
        parsed.volume_ids,
        parsed.services or [],
        parsed.execution,
        parsed.step,
    )
    return {"CommandId": command_id, "SentAt": sent_at.isoformat()}
