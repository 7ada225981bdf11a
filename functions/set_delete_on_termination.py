"""SetDeleteOnTermination: give each restored device the flag its original had."""

from typing import Any

from vss_restore import clients
from vss_restore.lambda_task import logger, task
from vss_restore.swap import set_delete_on_termination
from vss_restore.task_events import PlanEvent


@task
def handler(event: dict[str, Any]) -> list[str]:
    plan = PlanEvent.model_validate(event).plan
    wanted = {s.device: s.delete_on_termination for s in plan.volumes}
    changed = set_delete_on_termination(clients.ec2(), plan.instance_id, wanted)
    logger.info("DeleteOnTermination set as the originals had it", extra={"changed": changed})
    return changed
