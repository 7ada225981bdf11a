"""``report --format markdown``: a few lines to paste into an incident channel.

Where (account and Region, from the execution's ARN), what (instance and its Name, the set
and when it was taken), how it went (times, RTO, downtime, what became of the old volumes,
when the new ones reach full performance), and, for a failure, what happened, what was
undone and the next step. Ids are in code spans, so chat clients neither link nor wrap them.
"""

from __future__ import annotations

from dataclasses import dataclass

from vss_restore.cli.failure import Again, failed_at, next_step, summary_of
from vss_restore.cli.render import duration_text, seconds_text, when_text
from vss_restore.executions import ExecutionRecord

STARTER_UNKNOWN = (
    "not known: CloudTrail's event history has no StartExecution event for it (yet: events "
    "arrive minutes after the call), or cloudtrail:LookupEvents is not allowed"
)


@dataclass(frozen=True)
class ReportHeader:
    """What a report says beyond the execution itself: the instance's Name, who started it."""

    instance_name: str | None = None
    started_by: str = STARTER_UNKNOWN


OLD_VOLUMES = {
    "kept": "old volumes kept, detached and tagged (not deleted)",
    "deleted": "old volumes deleted",
    "untouched": "no volume replaced",
}


def _where(record: ExecutionRecord) -> str:
    """``account 123456789012 · us-east-1`` from ``arn:aws:states:REGION:ACCOUNT:...``."""
    parts = record.arn.split(":")
    return f"account `{parts[4]}` · {parts[3]}" if len(parts) > 4 else ""


def _code(text: str) -> str:
    return f"`{text}`"


def markdown_summary(record: ExecutionRecord, again: Again, header: ReportHeader) -> str:
    """The summary as Markdown lines (no trailing newline)."""
    name = header.instance_name
    instance = _code(record.instance_id or "?") + (f" ({name})" if name else "")
    outcome = record.status
    if record.error:
        where = failed_at(record)
        outcome += f": {record.error}" + (f" at {where}" if where else "")
    if record.dry_run and record.status == "SUCCEEDED":
        outcome = "DRY RUN (nothing changed)"
    lines = [f"**{record.mode} {outcome}** · {instance} · {_where(record)}"]
    report = record.report or {}
    set_id = record.snapshot_set_id
    if set_id:
        taken = report.get("SnapshotSetCreatedAt")
        lines.append(
            f"- Snapshot set {_code(set_id)}" + (f", taken {when_text(taken)}" if taken else "")
        )
    lines.append(f"- Started by {header.started_by}")
    timing = f"- {when_text(record.started_at)} → {when_text(record.stopped_at)}"
    if record.status == "SUCCEEDED" and not record.dry_run:
        timing += f" · RTO {seconds_text(record.rto_seconds)}"
        timing += f" · downtime {seconds_text(record.downtime_seconds)}"
    lines.append(timing)
    if record.status == "SUCCEEDED" and report.get("Volumes") and not record.dry_run:
        fate = OLD_VOLUMES.get(str(report.get("ReplacedVolumes")), "")
        lines.append(f"- {len(report['Volumes'])} volume(s) restored; {fate}")
        full = report.get("FullPerformanceSeconds")
        if full is not None:
            basis = str(report.get("FullPerformanceBasis", "estimated")).lower()
            lines.append(f"- Full performance after {duration_text(full)} ({basis})")
    if record.finished and record.status != "SUCCEEDED":
        summary = summary_of(record)
        if summary is not None:
            lines.append(f"- What happened: {summary.happened}")
            if summary.undone:
                lines.append(f"- Undone: {' '.join(summary.undone)}")
        elif record.cause:
            lines.append(f"- What happened: {record.cause}")
        steps = next_step(record, again)
        lines.append(f"- Next: {steps[0]}")
        lines.extend(f"  {_code(command)}" for command in steps[1:])
    lines.append(f"- Execution {_code(record.name)}")
    return "\n".join(lines)
