"""Parts every capability's state machine shares: the request check and the failure's end."""

from __future__ import annotations

from vss_restore.workflow.asl import States, fail, pass_state, task

# Where a machine sends a request it refuses, and every failure once it is undone.
REQUEST_REJECTED = "RequestRejected"
SUMMARIZE_FAILURE = "SummarizeFailure"


def request_check(states: States, modes: tuple[str, ...], next_state: str) -> None:
    """ValidateRequest: the request's fields and the instance, for the modes this machine runs;
    nothing has changed yet, so a refusal goes straight to the failure's summary."""
    states.add(
        "ValidateRequest",
        task(
            "ValidateRequest",
            {
                "Request.$": "$",
                "Execution.$": "$$.Execution.Id",
                "StartedAt.$": "$$.State.EnteredTime",
                "Modes": list(modes),
            },
            comment=(
                "Reject unknown fields, bad values, other modes than this machine's and unknown "
                "or unrestorable instances before anything changes."
            ),
            result_path="$",
            on_error=REQUEST_REJECTED,
            error_path="$",
            next_state=next_state,
        ),
    )
    states.add(REQUEST_REJECTED, pass_state(SUMMARIZE_FAILURE, parameters={"Error.$": "$"}))


def failure_end(states: States) -> None:
    """SummarizeFailure names the error and says what was undone; the execution fails with it."""
    states.add(
        SUMMARIZE_FAILURE,
        task(
            "SummarizeFailure",
            {"Document.$": "$"},
            result_path="$.Failure",
            on_error="FailedUnsummarized",
            error_path="$.SummaryError",
            next_state="RestoreFailed",
        ),
    )
    states.add(
        "RestoreFailed",
        fail(
            "$.Failure.Error",
            "$.Failure.Cause",
            comment="Error is a named error; Cause says what happened and what was rolled back.",
        ),
    )
    states.add("FailedUnsummarized", fail("$.Error.Error", "$.Error.Cause"))


def lock_parameters(instance_path: str, *, acquire: bool) -> dict[str, str]:
    """AcquireLock's and ReleaseLock's input: the instance whose devices the machine changes."""
    parameters = {
        "LockTable": "${LockTableName}",
        "InstanceId.$": instance_path,
        "Execution.$": "$.Execution",
    }
    if acquire:
        parameters["TtlSeconds"] = "${LockTtlSeconds}"
    return parameters


def managed_lock_and_set(
    states: States,
    instance_path: str,
    *,
    comments: tuple[str, str, str | None],
    after: str,
    on_find_error: str,
) -> None:
    """RequireManagedInstance, AcquireLock and FindSnapshotSet, in that order, for the
    instance whose devices change (``comments``: one per state; the lock's and the set's
    failures have nothing to undo but the lock)."""
    states.add(
        "RequireManagedInstance",
        task(
            "RequireManagedInstance",
            {"InstanceId.$": instance_path, "Mode.$": "$.Request.Mode"},
            comment=comments[0],
            result_path=None,
            on_error=SUMMARIZE_FAILURE,
            next_state="AcquireLock",
        ),
    )
    states.add(
        "AcquireLock",
        task(
            "AcquireLock",
            lock_parameters(instance_path, acquire=True),
            comment=comments[1],
            result_path=None,
            on_error=SUMMARIZE_FAILURE,
            next_state="FindSnapshotSet",
        ),
    )
    states.add(
        "FindSnapshotSet",
        task(
            "FindSnapshotSet",
            {"Request.$": "$.Request"},
            comment=comments[2],
            result_path="$.Found",
            on_error=on_find_error,
            next_state=after,
        ),
    )
