"""Command output: JSON for scripts (the default when piped), rich tables for people."""

from __future__ import annotations

import json
import re
import textwrap
from datetime import datetime, timedelta
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vss_restore.cli.structured import as_text, shape
from vss_restore.executions import ExecutionRecord, Phase, StateRun
from vss_restore.report import error_message

OUTCOME_STYLE = {
    "SUCCEEDED": "bold green",
    "FAILED": "bold red",
    "TIMED_OUT": "bold red",
    "ABORTED": "bold yellow",
    "RUNNING": "bold cyan",
}
RUN_MARK = {
    "succeeded": "[green]✓[/]",
    "caught": "[yellow]↪[/]",
    "failed": "[red]✗[/]",
    "running": "[cyan]…[/]",
}


WIDTH = 80  # what every block of text fits, ids whole


def fact_line(label: str, text: str) -> str:
    """``  Label         text``, wrapped to 80 columns under the text, never inside an id."""
    return textwrap.fill(
        text,
        WIDTH,
        initial_indent=f"  {label:<13} ",
        subsequent_indent=" " * 16,
        break_on_hyphens=False,
        break_long_words=False,
    )


def print_json(console: Console, document: Any) -> None:
    """The command's document, as ``--query`` and ``--output json|text`` shape it."""
    document, text = shape(document)
    if text:
        console.file.write(as_text(document) + "\n")  # as is: rich would expand the tabs
    else:
        console.print_json(json.dumps(document, default=str), highlight=False)


def named_error(record: ExecutionRecord) -> str:
    """``Error: cause``, once (our causes already start with the error name)."""
    error, cause = record.error or record.status, record.cause or ""
    if cause.startswith("{"):  # a Lambda error passed on as it came (the fleet's rejection)
        cause = error_message({"Error": error, "Cause": cause})[1]
    return cause if cause.startswith(f"{error}:") else f"{error}: {cause}".rstrip(": ")


def seconds_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def duration_text(value: float) -> str:
    """Seconds under a minute, else as people say it (a volume loads for ``1 h 8 min``)."""
    return seconds_text(value) if value < 60 else age_text(value)


