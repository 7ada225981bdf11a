"""An in-place restore driven task by task, and the server it restores.

``InPlaceRun`` calls each task with the event its state builds (``events.EVENTS``) from the
state data the earlier tasks made, and records the task's output where the definition puts
it: a test runs the real tasks up to the one it is about (``through``), then calls that one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.handlers import events
from tests.handlers.conftest import CallTask
from tests.handlers.events import Context, Document, Event
from vss_restore.errors import ResourceNotReady, WaitTimedOut
from vss_restore.local import world
from vss_restore.models import RestorePlan

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


# The states of an in-place restore that succeeds, in order (PowerOnAfterRestore, no
# WaitForInitialization; CreateVolumes and StopInstance are branches of one Parallel).
IN_PLACE = (
    "ValidateRequest",
    "AcquireLock",
    "FindSnapshotSet",
    "PlanRestore",
    "CreateVolumes",
    "WaitVolumesAvailable",
    "StopInstance",
    "WaitInstanceStopped",
    "DetachOriginalVolumes",
    "WaitOriginalsDetached",
    "AttachRestoredVolumes",
    "WaitRestoredAttached",
    "SetDeleteOnTermination",
    "StartInstance",
    "WaitInstanceRunning",
    "WaitStatusChecks",
    "FinalizeReplacedVolumes",
    "BuildReport",
    "ReleaseLock",
)
# The root (deleted on termination), a gp3 data disk with user tags and an io2 one: the
# demo's disks without the one under a customer key (creating a key costs a tenth of a second).
SERVER_DISKS = world.DEMO_DISKS[:3]


@dataclass(frozen=True)
class Server:
    """A Windows instance with ``SERVER_DISKS`` and one complete VSS snapshot set of them."""

    instance_id: str
    set_id: str
    snapshots: dict[str, str]  # device → snapshot of the set

    @classmethod
    def build(cls, ec2: EC2Client, *, running: bool = True) -> Server:
        instance_id = world.windows_instance(ec2, SERVER_DISKS, running=running)
        set_id = "set-1"
        snapshots = take_set(ec2, instance_id, set_id, hours_ago=1)
        return cls(instance_id, set_id, snapshots)


def take_set(
    ec2: EC2Client, instance_id: str, set_id: str, *, hours_ago: float, **kwargs: Any
) -> dict[str, str]:
    """A VSS snapshot set of the instance's volumes (``world.vss_snapshot_set``'s options)."""
    return world.vss_snapshot_set(
        ec2,
        instance_id,
        taken_at=events.now() - timedelta(hours=hours_ago),
        set_id=set_id,
        **kwargs,
    )


@dataclass
class InPlaceRun:
    """One execution's state data, made by the real tasks (see the module's docstring)."""

    call: CallTask
    request: dict[str, Any]
    execution: str = field(default_factory=events.execution_arn)
    document: Document = field(init=False)
    next_state: int = field(init=False, default=0)  # in IN_PLACE, after those run

    def __post_init__(self) -> None:
        self.document = dict(self.request)  # the execution's input

    @classmethod
    def of(cls, call: CallTask, server: Server, **request: Any) -> InPlaceRun:
        """An in-place restore of ``server`` with these request fields (snake_case)."""
        return cls(call, events.in_place_request(server.instance_id, **request))

    def event(self, task: str, *, entered_ago: timedelta = timedelta(0)) -> Event:
        """The event ``task``'s state gives it now (entered ``entered_ago``)."""
        context = Context.of(self.execution, entered_ago=entered_ago)
        return events.EVENTS[task](self.document, context)

    def run(
        self, task: str, *, entered_ago: timedelta = timedelta(0), event: Event | None = None
    ) -> Any:
        """Call ``task`` with its event (or ``event``); its output goes where its
        ``ResultPath`` says."""
        sent = self.event(task, entered_ago=entered_ago) if event is None else event
        output = self.call(task, sent)
        self.document = events.record(self.document, events.RESULT_PATHS[task], output)
        if task in IN_PLACE:
            self.next_state = max(self.next_state, IN_PLACE.index(task) + 1)
        return output

    def through(self, last: str) -> InPlaceRun:
        """Run the states of a successful restore after the last one run, up to ``last``."""
        for task in IN_PLACE[self.next_state : IN_PLACE.index(last) + 1]:
            self.run(task)
        return self

    def retried(self, task: str, attempts: int = 10) -> Any:
        """Run ``task`` until it stops raising ``ResourceNotReady`` (the state's Retry)."""
        for _ in range(attempts - 1):
            try:
                return self.run(task)
            except ResourceNotReady:
                continue
        return self.run(task)

    def failed(self, err: BaseException, result_path: str = "Error") -> InPlaceRun:
        """A Catch took ``err`` (a task's named error) to ``result_path``."""
        self.document = events.record(self.document, result_path, events.caught(err))
        return self

    # --- what the state data says -------------------------------------------------------------

    @property
    def instance_id(self) -> str:
        return str(self.request["InstanceId"])

    @property
    def plan(self) -> RestorePlan:
        return RestorePlan.model_validate(self.document["Plan"])

    @property
    def originals(self) -> dict[str, str]:
        """Planned device → the volume the restore replaces."""
        return {s.device: s.replaced_volume_id for s in self.plan.volumes}

    @property
    def created(self) -> dict[str, str]:
        """Planned device → the volume CreateVolumes made for it."""
        return {c["Device"]: c["VolumeId"] for c in self.document["Prepared"]["Created"]}


def waits_until(run: InPlaceRun, task: str, ready: Callable[[], object]) -> tuple[str, Any]:
    """``task`` while what it waits for is not there: ``ResourceNotReady`` (for the state's
    Retry), ``WaitTimedOut`` once its limit has passed since its state was entered; after
    ``ready()`` it returns. Returns what it said it waited for, and its output.

    Needs ``immediate_waits`` (each call checks once)."""
    with pytest.raises(ResourceNotReady) as waiting:
        run.run(task)
    limit = int(run.event(task)["TimeoutSeconds"])
    with pytest.raises(WaitTimedOut, match=f"limit {limit} s"):
        run.run(task, entered_ago=timedelta(seconds=limit + 1))
    ready()
    return str(waiting.value), run.run(task)
