"""Reading restore executions back: their outcome, report, and a timeline of their states.

Works on what Step Functions returns (``DescribeExecution`` and ``GetExecutionHistory``), so
the CLI, the HTML report and the benchmark read AWS and the embedded emulator the same way.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from vss_restore.capabilities import MACHINES, Machine
from vss_restore.definition import definition_path

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_stepfunctions import SFNClient

TERMINAL_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
# Where the workflow turns back: the states reachable from these undo a restore, up to the
# bookkeeping every failure ends with (which runs whether or not anything was undone).
ROLLBACK_ENTRIES = (
    "ReattachOriginalVolumes",
    "RestorePowerState",
    "MarkLeftovers",
    "UnmountVolumes",  # the mount machine
    "SendDiskCommandRollbackDisksOffline",  # Mode "Online"
)
FAILURE_BOOKKEEPING = ("ReleaseLockAfterFailure", "SummarizeFailure")
# Where a task refusing a redrive ends the execution: an end, not an undo.
REDRIVEN_END = "ExecutionRedriven"
# Request ``Mode`` → what ``history`` calls it (a mode not listed here shows as it is).
MODE_LABELS = {"InPlace": "Restore", "Clone": "Drill"}
_DATE_KEYS = ("timestamp", "startDate", "stopDate", "started_at", "stopped_at")


def execution_name(request: object) -> str:
    """A unique execution name that starts with the instance id (names allow [A-Za-z0-9_-])."""
    instance = request.get("InstanceId") if isinstance(request, dict) else None
    prefix = re.sub(r"[^A-Za-z0-9_-]", "", str(instance))[:40] if instance else ""
    return f"{prefix or 'restore'}-{uuid.uuid4().hex[:12]}"


@dataclass
class StateRun:
    """One entry into a state: when, how many attempts, and how it ended."""

    name: str
    kind: str  # Task, Choice, Parallel, Pass, Succeed, Fail
    entered_at: datetime
    exited_at: datetime | None = None
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    last_attempt_failed: bool = False
    rollback: bool = False

    @property
    def retries(self) -> int:
        return max(self.attempts - 1, 0)

    @property
    def seconds(self) -> float | None:
        if self.exited_at is None:
            return None
        return (self.exited_at - self.entered_at).total_seconds()

    @property
    def outcome(self) -> str:
        """succeeded, caught (failed and handed to a Catch), failed, or running."""
        if self.kind == "Fail":
            return "failed"
        if self.exited_at is None:
            return "running"
        return "caught" if self.last_attempt_failed else "succeeded"

    def to_json(self) -> dict[str, Any]:
        return {
            "State": self.name,
            "Type": self.kind,
            "EnteredAt": self.entered_at.isoformat(),
            "Seconds": None if self.seconds is None else round(self.seconds, 3),
            "Attempts": self.attempts,
            "Errors": self.errors,
            "Outcome": self.outcome,
            "Rollback": self.rollback,
        }


@cache
def rollback_states() -> frozenset[str]:
    """The undo states of every machine, read from the definitions: those reachable from
    ROLLBACK_ENTRIES (no state name is an undo in one machine and not in another)."""
    return frozenset().union(*(_rollback_states_of(machine) for machine in MACHINES))


def _rollback_states_of(machine: Machine) -> set[str]:
    states: dict[str, dict[str, Any]] = json.loads(definition_path(machine).read_text())["States"]
    seen: set[str] = set()
    todo = [s for s in ROLLBACK_ENTRIES if s in states]
    while todo:
        name = todo.pop()
        if name in seen or name in FAILURE_BOOKKEEPING or name == REDRIVEN_END:
            continue
        seen.add(name)
        state = states[name]
        targets = [state.get("Next"), state.get("Default")]
        targets += [c.get("Next") for c in state.get("Catch", []) + state.get("Choices", [])]
        todo.extend(t for t in targets if t)
    return seen


def _entered_event(events: dict[int, dict[str, Any]], event: dict[str, Any]) -> dict[str, Any]:
    """The ``...StateEntered`` event an event belongs to, by its ``previousEventId`` chain."""
    current = event
    while not current["type"].endswith("StateEntered"):
        previous = events.get(current.get("previousEventId", 0))
        if previous is None:
            return current
        current = previous
    return current


def timeline(history: list[dict[str, Any]]) -> list[StateRun]:
    """Every state entered, in order, with its duration, attempts and outcome."""
    events = {e["id"]: e for e in history}
    runs: dict[int, StateRun] = {}
    rollback = rollback_states()
    for event in history:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            runs[event["id"]] = StateRun(
                name=name,
                kind=kind.removesuffix("StateEntered"),
                entered_at=event["timestamp"],
                rollback=name in rollback,
            )
            continue
        if kind.endswith("StateExited"):
            # By name: a Parallel's exit chains back through its last branch state.
            name = event["stateExitedEventDetails"]["name"]
            open_runs = [r for r in runs.values() if r.name == name and r.exited_at is None]
            if open_runs:
                open_runs[-1].exited_at = event["timestamp"]
            continue
        run = runs.get(_entered_event(events, event)["id"])
        if run is None:
            continue
        if kind in ("LambdaFunctionScheduled", "TaskScheduled"):
            run.attempts += 1
        elif kind in ("LambdaFunctionSucceeded", "TaskSucceeded"):
            run.last_attempt_failed = False
        elif kind.endswith(("Failed", "TimedOut")) and kind.startswith(("Lambda", "Task")):
            details: dict[str, Any] = next(
                (v for k, v in event.items() if k.endswith("EventDetails")), {}
            )
            run.errors.append(str(details.get("error", kind)))
            run.last_attempt_failed = True
    return sorted(runs.values(), key=lambda r: r.entered_at)


def state_output(history: list[dict[str, Any]], key: str) -> Any:
    """``key`` of the latest state output that has it (e.g. the plan, the created volumes)."""
    for event in reversed(history):
        details = event.get("stateExitedEventDetails")
        if not details or not details.get("output"):
            continue
        try:
            output = json.loads(details["output"])
        except ValueError:
            continue
        if isinstance(output, dict) and key in output:
            return output[key]
    return None


# What a reader calls each stretch of an execution, by the names of its states (first match;
# a rollback state is always "Rollback"). The state names stay available, not in front.
PHASE_RULES = (
    ("Failure", re.compile(r"Failure|Failed$|Rejected$|Unsummarized|Unreported")),
    ("Checks", re.compile(r"^(Validate|ChooseMode|Acquire|Find|Plan|Is\w*DryRun|Require)")),
    ("Finish", re.compile(r"^(Release|Finalize|Build|Publish|Restored$|Drill|KeepOrRemove|Clean)")),
    (
        "Volumes and stop",
        re.compile(
            r"Create|VolumesAvailable|Stop|WarmUp|WarmedUp|Prepare|Not(Created|Stopped)|Launch"
        ),
    ),
    ("Swap", re.compile(r"Detach|Attach|DeleteOnTermination|Disks|SwapCloneRoot|Mount")),
    ("Start and checks", re.compile(r"Start|Running|StatusChecks|Initializ|PowerOn|Validation")),
)


def phase_of(run: StateRun) -> str:
    if run.rollback:
        return "Rollback"
    return next((phase for phase, rule in PHASE_RULES if rule.search(run.name)), "Finish")


@dataclass(frozen=True)
class Phase:
    """Consecutive states of one phase: how long they took and how they ended."""

    name: str
    runs: list[StateRun]

    @property
    def seconds(self) -> float:
        ends = [r.exited_at or r.entered_at for r in self.runs]
        return max((max(ends) - self.runs[0].entered_at).total_seconds(), 0.0)

    @property
    def outcome(self) -> str:
        for outcome in ("running", "failed", "caught"):
            if any(r.outcome == outcome for r in self.runs):
                return outcome
        return "succeeded"

    @property
    def retries(self) -> int:
        return sum(r.retries for r in self.runs)

    @property
    def errors(self) -> list[str]:
        return list(dict.fromkeys(e for r in self.runs for e in r.errors))


def phases(runs: list[StateRun]) -> list[Phase]:
    """``runs`` grouped into consecutive phases, in order."""
    grouped: list[Phase] = []
    for run in runs:
        name = phase_of(run)
        if grouped and grouped[-1].name == name:
            grouped[-1].runs.append(run)
        else:
            grouped.append(Phase(name, [run]))
    return grouped


def state_input(history: list[dict[str, Any]], state: str) -> dict[str, Any] | None:
    """The input of the latest entry into ``state`` (e.g. the failure path's whole document,
    as ``SummarizeFailure`` received it)."""
    for event in reversed(history):
        details = event.get("stateEnteredEventDetails")
        if not details or details.get("name") != state:
            continue
        try:
            document = json.loads(details.get("input") or "null")
        except ValueError:
            return None
        return document if isinstance(document, dict) else None
    return None


@dataclass
class ExecutionRecord:
    """An execution as Step Functions describes it, with its history."""

    arn: str
    name: str
    status: str
    started_at: datetime
    stopped_at: datetime | None
    input: dict[str, Any]
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    history: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @classmethod
    def from_described(
        cls, described: dict[str, Any], history: list[dict[str, Any]]
    ) -> ExecutionRecord:
        raw_output = described.get("output")
        try:
            request = json.loads(described.get("input") or "{}")
        except ValueError:
            request = {}
        return cls(
            arn=described["executionArn"],
            name=described.get("name") or described["executionArn"].rsplit(":", 1)[-1],
            status=described["status"],
            started_at=described["startDate"],
            stopped_at=described.get("stopDate"),
            input=request if isinstance(request, dict) else {},
            output=json.loads(raw_output) if raw_output else None,
            error=described.get("error"),
            cause=described.get("cause"),
            history=history,
        )

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def instance_id(self) -> str | None:
        value = self.input.get("InstanceId")
        return value if isinstance(value, str) else None

    @property
    def dry_run(self) -> bool:
        return self.input.get("DryRun") is True

    def last_output(self, key: str) -> Any:
        """``key`` of the latest state output that has it (a failed run's report, say)."""
        return state_output(self.history, key)

    @property
    def drill(self) -> bool:
        return self.input.get("Mode") == "Clone"

    @property
    def report(self) -> dict[str, Any] | None:
        """The output of a success; a failed drill's report from its history."""
        if self.status == "SUCCEEDED":
            return self.output
        if self.drill and self.finished:
            found = state_output(self.history, "Report")
            return found if isinstance(found, dict) else None
        return None

    @property
    def rto_seconds(self) -> float | None:
        """A restore's start to end; a drill's start to its clone proven healthy."""
        if self.drill:
            value = (self.report or {}).get("RtoSeconds")
            return float(value) if isinstance(value, int | float) else None
        if self.stopped_at is None:
            return None
        return round((self.stopped_at - self.started_at).total_seconds(), 3)

    @property
    def mode(self) -> str:
        """What the execution was for, as people say it: Restore, Dry run, Drill, ..."""
        mode = str(self.input.get("Mode") or "InPlace")
        label = MODE_LABELS.get(mode, mode)
        if not self.dry_run:
            return label
        return "Dry run" if mode == "InPlace" else f"{label} dry run"

    @property
    def downtime_seconds(self) -> float | None:
        """The report's; for a rolled-back restore, from its stop until the rollback had the
        instance running again."""
        report = self.report or {}
        value = report.get("DowntimeSeconds")
        if isinstance(value, int | float):
            return float(value)
        if (
            self.drill
            or not self.finished
            or state_output(self.history, "RollbackPower") != ("running")
        ):
            return None
        stop = state_output(self.history, "Stop")
        stopped_at = stop.get("StopRequestedAt") if isinstance(stop, dict) else None
        back = [r.exited_at for r in timeline(self.history) if r.name == "RestorePowerState"]
        if not isinstance(stopped_at, str) or not back or back[-1] is None:
            return None
        return round((back[-1] - datetime.fromisoformat(stopped_at)).total_seconds(), 3)

    @property
    def snapshot_set_id(self) -> str | None:
        if self.report:
            return str(self.report["SnapshotSetId"])
        for key in ("Plan", "Found"):
            found = state_output(self.history, key)
            if isinstance(found, dict) and found.get("SnapshotSetId"):
                return str(found["SnapshotSetId"])
        return None

    def timeline(self) -> list[StateRun]:
        """The states entered; once the execution has ended, none of them is still running."""
        runs = timeline(self.history)
        if self.finished:
            for run in runs:
                if run.exited_at is None and run.kind != "Fail":
                    run.exited_at = self.stopped_at or run.entered_at
                    run.last_attempt_failed = True
        return runs

    @property
    def current_state(self) -> str | None:
        running = [r for r in self.timeline() if r.outcome == "running"]
        return running[-1].name if running else None

    @property
    def rolled_back(self) -> bool:
        return any(r.rollback and r.kind == "Task" for r in timeline(self.history))

    def volume_mapping(self) -> list[dict[str, Any]]:
        """Device → snapshot → new and replaced volume: the report's, else the plan's."""
        if self.report:
            return [dict(v) for v in self.report.get("Volumes", [])]
        plan = state_output(self.history, "Plan")
        if not isinstance(plan, dict):
            return []
        prepared = state_output(self.history, "Prepared")
        created = prepared.get("Created") if isinstance(prepared, dict) else None
        new_ids = {c["Device"]: c["VolumeId"] for c in created or [] if isinstance(c, dict)}
        return [
            {
                "Device": v["Device"],
                "SnapshotId": v["SnapshotId"],
                "NewVolumeId": new_ids.get(v["Device"]),
                "ReplacedVolumeId": v["ReplacedVolumeId"],
            }
            for v in plan.get("Volumes", [])
        ]

    def summary(self) -> dict[str, Any]:
        """What ``status`` prints: outcome, timing, report or named error."""
        return {
            "ExecutionArn": self.arn,
            "Name": self.name,
            "InstanceId": self.instance_id,
            "Mode": str(self.input.get("Mode") or "InPlace"),
            "Status": self.status,
            "DryRun": self.dry_run,
            "StartedAt": self.started_at.isoformat(),
            "StoppedAt": self.stopped_at.isoformat() if self.stopped_at else None,
            "CurrentState": self.current_state,
            "SnapshotSetId": self.snapshot_set_id,
            "RtoSeconds": self.rto_seconds if self.status == "SUCCEEDED" else None,
            "DowntimeSeconds": self.downtime_seconds,
            "RolledBack": self.rolled_back,
            "Error": self.error,
            "Cause": self.cause,
            "Report": self.report,
        }

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = _jsonable(
            {
                "executionArn": self.arn,
                "name": self.name,
                "status": self.status,
                "startDate": self.started_at,
                "stopDate": self.stopped_at,
                "input": json.dumps(self.input),
                "output": json.dumps(self.output) if self.output is not None else None,
                "error": self.error,
                "cause": self.cause,
                "history": self.history,
            }
        )
        return document

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExecutionRecord:
        data = _with_dates(data)
        return cls.from_described(data, data.get("history", []))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _with_dates(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: datetime.fromisoformat(v)
            if k in _DATE_KEYS and isinstance(v, str)
            else _with_dates(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_with_dates(v) for v in value]
    return value


def fetch_history(sfn: SFNClient, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(dict(e) for e in page["events"])
    return events


def fetch_record(sfn: SFNClient, execution_arn: str) -> ExecutionRecord:
    described = dict(sfn.describe_execution(executionArn=execution_arn))
    return ExecutionRecord.from_described(described, fetch_history(sfn, execution_arn))


def executions_of_instance(
    sfn: SFNClient, state_machine_arn: str, instance_id: str, limit: int
) -> Iterator[ExecutionRecord]:
    """The instance's newest ``limit`` executions, looked for among all of the machine's.

    Names made by vss-restore start with the instance id, which spares a DescribeExecution
    for the other instances' executions; executions named by other callers are described to
    read their input.
    """
    found = 0
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn):
        for listed in page["executions"]:
            name = listed["name"]
            if re.match(r"^i-[0-9a-f]+-", name) and not name.startswith(f"{instance_id}-"):
                continue
            record = fetch_record(sfn, listed["executionArn"])
            if record.instance_id != instance_id:
                continue
            yield record
            found += 1
            if found >= limit:
                return
