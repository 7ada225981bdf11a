"""Fleet restores: many instances, wave by wave, one restore execution per instance.

The fleet machine (``statemachines/fleet.asl.json``) resolves the fleet, then ``RunFleet``
starts one child execution of the restore machine per instance, wave after wave, at most
``MaxConcurrency`` at a time, and follows them until all have ended. Past
``ToleratedFailurePercentage`` no further restore starts and the fleet fails once the
running ones have ended.

Children are started, not run as ``.sync`` tasks: Step Functions stops the ``.sync``
children of a stopped or failed parent, which would abort a restore mid-swap with no
rollback. A child's name is derived from the fleet execution and the instance, so a
retried start finds its restore instead of starting a second one, and the fleet's
progress can be read back from Step Functions at any time (``RunFleet`` keeps no state).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, ValidationError, model_validator

from vss_restore.capabilities import capability_of
from vss_restore.errors import InvalidRequest, ResourceNotReady, TerminalError
from vss_restore.models import InstanceId, Model, RestoreRequest, invalid_request, require_mode

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

FLEET_FIELDS = (
    "Instances",
    "TagFilter",
    "Waves",
    "MaxConcurrency",
    "ToleratedFailurePercentage",
    "StartIntervalSeconds",
    "SnapshotSets",
)
# Options that cannot apply to several instances at once.
PER_INSTANCE_ONLY = ("InstanceId", "SnapshotSetId", "Devices")
MAX_FLEET_SIZE = 500
MAX_CONCURRENCY = 100
# Seconds between two restore starts. The first tasks of a restore make about ten EC2
# describe calls within seconds, and the account's describe bucket refills 20 a second:
# one start a second leaves half of it to the running restores' polls, so a fleet never
# throttles itself into failure however many restores may run at once.
DEFAULT_START_INTERVAL_SECONDS = 1.0
MAX_START_INTERVAL_SECONDS = 10.0


class FleetFailureThresholdExceeded(TerminalError):
    """More restores of the fleet failed than ToleratedFailurePercentage allows."""


class TagFilter(Model):
    key: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(alias="Key")
    values: list[Annotated[str, StringConstraints(max_length=256)]] = Field(
        alias="Values", min_length=1, max_length=200
    )


class FleetRequest(Model):
    """The fleet machine's input: which instances, in which waves, and how carefully."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)

    instances: list[InstanceId] | None = Field(
        default=None, alias="Instances", min_length=1, max_length=MAX_FLEET_SIZE
    )
    tag_filter: TagFilter | None = Field(default=None, alias="TagFilter")
    waves: list[list[InstanceId]] | None = Field(default=None, alias="Waves", min_length=1)
    # Distributed Map: no inline cap of 40; EC2 throttling is the real limit (see make bench).
    max_concurrency: int = Field(
        default=10, alias="MaxConcurrency", ge=1, le=MAX_CONCURRENCY, strict=True
    )
    tolerated_failure_percentage: float = Field(
        default=0, alias="ToleratedFailurePercentage", ge=0, le=100
    )
    start_interval_seconds: float = Field(
        default=DEFAULT_START_INTERVAL_SECONDS,
        alias="StartIntervalSeconds",
        ge=0,
        le=MAX_START_INTERVAL_SECONDS,
    )
    # Instance → the set it restores, as approved (fleet-restore pins every instance's latest
    # complete set when it shows them): a set completed since changes nothing.
    snapshot_sets: (
        dict[InstanceId, Annotated[str, StringConstraints(min_length=1, max_length=256)]] | None
    ) = Field(default=None, alias="SnapshotSets", min_length=1, max_length=MAX_FLEET_SIZE)

    @model_validator(mode="after")
    def _one_source(self) -> FleetRequest:
        if (self.instances is None) == (self.tag_filter is None):
            raise ValueError("give exactly one of Instances and TagFilter")
        if self.instances is not None and len(set(self.instances)) != len(self.instances):
            raise ValueError("Instances lists an instance more than once")
        if self.waves is not None:
            listed = [i for wave in self.waves for i in wave]
            if len(set(listed)) != len(listed) or any(not wave for wave in self.waves):
                raise ValueError("Waves must list each instance once, in non-empty waves")
        if self.instances is not None:
            self.check_snapshot_sets(self.instances)
        return self

    def check_snapshot_sets(self, instances: list[str]) -> None:
        """SnapshotSets, when given, pins exactly the fleet's instances: an instance tagged
        (or listed) since the sets were approved is refused, never restored unapproved."""
        if self.snapshot_sets is None:
            return
        missing = sorted(set(instances) - set(self.snapshot_sets))
        extra = sorted(set(self.snapshot_sets) - set(instances))
        if missing or extra:
            detail = "; ".join(
                part
                for part in (
                    f"no set for: {', '.join(missing)}" if missing else "",
                    f"not in the fleet: {', '.join(extra)}" if extra else "",
                )
                if part
            )
            raise InvalidRequest(
                "SnapshotSets", f"must name exactly the fleet's instances ({detail})"
            )


