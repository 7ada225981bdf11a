"""Following a running execution state by state (``restore --wait``).

On a terminal the live view fits the screen: a line with the running state, its elapsed
time and, when the instance has earlier successful runs of the same mode, the expected time
left; under it the latest states (the earlier ones are counted, not listed).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.console import Group
from rich.live import Live
from rich.text import Text

from vss_restore.cli.render import RUN_MARK, age_text, timeline_table
from vss_restore.executions import ExecutionRecord, StateRun, fetch_record

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from vss_restore.cli.target import Target

# Earlier executions of the instance read for the estimate (each costs a history read).
ESTIMATE_FROM = 5
# Lines of the live view that are not state rows: 2 of summary, title, header, rule, and
# one to spare (the line the cursor rests on).
FRAME_LINES = 6


@dataclass(frozen=True)
class Estimate:
    """Durations of the instance's earlier successful runs of the same mode."""

    runs: list[ExecutionRecord]

    def remaining(self, record: ExecutionRecord, now: datetime) -> float | None:
        """Seconds left (negative: later than expected): the median, over earlier runs, of
        their time from entering the current state to their end, less the time spent in it."""
        if not self.runs:
            return None
        running = [r for r in record.timeline() if r.outcome == "running"]
        if not running:
            return None
        current = running[-1]
        tails = []
        for past in self.runs:
            if past.stopped_at is None:
                continue
            entered = next((r.entered_at for r in past.timeline() if r.name == current.name), None)
            if entered is not None:
                tails.append((past.stopped_at - entered).total_seconds())
        if tails:
            spent = (now - current.entered_at).total_seconds()
        else:  # a state the earlier runs never entered (a rollback, say): whole durations
            tails = [
                (p.stopped_at - p.started_at).total_seconds() for p in self.runs if p.stopped_at
            ]
            spent = (now - record.started_at).total_seconds()
        return statistics.median(tails) - spent if tails else None


def estimate_for(target: Target, record: ExecutionRecord) -> Estimate:
    """The instance's latest successful runs of the same mode (none for a new instance)."""
    instance = record.instance_id
    if instance is None:
        return Estimate([])
    earlier = [
        r
        for r in target.past_restores(instance, ESTIMATE_FROM * 4)
        if r.arn != record.arn and r.status == "SUCCEEDED" and r.mode == record.mode
    ]
    return Estimate(earlier[:ESTIMATE_FROM])


def progress_view(
    record: ExecutionRecord, now: datetime, estimate: Estimate, height: int
) -> RenderableType:
    """The live view at ``now``: a summary line and the latest states that fit ``height``."""
    runs = record.timeline()
    running = [r for r in runs if r.outcome == "running"]
    now_in = record.status
    if running:
        now_in = f"{running[-1].name} for {age_text(now - running[-1].entered_at)}"
    rolling_back = not record.finished and any(r.rollback for r in runs)
    if rolling_back:
        now_in = f"ROLLING BACK ({now_in})"
    timing = f"Elapsed {age_text(now - record.started_at)}"
    # Earlier runs say nothing about how long undoing takes: no estimate while rolling back.
    left = estimate.remaining(record, now) if not record.finished and not rolling_back else None
    if left is not None:
        rounded = round(left / 5) * 5  # an estimate: 5 s is precise enough
        if left < 0:
            expected = "longer than earlier runs took"
        elif rounded == 0:
            expected = "under 5 s left"
        else:
            expected = f"about {age_text(rounded)} left"
        runs_text = (
            "1 earlier run" if len(estimate.runs) == 1 else f"{len(estimate.runs)} earlier runs"
        )
        timing += f", {expected} (from {runs_text})"
    summary = Text(f"{record.mode} of {record.instance_id}: {now_in}\n{timing}")
    if rolling_back:
        summary.stylize("bold magenta", 0, summary.plain.index("\n"))
    shown = max(height - FRAME_LINES, 3)
    hidden = runs[:-shown] if len(runs) > shown else []
    title = "States"
    if hidden:
        done = sum(r.seconds or 0 for r in hidden)
        title = f"States ({len(hidden)} earlier ones done in {done:.1f} s not shown)"
    table = timeline_table(runs[len(hidden) :], title, now)
    return Group(summary, table)


ROLLBACK_ANNOUNCED = ("ROLLING BACK", "")


def _clock(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%H:%M:%SZ")


def ended_since(
    record: ExecutionRecord, seen: set[tuple[str, str]]
) -> Iterator[tuple[bool, StateRun]]:
    """The states that ended since the last call, in order, as ``(False, run)``; before the
    first undo state, once, ``(True, run)``: the rollback has begun. ``seen`` keeps what was
    already given (for logs and event streams, which say each thing once)."""
    for run in record.timeline():
        if run.rollback and ROLLBACK_ANNOUNCED not in seen:
            seen.add(ROLLBACK_ANNOUNCED)
            yield True, run
        key = (run.name, run.entered_at.isoformat())
        if run.outcome == "running" or key in seen:
            continue
        seen.add(key)
        yield False, run


def _lines(record: ExecutionRecord, printed: set[tuple[str, str]]) -> list[str]:
    """One line per state that finished since the last call, with the time it finished (for
    logs, not terminals); a line that says so when the rollback begins."""
    lines = []
    for rolling_back, run in ended_since(record, printed):
        if rolling_back:
            lines.append(
                f"{_clock(run.entered_at)} [bold magenta]ROLLING BACK[/]: undoing the restore"
            )
            continue
        retries = f", {run.retries} retries" if run.retries else ""
        ended = _clock(run.exited_at or run.entered_at)
        lines.append(
            f"{ended} {RUN_MARK[run.outcome]} {run.name} ({run.seconds or 0:.2f} s{retries})"
        )
    return lines


def follow_with(
    target: Target,
    execution_arn: str,
    console: Console,
    table: Callable[[ExecutionRecord], RenderableType],
    lines: Callable[[ExecutionRecord], list[str]],
) -> ExecutionRecord:
    """Poll the execution until it ends: a live ``table`` on a terminal, else new ``lines``."""
    record = fetch_record(target.sfn, execution_arn)
    if console.is_terminal:
        with Live(table(record), console=console) as live:
            while not record.finished:
                time.sleep(target.poll_seconds)
                record = fetch_record(target.sfn, execution_arn)
                live.update(table(record))
        return record
    while True:
        for line in lines(record):
            console.print(line)
        if record.finished:
            return record
        time.sleep(target.poll_seconds)
        record = fetch_record(target.sfn, execution_arn)


def follow(target: Target, execution_arn: str, console: Console) -> ExecutionRecord:
    """Poll the execution until it ends, showing each state as it runs."""
    printed: set[tuple[str, str]] = set()
    estimate = Estimate([])
    if console.is_terminal:
        estimate = estimate_for(target, fetch_record(target.sfn, execution_arn))
    return follow_with(
        target,
        execution_arn,
        console,
        lambda record: progress_view(record, datetime.now(UTC), estimate, console.size.height),
        lambda record: _lines(record, printed),
    )
