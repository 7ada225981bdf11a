"""SwapCloneRoot: give the drill's clone a root volume created from the set's root snapshot."""

from typing import Any

from pydantic import Field

from vss_restore import clients, records
from vss_restore.clone_root import CloneRoot, swap_clone_root
from vss_restore.drill import ClonePlan
from vss_restore.lambda_task import logger, task
from vss_restore.task_events import InstanceWaitEvent


class Event(InstanceWaitEvent):
    plan: ClonePlan = Field(alias="Plan")


@task
def handler(event: dict[str, Any]) -> CloneRoot:
    parsed = Event.model_validate(event)
    root = swap_clone_root(
        clients.ec2(),
        records.configured(),
        parsed.plan,
        parsed.instance_id,
        parsed.entered_at,
        parsed.timeout_seconds,
    )
    logger.info(
        "clone root swapped" if root.swapped else "clone root kept: the set holds no root snapshot",
        extra={"device": root.device, "volume_id": root.volume_id},
    )
    return root
