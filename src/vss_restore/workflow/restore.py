"""The restore state machine: Mode "InPlace" (stop, swap, start) and Mode "Online" (data
volumes swapped through SSM while the instance runs), and the rollback of both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vss_restore.capabilities import CAPABILITY_MODES
from vss_restore.workflow.asl import (
    POLL_ATTACHMENT,
    POLL_INITIALIZATION,
    POLL_INSTANCE,
    POLL_START,
    POLL_STOP,
    POLL_VALIDATION,
    POLL_VOLUMES,
    REDRIVEN,
    Retrier,
    State,
    States,
    catch_redriven,
    choice,
    machine,
    pass_state,
    redriven_end,
    succeed,
    task,
    when,
)
from vss_restore.workflow.parts import (
    SUMMARIZE_FAILURE,
    failure_end,
    lock_parameters,
    managed_lock_and_set,
    request_check,
)

MODES = CAPABILITY_MODES["restore"]
INSTANCE = "$.Request.InstanceId"
WAIT = {"EnteredTime.$": "$$.State.EnteredTime"}  # every wait measures its own time limit
# An undo's wait (and a drill's cleanup): the rollback's time limit.
ROLLBACK_WAIT = {**WAIT, "TimeoutSeconds": "${RollbackWaitTimeoutSeconds}"}
# What an undo of everything this execution created (found by its tags) is given.
EXECUTION_CLEANUP = {"Execution.$": "$.Execution", **ROLLBACK_WAIT}
# Where a failure goes once the instance may have changed: its original volumes back.
REATTACH = "ReattachOriginalVolumes"
ROLLBACK_FAILED = "MarkLeftovers"
ONLINE_ROLLBACK = "SendDiskCommandRollbackDisksOffline"
RELEASE_AFTER_FAILURE = "ReleaseLockAfterFailure"
SWAP_INPUT = {"Plan.$": "$.Plan", "Created.$": "$.Prepared.Created"}


def definition() -> dict[str, Any]:
    states = States()
    request_check(states, MODES, "ChooseMode")
    states.add(
        "ChooseMode",
        choice(
            [when("$.Request.Mode", "RequireManagedInstance", StringEquals="Online")],
            default="AcquireLock",
            comment=(
                'Mode "Online" swaps data volumes of the running instance through SSM and never '
                "stops it."
            ),
        ),
    )
    _checks_and_plan(states)
    _in_place(states)
    _online(states)
    _rollback(states)
    _online_rollback(states)
    failure_end(states)
    return machine(
        "vss-restore: restore a Windows instance in place from its application-consistent "
        "EBS snapshot set (Mode InPlace, or Online for data volumes of a running instance), "
        "rolling back to the original volumes and power state on any failure.",
        "ValidateRequest",
        states,
        rollback_from=ROLLBACK_ENTRIES,
    )


# Where each kind of failure's undo begins (everything after them is undo or bookkeeping).
ROLLBACK_ENTRIES = (
    REATTACH,
    "RestorePowerState",
    ONLINE_ROLLBACK,
    "DeleteRestoredVolumes",
    RELEASE_AFTER_FAILURE,
    SUMMARIZE_FAILURE,
)


def _checks_and_plan(states: States) -> None:
    managed_lock_and_set(
        states,
        INSTANCE,
        comments=(
            'Mode "Online": the instance must be running and its SSM agent online '
            "(InstanceNotRunning, InstanceNotManaged) before anything changes.",
            "One restore per instance: RestoreInProgress if another execution holds the lock.",
            None,
        ),
        after="PlanRestore",
        on_find_error=RELEASE_AFTER_FAILURE,
    )
    states.add(
        "PlanRestore",
        task(
            "PlanRestore",
            {
                "Instance.$": "$.Found.Instance",
                "SnapshotSet.$": "$.Found.SnapshotSet",
                "Execution.$": "$.Execution",
                "InitializationRate.$": "$.Request.InitializationRate",
            },
            result_path="$.Plan",
            on_error=RELEASE_AFTER_FAILURE,
            next_state="IsDryRun",
        ),
    )
    states.add(
        "IsDryRun",
        choice(
            [
                when("$.Request.DryRun", "BuildReport", BooleanEquals=True),
                when("$.Request.Mode", "CreateVolumesOnline", StringEquals="Online"),
            ],
            default="PrepareVolumesAndStop",
        ),
    )


def _prepare_branch(
    create: str,
    wait: str,
    failed: str,
    create_input: dict[str, str],
    wait_input: dict[str, str],
    result: str,
    poll_retry: Retrier,
) -> dict[str, Any]:
    """One branch of PrepareVolumesAndStop: a task and its wait; a failure is kept, not raised,
    so that the other branch finishes before any rollback starts."""
    branch = States()
    redriven = f"{create}Redriven"
    branch.add(
        create,
        task(
            create,
            create_input,
            result_path=result,
            on_error=failed,
            next_state=wait,
            redriven=redriven,
        ),
    )
    branch.add(
        wait,
        task(
            wait,
            {**wait_input, **WAIT},
            result_path=None,
            on_error=failed,
            poll_retry=poll_retry,
            output_path=result,
            next_state=None,
            redriven=redriven,
        ),
    )
    branch.add(failed, pass_state(None, parameters={"Error.$": "$.Error"}))
    # Not kept like a failure: it fails the Parallel, which ends the execution changing nothing.
    branch.add(redriven, redriven_end())
    return {"StartAt": create, "States": dict(branch)}


# Each task of the downtime path once, with the warm-up event, while the instance stops.
WARM_UP_TASKS = (
    "DetachOriginalVolumes",
    "WaitOriginalsDetached",
    "AttachRestoredVolumes",
    "WaitRestoredAttached",
    "SetDeleteOnTermination",
    "StartInstance",
)


def _warm_up_branch() -> dict[str, Any]:
    branch = States()
    names = [f"{t}WarmUp" for t in WARM_UP_TASKS]
    for position, (runs, name) in enumerate(zip(WARM_UP_TASKS, names, strict=True)):
        following = names[position + 1] if position + 1 < len(names) else "WarmedUp"
        branch.add(
            name,
            task(
                runs,
                {"WarmUp": True},
                comment=(
                    "Best effort, never fails the restore: a no-op call of each task on the "
                    "downtime path while the instance stops, so that none of them starts cold "
                    "once it is down."
                )
                if position == 0
                else None,
                result_path=None,
                retry=False,
                on_error=following,
                error_path=None,
                next_state=following,
                redriven=None,
            ),
        )
    branch.add("WarmedUp", succeed())
    return {"StartAt": names[0], "States": dict(branch)}


def _in_place(states: States) -> None:
    states.add(
        "PrepareVolumesAndStop",
        {
            "Type": "Parallel",
            "Comment": (
                "Volumes are created while the instance stops: downtime is only stop, swap and "
                "start. Each branch catches its own failure so that both have finished before "
                "any rollback starts. A third branch warms up the swap tasks."
            ),
            "Branches": [
                _prepare_branch(
                    "CreateVolumes",
                    "WaitVolumesAvailable",
                    "CreateVolumesFailed",
                    {"Plan.$": "$.Plan"},
                    {"Created.$": "$.Created", "TimeoutSeconds": "${VolumeWaitTimeoutSeconds}"},
                    "$.Created",
                    POLL_VOLUMES,
                ),
                _prepare_branch(
                    "StopInstance",
                    "WaitInstanceStopped",
                    "StopInstanceFailed",
                    {"InstanceId.$": INSTANCE},
                    {"InstanceId.$": INSTANCE, "TimeoutSeconds": "${StopTimeoutSeconds}"},
                    "$.Stop",
                    POLL_STOP,
                ),
                _warm_up_branch(),
            ],
            "ResultSelector": {"Created.$": "$[0]", "Stop.$": "$[1]"},
            "ResultPath": "$.Prepared",
            "Next": "PreparedCleanly",
            "Catch": [
                catch_redriven(REDRIVEN),
                {
                    "ErrorEquals": ["States.ALL"],
                    "ResultPath": "$.Error",
                    "Next": "RestorePowerState",
                },
            ],
        },
    )
    states.add(
        "PreparedCleanly",
        choice(
            [
                when("$.Prepared.Created.Error", "VolumesNotCreated", IsPresent=True),
                when("$.Prepared.Stop.Error", "InstanceNotStopped", IsPresent=True),
            ],
            default="DetachOriginalVolumes",
        ),
    )
    for name, branch in (("VolumesNotCreated", "Created"), ("InstanceNotStopped", "Stop")):
        states.add(
            name,
            pass_state(
                "RestorePowerState", input_path=f"$.Prepared.{branch}.Error", result_path="$.Error"
            ),
        )
    _swap(states, suffix="", on_error=REATTACH, after="PowerOnAfterRestore")
    states.add(
        "PowerOnAfterRestore",
        choice(
            [when("$.Request.PowerOnAfterRestore", "StartInstance", BooleanEquals=True)],
            default="ShouldWaitForInitialization",
        ),
    )
    states.add(
        "StartInstance",
        task(
            "StartInstance",
            {"InstanceId.$": INSTANCE},
            result_path=None,
            on_error=REATTACH,
            next_state="WaitInstanceRunning",
        ),
    )
    states.add(
        "WaitInstanceRunning",
        task(
            "WaitInstanceRunning",
            {"InstanceId.$": INSTANCE, **WAIT, "TimeoutSeconds": "${StartTimeoutSeconds}"},
            result_path="$.Running",
            on_error=REATTACH,
            poll_retry=POLL_START,
            next_state="WaitStatusChecks",
        ),
    )
    states.add(
        "WaitStatusChecks",
        task(
            "WaitStatusChecks",
            {"InstanceId.$": INSTANCE, **WAIT, "TimeoutSeconds": "${StatusCheckTimeoutSeconds}"},
            result_path=None,
            on_error=REATTACH,
            poll_retry=POLL_INSTANCE,
            next_state="ShouldWaitForInitialization",
        ),
    )
    _finish(states)


def _swap(states: States, *, suffix: str, on_error: str, after: str) -> None:
    """Detach the originals, attach the restored volumes (root first), set DeleteOnTermination.

    ``suffix`` "Online": the instance runs, so data volumes only, their disks offline."""
    online = {"Online": True} if suffix else {}
    steps: list[tuple[str, dict[str, Any], Retrier | None, str | None]] = [
        (
            "DetachOriginalVolumes",
            {**SWAP_INPUT, **online},
            None,
            "The instance runs: data volumes only, their disks offline." if suffix else None,
        ),
        (
            "WaitOriginalsDetached",
            {**SWAP_INPUT, **WAIT, "TimeoutSeconds": "${SwapWaitTimeoutSeconds}"},
            POLL_ATTACHMENT,
            None,
        ),
        (
            "AttachRestoredVolumes",
            {**SWAP_INPUT, **online},
            None,
            "Each restored volume at its device; its disk arrives offline."
            if suffix
            else "Root device first, then natural device order.",
        ),
        (
            "WaitRestoredAttached",
            {**SWAP_INPUT, **WAIT, "TimeoutSeconds": "${SwapWaitTimeoutSeconds}"},
            POLL_ATTACHMENT,
            None,
        ),
        ("SetDeleteOnTermination", {"Plan.$": "$.Plan"}, None, None),
    ]
    for position, (runs, parameters, poll_retry, comment) in enumerate(steps):
        following = steps[position + 1][0] + suffix if position + 1 < len(steps) else after
        states.add(
            runs + suffix,
            task(
                runs,
                parameters,
                comment=comment,
                result_path=None,
                on_error=on_error,
                poll_retry=poll_retry,
                next_state=following,
            ),
        )


def _finish(states: States) -> None:
    states.add(
        "ShouldWaitForInitialization",
        choice(
            [when("$.Request.WaitForInitialization", "WaitVolumesInitialized", BooleanEquals=True)],
            default="FinalizeReplacedVolumes",
        ),
    )
    states.add(
        "WaitVolumesInitialized",
        task(
            "WaitVolumesInitialized",
            {
                "Created.$": "$.Prepared.Created",
                **WAIT,
                "TimeoutSeconds": "${InitializationTimeoutSeconds}",
            },
            comment=(
                "With WaitForInitialization: until EBS reports every restored volume fully "
                "initialized. The data is restored and the instance is up: a timeout or failure "
                "here is a warning in the report, not a rollback."
            ),
            result_path="$.Initialized",
            on_error="FinalizeReplacedVolumes",
            error_path="$.InitializationError",
            poll_retry=POLL_INITIALIZATION,
            next_state="FinalizeReplacedVolumes",
        ),
    )
    states.add(
        "FinalizeReplacedVolumes",
        task(
            "FinalizeReplacedVolumes",
            {**SWAP_INPUT, "DeleteReplacedVolumes.$": "$.Request.DeleteReplacedVolumes"},
            comment=(
                "The restore has succeeded: keep (tagged) or delete the replaced volumes. A "
                "failure here is a warning, not a rollback."
            ),
            result_path="$.Finalized",
            on_error="BuildReport",
            error_path="$.FinalizeError",
            next_state="BuildReport",
        ),
    )
    report_and_unlock(states, INSTANCE, on_report_error=RELEASE_AFTER_FAILURE)


def report_and_unlock(states: States, instance_path: str, *, on_report_error: str) -> None:
    """BuildReport, then ReleaseLock; an unlock that fails is noted in the report, not raised."""
    states.add(
        "BuildReport",
        task(
            "BuildReport",
            {"Document.$": "$"},
            result_path="$.Report",
            on_error=on_report_error,
            next_state="ReleaseLock",
        ),
    )
    states.add(
        "ReleaseLock",
        task(
            "ReleaseLock",
            lock_parameters(instance_path, acquire=False),
            result_path="$.Unlock",
            on_error="Restored",
            error_path="$.Report.UnlockError",
            next_state="Restored",
        ),
    )
    states.add("Restored", succeed("$.Report"))


def release_after_failure(states: States, instance_path: str) -> None:
    """The lock released once everything is undone (a failed undo keeps it)."""
    states.add(
        RELEASE_AFTER_FAILURE,
        task(
            "ReleaseLock",
            lock_parameters(instance_path, acquire=False),
            result_path="$.Unlock",
            on_error=SUMMARIZE_FAILURE,
            error_path="$.UnlockError",
            next_state=SUMMARIZE_FAILURE,
        ),
    )


def _rollback(states: States) -> None:
    states.add(
        REATTACH,
        task(
            "ReattachOriginalVolumes",
            {"Plan.$": "$.Plan", "Instance.$": "$.Found.Instance", **ROLLBACK_WAIT},
            comment="Rollback after the swap began: every planned device back on its original volume.",
            result_path="$.RollbackVolumes",
            on_error=ROLLBACK_FAILED,
            error_path="$.RollbackFailure",
            poll_retry=POLL_VOLUMES,
            next_state="RestorePowerState",
        ),
    )
    states.add(
        "RestorePowerState",
        task(
            "RestorePowerState",
            {"InstanceId.$": INSTANCE, "Wanted.$": "$.Found.Instance.State", **ROLLBACK_WAIT},
            comment="Rollback: the power state the instance had before the restore.",
            result_path="$.RollbackPower",
            on_error=ROLLBACK_FAILED,
            error_path="$.RollbackFailure",
            poll_retry=POLL_VOLUMES,
            next_state="DeleteRestoredVolumes",
        ),
    )
    states.add(
        "DeleteRestoredVolumes",
        task(
            "DeleteRestoredVolumes",
            EXECUTION_CLEANUP,
            comment=(
                "Rollback: delete every volume this execution created (found by tag); tag what "
                "cannot be deleted."
            ),
            result_path="$.RollbackCleanup",
            on_error=ROLLBACK_FAILED,
            error_path="$.RollbackFailure",
            poll_retry=POLL_VOLUMES,
            next_state=RELEASE_AFTER_FAILURE,
        ),
    )
    states.add(
        ROLLBACK_FAILED,
        task(
            "MarkLeftovers",
            {"Plan.$": "$.Plan"},
            comment=(
                "The rollback failed: tag what is left and say where it is. The lock is kept so "
                "that no other restore starts on an instance someone must look at first."
            ),
            result_path="$.Leftovers",
            on_error=SUMMARIZE_FAILURE,
            error_path="$.LeftoversError",
            next_state=SUMMARIZE_FAILURE,
        ),
    )
    release_after_failure(states, INSTANCE)


@dataclass(frozen=True)
class DiskStep:
    """A step on the guest's disks: SendDiskCommand``<step>``, then WaitDiskCommand``<step>``.

    ``sent`` holds the command's id, ``done`` its outcome; any error goes to ``on_error``."""

    step: str
    sent: str
    done: str
    on_error: str
    error_path: str = "$.Error"
    instance_path: str = INSTANCE

    @property
    def send_state(self) -> str:
        return f"SendDiskCommand{self.step}"

    @property
    def wait_state(self) -> str:
        return f"WaitDiskCommand{self.step}"

    def send(
        self, parameters: dict[str, Any], next_state: str, comment: str | None = None
    ) -> State:
        # It waits (ResourceNotReady) while another disk command runs on the instance.
        return task(
            "SendDiskCommand",
            {
                "InstanceId.$": self.instance_path,
                **parameters,
                "Step": self.step,
                "TimeoutSeconds": "${DiskCommandTimeoutSeconds}",
            },
            comment=comment,
            result_path=self.sent,
            on_error=self.on_error,
            error_path=self.error_path,
            poll_retry=POLL_VOLUMES,
            next_state=next_state,
        )

    def wait(
        self,
        next_state: str,
        *,
        timeout: str = "${DiskCommandTimeoutSeconds}",
        poll_retry: Retrier = POLL_VOLUMES,
        comment: str | None = None,
    ) -> State:
        return task(
            "WaitDiskCommand",
            {
                "InstanceId.$": self.instance_path,
                "CommandId.$": f"{self.sent}.CommandId",
                "Step": self.step,
                **WAIT,
                "TimeoutSeconds": timeout,
            },
            comment=comment,
            result_path=self.done,
            on_error=self.on_error,
            error_path=self.error_path,
            poll_retry=poll_retry,
            next_state=next_state,
        )


