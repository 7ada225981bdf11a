"""Following a running execution state by state (``restore --wait``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.live import Live

from vss_restore.cli.render import RUN_MARK, timeline_table
from vss_restore.executions import ExecutionRecord, fetch_record

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from vss_restore.cli.target import Target


def _lines(record: ExecutionRecord, printed: set[tuple[str, str]]) -> list[str]:
    """One line per state that finished since the last call (for logs, not terminals)."""
    lines = []
    for run in record.timeline():
        key = (run.name, run.entered_at.isoformat())
        if run.outcome == "running" or key in printed:
            continue
        printed.add(key)
        retries = f", {run.retries} retries" if run.retries else ""
        lines.append(f"{RUN_MARK[run.outcome]} {run.name} ({run.seconds or 0:.2f} s{retries})")
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
    return follow_with(
        target,
        execution_arn,
        console,
        lambda record: timeline_table(record.timeline()),
        lambda record: _lines(record, printed),
    )