def parse_fleet_request(
    payload: object, modes: Collection[str] | None = None
) -> tuple[FleetRequest, dict[str, Any]]:
    """The fleet settings and the restore options every instance gets; ``InvalidRequest``.
    ``modes``: those the fleet machine runs (None: any)."""
    if not isinstance(payload, dict):
        raise InvalidRequest("$", "the request must be a JSON object")
    for name in PER_INSTANCE_ONLY:
        if name in payload:
            raise InvalidRequest(name, "applies to one instance; restore it on its own")
    fleet_part = {k: v for k, v in payload.items() if k in FLEET_FIELDS}
    options = {k: v for k, v in payload.items() if k not in FLEET_FIELDS}
    try:
        fleet = FleetRequest.model_validate(fleet_part)
    except ValidationError as err:
        raise invalid_request(err) from err
    require_mode(str(options.get("Mode", "InPlace")), modes, fleet=True)
    if fleet.snapshot_sets is not None and "RestorePointInTime" in options:
        raise InvalidRequest(
            "RestorePointInTime", "cannot be given with SnapshotSets (each names its set)"
        )
    # The options are validated as the restore (or drill) machine will validate them.
    RestoreRequest.parse({"InstanceId": "i-00000000", **options})
    return fleet, options


def plan_waves(instances: list[str], waves: list[list[str]] | None) -> list[list[str]]:
    """The waves to run: as given (they must cover exactly the fleet), else one wave."""
    if not instances:
        raise InvalidRequest("TagFilter", "matches no running or stopped instance")
    if len(instances) > MAX_FLEET_SIZE:
        raise InvalidRequest("TagFilter", f"matches more than {MAX_FLEET_SIZE} instances")
    if waves is None:
        return [list(instances)]
    listed = {i for wave in waves for i in wave}
    missing, extra = sorted(set(instances) - listed), sorted(listed - set(instances))
    if missing or extra:
        detail = "; ".join(
            part
            for part in (
                f"not in any wave: {', '.join(missing)}" if missing else "",
                f"not in the fleet: {', '.join(extra)}" if extra else "",
            )
            if part
        )
        raise InvalidRequest("Waves", f"must list exactly the fleet's instances ({detail})")
    return [list(wave) for wave in waves]


# --- children: names, outcomes ----------------------------------------------------------------

# A report line keeps this much of a failed restore's cause (the child execution has it all):
# 500 lines of failures stay far below Step Functions' 256 KiB of state data.
CAUSE_IN_REPORT = 160
FINISHED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
# RunFleet reads the children that have not ended every so often: at most MaxConcurrency
# (100) DescribeExecution calls a poll, well within Step Functions' API rate.
POLL_FLEET_SECONDS = 10.0
# One reading of the fleet spends at most this long starting restores (the rest start at the
# next reading): an invocation always ends within its function's timeout.
STARTING_PER_POLL_SECONDS = 45.0


