"""ReportFleet: the fleet's report (every restore read back, what never started) and its
outcome event; after the loop failed, a failed report naming the loop's error."""

from typing import Any

from vss_restore import clients
from vss_restore.fleet import FleetRun, fleet_outcome, publish_fleet_outcome
from vss_restore.lambda_task import task


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    run = FleetRun.of(event["Fleet"], event["StateMachines"])
    report = fleet_outcome(clients.sfn(), run, event.get("Error"))
    publish_fleet_outcome(clients.events(), report)
    return report
