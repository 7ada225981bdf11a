"""Events for the in-place restore's tasks, built as its Task states build them.

The workflow's state data (a ``Document``) starts as the execution's input, the request, and
grows with each task's output, recorded where the state's ``ResultPath`` puts it
(``RESULT_PATHS``). ``EVENTS[task](document, context)`` is the event the task's
``Parameters`` select from that data and from the context object (``$$``): the parts are
read through the package's own models (``vss_restore.task_events``, ``vss_restore.models``),
so an event a builder makes is one the task's model accepts. Time limits are the
definition's (``Limits``) and reach the tasks as text, as the rendered definition has them.
"""

from __future__ import annotations

import json
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from pydantic import BaseModel

from vss_restore.definition import Limits
from vss_restore.local.engine import LOCK_TABLE_NAME
from vss_restore.models import ChosenSet, CreatedVolume, InstanceFacts, RestorePlan
from vss_restore.task_events import (
    InstanceEvent,
    InstanceWaitEvent,
    LockEvent,
    PlanEvent,
    RollbackEvent,
    SwapEvent,
    SwapWaitEvent,
    WaitEvent,
)

REGION = "us-east-1"
LIMITS = Limits()
Event = dict[str, Any]
Document = dict[str, Any]


def execution_arn(machine: str = "vss-restore") -> str:
    """``$$.Execution.Id`` of a new execution of the state machine named ``machine``."""
    return f"arn:aws:states:{REGION}:{DEFAULT_ACCOUNT_ID}:execution:{machine}:{uuid.uuid4().hex}"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Context:
    """The context object (``$$``) a state reads: its execution and when it was entered."""

    execution: str
    entered_time: datetime

    @classmethod
    def of(cls, execution: str, *, entered_ago: timedelta = timedelta(0)) -> Context:
        return cls(execution, now() - entered_ago)


def in_place_request(
    instance_id: str,
    *,
    snapshot_set_id: str | None = None,
    devices: list[str] | None = None,
    exclude_boot_volume: bool | None = None,
    dry_run: bool | None = None,
    power_on_after_restore: bool | None = None,
    delete_replaced_volumes: bool | None = None,
    initialization_rate: int | None = None,
    wait_for_initialization: bool | None = None,
    restore_point_in_time: datetime | None = None,
) -> dict[str, Any]:
    """The execution's input for an in-place restore: the fields given, by their public names."""
    fields = {
        "SnapshotSetId": snapshot_set_id,
        "Devices": devices,
        "ExcludeBootVolume": exclude_boot_volume,
        "DryRun": dry_run,
        "PowerOnAfterRestore": power_on_after_restore,
        "DeleteReplacedVolumes": delete_replaced_volumes,
        "InitializationRate": initialization_rate,
        "WaitForInitialization": wait_for_initialization,
        "RestorePointInTime": restore_point_in_time.isoformat() if restore_point_in_time else None,
    }
    return {"InstanceId": instance_id, **{k: v for k, v in fields.items() if v is not None}}


def dump(model: BaseModel) -> Event:
    """The model as JSON, with the fields given to it (a state sends no others)."""
    return model.model_dump(by_alias=True, mode="json", exclude_unset=True)


def caught(err: BaseException) -> dict[str, str]:
    """What a Catch records of a task's error: its name, and as ``Cause`` the error document
    Lambda reports for it (as the local engine's Lambda does)."""
    cause = {
        "errorType": type(err).__name__,
        "errorMessage": str(err),
        "stackTrace": traceback.format_exception(err)[-3:],
    }
    return {"Error": type(err).__name__, "Cause": json.dumps(cause)}


# --- what the states read from the state data -----------------------------------------------


def _request(doc: Document) -> dict[str, Any]:
    return dict(doc["Request"])


def _instance_id(doc: Document) -> str:
    return str(doc["Request"]["InstanceId"])


def _plan(doc: Document) -> RestorePlan:
    return RestorePlan.model_validate(doc["Plan"])


def _created(doc: Document) -> list[CreatedVolume]:
    return [CreatedVolume.model_validate(c) for c in doc["Prepared"]["Created"]]


def _facts(doc: Document) -> InstanceFacts:
    return InstanceFacts.model_validate(doc["Found"]["Instance"])


def _limited(model: BaseModel, limit: int) -> Event:
    """A wait's event: ``TimeoutSeconds`` as the rendered definition gives it, as text."""
    return {**dump(model), "TimeoutSeconds": str(limit)}