def child_name(instance_id: str, fleet_execution: str) -> str:
    """The restore execution's name: the instance and a digest of the fleet execution.

    The same fleet execution and instance always give the same name, so a repeated
    StartExecution cannot start a second restore; another fleet gets another name.
    """
    digest = hashlib.sha256(fleet_execution.encode()).hexdigest()[:16]
    return f"{instance_id}-{digest}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    """``arn:<partition>:states:<region>:<account>:execution:<machine>:<name>``."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


def outcome_of(instance_id: str, name: str, described: dict[str, Any]) -> dict[str, Any]:
    """One instance's line of the fleet report, from its finished child execution."""
    status = str(described["status"])
    line: dict[str, Any] = {"InstanceId": instance_id, "Status": status, "Execution": name}
    if status == "SUCCEEDED":
        report = json.loads(described.get("output") or "{}")
        # A drill fleet (Mode "Clone"): the clone's RTO and its id instead of downtime.
        keys: tuple[str, ...] = ("SnapshotSetId", "DowntimeSeconds", "StartedAt", "FinishedAt")
        keys += ("RtoSeconds", "CloneInstanceId")
        line.update({k: report[k] for k in keys if report.get(k) is not None})
    else:
        line["Error"] = described.get("error") or f"States.{status.title()}"
        cause = str(described.get("cause") or "")
        line["Cause"] = cause[:CAUSE_IN_REPORT] + ("..." if len(cause) > CAUSE_IN_REPORT else "")
    return line


# --- running the fleet ------------------------------------------------------------------------


@dataclass
class FleetRun:
    """What RunFleet knows of a fleet: its plan and, read from Step Functions, its children."""

    waves: list[list[str]]
    options: dict[str, Any]
    max_concurrency: int
    tolerated_percentage: float
    fleet_execution: str
    # The machine that runs each instance's request: the restore machine, or the drill
    # machine for a fleet of drills (Mode "Clone").
    restore_state_machine_arn: str
    start_interval: float = 0.0
    finished: dict[str, dict[str, Any]] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, fleet: dict[str, Any], state_machines: Mapping[str, str]) -> FleetRun:
        """``state_machines``: capability → machine ARN; the fleet's Mode picks one."""
        return cls(
            waves=fleet["Waves"],
            options=fleet["Options"],
            max_concurrency=fleet["MaxConcurrency"],
            tolerated_percentage=fleet["ToleratedFailurePercentage"],
            fleet_execution=fleet["Execution"],
            restore_state_machine_arn=state_machines[capability_of(fleet["Options"])],
            # A plan made before the option existed starts its restores without pause.
            start_interval=fleet.get("StartIntervalSeconds", 0.0),
        )

    @property
    def instances(self) -> list[str]:
        return [i for wave in self.waves for i in wave]

    def name(self, instance_id: str) -> str:
        return child_name(instance_id, self.fleet_execution)

    def too_many_failed(self) -> bool:
        failed = sum(1 for line in self.finished.values() if line["Status"] != "SUCCEEDED")
        return failed * 100 > self.tolerated_percentage * len(self.instances)

    def refresh(self, sfn: SFNClient) -> None:
        """Read every child that has not ended yet (one DescribeExecution each).

        Restores start in wave order, so the started ones come first: the first instance
        without a child ends the reading.
        """
        self.running = set()
        for instance in self.instances:
            if instance in self.finished:
                continue
            name = self.name(instance)
            try:
                described = sfn.describe_execution(
                    executionArn=execution_arn(self.restore_state_machine_arn, name)
                )
            except sfn.exceptions.ExecutionDoesNotExist:
                break
            if described["status"] in FINISHED:
                self.finished[instance] = outcome_of(instance, name, dict(described))
            else:
                self.running.add(instance)

    def to_start(self) -> list[str]:
        """The next restores to start: none past the tolerance; only from the first wave
        that has not ended, no more than ``MaxConcurrency`` running at once, and no more
        than ``StartIntervalSeconds`` apart allow in one reading of the fleet."""
        if self.too_many_failed():
            return []
        room = min(self.max_concurrency - len(self.running), starts_per_poll(self.start_interval))
        for wave in self.waves:
            open_ = [i for i in wave if i not in self.finished]
            if open_:
                waiting = [i for i in open_ if i not in self.running]
                return waiting[: max(room, 0)]
        return []

    def start(self, sfn: SFNClient, instances: list[str], sleep: Callable[[float], None]) -> None:
        """Start these restores, ``start_interval`` seconds apart."""
        for n, instance in enumerate(instances):
            if n and self.start_interval:
                sleep(self.start_interval)
            # ExecutionAlreadyExists: started by an earlier attempt of this task, since ended.
            with contextlib.suppress(sfn.exceptions.ExecutionAlreadyExists):
                sfn.start_execution(
                    stateMachineArn=self.restore_state_machine_arn,
                    name=self.name(instance),
                    input=json.dumps(child_request(instance, self.options)),
                )
            self.running.add(instance)

    def step(self, sfn: SFNClient, sleep: Callable[[float], None]) -> bool:
        """Read the children, start what may start; True once nothing runs or will start."""
        self.refresh(sfn)
        self.start(sfn, self.to_start(), sleep)
        return not self.running

    def report(self) -> dict[str, Any]:
        return fleet_report(self.waves, self.finished, self.tolerated_percentage)


