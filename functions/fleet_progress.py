"""FleetProgress: record a finished wave and say what comes next."""

from typing import Any

from vss_restore.fleet import outcome_of, start_wave
from vss_restore.lambda_task import task


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    fleet = dict(event["Fleet"])
    fleet["Done"] = [*fleet["Done"], *(outcome_of(r) for r in event["WaveResults"])]
    return start_wave(fleet)
