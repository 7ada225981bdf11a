"""Fleet restores: many instances, wave by wave, one restore execution per instance.

The fleet machine (``statemachines/fleet.asl.json``) resolves the fleet, then runs
``RunFleet`` in a loop: each invocation reads the children once and starts what may start
(wave after wave, at most ``MaxConcurrency`` at a time), returns, and a Wait state pauses
before the next (``next_wait``). A stopped fleet therefore starts nothing more once the
invocation under way returns. Past ``ToleratedFailurePercentage`` no further restore starts
and the fleet fails once the running ones have ended. ``ReportFleet`` writes the report
and publishes the fleet's outcome event, also when the loop failed.

Children are started, not run as ``.sync`` tasks: Step Functions stops the ``.sync``
children of a stopped or failed parent, which would abort a restore mid-swap with no
rollback. A child's name is derived from the fleet execution and the instance, so a
retried start finds its restore instead of starting a second one, and the fleet's
progress can be read back from Step Functions at any time. Between invocations the loop
carries only ``Progress``, one character per instance (``fleet_progress``), so that each
reading describes only the children that have not ended.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, ValidationError, model_validator

from vss_restore.capabilities import capability_of
from vss_restore.drill import EVENT_SOURCE
from vss_restore.errors import InvalidRequest, TerminalError
from vss_restore.models import InstanceId, Model, RestoreRequest, invalid_request, require_mode

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
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


FLEET_EVENT_DETAIL_TYPE = "vss-restore Fleet Finished"


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
        detail = mismatch(instances, self.snapshot_sets, "no set for")
        if detail:
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


def mismatch(instances: Collection[str], listed: Collection[str], missing_words: str) -> str:
    """What ``listed`` lacks of the fleet's ``instances`` (after ``missing_words``) and what it
    has beyond them; "" when it names exactly the fleet (pure)."""
    missing = sorted(set(instances) - set(listed))
    extra = sorted(set(listed) - set(instances))
    return "; ".join(
        part
        for part in (
            f"{missing_words}: {', '.join(missing)}" if missing else "",
            f"not in the fleet: {', '.join(extra)}" if extra else "",
        )
        if part
    )


def plan_waves(instances: list[str], waves: list[list[str]] | None) -> list[list[str]]:
    """The waves to run: as given (they must cover exactly the fleet), else one wave."""
    if not instances:
        raise InvalidRequest("TagFilter", "matches no running or stopped instance")
    if len(instances) > MAX_FLEET_SIZE:
        raise InvalidRequest("TagFilter", f"matches more than {MAX_FLEET_SIZE} instances")
    if waves is None:
        return [list(instances)]
    detail = mismatch(instances, [i for wave in waves for i in wave], "not in any wave")
    if detail:
        raise InvalidRequest("Waves", f"must list exactly the fleet's instances ({detail})")
    return [list(wave) for wave in waves]


# --- children: names, outcomes ----------------------------------------------------------------

# A report line keeps this much of a failed restore's cause (the child execution has it all):
# 500 lines of failures stay far below Step Functions' 256 KiB of state data.
CAUSE_IN_REPORT = 160
FINISHED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
# The fleet machine's loop waits at least this long between two RunFleet invocations
# (each describes at most MaxConcurrency, 100, children: well within Step Functions' API rate).
POLL_FLEET_SECONDS = 10
# One invocation spends at most this long starting restores (the rest start at the next
# one): it ends well within its function's 60 s and its state's 90 s.
STARTING_PER_POLL_SECONDS = 30.0

# --- the loop and the execution history -------------------------------------------------------

# Step Functions ends an execution at 25,000 history events. One turn of the loop writes 9:
# RunFleet's TaskStateEntered, LambdaFunctionScheduled, LambdaFunctionStarted,
# LambdaFunctionSucceeded, TaskStateExited; the Choice's entered and exited; the Wait's
# entered and exited.
HISTORY_EVENT_LIMIT = 25_000
EVENTS_PER_CYCLE = 9
# Turns the loop may take: 18,000 events, leaving 7,000 (over 2,000 retried invocations of
# 3 events each, and the start and end of the execution) to spare.
CYCLE_BUDGET = 2_000
# A restore's longest run, to plan the loop's waits: its waits' limits (definition.Limits)
# add up to 65 minutes; twice an hour leaves room for its tasks and a rollback.
# WaitForInitialization adds up to InitializationTimeoutSeconds.
RESTORE_WORST_SECONDS = 2 * 3_600
INITIALIZATION_WORST_SECONDS = 3 * 3_600
# The loop's longest wait; with CYCLE_BUDGET it bounds what a fleet may plan (plan_fits):
# 2,000 turns of an hour, 83 days, well within a Standard execution's year.
MAX_FLEET_WAIT_SECONDS = 3_600
STANDARD_EXECUTION_SECONDS = 365 * 24 * 3_600


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
    def of(
        cls, fleet: dict[str, Any], state_machines: Mapping[str, str], progress: str = ""
    ) -> FleetRun:
        """``state_machines``: capability → machine ARN; the fleet's Mode picks one.
        ``progress``: the last invocation's ``fleet_progress`` (its ended children are not
        read again; their report lines are read by ``ReportFleet``)."""
        run = cls(
            waves=fleet["Waves"],
            options=fleet["Options"],
            max_concurrency=fleet["MaxConcurrency"],
            tolerated_percentage=fleet["ToleratedFailurePercentage"],
            fleet_execution=fleet["Execution"],
            restore_state_machine_arn=state_machines[capability_of(fleet["Options"])],
            # A plan made before the option existed starts its restores without pause.
            start_interval=fleet.get("StartIntervalSeconds", 0.0),
        )
        for instance, mark in zip(run.instances, progress, strict=False):
            if mark in ENDED_MARKS:
                run.finished[instance] = {"InstanceId": instance, "Status": ENDED_MARKS[mark]}
        return run

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

    def progress(self) -> str:
        """One character per instance, in wave order: ``S`` succeeded, ``F`` ended otherwise,
        ``R`` started, ``-`` not started (500 bytes for the largest fleet)."""
        marks = []
        for instance in self.instances:
            if instance in self.finished:
                marks.append("S" if self.finished[instance]["Status"] == "SUCCEEDED" else "F")
            else:
                marks.append("R" if instance in self.running else "-")
        return "".join(marks)

    def rounds_left(self) -> int:
        """Rounds of at most MaxConcurrency restores still to run (the running ones too)."""
        if self.too_many_failed():
            return 1 if self.running else 0
        return sum(
            math.ceil(len([i for i in wave if i not in self.finished]) / self.max_concurrency)
            for wave in self.waves
        )


ENDED_MARKS = {"S": "SUCCEEDED", "F": "FAILED"}


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


def restore_worst_seconds(options: Mapping[str, Any]) -> int:
    """How long one of the fleet's restores may run, at worst (to plan the loop's waits)."""
    waits = options.get("WaitForInitialization") is True
    return RESTORE_WORST_SECONDS + (INITIALIZATION_WORST_SECONDS if waits else 0)


def start_cycles(waves: list[list[str]], start_interval: float) -> int:
    """The most turns of the loop that may follow a turn cut short by its start budget."""
    return sum(math.ceil(len(wave) / starts_per_poll(start_interval)) for wave in waves)


def idle_budget(waves: list[list[str]], start_interval: float) -> int:
    """Turns of the loop left for waiting on restores once the starts' own are set aside."""
    return CYCLE_BUDGET - start_cycles(waves, start_interval)


