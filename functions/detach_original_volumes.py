"""DetachOriginalVolumes: detach the planned devices' original volumes (instance stopped).

Mode "Online": the instance runs; only data devices, whose disks are already offline.
"""

from typing import Any

from vss_restore import clients
from vss_restore.lambda_task import logger, task
from vss_restore.swap import detach_originals
from vss_restore.task_events import SwapEvent


@task
def handler(event: dict[str, Any]) -> list[str]:
    parsed = SwapEvent.model_validate(event)
    detached = detach_originals(clients.ec2(), parsed.plan, parsed.created, online=parsed.online)
    originals = {s.device: s.replaced_volume_id for s in parsed.plan.volumes}
    logger.info(
        "originals detaching" if detached else "no original left to detach",
        extra={"detached": {d: originals[d] for d in detached}, "online": parsed.online},
    )
    return detached
