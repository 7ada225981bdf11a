"""Events for the drill, mount, online and fleet tasks, built as the state machine builds them.

An ``Execution`` holds one execution's state data, made by the real tasks: it starts with
ValidateRequest's output (``Request``, ``Execution``, ``StartedAt``, ``MountTarget``) and
each task's output is recorded where the definition's ``ResultPath`` puts it. Its methods
give each task the event its Task state's ``Parameters`` select from that data; the time
limits are the definition's (``Limits``), which reach the tasks as strings.

The fleet machine's tasks get the fleet's request and ResolveFleet's output; RunFleet is
given stand-in machines (``stand_in_definition``) to start.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tests.handlers.conftest import CallTask
from tests.handlers.events import LIMITS, execution_arn, now
from vss_restore.capabilities import CAPABILITY_MODES, capability_of
from vss_restore.errors import ResourceNotReady
from vss_restore.local.engine import FLEET_STATE_MACHINE_NAME, MACHINE_NAMES
from vss_restore.task_events import WaitEvent
from vss_restore.windows_disks import DiskAction

# When a state entered "long ago" was entered: past every time limit these tasks have.
LONG_AGO = timedelta(hours=3)
# How often a test's chain of tasks calls a polling task again on ResourceNotReady, as its
# state's Retry would (under ``immediate_waits`` a task polls once per call).
RETRIES = 3


def wait_fields(limit: int, *, entered_ago: timedelta = timedelta(0)) -> dict[str, Any]:
    """``EnteredTime`` (``$$.State.EnteredTime``) and ``TimeoutSeconds`` (``${...}``: text)."""
    entered = WaitEvent(entered_time=now() - entered_ago, timeout_seconds=limit)
    dumped = entered.model_dump(by_alias=True, mode="json")
    return {**dumped, "TimeoutSeconds": str(limit)}


# --- requests (the state machine's input) ----------------------------------------------------


def _options(**values: object) -> dict[str, Any]:
    """Request fields by their names, leaving out those not given (None)."""
    return {name: value for name, value in values.items() if value is not None}


def drill_request(
    instance_id: str,
    subnet_id: str | None = None,
    *,
    security_group_ids: list[str] | None = None,
    document: str | None = None,
    parameters: dict[str, list[str]] | None = None,
    keep_clone: bool | None = None,
    dry_run: bool | None = None,
    exclude_boot_volume: bool | None = None,
) -> dict[str, Any]:
    return {
        "InstanceId": instance_id,
        "Mode": "Clone",
        **_options(
            SubnetId=subnet_id,
            SecurityGroupIds=security_group_ids,
            ValidationDocument=document,
            ValidationParameters=parameters,
            KeepClone=keep_clone,
            DryRun=dry_run,
            ExcludeBootVolume=exclude_boot_volume,
        ),
    }


def mount_request(
    instance_id: str,
    *,
    target: str | None = None,
    expires_in_hours: int | None = None,
) -> dict[str, Any]:
    return {
        "InstanceId": instance_id,
        "Mode": "Mount",
        **_options(TargetInstanceId=target, ExpiresInHours=expires_in_hours),
    }


def online_request(
    instance_id: str,
    *,
    stop_services: list[str] | None = None,
    document: str | None = None,
    parameters: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    return {
        "InstanceId": instance_id,
        "Mode": "Online",
        **_options(
            StopServices=stop_services, ValidationDocument=document, ValidationParameters=parameters
        ),
    }


# --- one execution's state data ----------------------------------------------------------------


@dataclass
class Execution:
    """An execution's state data, made by the real tasks (see the module's docstring)."""

    call: CallTask
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, call: CallTask, request: Mapping[str, Any]) -> Execution:
        """ValidateRequest (``ResultPath: $``), the first state of the machine that runs the
        request's mode (its definition gives the modes it runs)."""
        capability = capability_of(dict(request))
        run = cls(call)
        run.data = call(
            "ValidateRequest",
            {
                "Request": dict(request),
                "Execution": execution_arn(MACHINE_NAMES[capability]),
                "StartedAt": now().isoformat(),
                "Modes": list(CAPABILITY_MODES[capability]),
            },
        )
        return run

    def step(
        self, task: str, event: dict[str, Any], result_path: str | None, *, retries: int = 0
    ) -> Any:
        """Run ``task``; record its output at ``result_path`` (``A.B``: ``$.A.B``).

        ``retries``: call it again with the same event on ``ResourceNotReady``, as the state's
        Retry does, up to that many times (the tasks poll for 0 s under ``immediate_waits``).
        """
        for attempt in range(retries + 1):
            try:
                output = self.call(task, event)
                break
            except ResourceNotReady:
                if attempt == retries:
                    raise
        if result_path is not None:
            *parents, last = result_path.split(".")
            self._place(parents)[last] = output
        return output

    def _place(self, path: list[str]) -> dict[str, Any]:
        place = self.data
        for name in path:
            place = place.setdefault(name, {})
        return place

    def found(self) -> dict[str, Any]:
        """FindSnapshotSet (``ResultPath: $.Found``)."""
        return dict(self.step("FindSnapshotSet", {"Request": self.request}, "Found"))

    # --- what the states select ---------------------------------------------------------------

    @property
    def request(self) -> dict[str, Any]:
        return dict(self.data["Request"])

    @property
    def execution(self) -> str:
        return str(self.data["Execution"])

    @property
    def instance_id(self) -> str:
        return str(self.data["Request"]["InstanceId"])

    @property
    def clone_id(self) -> str:
        return str(self.data["Clone"]["InstanceId"])

    # --- Mode "Clone" ---------------------------------------------------------------------------

    def plan_clone(self) -> dict[str, Any]:
        return {
            "Request": self.request,
            "Instance": self.data["Found"]["Instance"],
            "SnapshotSet": self.data["Found"]["SnapshotSet"],
            "Execution": self.execution,
        }

    def launch_clone(self) -> dict[str, Any]:
        return {"Plan": self.data["ClonePlan"]}

    def swap_clone_root(self, **wait: timedelta) -> dict[str, Any]:
        return {
            "Plan": self.data["ClonePlan"],
            "InstanceId": self.clone_id,
            **wait_fields(LIMITS.CloneRootTimeoutSeconds, **wait),
        }

    def wait_clone_running(self) -> dict[str, Any]:
        return {"InstanceId": self.clone_id, **wait_fields(LIMITS.StartTimeoutSeconds)}

    def wait_clone_status_checks(self) -> dict[str, Any]:
        return {"InstanceId": self.clone_id, **wait_fields(LIMITS.StatusCheckTimeoutSeconds)}

    def run_validation(self, instance_id: str, **wait: timedelta) -> dict[str, Any]:
        """RunValidation on the clone, RunOnlineValidation on the instance itself."""
        return {
            "InstanceId": instance_id,
            "Document": self.data["Request"]["ValidationDocument"],
            "Parameters": self.data["Request"]["ValidationParameters"],
            "Execution": self.execution,
            # A drill's: the clone's planned isolation (why its agent may never register).
            **(
                {"Isolation": self.data["ClonePlan"]["Isolation"]}
                if "ClonePlan" in self.data
                else {}
            ),
            **wait_fields(LIMITS.ValidationTimeoutSeconds, **wait),
        }

    def wait_validation(self, instance_id: str, **wait: timedelta) -> dict[str, Any]:
        return {
            "InstanceId": instance_id,
            "CommandId": self.data["Validation"]["CommandId"],
            "Document": self.data["Request"]["ValidationDocument"],
            **wait_fields(LIMITS.ValidationTimeoutSeconds, **wait),
        }

    def cleanup_drill(self, **wait: timedelta) -> dict[str, Any]:
        return {
            "Execution": self.execution,
            **wait_fields(LIMITS.RollbackWaitTimeoutSeconds, **wait),
        }

    def build_drill_report(self) -> dict[str, Any]:
        return {"Document": self.data}

    def publish_drill_outcome(self) -> dict[str, Any]:
        return {"Report": self.data["Report"]}

    # --- Modes "Online" and "Mount": Windows disks ------------------------------------------

    def require_managed_instance(self) -> dict[str, Any]:
        """Online: the instance itself; Mount: the mount's target."""
        return {
            "InstanceId": self.data.get("MountTarget") or self.instance_id,
            "Mode": self.data["Request"]["Mode"],
        }

    def plan_restore(self) -> dict[str, Any]:
        return {
            "Instance": self.data["Found"]["Instance"],
            "SnapshotSet": self.data["Found"]["SnapshotSet"],
            "Execution": self.execution,
            "InitializationRate": self.data["Request"]["InitializationRate"],
        }

    def create_volumes(self) -> dict[str, Any]:
        return {"Plan": self.data["Plan"]}

    def _disk_command(self, action: DiskAction, volume_ids: list[str], step: str) -> dict[str, Any]:
        return {
            "InstanceId": self.instance_id,
            "Action": action,
            "VolumeIds": volume_ids,
            "Services": self.data["Request"]["StopServices"],
            "Execution": self.execution,
            "EnteredTime": now().isoformat(),
            "Step": step,
        }

    def take_disks_offline(self) -> dict[str, Any]:
        """Online: the originals' disks offline, the request's services stopped first."""
        replaced = [v["ReplacedVolumeId"] for v in self.data["Plan"]["Volumes"]]
        return self._disk_command("Offline", replaced, "TakeDisksOffline")

    def rollback_disks_offline(self) -> dict[str, Any]:
        """Online's rollback: the restored volumes' disks offline, those attached only."""
        created = [c["VolumeId"] for c in self.data["Prepared"]["Created"]]
        return {
            **self._disk_command("Offline", created, "RollbackDisksOffline"),
            "AttachedOnly": True,
        }

    def rollback_disks_online(self) -> dict[str, Any]:
        """Online's rollback: the originals' disks online again, the services started."""
        replaced = [v["ReplacedVolumeId"] for v in self.data["Plan"]["Volumes"]]
        return self._disk_command("Online", replaced, "RollbackDisksOnline")

    def wait_disk_command(
        self, sent: str, step: str, *, instance_id: str | None = None, **wait: timedelta
    ) -> dict[str, Any]:
        """WaitDiskCommand for the command recorded at ``sent`` (``A.B``: ``$.A.B``)."""
        *parents, last = sent.split(".")
        return {
            "InstanceId": instance_id or self.instance_id,
            "CommandId": self._place(parents)[last]["CommandId"],
            "Step": step,
            **wait_fields(LIMITS.DiskCommandTimeoutSeconds, **wait),
        }

    # --- Mode "Mount" -----------------------------------------------------------------------------

    @property
    def mount_target(self) -> str:
        return str(self.data["MountTarget"])

    def plan_mount(self) -> dict[str, Any]:
        return {
            "Request": self.request,
            "Instance": self.data["Found"]["Instance"],
            "SnapshotSet": self.data["Found"]["SnapshotSet"],
            "TargetInstanceId": self.mount_target,
            "Execution": self.execution,
        }

    def attach_mount_volumes(self) -> dict[str, Any]:
        return {"Plan": self.data["Plan"], "Created": self.data["Created"]}

    def wait_mount_attached(self, **wait: timedelta) -> dict[str, Any]:
        return {
            **self.attach_mount_volumes(),
            **wait_fields(LIMITS.SwapWaitTimeoutSeconds, **wait),
        }

    def mount_disks(self) -> dict[str, Any]:
        """MountDisks: no ``EnteredTime``, and ``Services`` null."""
        return {
            "InstanceId": self.mount_target,
            "Action": "MountReadOnly",
            "VolumeIds": [c["VolumeId"] for c in self.data["Created"]],
            "Services": None,
            "Execution": self.execution,
            "Step": "MountDisks",
        }

    def unmount_volumes(self, **wait: timedelta) -> dict[str, Any]:
        return {
            "Execution": self.execution,
            **wait_fields(LIMITS.RollbackWaitTimeoutSeconds, **wait),
        }