def next_wait(run: FleetRun, idle_cycles: int) -> int:
    """Seconds until the next RunFleet: ``POLL_FLEET_SECONDS`` while restores wait only for
    the start budget; else the worst-case time left spread over the turns left, so that the
    fleet ends within ``CYCLE_BUDGET`` turns even if every restore takes its worst time."""
    if run.to_start():
        return POLL_FLEET_SECONDS
    left = max(idle_budget(run.waves, run.start_interval) - idle_cycles, 1)
    worst = run.rounds_left() * restore_worst_seconds(run.options)
    return max(POLL_FLEET_SECONDS, math.ceil(worst / left))


def plan_fits(
    waves: list[list[str]], options: Mapping[str, Any], max_concurrency: int, interval: float
) -> None:
    """``InvalidRequest`` for a fleet the machine could not follow to its end: more worst-case
    time than ``MAX_FLEET_WAIT_SECONDS`` turns within the history's budget allow."""
    rounds = sum(math.ceil(len(wave) / max_concurrency) for wave in waves)
    worst = rounds * restore_worst_seconds(options)
    budget = idle_budget(waves, interval)
    capacity = min(max(budget, 0) * MAX_FLEET_WAIT_SECONDS, STANDARD_EXECUTION_SECONDS)
    if worst > capacity:
        field_name = "Waves" if len(waves) > 1 else "MaxConcurrency"
        raise InvalidRequest(
            field_name,
            f"{len(waves)} wave(s) at MaxConcurrency {max_concurrency} make {rounds} rounds of "
            f"restores of up to {restore_worst_seconds(options) / 3600:g} h each "
            f"({worst / 3600:g} h): more than a fleet execution can follow within its history "
            f"of {HISTORY_EVENT_LIMIT} events ({capacity / 3600:g} h); raise MaxConcurrency "
            "or split the fleet",
        )


