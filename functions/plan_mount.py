"""PlanMount: a volume per member of the set in the target's zone, at free devices of the target."""

from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.initialization import fast_restored_snapshots
from vss_restore.instance import describe_instance
from vss_restore.lambda_task import logger, plan_fields, task
from vss_restore.models import CarriedMount, ChosenSet, InstanceFacts, Model, RestorePlan
from vss_restore.mounts import plan_mount
from vss_restore.planning import describe_originals
from vss_restore.waiting import utcnow


class Event(Model):
    request: CarriedMount = Field(alias="Request")
    instance: InstanceFacts = Field(alias="Instance")
    snapshot_set: ChosenSet = Field(alias="SnapshotSet")
    target_instance_id: str = Field(alias="TargetInstanceId")
    execution: str = Field(alias="Execution")


@task
def handler(event: dict[str, Any]) -> RestorePlan:
    parsed = Event.model_validate(event)
    ec2 = clients.ec2()
    target = describe_instance(ec2, parsed.target_instance_id)
    plan = plan_mount(
        parsed.instance,
        target,
        parsed.snapshot_set,
        describe_originals(ec2, [v.volume_id for v in parsed.instance.volumes]),
        parsed.execution,
        utcnow(),
        parsed.request.mount_hours,
        initialization_rate=parsed.request.initialization_rate,
        fast_restored=fast_restored_snapshots(
            ec2,
            [m.snapshot_id for m in parsed.snapshot_set.members],
            target["Placement"]["AvailabilityZone"],
        ),
    )
    logger.info("mount planned", extra=plan_fields(plan))
    return plan
