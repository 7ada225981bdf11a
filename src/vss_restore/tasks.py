"""The Lambda tasks of the workflow: ASL placeholder name → module in ``functions/``.

The ASL refers to ``${<Name>FunctionArn}``; CDK and the local engine both build their
substitutions from this table, so adding a task means adding one line here.
"""

from __future__ import annotations

TASKS: dict[str, str] = {
    "ValidateRequest": "validate_request",
    "AcquireLock": "acquire_lock",
    "FindSnapshotSet": "find_snapshot_set",
    "PlanRestore": "plan_restore",
    "CreateVolumes": "create_volumes",
    "WaitVolumesAvailable": "wait_volumes_available",
    "StopInstance": "stop_instance",
    "WaitInstanceStopped": "wait_instance_stopped",
    "DetachOriginalVolumes": "detach_original_volumes",
    "WaitOriginalsDetached": "wait_originals_detached",
    "AttachRestoredVolumes": "attach_restored_volumes",
    "WaitRestoredAttached": "wait_restored_attached",
    "SetDeleteOnTermination": "set_delete_on_termination",
    "StartInstance": "start_instance",
    "WaitInstanceRunning": "wait_instance_running",
    "WaitStatusChecks": "wait_status_checks",
    "WaitVolumesInitialized": "wait_volumes_initialized",
    "FinalizeReplacedVolumes": "finalize_replaced_volumes",
    "BuildReport": "build_report",
    "ReleaseLock": "release_lock",
    "ReattachOriginalVolumes": "reattach_original_volumes",
    "RestorePowerState": "restore_power_state",
    "DeleteRestoredVolumes": "delete_restored_volumes",
    "MarkLeftovers": "mark_leftovers",
    "SummarizeFailure": "summarize_failure",
    # Clone drills (Mode "Clone").
    "PlanClone": "plan_clone",
    "LaunchClone": "launch_clone",
    "SwapCloneRoot": "swap_clone_root",
    "RunValidation": "run_validation",
    "WaitValidation": "wait_validation",
    "CleanupDrill": "cleanup_drill",
    "BuildDrillReport": "build_drill_report",
    "PublishDrillOutcome": "publish_drill_outcome",
    # Windows disks through SSM (Mode "Online" and "Mount").
    "RequireManagedInstance": "require_managed_instance",
    "SendDiskCommand": "send_disk_command",
    "WaitDiskCommand": "wait_disk_command",
    # Mounts (Mode "Mount").
    "PlanMount": "plan_mount",
    "AttachMountVolumes": "attach_mount_volumes",
    "WaitMountAttached": "wait_mount_attached",
    "UnmountVolumes": "unmount_volumes",
    # Mode "Online": the optional validation on the restored instance itself (its own role:
    # only the project's validation documents, only on opted-in instances).
    "RunOnlineValidation": "run_online_validation",
    "WaitOnlineValidation": "wait_online_validation",
}
# The fleet machine's own tasks (statemachines/fleet.asl.json).
FLEET_TASKS: dict[str, str] = {
    "ResolveFleet": "resolve_fleet",
    "RunFleet": "run_fleet",
    "ReportFleet": "report_fleet",
}

# The tasks that poll until something is ready (``vss_restore.waiting.poll``).
POLLING_TASKS = frozenset(
    {
        "WaitVolumesAvailable",
        "WaitInstanceStopped",
        "WaitOriginalsDetached",
        "WaitRestoredAttached",
        "WaitInstanceRunning",
        "WaitStatusChecks",
        "WaitVolumesInitialized",
        "SwapCloneRoot",
        "RunValidation",
        "WaitValidation",
        "RunOnlineValidation",
        "WaitOnlineValidation",
        "CleanupDrill",
        "WaitDiskCommand",
        "WaitMountAttached",
        "UnmountVolumes",
    }
)

# A polling task waits in one invocation for up to this long, then hands over to the
# state machine's Retry; its function may run a minute longer than that.
POLL_IN_TASK_SECONDS = 600
# A task's function: one minute, after a polling task's wait.
TASK_FUNCTION_TIMEOUT_SECONDS = 60


def function_timeout_seconds(task: str) -> int:
    """The Lambda timeout a task's function is deployed with."""
    extra = POLL_IN_TASK_SECONDS if task in POLLING_TASKS else 0
    return extra + TASK_FUNCTION_TIMEOUT_SECONDS


def function_arn_placeholder(task_name: str) -> str:
    return f"{task_name}FunctionArn"
