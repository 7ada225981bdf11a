"""Following a fleet restore instance by instance (``fleet-restore --wait``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from vss_restore.capabilities import capability_of
from vss_restore.cli.progress import follow_with
from vss_restore.cli.render import fleet_table
from vss_restore.executions import ExecutionRecord, fetch_record

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient
    from rich.console import Console
    from rich.table import Table

    from vss_restore.cli.target import Target


def fleet_instances(record: ExecutionRecord) -> list[str]:
    """The fleet's instances in wave order (known once ResolveFleet has run)."""
    fleet = record.last_output("Fleet")
    if not isinstance(fleet, dict):
        return []
    return [i for wave in fleet.get("Waves", []) for i in wave]


def child_executions(
    sfn: SFNClient, restore_arn: str, started_at: datetime, instances: list[str]
) -> dict[str, dict[str, Any]]:
    """Instance → its restore execution started by this fleet (children are named
    ``<instance>-<uuid>`` and start after the fleet)."""
    found: dict[str, dict[str, Any]] = {}
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=restore_arn):
        for execution in page["executions"]:
            if execution["startDate"] < started_at:
                return found  # newest first: the rest are older than the fleet
            for instance in instances:
                if execution["name"].startswith(f"{instance}-") and instance not in found:
                    found[instance] = dict(execution)
    return found


class FleetProgress:
    """Rows of the live table; a finished child is read once, then remembered."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._finished: dict[str, dict[str, Any]] = {}

    def rows(self, fleet: ExecutionRecord) -> list[dict[str, Any]]:
        instances = fleet_instances(fleet)
        # A fleet's children run on its Mode's machine (drills on the drill machine).
        machine = self.target.machine_arn(capability_of(fleet.input))
        children = child_executions(self.target.sfn, machine, fleet.started_at, instances)
        rows = []
        for instance in instances:
            child = children.get(instance)
            if child is None:
                rows.append({"InstanceId": instance, "Status": "PENDING"})
                continue
            arn = child["executionArn"]
            if arn in self._finished:
                rows.append(self._finished[arn])
                continue
            record = fetch_record(self.target.sfn, arn)
            row = {
                "InstanceId": instance,
                "Status": record.status,
                "ExecutionArn": arn,
                "CurrentState": record.current_state,
                "Error": record.error,
                "DowntimeSeconds": record.downtime_seconds,
            }
            if record.finished:
                self._finished[arn] = row
            rows.append(row)
        return rows


def fleet_view(rows: list[dict[str, Any]], height: int) -> Table:
    """The live table, within ``height`` lines: when the fleet is longer, finished successes
    and then pending instances make room first, and the title counts them."""
    room = max(height - 5, 3)  # title, header, rule, the cursor's line, and one to spare
    hidden: dict[str, int] = {}
    for status in ("SUCCEEDED", "PENDING"):
        while len(rows) > room and any(r["Status"] == status for r in rows):
            index = next(i for i, r in enumerate(rows) if r["Status"] == status)
            rows = rows[:index] + rows[index + 1 :]
            hidden[status] = hidden.get(status, 0) + 1
    title = "Fleet"
    if hidden:
        counted = " and ".join(f"{n} {status.lower()}" for status, n in hidden.items())
        title = f"Fleet ({counted} not shown)"
    return fleet_table(rows[:room], title)


def follow_fleet(target: Target, execution_arn: str, console: Console) -> ExecutionRecord:
    """Poll the fleet until it ends, showing each instance's restore as it goes."""
    progress = FleetProgress(target)
    printed: dict[str, str] = {}

    def lines(record: ExecutionRecord) -> list[str]:
        changed = []
        for row in progress.rows(record):
            shown = f"{row['Status']} {row.get('Error') or row.get('CurrentState') or ''}".strip()
            if printed.get(row["InstanceId"]) != shown:
                printed[row["InstanceId"]] = shown
                changed.append(f"{row['InstanceId']}: {shown}")
        return changed

    return follow_with(
        target,
        execution_arn,
        console,
        lambda record: fleet_view(progress.rows(record), console.size.height),
        lines,
    )
