"""FleetReport: per instance status, error and durations, and the totals."""

from typing import Any

from vss_restore.fleet import fleet_report
from vss_restore.lambda_task import task


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    fleet = event["Fleet"]
    return fleet_report(fleet["Waves"], fleet["Done"], fleet["ToleratedFailurePercentage"])
