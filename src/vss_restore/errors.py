"""The named errors of the restore workflow.

Each class name is the Step Functions error name that a task raises, so the ASL's
``Retry``/``Catch`` clauses match on it. Terminal errors are never retried; retryable
errors are retried by the state machine with a bounded policy.
"""

from __future__ import annotations


class RestoreError(Exception):
    """Base of every error the workflow raises on purpose."""


class TerminalError(RestoreError):
    """Retrying cannot help: the workflow rolls back and fails with this name."""


class RetryableError(RestoreError):
    """A transient condition: the state machine retries the task."""


# --- terminal -------------------------------------------------------------------------------


class InvalidRequest(TerminalError):
    """The request has an unknown field or a bad value; nothing was changed."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class InstanceNotFound(TerminalError):
    """No instance has the requested id."""


class InstanceNotRestorable(TerminalError):
    """The instance exists but cannot be restored in its current state."""


class SnapshotSetNotFound(TerminalError):
    """No snapshot set matches the request."""


class SnapshotSetIncomplete(TerminalError):
    """The requested snapshot set exists but cannot be restored as a whole."""


class RestoreInProgress(TerminalError):
    """Another restore holds the instance's lock."""


class WaitTimedOut(TerminalError):
    """A resource did not reach the awaited state within its time limit."""


class VolumeCreationFailed(TerminalError):
    """A volume could not be created from its snapshot."""


class SwapFailed(TerminalError):
    """Volumes could not be detached or attached as planned."""


class StartFailed(TerminalError):
    """The instance did not start or failed its status checks."""


class RollbackFailed(TerminalError):
    """Rolling back did not complete; the cause lists what is left where."""


class CloneLaunchFailed(TerminalError):
    """The drill's clone could not be launched, or it stopped instead of running."""


class CloneNotIsolatable(TerminalError):
    """The clone cannot run as isolated as the deployment wants it: its VPC lacks the Systems
    Manager endpoints its validation needs, or the source's instance profile role is not one
    the deployment lets a clone keep. Refused when the clone is planned: nothing was created."""


class DrillValidationFailed(TerminalError):
    """The clone came up, but the validation command did not succeed on it."""


class InstanceNotRunning(TerminalError):
    """Mode "Online" and "Mount" work on a running instance only; nothing was changed."""


class InstanceNotManaged(TerminalError):
    """The instance's SSM agent is not online, so its Windows disks cannot be changed."""


class InstanceTypeNotSupported(TerminalError):
    """Mode "Online" and "Mount" need an instance built on the Nitro System, whose EBS disks
    are NVMe disks with the volume id as serial number; nothing was changed."""


class DiskCommandFailed(TerminalError):
    """The project's SSM document could not take disks offline or bring them online."""


class NoFreeDevice(TerminalError):
    """Mode "Mount": the target has fewer free device names than the set has volumes."""


class ValidationFailed(TerminalError):
    """Mode "Online": the validation command did not succeed on the restored instance; the
    restore was rolled back (the workflow's Pass state names it, no task raises it)."""


class DrillCleanupFailed(TerminalError):
    """The drill's clone or its volumes could not all be removed; they stay tagged to expire."""


class LockTableMissing(TerminalError):
    """The stack's lock table is not there (deleted, or the definition names a table that
    does not exist): no restore can take or release a lock until the stack is deployed
    again."""


class AwsAccessDenied(TerminalError):
    """AWS denied a call the task needed (its role lacks the permission, or a policy refuses
    it); the cause names the action and the resource."""


class AwsRequestRefused(TerminalError):
    """AWS refused a call for good for a reason no step of the workflow names; the cause
    names the AWS error code and the operation."""


class AwsRetriesExhausted(TerminalError):
    """AWS kept throttling or failing a call through every retry of the state machine (the
    failure's summary names it, no task raises it)."""


class ExecutionRedriven(TerminalError):
    """The execution was redriven (``RedriveExecution``): it would resume half-way, on volumes
    and an instance someone may have changed since. Every task refuses before any AWS call,
    and the execution ends changing nothing; start a new execution instead."""

    def __init__(self, task: str, redrive_count: int) -> None:
        super().__init__(
            f"{task} refused to run in a redriven execution (redrive {redrive_count}): a "
            "redrive would resume where the execution stopped, on resources that may have "
            "changed since. Nothing was changed. Never redrive; see docs/runbook.md "
            "(ExecutionRedriven) for what to do instead."
        )


# --- retryable ------------------------------------------------------------------------------


class ResourceNotReady(RetryableError):
    """The awaited state has not been reached yet; poll again."""


class Ec2Throttled(RetryableError):
    """EC2 answered RequestLimitExceeded (after the SDK's own retries)."""


class IncorrectState(RetryableError):
    """EC2 refused the call because a resource is still changing state."""


class AwsUnavailable(RetryableError):
    """AWS answered with a server error (after the SDK's own retries)."""


TERMINAL_ERRORS: tuple[type[TerminalError], ...] = (
    InvalidRequest,
    InstanceNotFound,
    InstanceNotRestorable,
    SnapshotSetNotFound,
    SnapshotSetIncomplete,
    RestoreInProgress,
    WaitTimedOut,
    VolumeCreationFailed,
    SwapFailed,
    StartFailed,
    RollbackFailed,
    CloneLaunchFailed,
    CloneNotIsolatable,
    DrillValidationFailed,
    DrillCleanupFailed,
    InstanceNotRunning,
    InstanceNotManaged,
    InstanceTypeNotSupported,
    DiskCommandFailed,
    NoFreeDevice,
    ValidationFailed,
    LockTableMissing,
    AwsAccessDenied,
    AwsRequestRefused,
    AwsRetriesExhausted,
)
RETRYABLE_ERRORS: tuple[type[RetryableError], ...] = (
    ResourceNotReady,
    Ec2Throttled,
    IncorrectState,
    AwsUnavailable,
)
