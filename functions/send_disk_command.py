"""SendDiskCommand: run the project's disk document on the instance (once per step).

``AttachedOnly`` (a rollback): only the volumes attached to the instance now; when none
is, nothing is sent and ``CommandId`` is null. While another disk command runs on the
instance (one given up on and cancelled), nothing is sent: ``ResourceNotReady``, then
``WaitTimedOut`` after ``TimeoutSeconds``.
"""

from typing import Any

from pydantic import AwareDatetime, Field, StrictBool

from vss_restore import clients
from vss_restore.errors import ResourceNotReady
from vss_restore.lambda_task import logger, task
from vss_restore.models import Model
from vss_restore.waiting import not_ready, utcnow
from vss_restore.windows_disks import (
    DELIVERY_TIMEOUT_SECONDS,
    EXECUTION_TIMEOUT_SECONDS,
    DiskAction,
    attached_volume_ids,
    send_disk_command,
)


class Event(Model):
    instance_id: str = Field(alias="InstanceId")
    action: DiskAction = Field(alias="Action")
    volume_ids: list[str] = Field(alias="VolumeIds", min_length=1)
    services: list[str] | None = Field(default=None, alias="Services")
    execution: str = Field(alias="Execution")
    step: str = Field(alias="Step")
    attached_only: StrictBool = Field(default=False, alias="AttachedOnly")
    # When the state was entered: before the first attempt, so a retried task that finds
    # its command already sent still reports when it was sent, at the latest.
    entered_time: AwareDatetime | None = Field(default=None, alias="EnteredTime")
    # How long it waits for another disk command on the instance to end (the state passes
    # DiskCommandTimeoutSeconds; by default, as long as a command can live).
    timeout_seconds: int = Field(
        default=DELIVERY_TIMEOUT_SECONDS + EXECUTION_TIMEOUT_SECONDS, alias="TimeoutSeconds", gt=0
    )


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    parsed = Event.model_validate(event)
    sent_at = parsed.entered_time or utcnow()
    volume_ids = (
        attached_volume_ids(clients.ec2(), parsed.instance_id, parsed.volume_ids)
        if parsed.attached_only
        else parsed.volume_ids
    )
    if not volume_ids:
        logger.info("no disk command: none of the volumes is attached", extra={"step": parsed.step})
        return {"CommandId": None, "SentAt": sent_at.isoformat(), "VolumeIds": []}
    try:
        command_id = send_disk_command(
            clients.ssm(),
            parsed.instance_id,
            parsed.action,
            volume_ids,
            parsed.services or [],
            parsed.execution,
            parsed.step,
        )
    except ResourceNotReady as err:
        not_ready(str(err), sent_at, parsed.timeout_seconds, utcnow())
    logger.info(
        "disk command sent",
        extra={
            "step": parsed.step,
            "action": parsed.action,
            "volume_ids": volume_ids,
            "command_id": command_id,
        },
    )
    return {"CommandId": command_id, "SentAt": sent_at.isoformat(), "VolumeIds": volume_ids}