# Mode "Online": what SendDiskCommand is asked to do with the guest's disks, and its services.
def _disk_action(action: str, volumes: str) -> dict[str, Any]:
    return {
        "Action": action,
        "VolumeIds.$": volumes,
        "Services.$": "$.Request.StopServices",
        "Execution.$": "$.Execution",
        **WAIT,
    }


REPLACED_VOLUMES = "$.Plan.Volumes[*].ReplacedVolumeId"
RESTORED_VOLUMES = "$.Prepared.Created[*].VolumeId"
TAKE_OFFLINE = DiskStep(
    "TakeDisksOffline", "$.Disks.OfflineSent", "$.Disks.Offline", ONLINE_ROLLBACK
)
BRING_ONLINE = DiskStep("BringDisksOnline", "$.Disks.OnlineSent", "$.Disks.Online", ONLINE_ROLLBACK)
ROLLBACK_OFFLINE = DiskStep(
    "RollbackDisksOffline",
    "$.Disks.RollbackOfflineSent",
    "$.Disks.RollbackOffline",
    ROLLBACK_FAILED,
    error_path="$.RollbackFailure",
)
ROLLBACK_ONLINE = DiskStep(
    "RollbackDisksOnline",
    "$.Disks.RollbackOnlineSent",
    "$.Disks.RollbackOnline",
    ROLLBACK_FAILED,
    error_path="$.RollbackFailure",
)


