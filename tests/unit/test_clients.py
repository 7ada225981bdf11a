"""The tasks' AWS clients: one hung call, every attempt of it, ends well inside a task's time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config

from vss_restore import clients
from vss_restore.tasks import POLL_IN_TASK_SECONDS, function_timeout_seconds
from vss_restore.workflow.asl import TASK_TIMEOUT_SECONDS

# botocore's standard retry mode waits at most min(2 ** (n - 1), 20) s before attempt n + 1
# (1 s is its largest base, the throttling one) and, where AWS sends x-amz-retry-after,
# up to 5 s more.
BACKOFF_CAP_SECONDS = 20
RETRY_AFTER_EXTRA_SECONDS = 5
# The rest of a task's minute is for its other calls and its own work.
SHARE_OF_THE_TASK_FOR_ONE_CALL = 2 / 3


def worst_case_seconds(config: Any) -> float:
    """How long one call can take when AWS never answers: every attempt waits to connect and
    then for a first byte that never comes, with the longest backoff between attempts."""
    attempts = int(config.retries["total_max_attempts"])
    per_attempt = float(config.connect_timeout) + float(config.read_timeout)
    backoffs: float = sum(
        min(2 ** (n - 1), BACKOFF_CAP_SECONDS) + RETRY_AFTER_EXTRA_SECONDS
        for n in range(1, attempts)
    )
    return attempts * per_attempt + backoffs


@pytest.fixture
def task_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every client a task uses, as the tasks create them."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    clients.reset()
    try:
        yield [make() for make in clients._ALL]
    finally:
        clients.reset()


def test_one_hung_call_with_all_its_attempts_ends_well_inside_the_time_a_task_has(
    task_clients: list[Any],
) -> None:
    # GIVEN the time a call has: a task's function runs a minute (a polling task's, a
    # minute after its in-task wait, which may start a call at its last moment), inside
    # its Task state's own limit
    limit = min(
        function_timeout_seconds("CreateVolumes"),
        function_timeout_seconds("WaitVolumesAvailable") - POLL_IN_TASK_SECONDS,
        TASK_TIMEOUT_SECONDS,
    )

    # WHEN each client's call hangs on every attempt
    worst = {
        c.meta.service_model.service_name: worst_case_seconds(c.meta.config) for c in task_clients
    }

    # THEN each gives up within two thirds of that limit
    assert {
        name: w for name, w in worst.items() if w > limit * SHARE_OF_THE_TASK_FOR_ONE_CALL
    } == {}
    assert worst["ec2"] == worst_case_seconds(clients.CONFIG)


def test_the_worst_case_counts_every_attempt_and_the_backoff_between_them() -> None:
    # GIVEN botocore's default time-outs, 60 s to connect and 60 s to read, and 5 attempts
    defaults = Config(retries={"mode": "standard", "total_max_attempts": 5})

    # WHEN / THEN five attempts of two minutes, and 1 + 2 + 4 + 8 s of backoff, each up to
    # 5 s longer: far past a task's minute
    assert worst_case_seconds(defaults) == 5 * 120 + (1 + 2 + 4 + 8) + 4 * 5
