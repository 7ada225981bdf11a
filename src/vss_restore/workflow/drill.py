"""The drill state machine (Mode "Clone"): a clone of the instance from its set, started and
checked in an isolated subnet, then removed; the source instance is only read."""

from __future__ import annotations

from typing import Any

from vss_restore.capabilities import CAPABILITY_MODES
from vss_restore.workflow.asl import (
    POLL_CLONE_ROOT,
    POLL_INSTANCE,
    States,
    choice,
    fail,
    machine,
    succeed,
    task,
    when,
)
from vss_restore.workflow.parts import SUMMARIZE_FAILURE, failure_end, request_check
from vss_restore.workflow.restore import EXECUTION_CLEANUP, WAIT

MODES = CAPABILITY_MODES["drill"]
CLONE = "$.Clone.InstanceId"
# Every failure of a drill ends here: the clone is removed (unless KeepClone) and reported.
CLEAN_UP = "KeepOrRemoveClone"


def definition() -> dict[str, Any]:
    states = States()
    request_check(states, MODES, "FindSnapshotSet")
    states.add(
        "FindSnapshotSet",
        task(
            "FindSnapshotSet",
            {"Request.$": "$.Request"},
            comment="Drill: no lock, since the source instance is only read.",
            result_path="$.Found",
            on_error=CLEAN_UP,
            next_state="PlanClone",
        ),
    )
    states.add(
        "PlanClone",
        task(
            "PlanClone",
            {
                "Request.$": "$.Request",
                "Instance.$": "$.Found.Instance",
                "SnapshotSet.$": "$.Found.SnapshotSet",
                "Execution.$": "$.Execution",
            },
            comment=(
                "The source's AMI and attributes, the set's snapshots at the same devices, the "
                "requested subnet."
            ),
            result_path="$.ClonePlan",
            on_error=CLEAN_UP,
            next_state="IsDryRun",
        ),
    )
    states.add(
        "IsDryRun",
        choice(
            [when("$.Request.DryRun", "BuildDrillReport", BooleanEquals=True)],
            default="LaunchClone",
        ),
    )
    _clone(states)
    _report(states)
    failure_end(states)
    return machine(
        "vss-restore drill: launch a clone of an instance from its application-consistent "
        "snapshot set in an isolated subnet, check that it boots (and validates), remove it and "
        "report the recovery time; the source instance is never changed.",
        "ValidateRequest",
        states,
        # A drill changes nothing of its source: only the failure's summary is bookkeeping.
        rollback_from=(SUMMARIZE_FAILURE,),
    )


def _clone(states: States) -> None:
    states.add(
        "LaunchClone",
        task(
            "LaunchClone",
            {"Plan.$": "$.ClonePlan"},
            comment=(
                "Creates the isolation group unless SecurityGroupIds are given, then launches "
                "once per execution (found again by its tags on a retry), with the set's data "
                "volumes; tagged vss-restore:drill."
            ),
            result_path="$.Clone",
            on_error=CLEAN_UP,
            next_state="SwapCloneRoot",
        ),
    )
    states.add(
        "SwapCloneRoot",
        task(
            "SwapCloneRoot",
            {
                "Plan.$": "$.ClonePlan",
                "InstanceId.$": CLONE,
                **WAIT,
                "TimeoutSeconds": "${CloneRootTimeoutSeconds}",
            },
            comment=(
                "EC2 launches the AMI's own root: stop the clone, swap its root for a volume "
                "from the set's root snapshot (the in-place swap steps), delete the AMI's root, "
                "start it."
            ),
            result_path="$.CloneRoot",
            on_error=CLEAN_UP,
            poll_retry=POLL_CLONE_ROOT,
            next_state="WaitInstanceRunning",
        ),
    )
    for runs, timeout, result, following in (
        ("WaitInstanceRunning", "StartTimeoutSeconds", "$.CloneRunning", "WaitStatusChecks"),
        ("WaitStatusChecks", "StatusCheckTimeoutSeconds", "$.CloneReady", "HasValidation"),
    ):
        states.add(
            runs,
            task(
                runs,
                {"InstanceId.$": CLONE, **WAIT, "TimeoutSeconds": "${" + timeout + "}"},
                result_path=result,
                on_error=CLEAN_UP,
                poll_retry=POLL_INSTANCE,
                next_state=following,
            ),
        )
    states.add(
        "HasValidation",
        choice(
            [when("$.Request.ValidationDocument", "RunValidation", IsString=True)],
            default=CLEAN_UP,
        ),
    )
    validation = {
        "InstanceId.$": CLONE,
        **WAIT,
        "Document.$": "$.Request.ValidationDocument",
        "TimeoutSeconds": "${ValidationTimeoutSeconds}",
    }
    states.add(
        "RunValidation",
        task(
            "RunValidation",
            {
                **validation,
                "Parameters.$": "$.Request.ValidationParameters",
                "Execution.$": "$.Execution",
                "Isolation.$": "$.ClonePlan.Isolation",
            },
            comment=(
                "SSM Run Command on the clone; waits for its SSM agent to register (past the "
                "limit, the planned isolation says why it may not have)."
            ),
            result_path="$.Validation",
            on_error=CLEAN_UP,
            poll_retry=POLL_INSTANCE,
            next_state="WaitValidation",
        ),
    )
    states.add(
        "WaitValidation",
        task(
            "WaitValidation",
            {**validation, "CommandId.$": "$.Validation.CommandId"},
            comment=(
                "The command's status, exit code and output; a failed command fails the drill "
                "in its report."
            ),
            result_path="$.ValidationResult",
            on_error=CLEAN_UP,
            poll_retry=POLL_INSTANCE,
            next_state=CLEAN_UP,
        ),
    )


def _report(states: States) -> None:
    states.add(
        CLEAN_UP,
        choice(
            [when("$.Request.KeepClone", "BuildDrillReport", BooleanEquals=True)],
            default="CleanupDrill",
            comment="Reached on success and on every drill failure.",
        ),
    )
    states.add(
        "CleanupDrill",
        task(
            "CleanupDrill",
            EXECUTION_CLEANUP,
            comment="Terminate the clone and delete its volumes; wait until they are gone.",
            result_path="$.Cleanup",
            on_error="BuildDrillReport",
            error_path="$.CleanupError",
            poll_retry=POLL_INSTANCE,
            next_state="BuildDrillReport",
        ),
    )
    states.add(
        "BuildDrillReport",
        task(
            "BuildDrillReport",
            {"Document.$": "$"},
            result_path="$.Report",
            on_error="DrillUnreported",
            error_path="$.ReportError",
            next_state="PublishDrillOutcome",
        ),
    )
    states.add(
        "PublishDrillOutcome",
        task(
            "PublishDrillOutcome",
            {"Report.$": "$.Report"},
            comment="DrillSucceeded and DrillRtoSeconds metrics; one EventBridge event with the report.",
            result_path="$.Published",
            on_error="DrillOutcome",
            error_path="$.PublishError",
            next_state="DrillOutcome",
        ),
    )
    states.add(
        "DrillOutcome",
        choice(
            [when("$.Report.Status", "DrillFailed", StringEquals="Failed")],
            default="DrillFinished",
        ),
    )
    states.add("DrillFinished", succeed("$.Report"))
    states.add(
        "DrillFailed",
        fail(
            "$.Report.Error",
            "$.Report.Cause",
            comment="The report (in the history) says why; the clone was removed unless KeepClone.",
        ),
    )
    states.add("DrillUnreported", fail("$.ReportError.Error", "$.ReportError.Cause"))