def _online(states: States) -> None:
    states.add(
        "CreateVolumesOnline",
        task(
            "CreateVolumes",
            {"Plan.$": "$.Plan"},
            comment=(
                'Mode "Online": the volumes are created while the server runs; nothing on the '
                "instance changes until they are available."
            ),
            result_path="$.Prepared.Created",
            on_error="DeleteRestoredVolumes",
            next_state="WaitVolumesAvailableOnline",
        ),
    )
    states.add(
        "WaitVolumesAvailableOnline",
        task(
            "WaitVolumesAvailable",
            {
                "Created.$": "$.Prepared.Created",
                **WAIT,
                "TimeoutSeconds": "${VolumeWaitTimeoutSeconds}",
            },
            result_path=None,
            on_error="DeleteRestoredVolumes",
            poll_retry=POLL_VOLUMES,
            next_state=TAKE_OFFLINE.send_state,
        ),
    )
    states.add(
        TAKE_OFFLINE.send_state,
        TAKE_OFFLINE.send(
            _disk_action("Offline", REPLACED_VOLUMES),
            TAKE_OFFLINE.wait_state,
            comment=(
                "Through SSM: stop StopServices, then take offline exactly the Windows disks of "
                "the volumes being replaced (found by volume id). The application is down from "
                "here."
            ),
        ),
    )
    states.add(TAKE_OFFLINE.wait_state, TAKE_OFFLINE.wait("DetachOriginalVolumesOnline"))
    _swap(states, suffix="Online", on_error=ONLINE_ROLLBACK, after=BRING_ONLINE.send_state)
    states.add(
        BRING_ONLINE.send_state,
        BRING_ONLINE.send(
            _disk_action("Online", RESTORED_VOLUMES),
            BRING_ONLINE.wait_state,
            comment=(
                "Through SSM: the restored volumes' disks online read-write (a disk whose "
                "signature or GUID collides with an online disk's is refused), then "
                "StopServices started again."
            ),
        ),
    )
    states.add(
        BRING_ONLINE.wait_state,
        BRING_ONLINE.wait(
            "HasOnlineValidation",
            comment=(
                "The application is back when this command has finished "
                "(ApplicationDowntimeSeconds ends here)."
            ),
        ),
    )
    states.add(
        "HasOnlineValidation",
        choice(
            [when("$.Request.ValidationDocument", "RunOnlineValidation", IsString=True)],
            default="ShouldWaitForInitialization",
        ),
    )
    validation = {
        "InstanceId.$": INSTANCE,
        **WAIT,
        "Document.$": "$.Request.ValidationDocument",
        "TimeoutSeconds": "${ValidationTimeoutSeconds}",
    }
    states.add(
        "RunOnlineValidation",
        task(
            "RunOnlineValidation",
            {
                **validation,
                "Parameters.$": "$.Request.ValidationParameters",
                "Execution.$": "$.Execution",
            },
            comment=(
                "SSM Run Command of the request's validation document (vss-restore-validation-*) "
                "on the restored instance."
            ),
            result_path="$.Validation",
            on_error=ONLINE_ROLLBACK,
            poll_retry=POLL_VALIDATION,
            next_state="WaitOnlineValidation",
        ),
    )
    states.add(
        "WaitOnlineValidation",
        task(
            "WaitOnlineValidation",
            {**validation, "CommandId.$": "$.Validation.CommandId"},
            result_path="$.ValidationResult",
            on_error=ONLINE_ROLLBACK,
            poll_retry=POLL_VALIDATION,
            next_state="OnlineValidationPassed",
        ),
    )
    states.add(
        "OnlineValidationPassed",
        choice(
            [
                when(
                    "$.ValidationResult.Status",
                    "ShouldWaitForInitialization",
                    StringEquals="Success",
                )
            ],
            default="OnlineValidationFailed",
        ),
    )
    states.add(
        "OnlineValidationFailed",
        pass_state(
            ONLINE_ROLLBACK,
            parameters={
                "Error": "ValidationFailed",
                "Cause.$": (
                    "States.Format('{} ended {} on {}: {}', $.Request.ValidationDocument, "
                    "$.ValidationResult.Status, $.Request.InstanceId, $.ValidationResult.Output)"
                ),
            },
            result_path="$.Error",
            comment="A validation that did not succeed rolls the restore back.",
        ),
    )


