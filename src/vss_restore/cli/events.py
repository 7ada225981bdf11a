"""``--events jsonl``: what an execution does, one JSON object per line, for scripts.

Each line has ``Time`` (UTC, ISO 8601) and ``Event``: ``Started`` (the execution's name and
ARN), ``StateExited`` (each state as it ends: its phase, outcome, seconds, retries and
errors), ``RollingBack`` (once, when the first undo state starts) and ``Finished`` (the
same document ``status`` prints). Lines are written as they happen and flushed, so a
``while read`` loop sees each at once.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vss_restore.cli.progress import ended_since
from vss_restore.executions import ExecutionRecord, fetch_record, phase_of

if TYPE_CHECKING:
    from vss_restore.cli.target import Target


def emit(event: str, **fields: Any) -> None:
    line = {"Time": datetime.now(UTC).isoformat(timespec="milliseconds"), "Event": event}
    sys.stdout.write(json.dumps({**line, **fields}, default=str) + "\n")
    sys.stdout.flush()


def emit_new_states(record: ExecutionRecord, seen: set[tuple[str, str]]) -> None:
    """A ``StateExited`` line for each state that ended since the last call (and
    ``RollingBack`` before the first undo state)."""
    for rolling_back, run in ended_since(record, seen):
        if rolling_back:
            emit("RollingBack", State=run.name)
            continue
        emit(
            "StateExited",
            State=run.name,
            Phase=phase_of(run),
            Outcome=run.outcome,
            Seconds=run.seconds,
            Retries=run.retries,
            Errors=list(dict.fromkeys(run.errors)),
        )


def follow_events(target: Target, execution_arn: str, _: object = None) -> ExecutionRecord:
    """Poll the execution until it ends, writing each state's end as it is seen."""
    seen: set[tuple[str, str]] = set()
    record = fetch_record(target.sfn, execution_arn)
    while True:
        emit_new_states(record, seen)
        if record.finished:
            return record
        time.sleep(target.poll_seconds)
        record = fetch_record(target.sfn, execution_arn)
