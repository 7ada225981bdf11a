"""RunFleet: start the fleet's restores (or drills) wave by wave and follow them until all have ended."""

from typing import Any

from vss_restore import clients, waiting
from vss_restore.fleet import POLL_FLEET_SECONDS, FleetRun, run_fleet
from vss_restore.lambda_task import task


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    run = FleetRun.of(event["Fleet"], event["StateMachines"])
    return run_fleet(clients.sfn(), run, waiting.poll, POLL_FLEET_SECONDS, waiting.sleep)
