"""PlanRestore: one volume spec per device, with the replaced volume's settings and how it
initializes (fast snapshot restore in the instance's zone, or the requested rate)."""

from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.initialization import fast_restored_snapshots
from vss_restore.lambda_task import logger, plan_fields, task
from vss_restore.models import ChosenSet, InstanceFacts, Model, RestorePlan
from vss_restore.planning import describe_originals, plan_restore


class Event(Model):
    instance: InstanceFacts = Field(alias="Instance")
    snapshot_set: ChosenSet = Field(alias="SnapshotSet")
    execution: str = Field(alias="Execution")
    initialization_rate: int | None = Field(default=None, alias="InitializationRate")


@task
def handler(event: dict[str, Any]) -> RestorePlan:
    parsed = Event.model_validate(event)
    ec2 = clients.ec2()
    originals = describe_originals(
        ec2,
        [
            parsed.instance.volume_at(m.device).volume_id  # type: ignore[union-attr]
            for m in parsed.snapshot_set.members
            if parsed.instance.volume_at(m.device)
        ],
    )
    fast_restored = fast_restored_snapshots(
        ec2,
        [m.snapshot_id for m in parsed.snapshot_set.members],
        parsed.instance.availability_zone,
    )
    plan = plan_restore(
        parsed.instance,
        parsed.snapshot_set,
        originals,
        parsed.execution,
        initialization_rate=parsed.initialization_rate,
        fast_restored=fast_restored,
    )
    logger.info("restore planned", extra=plan_fields(plan))
    return plan