def _online_rollback(states: States) -> None:
    states.add(
        ROLLBACK_OFFLINE.send_state,
        ROLLBACK_OFFLINE.send(
            {**_disk_action("Offline", RESTORED_VOLUMES), "AttachedOnly": True},
            "AnyRestoredDiskAttached",
            comment=(
                'Rollback (Mode "Online"): stop StopServices and take the restored volumes\' '
                "disks offline, those attached to the instance only; none attached sends "
                "nothing. A failure here fails the rollback: no volume is detached while its "
                "disk may be online."
            ),
        ),
    )
    states.add(
        "AnyRestoredDiskAttached",
        choice(
            [
                when(
                    f"{ROLLBACK_OFFLINE.sent}.CommandId",
                    ROLLBACK_OFFLINE.wait_state,
                    IsNull=False,
                )
            ],
            default="ReattachOriginalVolumesOnline",
        ),
    )
    states.add(ROLLBACK_OFFLINE.wait_state, ROLLBACK_OFFLINE.wait("ReattachOriginalVolumesOnline"))
    states.add(
        "ReattachOriginalVolumesOnline",
        task(
            "ReattachOriginalVolumes",
            {
                "Plan.$": "$.Plan",
                "Instance.$": "$.Found.Instance",
                **ROLLBACK_WAIT,
                "Online": True,
            },
            comment=(
                'Rollback (Mode "Online"): every planned device back on its original volume, '
                "the instance still running."
            ),
            result_path="$.RollbackVolumes",
            on_error=ROLLBACK_FAILED,
            error_path="$.RollbackFailure",
            poll_retry=POLL_VOLUMES,
            next_state=ROLLBACK_ONLINE.send_state,
        ),
    )
    states.add(
        ROLLBACK_ONLINE.send_state,
        ROLLBACK_ONLINE.send(
            _disk_action("Online", REPLACED_VOLUMES),
            ROLLBACK_ONLINE.wait_state,
            comment=(
                'Rollback (Mode "Online"): the originals\' disks online and StopServices started '
                "(also after a failed TakeDisksOffline, which may have stopped some)."
            ),
        ),
    )
    states.add(ROLLBACK_ONLINE.wait_state, ROLLBACK_ONLINE.wait("DeleteRestoredVolumes"))
