"""Bounded waiting: poll inside the task, then hand over to the state machine's Retry.

A wait task polls every few seconds for up to ``VSS_RESTORE_WAIT_IN_TASK_SECONDS`` (the
stack sets it below the function timeout): one invocation and one state transition cover
a typical stop or boot, and readiness is seen within one poll interval. If the budget runs
out the task raises ``ResourceNotReady`` and the state machine's Retry calls it again. The
whole wait is bounded by the state's limit: past ``TimeoutSeconds`` since the state was
entered (``$$.State.EnteredTime``), ``WaitTimedOut``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import NoReturn, TypeVar

from botocore.exceptions import ClientError

from vss_restore.aws_errors import THROTTLING_CODES, error_code
from vss_restore.errors import ResourceNotReady, WaitTimedOut

# Re-exported (PLC0414): the stack and the local engine name it from here.
from vss_restore.settings import WAIT_IN_TASK_ENV as WAIT_IN_TASK_ENV  # noqa: PLC0414
from vss_restore.settings import settings

# Seconds between polls: short where the instance is down, longer for the slow waits. Each
# poll is one Describe call (EC2 refills 20 describe tokens a second per account).
POLL_SWAP_SECONDS = 1.0
POLL_POWER_SECONDS = 2.0
POLL_VOLUMES_SECONDS = 2.0
POLL_STATUS_CHECKS_SECONDS = 5.0
# Initialization takes minutes to hours, and AWS updates its progress every few minutes.
POLL_INITIALIZATION_SECONDS = 30.0
# A throttled poll is a missed poll: the next one waits twice as long (up to this), so the
# polls of many restores at once shed load until EC2's bucket keeps up with them.
POLL_THROTTLED_MAX_SECONDS = 16.0
T = TypeVar("T")


def system_clock() -> datetime:
    return datetime.now(UTC)


# The date the tasks see (the local engine's simulation mode replaces it with its own).
clock: Callable[[], datetime] = system_clock


def utcnow() -> datetime:
    return clock()


# Pause between polls (the local engine replaces it to run on its own clock).
sleep: Callable[[float], None] = time.sleep


def wait_budget_seconds() -> float:
    return float(settings().wait_in_task_seconds)


def not_ready(what: str, entered_at: datetime, timeout_seconds: int, now: datetime) -> NoReturn:
    waited = now - entered_at
    if waited >= timedelta(seconds=timeout_seconds):
        raise WaitTimedOut(
            f"{what} after {int(waited.total_seconds())} s (limit {timeout_seconds} s)"
        )
    raise ResourceNotReady(what)


def throttled_interval(interval_seconds: float, throttled_in_a_row: int) -> float:
    """The pause after ``throttled_in_a_row`` throttled polls: doubled each time, capped at
    ``POLL_THROTTLED_MAX_SECONDS`` (never below the usual interval)."""
    backed_off = interval_seconds * 2.0 ** min(throttled_in_a_row, 16)
    return max(interval_seconds, min(backed_off, POLL_THROTTLED_MAX_SECONDS))


def poll(check: Callable[[datetime], T], interval_seconds: float) -> T:
    """``check(now)`` until it returns; it raises ``ResourceNotReady`` while not ready.

    Polls for at most the in-task budget, then lets ``ResourceNotReady`` through. The time
    waited is the longer of the sleeps and the clock: slow or retried checks count in
    Lambda, and a local engine that does not really sleep still stops.

    A check EC2 throttles (``RequestLimitExceeded``, after the SDK's own retries) counts
    as not ready yet: the task polls again later, backing off while it stays throttled
    (``throttled_interval``), instead of failing and starting over from the state
    machine's Retry. Past the budget the throttling goes through as ``Ec2Throttled``.
    """
    budget = wait_budget_seconds()
    started = utcnow()
    slept = 0.0
    throttled_in_a_row = 0
    while True:
        try:
            return check(utcnow())
        except (ResourceNotReady, ClientError) as err:
            if isinstance(err, ClientError) and error_code(err) not in THROTTLING_CODES:
                raise
            throttled_in_a_row = throttled_in_a_row + 1 if isinstance(err, ClientError) else 0
            pause = throttled_interval(interval_seconds, throttled_in_a_row)
            waited = max(slept, (utcnow() - started).total_seconds())
            if waited + pause > budget:
                raise
        sleep(pause)
        slept += pause


def poll_until(check: Callable[[datetime], object], interval_seconds: float) -> datetime:
    """``poll`` ``check(now)``; returns the ``now`` at which it first passed."""

    def passed_at(now: datetime) -> datetime:
        check(now)
        return now

    return poll(passed_at, interval_seconds)


def poll_within(
    check: Callable[[datetime], T],
    interval_seconds: float,
    entered_at: datetime,
    timeout_seconds: int,
) -> T:
    """``poll``, where a ``ResourceNotReady`` past ``timeout_seconds`` becomes ``WaitTimedOut``."""

    def bounded(now: datetime) -> T:
        try:
            return check(now)
        except ResourceNotReady as err:
            not_ready(str(err), entered_at, timeout_seconds, now)

    return poll(bounded, interval_seconds)