def _wait(ctx: Context, limit: int) -> WaitEvent:
    return WaitEvent(entered_time=ctx.entered_time, timeout_seconds=limit)


# --- one builder per task (the Task state's Parameters) -------------------------------------


def validate_request(doc: Document, ctx: Context) -> Event:
    """The request is the execution's input (``$``); ``StartedAt`` the state's EnteredTime."""
    return {
        "Request": dict(doc),
        "Execution": ctx.execution,
        "StartedAt": ctx.entered_time.isoformat(),
    }


def acquire_lock(doc: Document, ctx: Context) -> Event:
    held = LockEvent(
        lock_table=LOCK_TABLE_NAME, instance_id=_instance_id(doc), execution=doc["Execution"]
    )
    return {**dump(held), "TtlSeconds": str(LIMITS.LockTtlSeconds)}


def release_lock(doc: Document, ctx: Context) -> Event:
    return dump(
        LockEvent(
            lock_table=LOCK_TABLE_NAME, instance_id=_instance_id(doc), execution=doc["Execution"]
        )
    )


def find_snapshot_set(doc: Document, ctx: Context) -> Event:
    return {"Request": _request(doc)}


def plan_restore(doc: Document, ctx: Context) -> Event:
    found = doc["Found"]
    return {
        "Instance": dump(InstanceFacts.model_validate(found["Instance"])),
        "SnapshotSet": dump(ChosenSet.model_validate(found["SnapshotSet"])),
        "Execution": doc["Execution"],
        "InitializationRate": doc["Request"]["InitializationRate"],
    }


def plan_only(doc: Document, ctx: Context) -> Event:
    """CreateVolumes, SetDeleteOnTermination, MarkLeftovers: ``{"Plan.$": "$.Plan"}``."""
    return dump(PlanEvent(plan=_plan(doc)))


def created_wait(limit: int) -> Callable[[Document, Context], Event]:
    """WaitVolumesAvailable, WaitVolumesInitialized: the volumes created, within ``limit``."""

    def build(doc: Document, ctx: Context) -> Event:
        created = [dump(c) for c in _created(doc)]
        return {**_limited(_wait(ctx, limit), limit), "Created": created}

    return build


def instance_only(doc: Document, ctx: Context) -> Event:
    """StopInstance, StartInstance: ``{"InstanceId.$": "$.Request.InstanceId"}``."""
    return dump(InstanceEvent(instance_id=_instance_id(doc)))


def instance_wait(limit: int) -> Callable[[Document, Context], Event]:
    """WaitInstanceStopped, WaitInstanceRunning, WaitStatusChecks."""

    def build(doc: Document, ctx: Context) -> Event:
        waited = InstanceWaitEvent(
            instance_id=_instance_id(doc), entered_time=ctx.entered_time, timeout_seconds=limit
        )
        return _limited(waited, limit)

    return build


def swap(doc: Document, ctx: Context) -> Event:
    """DetachOriginalVolumes, AttachRestoredVolumes: the plan and ``$.Prepared.Created``."""
    return dump(SwapEvent(plan=_plan(doc), created=_created(doc)))


def swap_wait(doc: Document, ctx: Context) -> Event:
    """WaitOriginalsDetached, WaitRestoredAttached."""
    limit = LIMITS.SwapWaitTimeoutSeconds
    waited = SwapWaitEvent(
        plan=_plan(doc), created=_created(doc), entered_time=ctx.entered_time, timeout_seconds=limit
    )
    return _limited(waited, limit)


def finalize_replaced_volumes(doc: Document, ctx: Context) -> Event:
    return {**swap(doc, ctx), "DeleteReplacedVolumes": doc["Request"]["DeleteReplacedVolumes"]}


def whole_document(doc: Document, ctx: Context) -> Event:
    """BuildReport, SummarizeFailure: ``{"Document.$": "$"}``."""
    return {"Document": json.loads(json.dumps(doc))}


def reattach_original_volumes(doc: Document, ctx: Context) -> Event:
    limit = LIMITS.RollbackWaitTimeoutSeconds
    back = RollbackEvent(
        plan=_plan(doc), instance=_facts(doc), entered_time=ctx.entered_time, timeout_seconds=limit
    )
    return _limited(back, limit)


