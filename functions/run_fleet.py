"""RunFleet: one turn of the fleet machine's loop: read the restores (or drills) once, start
what may start (wave by wave), and say whether all have ended and how long to wait."""

from typing import Any

from vss_restore import clients, waiting
from vss_restore.fleet import FleetRun, run_cycle
from vss_restore.lambda_task import task


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    loop = event["Run"]
    run = FleetRun.of(event["Fleet"], event["StateMachines"], loop["Progress"])
    return run_cycle(clients.sfn(), run, loop["IdleCycles"], waiting.sleep)
