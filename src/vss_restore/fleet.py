"""Fleet restores: many instances, wave by wave, one restore execution per instance.

The fleet machine (``statemachines/fleet.asl.json``) loops over waves; each wave runs one
child execution of the restore machine per instance, at most ``MaxConcurrency`` at a time.
After each wave the failure percentage so far is compared with
``ToleratedFailurePercentage``: past it, no further wave starts and the fleet fails.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, ValidationError, model_validator

from vss_restore.errors import InvalidRequest, TerminalError
from vss_restore.models import InstanceId, Model, RestoreRequest, invalid_request

FLEET_FIELDS = (
    "Instances",
    "TagFilter",
    "Waves",
    "MaxConcurrency",
    "ToleratedFailurePercentage",
)
# Options that cannot apply to several instances at once.
PER_INSTANCE_ONLY = ("InstanceId", "SnapshotSetId", "Devices")
MAX_FLEET_SIZE = 500


class FleetFailureThresholdExceeded(TerminalError):
    """More restores of the fleet failed than ToleratedFailurePercentage allows."""


class TagFilter(Model):
    key: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(alias="Key")
    values: list[Annotated[str, StringConstraints(max_length=256)]] = Field(
        alias="Values", min_length=1, max_length=200
    )


class FleetRequest(Model):
    """The fleet machine's input: which instances, in which waves, and how carefully."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)

    instances: list[InstanceId] | None = Field(
        default=None, alias="Instances", min_length=1, max_length=MAX_FLEET_SIZE
    )
    tag_filter: TagFilter | None = Field(default=None, alias="TagFilter")
    waves: list[list[InstanceId]] | None = Field(default=None, alias="Waves", min_length=1)
    # Distributed Map: no inline cap of 40; EC2 throttling is the real limit (see make bench).
    max_concurrency: int = Field(default=10, alias="MaxConcurrency", ge=1, le=100, strict=True)
    tolerated_failure_percentage: float = Field(
        default=0, alias="ToleratedFailurePercentage", ge=0, le=100
    )

    @model_validator(mode="after")
    def _one_source(self) -> FleetRequest:
        if (self.instances is None) == (self.tag_filter is None):
            raise ValueError("give exactly one of Instances and TagFilter")
        if self.instances is not None and len(set(self.instances)) != len(self.instances):
            raise ValueError("Instances lists an instance more than once")
        if self.waves is not None:
            listed = [i for wave in self.waves for i in wave]
            if len(set(listed)) != len(listed) or any(not wave for wave in self.waves):
                raise ValueError("Waves must list each instance once, in non-empty waves")
        return self


def parse_fleet_request(payload: object) -> tuple[FleetRequest, dict[str, Any]]:
    """The fleet settings and the restore options every instance gets; ``InvalidRequest``."""
    if not isinstance(payload, dict):
        raise InvalidRequest("$", "the request must be a JSON object")
    for name in PER_INSTANCE_ONLY:
        if name in payload:
            raise InvalidRequest(name, "applies to one instance; restore it on its own")
    fleet_part = {k: v for k, v in payload.items() if k in FLEET_FIELDS}
    options = {k: v for k, v in payload.items() if k not in FLEET_FIELDS}
    try:
        fleet = FleetRequest.model_validate(fleet_part)
    except ValidationError as err:
        raise invalid_request(err) from err
    # The options are validated as the restore machine will validate them.
    RestoreRequest.parse({"InstanceId": "i-00000000", **options})
    return fleet, options


def plan_waves(instances: list[str], waves: list[list[str]] | None) -> list[list[str]]:
    """The waves to run: as given (they must cover exactly the fleet), else one wave."""
    if not instances:
        raise InvalidRequest("TagFilter", "matches no running or stopped instance")
    if len(instances) > MAX_FLEET_SIZE:
        raise InvalidRequest("TagFilter", f"matches more than {MAX_FLEET_SIZE} instances")
    if waves is None:
        return [list(instances)]
    listed = {i for wave in waves for i in wave}
    missing, extra = sorted(set(instances) - listed), sorted(listed - set(instances))
    if missing or extra:
        detail = "; ".join(
            part
            for part in (
                f"not in any wave: {', '.join(missing)}" if missing else "",
                f"not in the fleet: {', '.join(extra)}" if extra else "",
            )
            if part
        )
        raise InvalidRequest("Waves", f"must list exactly the fleet's instances ({detail})")
    return [list(wave) for wave in waves]


