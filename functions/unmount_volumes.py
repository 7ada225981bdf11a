"""UnmountVolumes: a mount's rollback; or, scheduled, the removal of every expired mount.

``{"Execution", "EnteredTime", "TimeoutSeconds"}`` (a mount's rollback): disks offline,
detach, delete; tag what stays. ``{"Expired": true}`` (the hourly schedule): unmount every
recorded mount whose expiry has passed, as ``vss-restore cleanup`` does; only volumes a
mount recorded creating are touched, and one tagged as a mount's with no record is named in
``Warnings``.
"""

from typing import Any

from pydantic import Field

from vss_restore import clients, records
from vss_restore.lambda_task import logger, task
from vss_restore.models import Model
from vss_restore.mounts import (
    Unmounted,
    recorded_mount_volumes,
    remove_expired_mounts,
    unmount_step,
    unmounted,
)
from vss_restore.task_events import WaitEvent
from vss_restore.waiting import POLL_SWAP_SECONDS, poll, utcnow


class Event(WaitEvent):
    execution: str = Field(alias="Execution")


class Expired(Model):
    expired: bool = Field(alias="Expired")


@task
def handler(event: dict[str, Any]) -> Unmounted | dict[str, Any]:
    ec2, ssm, recorded = clients.ec2(), clients.ssm(), records.configured()
    if "Expired" in event:
        Expired.model_validate(event)
        skipped: list[str] = []
        removed = remove_expired_mounts(ec2, ssm, recorded, utcnow(), warnings=skipped)
        logger.info("expired mounts removed", extra={"unmounted": removed, "warnings": skipped})
        return {"Unmounted": removed, "Warnings": skipped}
    parsed = Event.model_validate(event)
    first_seen = [v["VolumeId"] for v in recorded_mount_volumes(ec2, recorded, parsed.execution)]
    last = poll(
        lambda now: unmount_step(
            ec2,
            ssm,
            recorded,
            recorded_mount_volumes(ec2, recorded, parsed.execution),
            parsed.execution,
            parsed.entered_at,
            parsed.timeout_seconds,
            now,
        ),
        POLL_SWAP_SECONDS,
    )
    done = unmounted(first_seen, last)
    logger.info("unmounted", extra={"deleted": done.deleted, "left_behind": done.left_behind})
    return done
