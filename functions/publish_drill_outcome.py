"""PublishDrillOutcome: DrillSucceeded / DrillRtoSeconds metrics and an EventBridge event."""

from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.drill_report import DrillReport, publish_drill_outcome
from vss_restore.lambda_task import task
from vss_restore.models import Model


class Event(Model):
    report: DrillReport = Field(alias="Report")


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    report = Event.model_validate(event).report
    return publish_drill_outcome(clients.cloudwatch(), clients.events(), report)