def outcome_of(result: dict[str, Any]) -> dict[str, Any]:
    """One instance's line of the fleet report, from its child execution's result."""
    if "Error" in result:  # caught: the child execution failed
        cause = result.get("Cause") or ""
        try:
            described = json.loads(cause)
        except ValueError:
            described = {}
        return {
            "InstanceId": result.get("InstanceId"),
            "Status": "FAILED",
            "Error": described.get("Error") or result["Error"],
            "Cause": described.get("Cause") or cause,
            "ExecutionArn": described.get("ExecutionArn"),
        }
    report = result.get("Output") or {}
    if isinstance(report, str):
        report = json.loads(report)
    return {
        "InstanceId": report.get("InstanceId") or result.get("InstanceId"),
        "Status": "SUCCEEDED",
        "ExecutionArn": result.get("ExecutionArn"),
        "SnapshotSetId": report.get("SnapshotSetId"),
        "DowntimeSeconds": report.get("DowntimeSeconds"),
        "StartedAt": report.get("StartedAt"),
        "FinishedAt": report.get("FinishedAt"),
        # A drill fleet (Mode "Clone"): the clone's RTO and validation instead of downtime.
        **{k: report[k] for k in ("RtoSeconds", "CloneInstanceId") if k in report},
    }


def next_step(
    waves: list[list[str]], done: list[dict[str, Any]], tolerated_percentage: float
) -> Literal["RunWave", "Report", "Stop"]:
    """After a wave: run the next one, report (all done), or stop (too many failures)."""
    failed = sum(1 for r in done if r["Status"] != "SUCCEEDED")
    total = sum(len(w) for w in waves)
    if failed * 100 > tolerated_percentage * total:
        return "Stop"
    return "RunWave" if _waves_finished(waves, done) < len(waves) else "Report"


def _waves_finished(waves: list[list[str]], done: list[dict[str, Any]]) -> int:
    """How many waves have all their results in ``done`` (waves run one after another)."""
    remaining, finished = len(done), 0
    for wave in waves:
        if remaining < len(wave):
            break
        remaining -= len(wave)
        finished += 1
    return finished


def fleet_report(
    waves: list[list[str]], done: list[dict[str, Any]], tolerated_percentage: float
) -> dict[str, Any]:
    total = sum(len(w) for w in waves)
    failed = [r for r in done if r["Status"] != "SUCCEEDED"]
    started = {r["InstanceId"] for r in done}
    not_started = [i for wave in waves for i in wave if i not in started]
    exceeded = len(failed) * 100 > tolerated_percentage * total
    summary = (
        f"{len(failed)} of {total} restores failed (tolerated: {tolerated_percentage:g} %)"
        + (f"; not started: {', '.join(not_started)}" if not_started else "")
        + "".join(f"; {r['InstanceId']}: {r['Error']}" for r in failed[:20])
    )
    return {
        "Status": "Failed" if exceeded else "Succeeded",
        "Error": FleetFailureThresholdExceeded.__name__ if exceeded else None,
        "Cause": summary,
        "Total": total,
        "Succeeded": len(done) - len(failed),
        "Failed": len(failed),
        "NotStarted": not_started,
        "ToleratedFailurePercentage": tolerated_percentage,
        "Waves": len(waves),
        "Instances": done,
    }


def start_wave(fleet: dict[str, Any]) -> dict[str, Any]:
    """The fleet state with ``Next`` and the restore requests of the wave to run now."""
    waves, done = fleet["Waves"], fleet["Done"]
    step = next_step(waves, done, fleet["ToleratedFailurePercentage"])
    current: list[dict[str, Any]] = []
    if step == "RunWave":
        wave = waves[_waves_finished(waves, done)]
        current = [{"InstanceId": i, **fleet["Options"]} for i in wave]
    return {**fleet, "Next": step, "CurrentWave": current}