def restore_power_state(doc: Document, ctx: Context) -> Event:
    limit = LIMITS.RollbackWaitTimeoutSeconds
    waited = InstanceWaitEvent(
        instance_id=_instance_id(doc), entered_time=ctx.entered_time, timeout_seconds=limit
    )
    return {**_limited(waited, limit), "Wanted": _facts(doc).state}


def delete_restored_volumes(doc: Document, ctx: Context) -> Event:
    limit = LIMITS.RollbackWaitTimeoutSeconds
    return {**_limited(_wait(ctx, limit), limit), "Execution": doc["Execution"]}


EVENTS: dict[str, Callable[[Document, Context], Event]] = {
    "ValidateRequest": validate_request,
    "AcquireLock": acquire_lock,
    "FindSnapshotSet": find_snapshot_set,
    "PlanRestore": plan_restore,
    "CreateVolumes": plan_only,
    "WaitVolumesAvailable": created_wait(LIMITS.VolumeWaitTimeoutSeconds),
    "StopInstance": instance_only,
    "WaitInstanceStopped": instance_wait(LIMITS.StopTimeoutSeconds),
    "DetachOriginalVolumes": swap,
    "WaitOriginalsDetached": swap_wait,
    "AttachRestoredVolumes": swap,
    "WaitRestoredAttached": swap_wait,
    "SetDeleteOnTermination": plan_only,
    "StartInstance": instance_only,
    "WaitInstanceRunning": instance_wait(LIMITS.StartTimeoutSeconds),
    "WaitStatusChecks": instance_wait(LIMITS.StatusCheckTimeoutSeconds),
    "WaitVolumesInitialized": created_wait(LIMITS.InitializationTimeoutSeconds),
    "FinalizeReplacedVolumes": finalize_replaced_volumes,
    "BuildReport": whole_document,
    "ReleaseLock": release_lock,
    "ReattachOriginalVolumes": reattach_original_volumes,
    "RestorePowerState": restore_power_state,
    "DeleteRestoredVolumes": delete_restored_volumes,
    "MarkLeftovers": plan_only,
    "SummarizeFailure": whole_document,
}

# Where each task's output goes in the state data ("$": it becomes the state data; None:
# discarded). CreateVolumes and StopInstance run in the two branches of a Parallel state
# whose results land in ``$.Prepared``: ``Created`` and ``Stop``.
RESULT_PATHS: dict[str, str | None] = {
    "ValidateRequest": "$",
    "AcquireLock": None,
    "FindSnapshotSet": "Found",
    "PlanRestore": "Plan",
    "CreateVolumes": "Prepared.Created",
    "WaitVolumesAvailable": None,
    "StopInstance": "Prepared.Stop",
    "WaitInstanceStopped": None,
    "DetachOriginalVolumes": None,
    "WaitOriginalsDetached": None,
    "AttachRestoredVolumes": None,
    "WaitRestoredAttached": None,
    "SetDeleteOnTermination": None,
    "StartInstance": None,
    "WaitInstanceRunning": "Running",
    "WaitStatusChecks": None,
    "WaitVolumesInitialized": "Initialized",
    "FinalizeReplacedVolumes": "Finalized",
    "BuildReport": "Report",
    "ReleaseLock": "Unlock",
    "ReattachOriginalVolumes": "RollbackVolumes",
    "RestorePowerState": "RollbackPower",
    "DeleteRestoredVolumes": "RollbackCleanup",
    "MarkLeftovers": "Leftovers",
    "SummarizeFailure": "Failure",
}


def record(doc: Document, path: str | None, value: Any) -> Document:
    """The state data after a result is put at ``path`` (``"A.B"``: ``$.A.B``)."""
    if path is None:
        return doc
    if path == "$":
        return dict(value)
    *parents, last = path.split(".")
    place = doc
    for name in parents:
        place = place.setdefault(name, {})
    place[last] = value
    return doc


REMOVED = object()  # ``with_field``'s value for a field left out


def with_field(event: Mapping[str, Any], path: str, value: Any) -> Event:
    """A copy of ``event`` with the field at ``path`` (``"Plan.Volumes.0.Device"``) set to
    ``value``, or left out when ``value`` is ``REMOVED``."""
    copied: Event = json.loads(json.dumps(event))
    *parents, last = path.split(".")
    place: Any = copied
    for name in parents:
        place = place[int(name)] if isinstance(place, list) else place[name]
    key: Any = int(last) if isinstance(place, list) else last
    if value is REMOVED:
        del place[key]
    else:
        place[key] = value
    return copied
