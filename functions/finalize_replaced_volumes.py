"""FinalizeReplacedVolumes: tag the replaced volumes, or delete them when asked to."""

from typing import Any

from pydantic import Field, StrictBool

from vss_restore import clients, records
from vss_restore.lambda_task import logger, task
from vss_restore.task_events import SwapEvent
from vss_restore.volumes import finalize_replaced


class Event(SwapEvent):
    delete_replaced_volumes: StrictBool = Field(alias="DeleteReplacedVolumes")


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    parsed = Event.model_validate(event)
    warnings = finalize_replaced(
        clients.ec2(),
        records.configured(),
        parsed.plan,
        parsed.created,
        parsed.delete_replaced_volumes,
    )
    fate = "deleted" if parsed.delete_replaced_volumes else "kept"
    logger.info(
        f"replaced volumes {fate}",
        extra={
            "replaced_volume_ids": [s.replaced_volume_id for s in parsed.plan.volumes],
            "warnings": len(warnings),
        },
    )
    return {"ReplacedVolumes": fate, "Warnings": warnings}
