"""PlanRestore: one volume spec per device, with the replaced volume's settings."""

from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.lambda_task import task
from vss_restore.models import ChosenSet, InstanceFacts, Model, RestorePlan
from vss_restore.planning import describe_originals, plan_restore


class Event(Model):
    instance: InstanceFacts = Field(alias="Instance")
    snapshot_set: ChosenSet = Field(alias="SnapshotSet")
    execution: str = Field(alias="Execution")


@task
def handler(event: dict[str, Any]) -> RestorePlan:
    parsed = Event.model_validate(event)
    originals = describe_originals(
        clients.ec2(),
        [
            parsed.instance.volume_at(m.device).volume_id  # type: ignore[union-attr]
            for m in parsed.snapshot_set.members
            if parsed.instance.volume_at(m.device)
        ],
    )
    return plan_restore(parsed.instance, parsed.snapshot_set, originals, parsed.execution)