def age_text(age: timedelta | float) -> str:
    """A duration as people say it: ``2 d 3 h``, ``3 h 5 min``, ``4 min 10 s``, ``12 s``."""
    total = age.total_seconds() if isinstance(age, timedelta) else age
    seconds = max(int(total), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"


def when_text(value: str | datetime | None) -> str:
    if value is None:
        return "—"
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


# EC2 ids (``snap-0123abcd``, ``vol-...``, ``i-...``) and UUIDs (snapshot set ids).
_AN_ID = re.compile(r"\b[a-z]+-[0-9a-f]{8,17}\b|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-")


def fitted_table(title: str, columns: list[tuple[str, bool]]) -> Table:
    """A table that fits 80 columns without cutting an id: columns marked True hold ids and
    never wrap (``keep_ids_whole`` widens them to their longest value); the others wrap."""
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for header, holds_ids in columns:
        table.add_column(header, no_wrap=holds_ids, overflow="fold")
    return table


def keep_ids_whole(table: Table) -> Table:
    """Give each no-wrap (id) column the width of its longest line, and each other column
    the width of its longest word that holds an id (``(snap-0123...)`` in a reason), so that
    a narrow terminal narrows or wraps the rest instead of cutting an id."""
    for column in table.columns:
        lines = [
            line.plain
            for cell in column.cells
            for line in Text.from_markup(cell if isinstance(cell, str) else "").split()
        ]
        if column.no_wrap:
            widths = [len(line) for line in lines] + [len(str(column.header))]
        else:
            widths = [len(word) for line in lines for word in line.split() if _AN_ID.search(word)]
        if widths:
            column.min_width = max(widths)
    return table


def sets_table(instance_id: str, sets: list[dict[str, Any]]) -> Table:
    table = fitted_table(
        f"VSS snapshot sets of {instance_id}, newest first",
        [("Snapshot set", True), ("Taken", False), ("Restorable", False)],
    )
    table.columns[1].max_width = len("16:12:58 UTC")  # date above time: room for the reasons
    for entry in sets:
        if entry["Complete"]:
            verdict = "[green]complete[/]" + (" [bold](latest)[/]" if entry["Latest"] else "")
        else:
            verdict = "[red]incomplete:[/] " + "; ".join(entry["Reasons"])
        table.add_row(
            entry["SnapshotSetId"],
            f"{when_text(entry['CreatedAt'])}\n{len(entry['Devices'])} disks",
            verdict,
            end_section=True,
        )
    return keep_ids_whole(table)


def initialization_text(initialization: dict[str, Any] | None) -> str:
    """A report volume's ``Initialization``: how, and the estimated time to full performance."""
    if not initialization:
        return "—"
    how = {"FastSnapshotRestore": "fast snapshot restore", "Default": "default rate"}.get(
        initialization["Mode"], f"{initialization.get('RateMiBps')} MiB/s"
    )
    return f"{how}, ~{duration_text(initialization['EstimatedSeconds'])}"


def volumes_table(rows: list[dict[str, Any]], title: str) -> Table:
    columns = ("Device", "Snapshot", "New volume", "Replaced volume")
    table = fitted_table(title, [(column, True) for column in columns])
    for row in rows:
        table.add_row(
            row["Device"], row["SnapshotId"], row.get("NewVolumeId") or "—", row["ReplacedVolumeId"]
        )
    return keep_ids_whole(table)


def mounts_table(report: dict[str, Any]) -> Table:
    """A mount's volumes: the source device and snapshot, where it is on the target, its drive."""
    columns = ("Device", "Snapshot", "Volume", "Attached as", "Drive")
    table = fitted_table(
        f"Mounted read-only on {report['TargetInstanceId']}", [(c, True) for c in columns]
    )
    for row in report["Mounts"]:
        letter = row.get("DriveLetter")
        table.add_row(
            row["Device"],
            row["SnapshotId"],
            row.get("VolumeId") or "—",
            row["AttachedAs"],
            f"{letter}:" if letter else "—",
        )
    return keep_ids_whole(table)


def timeline_table(
    runs: list[StateRun], title: str = "States", now: datetime | None = None
) -> Table:
    """One line per state entered; a running state shows how long it has run (at ``now``)."""
    table = fitted_table(
        title,
        [("", True), ("State", False), ("Seconds", True), ("Attempts", True), ("Errors", False)],
    )
    for run in runs:
        name = f"[magenta]{run.name}[/] (rollback)" if run.rollback else run.name
        seconds = run.seconds
        if seconds is None and now is not None:
            seconds = max((now - run.entered_at).total_seconds(), 0.0)
        table.add_row(
            RUN_MARK[run.outcome],
            name,
            "" if seconds is None else f"{seconds:.2f}",
            str(run.attempts) if run.attempts else "",
            ", ".join(dict.fromkeys(run.errors)),
        )
    return table


def phases_table(grouped: list[Phase], title: str = "Phases") -> Table:
    """One line per phase (checks, volumes and stop, swap, start, finish, rollback): how long
    it took, how many states and retries, and how it ended."""
    table = fitted_table(
        title,
        [("", True), ("Phase", False), ("States", True), ("Seconds", True), ("Errors", False)],
    )
    for phase in grouped:
        name = f"[magenta]{phase.name}[/]" if phase.name == "Rollback" else phase.name
        retries = f", {phase.retries} retries" if phase.retries else ""
        table.add_row(
            RUN_MARK[phase.outcome],
            name,
            f"{len(phase.runs)}{retries}",
            f"{phase.seconds:.2f}",
            ", ".join(phase.errors),
        )
    return table


def drill_volumes_table(rows: list[dict[str, Any]]) -> Table:
    columns = ("Device", "Snapshot", "Clone volume")
    table = fitted_table("Clone volumes", [(column, True) for column in columns])
    for row in rows:
        table.add_row(row["Device"], row["SnapshotId"], row.get("CloneVolumeId") or "—")
    return keep_ids_whole(table)


def _print_drill(console: Console, report: dict[str, Any]) -> None:
    """A drill's own facts: the clone, what became of it, and its validation."""
    console.print(f"  {'Clone':<13} {report.get('CloneInstanceId') or '—'} ({report['Clone']})")
    if report.get("ExpiresAt"):
        console.print(f"  {'Expires':<13} {when_text(report['ExpiresAt'])}")
    validation = report.get("Validation")
    if validation:
        style = "green" if validation["Status"] == "Success" else "red"
        console.print(
            f"  {'Validation':<13} [{style}]{validation['Status']}[/] ({validation['Document']})"
        )
        for line in validation["Output"].splitlines()[:12]:
            console.print(f"  {'':<13} {line}", highlight=False)
    for warning in report.get("Warnings", []):
        console.print(f"  [yellow]warning[/]: {warning}", highlight=False)
    if report.get("Volumes"):
        console.print(drill_volumes_table(report["Volumes"]))


def _print_mounts(console: Console, report: dict[str, Any]) -> None:
    if report.get("Mounts"):
        console.print(f"  {'Expires':<13} {when_text(report['ExpiresAt'])}")
        console.print(mounts_table(report))


def _status_facts(record: ExecutionRecord) -> list[tuple[str, str | None]]:
    """The label/value lines at the top of ``status``: what ran, when, and its downtime."""
    summary = record.summary()
    facts = [
        ("Instance", summary["InstanceId"]),
        ("Snapshot set", summary["SnapshotSetId"]),
        ("Started", when_text(summary["StartedAt"])),
        ("Finished", when_text(summary["StoppedAt"])),
    ]
    report = record.report or {}
    mode = record.input.get("Mode")
    # A dry run and a mount restore nothing: no recovery time, no downtime to speak of.
    restores = not record.dry_run and mode != "Mount"
    if restores:
        facts.append(("RTO", seconds_text(summary["RtoSeconds"])))
    if restores and mode == "Online":  # never stopped: the application's downtime
        facts.append(("App downtime", seconds_text(report.get("ApplicationDowntimeSeconds"))))
    elif restores and not record.drill:  # a drill never stops the source
        facts.append(("Downtime", seconds_text(summary["DowntimeSeconds"])))
    full = report.get("FullPerformanceSeconds")
    if full is not None:
        basis = str(report.get("FullPerformanceBasis", "")).lower()
        facts.append(("Full perf.", f"{duration_text(full)} ({basis})"))
    if summary["CurrentState"]:
        facts.append(("Now in", summary["CurrentState"]))
    if record.dry_run:
        facts.append(("Dry run", "yes: nothing was changed"))
    return facts


def print_status(console: Console, record: ExecutionRecord) -> None:
    style = OUTCOME_STYLE.get(record.status, "bold")
    console.print(f"[{style}]{record.status}[/]  {record.arn}", soft_wrap=True, highlight=False)
    facts = _status_facts(record)
    report = record.report or {}
    for label, value in facts:
        console.print(f"  {label:<13} {value or '—'}", highlight=False)
    if record.drill:
        if record.report:
            _print_drill(console, record.report)
        return
    if record.input.get("Mode") == "Mount":  # nothing replaced: where the volumes are mounted
        _print_mounts(console, report)
        return
    if record.finished and record.status != "SUCCEEDED":
        return  # the failure block says where each volume is now
    rows = record.volume_mapping()
    if rows:
        finished = record.status == "SUCCEEDED"
        console.print(volumes_table(rows, "Volumes" if finished else "Planned volumes"))
    initializing = [row for row in rows if row.get("Initialization")]
    if initializing:
        console.print("Initialization (estimated time to full performance):")
        for row in initializing:
            console.print(f"  {row['Device']:<13} {initialization_text(row['Initialization'])}")


def history_table(instance_id: str, records: list[ExecutionRecord]) -> Table:
    """Newest first; the execution name and snapshot set under the start time, whole."""
    table = fitted_table(
        f"Executions of {instance_id}, newest first",
        [
            ("Started · execution · snapshot set", True),
            ("Mode", False),
            ("Outcome", False),
            ("RTO", False),
            ("Downtime", False),
        ],
    )
    for record in records:
        outcome = f"[{OUTCOME_STYLE.get(record.status, 'bold')}]{record.status}[/]"
        if record.error:
            outcome += f" {record.error}"
        if record.rolled_back:
            outcome += " [magenta]rolled back[/]"
        table.add_row(
            f"{when_text(record.started_at)}\n{record.name}\n"
            f"[dim]{record.snapshot_set_id or '—'}[/]",
            record.mode,
            outcome,
            seconds_text(record.rto_seconds if record.status == "SUCCEEDED" else None),
            seconds_text(record.downtime_seconds),
            end_section=True,  # a blank line between executions
        )
    return keep_ids_whole(table)


def history_entry(record: ExecutionRecord) -> dict[str, Any]:
    return {
        "ExecutionArn": record.arn,
        "Name": record.name,  # what status, watch and report take
        "Mode": record.input.get("Mode") or "InPlace",
        "Status": record.status,
        "DryRun": record.dry_run,
        "Error": record.error,
        "StartedAt": record.started_at.isoformat(),
        "StoppedAt": record.stopped_at.isoformat() if record.stopped_at else None,
        "DurationSeconds": record.rto_seconds,
        "DowntimeSeconds": record.downtime_seconds,
        "SnapshotSetId": record.snapshot_set_id,
        "RolledBack": record.rolled_back,
    }


FLEET_STATUS_STYLE = {**OUTCOME_STYLE, "PENDING": "dim"}


def fleet_table(rows: list[dict[str, Any]], title: str = "Fleet") -> Table:
    """One line per instance: its restore's status, current state or error, and times."""
    table = fitted_table(
        title,
        [("Instance", True), ("Status", True), ("Now in / error", False), ("Downtime", False)],
    )
    for row in rows:
        status = row["Status"]
        table.add_row(
            row["InstanceId"],
            f"[{FLEET_STATUS_STYLE.get(status, 'bold')}]{status}[/]",
            row.get("Error") or row.get("CurrentState") or "",
            seconds_text(row.get("DowntimeSeconds")),
        )
    return keep_ids_whole(table)


def fleet_entry(record: ExecutionRecord, report: Any) -> dict[str, Any]:
    """A fleet in ``history --fleets``: its outcome, totals, and each instance's set."""
    totals = report if isinstance(report, dict) else {}
    return {
        "ExecutionArn": record.arn,
        "Name": record.name,  # what status, watch and report take
        "Mode": record.input.get("Mode") or "InPlace",
        "Status": record.status,
        "Error": record.error,
        "StartedAt": record.started_at.isoformat(),
        "StoppedAt": record.stopped_at.isoformat() if record.stopped_at else None,
        "DurationSeconds": record.rto_seconds,
        "Total": totals.get("Total"),
        "Succeeded": totals.get("Succeeded"),
        "Failed": totals.get("Failed"),
        "NotStarted": totals.get("NotStarted"),
        # The sets approved at the confirmation (None: each restore chose its latest).
        "SnapshotSets": record.input.get("SnapshotSets"),
    }


def fleets_table(entries: list[dict[str, Any]]) -> Table:
    """Newest first; the execution name under the start time, whole."""
    table = fitted_table(
        "Fleet executions, newest first",
        [("Started · execution", True), ("Outcome", False), ("Restored", False), ("RTO", False)],
    )
    for entry in entries:
        status = entry["Status"]
        outcome = f"[{OUTCOME_STYLE.get(status, 'bold')}]{status}[/]"
        if entry["Error"]:
            outcome += f" {entry['Error']}"
        restored = "—"
        if entry["Total"] is not None:
            restored = f"{entry['Succeeded']} of {entry['Total']}, {entry['Failed']} failed"
        table.add_row(
            f"{when_text(entry['StartedAt'])}\n{entry['Name']}",
            outcome,
            restored,
            seconds_text(entry["DurationSeconds"]),
            end_section=True,
        )
    return keep_ids_whole(table)
