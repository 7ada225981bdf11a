"""A failed execution as one block: where it failed, what was undone, where each volume is
now, and the next step — every line within 80 columns, no id broken.

Built from the execution's history: the document the failure path ends with (what the
rollback tasks wrote), the plan, and the state whose Catch was taken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vss_restore.cli.render import fact_line
from vss_restore.executions import ExecutionRecord, state_input
from vss_restore.report import FailureSummary, failure_summary

# The named errors that mean the request itself was wrong: nothing was changed.
BAD_INPUT_ERRORS = ("InvalidRequest", "InstanceNotFound", "InstanceNotRestorable")
# The errors after which something may be left as it should not be (the lock included).
NEEDS_A_PERSON = ("RollbackFailed",)
# Where an execution ends when even its failure could not be summarized: what the rollback
# did is not known, so a person looks before anything else.
UNSUMMARIZED_END = "FailedUnsummarized"

Again = Callable[..., str]  # the command line reaching the same account: again("inspect", ...)


def failed_at(record: ExecutionRecord) -> str | None:
    """The state whose error sent the execution to its failure path (or that failed last)."""
    runs = record.timeline()
    caught = [r for r in runs if r.outcome == "caught" and not r.rollback]
    if caught:
        return caught[0].name
    failed = [r for r in runs if r.outcome == "failed" and r.kind != "Fail"]
    return failed[-1].name if failed else None


def summary_of(record: ExecutionRecord) -> FailureSummary | None:
    """What happened and what was undone, from the document the failure path ended with
    (None when the execution never reached ``SummarizeFailure``)."""
    document = failure_document(record)
    return failure_summary(document) if document else None


def failure_document(record: ExecutionRecord) -> dict[str, Any] | None:
    return state_input(record.history, "SummarizeFailure")


def _volume_rows(record: ExecutionRecord, document: dict[str, object] | None) -> list[str]:
    """Per device: the volume on it at the end, and what became of the restored one."""
    plan = record.volume_mapping()
    if not plan or not document or not any(k.startswith("Rollback") for k in document):
        return []
    if document.get("RollbackFailure"):
        return ["  Volumes now   unknown: the rollback failed part-way (see `inspect` below)"]
    cleanup = document.get("RollbackCleanup")
    deleted = set(cleanup.get("Deleted", [])) if isinstance(cleanup, dict) else set()
    left = set(cleanup.get("LeftBehind", [])) if isinstance(cleanup, dict) else set()
    rows = ["  Volumes now", f"    {'Device':<11}{'On the device':<24}Restored volume"]
    for row in plan:
        new = row.get("NewVolumeId")
        if not new:
            fate = "— (never created)"
        elif new in deleted:
            fate = f"{new} deleted"
        elif new in left:
            fate = f"{new} tagged for cleanup"
        else:
            fate = f"{new} (see inspect)"
        rows.append(f"    {row['Device']:<11}{row['ReplacedVolumeId']:<24}{fate}")
    return rows


def _steps_of_error(record: ExecutionRecord, again: Again, instance: str) -> list[str] | None:
    """The next step of an error that says by itself what to do (None: any other)."""
    error = record.error or ""
    if error in BAD_INPUT_ERRORS:
        return ["fix the request (the error names the field): nothing was changed."]
    if error == "RestoreInProgress":
        return [
            "another execution holds this instance; follow it, or wait for it to end:",
            again("status", "--instance-id", instance),
        ]
    if error == "ExecutionRedriven":
        # The redrive changed nothing; whatever the first run left (and any repair since) stays.
        return [
            "never redrive: the redrive changed nothing, so the instance is as the first run "
            "left it (docs/runbook.md, ExecutionRedriven). See where every volume is now, "
            "put it right if that run failed, then start a new restore:",
            again("inspect", "--instance-id", instance),
        ]
    if error == "DrillCleanupFailed":
        return [
            "the source instance was never touched; remove what the drill left behind:",
            again("cleanup", "--execution-arn", record.arn, "--dry-run"),
            again("cleanup", "--execution-arn", record.arn),
        ]
    return None


def next_step(record: ExecutionRecord, again: Again) -> list[str]:
    """What the person at the keyboard does now, as commands to copy."""
    instance = record.instance_id or "INSTANCE"
    error = record.error or ""
    named = _steps_of_error(record, again, instance)
    if named is not None:
        return named
    lock_kept = "Lock kept" in (record.cause or "")
    runs = record.timeline()
    unsummarized = bool(runs) and runs[-1].name == UNSUMMARIZED_END
    if error in NEEDS_A_PERSON or lock_kept or unsummarized:
        return [
            "see where every volume is now, put the devices right (docs/runbook.md), then "
            "release the lock:",
            again("inspect", "--instance-id", instance),
            again("unlock", "--instance-id", instance, "--execution", record.name),
        ]
    if record.drill:
        return [
            "the source instance was never touched. Read the error above, fix its cause, "
            "then run the drill again; the timeline of this one:",
            again("report", record.name),
        ]
    return [
        "the instance is as it was before. Read the error above, fix its cause, then run "
        "the same restore again; the timeline of this one:",
        again("report", record.name),
    ]


def failure_block(record: ExecutionRecord, again: Again) -> list[str]:
    """The lines that explain a failed execution, each within 80 columns."""
    document = failure_document(record)
    summary = failure_summary(document) if document else None
    where = failed_at(record)
    heading = f"{record.error or record.status}" + (f" at {where}" if where else "")
    lines = [f"{record.status}: {heading}"]
    volume_rows = _volume_rows(record, document)
    if summary is not None:
        lines.append(fact_line("What happened", summary.happened))
        # The table below names each volume: the sentences that list them would repeat it.
        listed = ("volumes", "deleted") if len(volume_rows) > 1 else ()
        undone = [sentence for what, sentence in summary.steps if what not in listed]
        for index, part in enumerate(undone):
            lines.append(fact_line("Undone" if index == 0 else "", part))
    else:
        lines.append(fact_line("What happened", record.cause or "no cause was given"))
    lines.extend(volume_rows)
    steps = next_step(record, again)
    lines.append(fact_line("Next step", steps[0]))
    # Commands stay on one line each (to copy), even past 80 columns.
    lines.extend(f"{' ' * 16}{command}" for command in steps[1:])
    return lines
