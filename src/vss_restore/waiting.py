"""Bounded waiting: a task raises ResourceNotReady until ready, WaitTimedOut past its limit.

The state machine retries ``ResourceNotReady`` with backoff; the task itself compares the
time since the state was entered (``$$.State.EnteredTime``) with the wait's limit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NoReturn

from vss_restore.errors import ResourceNotReady, WaitTimedOut


def utcnow() -> datetime:
    return datetime.now(UTC)


def not_ready(what: str, entered_at: datetime, timeout_seconds: int, now: datetime) -> NoReturn:
    waited = now - entered_at
    if waited >= timedelta(seconds=timeout_seconds):
        raise WaitTimedOut(
            f"{what} after {int(waited.total_seconds())} s (limit {timeout_seconds} s)"
        )
    raise ResourceNotReady(what)
