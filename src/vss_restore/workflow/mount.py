"""The mount state machine (Mode "Mount"): a set's volumes attached read-only beside the live
ones of a running instance, their disks given drive letters; nothing attached before moves."""

from __future__ import annotations

from typing import Any

from vss_restore.capabilities import CAPABILITY_MODES
from vss_restore.workflow.asl import (
    POLL_ATTACHMENT,
    POLL_VOLUMES,
    States,
    choice,
    machine,
    task,
    when,
)
from vss_restore.workflow.parts import (
    SUMMARIZE_FAILURE,
    failure_end,
    managed_lock_and_set,
    request_check,
)
from vss_restore.workflow.restore import (
    EXECUTION_CLEANUP,
    RELEASE_AFTER_FAILURE,
    WAIT,
    DiskStep,
    release_after_failure,
    report_and_unlock,
)

MODES = CAPABILITY_MODES["mount"]
TARGET = "$.MountTarget"  # the instance the volumes go to (the source unless TargetInstanceId)
UNMOUNT = "UnmountVolumes"
MOUNT_DISKS = DiskStep("MountDisks", "$.MountCommand", "$.Mounted", UNMOUNT, instance_path=TARGET)


def definition() -> dict[str, Any]:
    states = States()
    request_check(states, MODES, "RequireManagedInstance")
    managed_lock_and_set(
        states,
        TARGET,
        comments=(
            "The target (the instance itself unless TargetInstanceId) must be running and "
            "managed by Systems Manager; nothing is stopped, and nothing attached before is "
            "touched.",
            "The target's lock: no restore or other mount changes its devices meanwhile.",
            "The source instance's set (stopped or running); its data devices unless Devices "
            "lists the root.",
        ),
        after="PlanMount",
        on_find_error=RELEASE_AFTER_FAILURE,
    )
    states.add(
        "PlanMount",
        task(
            "PlanMount",
            {
                "Request.$": "$.Request",
                "Instance.$": "$.Found.Instance",
                "SnapshotSet.$": "$.Found.SnapshotSet",
                "TargetInstanceId.$": TARGET,
                "Execution.$": "$.Execution",
            },
            result_path="$.Plan",
            on_error=RELEASE_AFTER_FAILURE,
            next_state="IsDryRun",
        ),
    )
    states.add(
        "IsDryRun",
        choice(
            [when("$.Request.DryRun", "BuildReport", BooleanEquals=True)],
            default="CreateVolumes",
        ),
    )
    _attach_and_mount(states)
    report_and_unlock(states, TARGET, on_report_error=UNMOUNT)
    states.add(
        UNMOUNT,
        task(
            "UnmountVolumes",
            EXECUTION_CLEANUP,
            comment=(
                "Rollback of a mount: the disks of this execution's volumes offline, then detach "
                "and delete them (found by tag); tag what cannot be removed. If this fails the "
                "target's lock is kept, as after a failed rollback."
            ),
            result_path="$.RollbackCleanup",
            on_error=SUMMARIZE_FAILURE,
            error_path="$.RollbackFailure",
            poll_retry=POLL_VOLUMES,
            next_state=RELEASE_AFTER_FAILURE,
        ),
    )
    release_after_failure(states, TARGET)
    failure_end(states)
    return machine(
        "vss-restore mount: attach an application-consistent snapshot set's volumes read-only "
        "beside the live ones of a running instance, with drive letters; undone on any failure.",
        "ValidateRequest",
        states,
        rollback_from=(UNMOUNT, RELEASE_AFTER_FAILURE, SUMMARIZE_FAILURE),
    )


def _attach_and_mount(states: States) -> None:
    states.add(
        "CreateVolumes",
        task(
            "CreateVolumes",
            {"Plan.$": "$.Plan"},
            result_path="$.Created",
            on_error=UNMOUNT,
            next_state="WaitVolumesAvailable",
        ),
    )
    states.add(
        "WaitVolumesAvailable",
        task(
            "WaitVolumesAvailable",
            {"Created.$": "$.Created", **WAIT, "TimeoutSeconds": "${VolumeWaitTimeoutSeconds}"},
            result_path=None,
            on_error=UNMOUNT,
            poll_retry=POLL_VOLUMES,
            next_state="AttachMountVolumes",
        ),
    )
    attach_input = {"Plan.$": "$.Plan", "Created.$": "$.Created"}
    states.add(
        "AttachMountVolumes",
        task(
            "AttachMountVolumes",
            attach_input,
            comment=(
                "At device names the target does not use; a device taken meanwhile is "
                "SwapFailed, never displaced."
            ),
            result_path=None,
            on_error=UNMOUNT,
            next_state="WaitMountAttached",
        ),
    )
    states.add(
        "WaitMountAttached",
        task(
            "WaitMountAttached",
            {**attach_input, **WAIT, "TimeoutSeconds": "${SwapWaitTimeoutSeconds}"},
            result_path=None,
            on_error=UNMOUNT,
            poll_retry=POLL_ATTACHMENT,
            next_state=MOUNT_DISKS.send_state,
        ),
    )
    states.add(
        MOUNT_DISKS.send_state,
        MOUNT_DISKS.send(
            {
                "Action": "MountReadOnly",
                "VolumeIds.$": "$.Created[*].VolumeId",
                "Services": None,
                "Execution.$": "$.Execution",
            },
            MOUNT_DISKS.wait_state,
            comment=(
                "The new disks online, read-only, with drive letters (a disk signature collision "
                "with the live disk is handled)."
            ),
        ),
    )
    states.add(
        MOUNT_DISKS.wait_state,
        MOUNT_DISKS.wait(
            "BuildReport", timeout="${SwapWaitTimeoutSeconds}", poll_retry=POLL_ATTACHMENT
        ),
    )
