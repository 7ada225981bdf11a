"""Waiting inside a task: poll until ready, within the in-task budget, then hand over."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from vss_restore import waiting
from vss_restore.errors import ResourceNotReady, SwapFailed, WaitTimedOut
from vss_restore.lambda_task import WARM_UP_EVENT, task
from vss_restore.local.lambda_dispatch import FakeLambdaContext
from vss_restore.settings import reload_settings
from vss_restore.swap import all_at_once


class Readiness:
    """Ready after ``polls`` checks; records the sleeps between them."""

    def __init__(self, polls: int) -> None:
        self.polls = polls
        self.checked = 0
        self.slept: list[float] = []

    def check(self, now: datetime) -> str:
        self.checked += 1
        if self.checked < self.polls:
            raise ResourceNotReady("not yet")
        return f"ready at poll {self.checked}"


def in_task_budget(monkeypatch: pytest.MonkeyPatch, seconds: str | None) -> None:
    """The function's ``VSS_RESTORE_WAIT_IN_TASK_SECONDS`` (None: unset), read as at a cold start."""
    if seconds is None:
        monkeypatch.delenv(waiting.WAIT_IN_TASK_ENV, raising=False)
    else:
        monkeypatch.setenv(waiting.WAIT_IN_TASK_ENV, seconds)
    reload_settings()


@pytest.fixture
def recorded_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(waiting, "sleep", slept.append)
    return slept


def test_poll_keeps_checking_within_the_budget_until_ready(
    monkeypatch: pytest.MonkeyPatch, recorded_sleeps: list[float]
) -> None:
    in_task_budget(monkeypatch, "60")
    readiness = Readiness(polls=4)

    assert waiting.poll(readiness.check, 2.0) == "ready at poll 4"
    assert recorded_sleeps == [2.0, 2.0, 2.0]


def test_poll_until_returns_the_time_of_the_first_passing_check_when_it_was_not_ready_before(
    monkeypatch: pytest.MonkeyPatch, recorded_sleeps: list[float]
) -> None:
    # GIVEN a check that passes on its third call, on a clock that moves a minute a call
    in_task_budget(monkeypatch, "600")
    readiness = Readiness(polls=3)
    checked_at: list[datetime] = []

    def check(now: datetime) -> str:
        checked_at.append(now)
        return readiness.check(now)

    minutes = iter(range(100))
    monkeypatch.setattr(
        waiting, "clock", lambda: datetime(2026, 12, 1, 12, next(minutes), tzinfo=UTC)
    )

    # WHEN it is polled until it passes
    passed_at = waiting.poll_until(check, 2.0)

    # THEN the time returned is the one the passing check was given
    assert readiness.checked == 3
    assert passed_at == checked_at[-1]
    assert passed_at != checked_at[0]


def test_poll_hands_over_to_the_state_machine_when_the_budget_is_spent(
    monkeypatch: pytest.MonkeyPatch, recorded_sleeps: list[float]
) -> None:
    in_task_budget(monkeypatch, "5")
    readiness = Readiness(polls=100)

    with pytest.raises(ResourceNotReady):
        waiting.poll(readiness.check, 2.0)
    assert readiness.checked == 3  # at 0, 2 and 4 s: a sleep to 6 s would pass the budget
    assert sum(recorded_sleeps) <= 5


@pytest.mark.parametrize("budget", [None, "0"])
def test_poll_checks_once_without_a_budget(
    monkeypatch: pytest.MonkeyPatch, recorded_sleeps: list[float], budget: str | None
) -> None:
    in_task_budget(monkeypatch, budget)

    with pytest.raises(ResourceNotReady):
        waiting.poll(Readiness(polls=2).check, 1.0)
    assert recorded_sleeps == []


def test_poll_stops_at_once_on_a_timeout_or_a_failure(
    monkeypatch: pytest.MonkeyPatch, recorded_sleeps: list[float]
) -> None:
    in_task_budget(monkeypatch, "600")

    def timed_out(now: datetime) -> None:
        raise WaitTimedOut("limit passed")

    with pytest.raises(WaitTimedOut):
        waiting.poll(timed_out, 1.0)
    assert recorded_sleeps == []


def test_all_at_once_runs_every_call_concurrently_then_raises_the_first_failure() -> None:
    started = threading.Barrier(3, timeout=5)  # only passes if three calls run at once
    done: list[int] = []

    def call(n: int, fail: bool = False) -> Callable[[], None]:
        def run() -> None:
            started.wait()
            done.append(n)
            if fail:
                raise SwapFailed(f"call {n}")

        return run

    with pytest.raises(SwapFailed, match="call 1"):
        all_at_once([call(0), call(1, fail=True), call(2)])
    assert sorted(done) == [0, 1, 2]


def test_a_warm_up_call_returns_without_running_the_task() -> None:
    ran: list[dict[str, Any]] = []
    handler = task(ran.append)

    # The fake only duck-types Powertools' LambdaContext class (the attributes it reads).
    context: Any = FakeLambdaContext(
        "vss-restore-x", "arn:aws:lambda:us-east-1:1:function:x", "r-1"
    )

    assert handler(dict(WARM_UP_EVENT), context) == {"WarmedUp": True}
    assert ran == []


def throttled(operation: str = "DescribeVolumes") -> ClientError:
    return ClientError(
        {"Error": {"Code": "RequestLimitExceeded", "Message": "Request limit exceeded."}},
        operation,
    )


def test_throttled_interval_doubles_up_to_the_cap_when_throttled_in_a_row() -> None:
    assert [waiting.throttled_interval(1.0, n) for n in range(7)] == [
        1.0,
        2.0,
        4.0,
        8.0,
        16.0,
        waiting.POLL_THROTTLED_MAX_SECONDS,
        waiting.POLL_THROTTLED_MAX_SECONDS,
    ]
    assert waiting.throttled_interval(30.0, 3) == 30.0  # never below the usual interval
    assert waiting.throttled_interval(2.0, 10_000) == waiting.POLL_THROTTLED_MAX_SECONDS


def test_poll_backs_off_and_keeps_polling_when_ec2_throttles_a_check(
    monkeypatch: pytest.MonkeyPatch, recorded_sleeps: list[float]
) -> None:
    # GIVEN a check EC2 throttles twice, then not ready once, then ready
    in_task_budget(monkeypatch, "600")
    answers: list[BaseException | str] = [throttled(), throttled(), ResourceNotReady("no"), "ok"]

    def check(now: datetime) -> str:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    # WHEN / THEN it waits longer after each throttled poll, as usual once one gets through
    assert waiting.poll(check, 2.0) == "ok"
    assert recorded_sleeps == [4.0, 8.0, 2.0]


def test_poll_lets_throttling_through_when_the_budget_is_spent(
    monkeypatch: pytest.MonkeyPatch, recorded_sleeps: list[float]
) -> None:
    in_task_budget(monkeypatch, "20")

    def check(now: datetime) -> str:
        raise throttled()

    with pytest.raises(ClientError, match="RequestLimitExceeded"):
        waiting.poll(check, 2.0)
    assert recorded_sleeps == [4.0, 8.0]  # a 16 s pause would pass the 20 s budget


def test_poll_raises_other_aws_errors_at_once(
    monkeypatch: pytest.MonkeyPatch, recorded_sleeps: list[float]
) -> None:
    in_task_budget(monkeypatch, "600")

    def check(now: datetime) -> str:
        raise ClientError({"Error": {"Code": "InvalidVolume.NotFound", "Message": "x"}}, "Dv")

    with pytest.raises(ClientError, match="NotFound"):
        waiting.poll(check, 2.0)
    assert recorded_sleeps == []