# --- the fleet machine ------------------------------------------------------------------------


def resolve_fleet(request: Mapping[str, Any]) -> dict[str, Any]:
    """ResolveFleet: the fleet machine's input and ``$$.Execution.Id``."""
    return {"Request": dict(request), "Execution": execution_arn(FLEET_STATE_MACHINE_NAME)}


# The loop's state before its first turn (the fleet machine's NothingStartedYet).
NOTHING_STARTED = {"Done": False, "Progress": "", "IdleCycles": 0, "WaitSeconds": 0}


def run_fleet(
    fleet: Mapping[str, Any],
    machines: Mapping[str, str],
    run: Mapping[str, Any] = NOTHING_STARTED,
) -> dict[str, Any]:
    """RunFleet: ResolveFleet's output, each capability's machine (restore, drill, mount) and
    the loop's state (the last turn's answer)."""
    return {"Fleet": dict(fleet), "Run": dict(run), "StateMachines": dict(machines)}


def report_fleet(
    fleet: Mapping[str, Any],
    machines: Mapping[str, str],
    error: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """ReportFleet: as RunFleet's, and the loop's error when it failed."""
    event: dict[str, Any] = {"Fleet": dict(fleet), "StateMachines": dict(machines)}
    if error is not None:
        event["Error"] = dict(error)
    return event


def stand_in_definition(
    report: Mapping[str, Any], failing: Mapping[str, tuple[str, str]] | None = None
) -> str:
    """A state machine definition that ends at once, as a restore or a drill would:
    ``failing`` instance → (error, cause) fails so; every other instance succeeds with
    ``report`` as its output."""
    choices = [
        {"Variable": "$.InstanceId", "StringEquals": instance, "Next": f"Fail{n}"}
        for n, instance in enumerate(failing or {})
    ]
    fails = {
        f"Fail{n}": {"Type": "Fail", "Error": error, "Cause": cause}
        for n, (error, cause) in enumerate((failing or {}).values())
    }
    states: dict[str, Any] = {"Restored": {"Type": "Pass", "Result": dict(report), "End": True}}
    if choices:
        states["Route"] = {"Type": "Choice", "Choices": choices, "Default": "Restored"}
    return json.dumps(
        {"StartAt": "Route" if choices else "Restored", "States": {**states, **fails}}
    )