def child_request(instance_id: str, options: dict[str, Any]) -> dict[str, Any]:
    """One instance's restore request: the fleet's options, and its approved set when the
    fleet pins sets (ResolveFleet passes ``SnapshotSets`` with the options)."""
    request = {"InstanceId": instance_id, **options}
    pinned = request.pop("SnapshotSets", None) or {}
    if instance_id in pinned:
        request["SnapshotSetId"] = pinned[instance_id]
    return request


def starts_per_poll(start_interval: float) -> int:
    """How many restores one reading of the fleet may start, ``start_interval`` apart."""
    if start_interval <= 0:
        return MAX_FLEET_SIZE
    return 1 + int(STARTING_PER_POLL_SECONDS // start_interval)


def run_fleet(
    sfn: SFNClient,
    run: FleetRun,
    poll: Callable[[Callable[[Any], dict[str, Any]], float], dict[str, Any]],
    interval_seconds: float,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """Start and follow the fleet's restores until all have ended, then its report.

    ``poll`` is ``waiting.poll``: it gives up with ``ResourceNotReady`` after the task's
    budget and the state machine calls RunFleet again, which reads the children back.
    ``sleep`` (``waiting.sleep``) spaces the starts.
    """

    def check(_now: Any) -> dict[str, Any]:
        if run.step(sfn, sleep):
            return run.report()
        raise ResourceNotReady(
            f"{len(run.running)} restore(s) running, {len(run.finished)} of "
            f"{len(run.instances)} ended"
        )

    return poll(check, interval_seconds)


def fleet_report(
    waves: list[list[str]], finished: dict[str, dict[str, Any]], tolerated_percentage: float
) -> dict[str, Any]:
    """Totals and one line per started instance, in wave order; what never started."""
    instances = [i for wave in waves for i in wave]
    total = len(instances)
    done = [finished[i] for i in instances if i in finished]
    failed = [line for line in done if line["Status"] != "SUCCEEDED"]
    not_started = [i for i in instances if i not in finished]
    exceeded = len(failed) * 100 > tolerated_percentage * total
    summary = (
        f"{len(failed)} of {total} restores failed (tolerated: {tolerated_percentage:g} %)"
        + (f"; not started: {', '.join(not_started)}" if not_started else "")
        + "".join(f"; {line['InstanceId']}: {line['Error']}" for line in failed[:20])
    )
    return {
        "Status": "Failed" if exceeded else "Succeeded",
        "Error": FleetFailureThresholdExceeded.__name__ if exceeded else None,
        "Cause": summary,
        "Total": total,
        "Succeeded": len(done) - len(failed),
        "Failed": len(failed),
        "NotStarted": not_started,
        "ToleratedFailurePercentage": tolerated_percentage,
        "Waves": len(waves),
        "Instances": done,
    }