def run_cycle(
    sfn: SFNClient, run: FleetRun, idle_cycles: int, sleep: Callable[[float], None]
) -> dict[str, Any]:
    """One turn of the fleet machine's loop: read the children once, start what may start.

    ``Done`` once nothing runs or will start (``ReportFleet`` then writes the report);
    ``WaitSeconds`` until the next turn; ``IdleCycles`` counts the turns that waited on
    restores (``next_wait``). ``sleep`` (``waiting.sleep``) spaces the starts.
    """
    done = run.step(sfn, sleep)
    waits_on_starts = bool(run.to_start())
    return {
        "Done": done,
        "Progress": run.progress(),
        "IdleCycles": idle_cycles + (0 if done or waits_on_starts else 1),
        "WaitSeconds": 0 if done else next_wait(run, idle_cycles),
        "Running": len(run.running),
        "Ended": len(run.finished),
    }


def fleet_outcome(
    sfn: SFNClient,
    run: FleetRun,
    error: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The fleet's report, every child read back; after the loop failed with ``error``
    (``{"Error", "Cause"}``), a failed report that names it first."""
    run.refresh(sfn)
    report = run.report()
    if error is not None:
        cause = str(error.get("Cause") or "")[:CAUSE_IN_REPORT]
        report.update(
            Status="Failed",
            Error=str(error.get("Error") or "States.Runtime"),
            Cause=f"the fleet stopped following its restores ({cause}); {report['Cause']}",
        )
    return report


def publish_fleet_outcome(events: EventBridgeClient, report: Mapping[str, Any]) -> None:
    """One EventBridge event per fleet (as a drill publishes its own): the report without its
    per-instance lines (an event holds at most 256 KB; each restore has its own)."""
    detail = {k: v for k, v in report.items() if k != "Instances"}
    answer = events.put_events(
        Entries=[
            {
                "Source": EVENT_SOURCE,
                "DetailType": FLEET_EVENT_DETAIL_TYPE,
                "Resources": [],
                "Detail": json.dumps(detail),
            }
        ]
    )
    if answer.get("FailedEntryCount"):
        raise RuntimeError(f"EventBridge refused the fleet event: {answer['Entries']}")


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
