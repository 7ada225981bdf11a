"""The tasks' log lines: each carries what identifies its run, each decision has its fields."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import VssSetFactory
from tests.handlers.conftest import CallTask
from vss_restore.errors import RestoreInProgress
from vss_restore.lambda_task import logger
from vss_restore.local.engine import LOCK_TABLE_NAME
from vss_restore.models import RestoreRequest

LogLines = list[dict[str, Any]]


class _Collect(logging.Handler):
    def __init__(self, lines: LogLines) -> None:
        super().__init__()
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def task_log() -> Iterator[LogLines]:
    """The tasks' log lines as Lambda would write them (Powertools' JSON), parsed."""
    lines: LogLines = []
    collect = _Collect(lines)
    collect.setFormatter(logger.registered_formatter)
    tasks_logger = logging.getLogger(logger.name)
    level = tasks_logger.level
    tasks_logger.addHandler(collect)
    tasks_logger.setLevel(logging.INFO)
    yield lines
    tasks_logger.removeHandler(collect)
    tasks_logger.setLevel(level)


def execution_arn(name: str) -> str:
    return f"arn:aws:states:us-east-1:123456789012:execution:vss-restore:{name}"


def lock_event(instance_id: str, execution: str) -> dict[str, Any]:
    """ReleaseLock's event; AcquireLock's has ``TtlSeconds`` too."""
    return {
        "LockTable": LOCK_TABLE_NAME,
        "InstanceId": instance_id,
        "Execution": execution_arn(execution),
    }


def acquire_event(instance_id: str, execution: str) -> dict[str, Any]:
    return {**lock_event(instance_id, execution), "TtlSeconds": 3600}


def test_lock_lines_name_the_execution_when_acquired_refused_and_released(
    call_task: CallTask, instance_with_volumes: str, task_log: LogLines
) -> None:
    # GIVEN one execution that takes the instance's lock
    first, second = f"restore-{uuid.uuid4().hex[:8]}", f"restore-{uuid.uuid4().hex[:8]}"
    call_task("AcquireLock", acquire_event(instance_with_volumes, first))

    # WHEN a second execution asks for it, then the first releases it
    with pytest.raises(RestoreInProgress):
        call_task("AcquireLock", acquire_event(instance_with_volumes, second))
    call_task("ReleaseLock", lock_event(instance_with_volumes, first))

    # THEN each decision is one line, naming its own execution and the instance
    decisions = [(line["message"], line.get("execution")) for line in task_log]
    assert ("lock acquired", first) in decisions
    assert ("lock refused", second) in decisions
    assert ("lock released", first) in decisions
    refused = next(line for line in task_log if line["message"] == "lock refused")
    assert first in refused["why"]
    assert all(line["instance_id"] == instance_with_volumes for line in task_log)
    # AND the refusal's warning, another line of the same invocation, carries it too
    warning = next(line for line in task_log if line["level"] == "WARNING")
    assert warning["execution"] == second


def test_stop_line_says_whether_a_stop_was_needed_when_called_twice(
    call_task: CallTask, instance_with_volumes: str, task_log: LogLines
) -> None:
    # GIVEN / WHEN StopInstance runs on the running instance, then again once it is stopped
    call_task("StopInstance", {"InstanceId": instance_with_volumes})
    call_task("StopInstance", {"InstanceId": instance_with_volumes})

    # THEN the first asked for a stop, the second did not need to (the event has no
    # execution: the instance identifies the run)
    assert [(line["message"], line["was_running"]) for line in task_log] == [
        ("stop requested", True),
        ("stop not needed: already stopped or stopping", False),
    ]
    assert all(line["instance_id"] == instance_with_volumes for line in task_log)
    assert all("execution" not in line for line in task_log)


def test_snapshot_set_line_names_the_chosen_set_and_why_newer_ones_were_skipped(
    call_task: CallTask, instance_with_volumes: str, vss_set: VssSetFactory, task_log: LogLines
) -> None:
    # GIVEN a complete set and a newer one without its xvdh snapshot app-consistent
    vss_set("set-ok", hours_ago=2)
    vss_set("set-bad", hours_ago=1, not_app_consistent=("xvdh",))
    request = RestoreRequest.parse({"InstanceId": instance_with_volumes}).to_payload()

    # WHEN FindSnapshotSet chooses
    call_task("FindSnapshotSet", {"Request": request})

    # THEN its line names the chosen set, its devices, and the skipped set with the reason
    (chosen,) = [line for line in task_log if line["message"] == "snapshot set chosen"]
    assert chosen["snapshot_set_id"] == "set-ok"
    assert "xvdh" in chosen["devices"]
    assert [s["id"] for s in chosen["skipped"]] == ["set-bad"]
    assert any("xvdh" in why for why in chosen["skipped"][0]["why"])
    assert chosen["instance_id"] == instance_with_volumes


def test_no_keys_of_an_invocation_reach_the_next_when_its_event_has_none(
    call_task: CallTask, instance_with_volumes: str, task_log: LogLines
) -> None:
    # GIVEN an invocation whose lines carried an execution
    call_task("AcquireLock", acquire_event(instance_with_volumes, "restore-keys"))

    # WHEN the next invocation's event names none
    call_task("StopInstance", {"InstanceId": instance_with_volumes})

    # THEN its lines do not carry the earlier execution
    stop = next(line for line in task_log if line["message"].startswith("stop"))
    assert "execution" not in stop
