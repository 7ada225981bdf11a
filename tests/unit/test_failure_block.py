"""The next step a failure block gives, for each kind of failure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from vss_restore.cli.failure import next_step
from vss_restore.executions import ExecutionRecord

T0 = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
INSTANCE = "i-0123456789abcdef0"
NAME = f"{INSTANCE}-5d1c0e9a7b3f"


def _again(*words: str) -> str:
    return " ".join(["vss-restore", *words])


def _failed(
    error: str, cause: str, last_state: str, request: dict[str, Any] | None = None
) -> ExecutionRecord:
    """A failed execution whose history ends by entering ``last_state``."""
    history = [
        {
            "id": 1,
            "type": "FailStateEntered",
            "timestamp": T0 + timedelta(seconds=5),
            "stateEnteredEventDetails": {"name": last_state},
        }
    ]
    return ExecutionRecord(
        arn=f"arn:aws:states:us-east-1:123456789012:execution:vss-restore:{NAME}",
        name=NAME,
        status="FAILED",
        started_at=T0,
        stopped_at=T0 + timedelta(seconds=6),
        input={"InstanceId": INSTANCE, **(request or {})},
        output=None,
        error=error,
        cause=cause,
        history=history,
    )


def test_next_step_is_inspect_then_unlock_when_even_the_summary_failed() -> None:
    # GIVEN a swap error whose failure could not be summarized (what was undone is unknown)
    record = _failed("SwapFailed", "attach failed", "FailedUnsummarized")

    steps = next_step(record, _again)

    # THEN a person looks first, then releases the lock: never "as it was before"
    assert steps[1:] == [
        f"vss-restore inspect --instance-id {INSTANCE}",
        f"vss-restore unlock --instance-id {INSTANCE} --execution {NAME}",
    ]


def test_next_step_is_a_rerun_when_the_rollback_put_everything_back() -> None:
    record = _failed("SwapFailed", "SwapFailed: x. Lock released.", "RestoreFailed")

    steps = next_step(record, _again)

    assert steps[0].startswith("the instance is as it was before")
    assert steps[1:] == [f"vss-restore report {NAME}"]


def test_next_step_is_the_drills_cleanup_when_its_clone_was_left_behind() -> None:
    record = _failed("DrillCleanupFailed", "clone left", "DrillFailed", {"Mode": "Clone"})

    steps = next_step(record, _again)

    assert steps[0].startswith("the source instance was never touched")
    assert steps[2] == f"vss-restore cleanup --execution-arn {record.arn}"


def test_next_step_says_the_source_was_untouched_when_a_drill_failed() -> None:
    record = _failed("WaitTimedOut", "clone never ran", "DrillFailed", {"Mode": "Clone"})

    steps = next_step(record, _again)

    assert steps[0].startswith("the source instance was never touched")


def test_next_step_is_a_new_restore_never_a_rerun_when_the_execution_was_redriven() -> None:
    # GIVEN a redriven execution, refused at the state it resumed at
    record = _failed("ExecutionRedriven", "refused", "ExecutionRedriven")

    # WHEN / THEN look at what the first run left, then start anew: never "as it was before"
    steps = next_step(record, _again)
    assert steps[0].startswith("never redrive")
    assert steps[1:] == [f"vss-restore inspect --instance-id {INSTANCE}"]
