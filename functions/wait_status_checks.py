"""WaitStatusChecks: ResourceNotReady until system and instance checks are ok.

Returns when they passed and the volumes the healthy instance has (a drill reports them).
"""

from typing import Any

from vss_restore import clients
from vss_restore.instance import attached_volumes, describe_instance
from vss_restore.lambda_task import log_wait_done, task
from vss_restore.power import status_checks_passed
from vss_restore.task_events import InstanceWaitEvent
from vss_restore.waiting import POLL_STATUS_CHECKS_SECONDS, poll_until


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    parsed = InstanceWaitEvent.model_validate(event)
    ec2 = clients.ec2()

    when = poll_until(
        lambda now: status_checks_passed(
            ec2, parsed.instance_id, parsed.entered_at, parsed.timeout_seconds, now
        ),
        POLL_STATUS_CHECKS_SECONDS,
    )
    log_wait_done("status checks passed", parsed)
    volumes = attached_volumes(describe_instance(ec2, parsed.instance_id))
    return {
        "PassedAt": when.isoformat(),
        "Volumes": {device: ebs["VolumeId"] for device, ebs in volumes.items()},
    }
