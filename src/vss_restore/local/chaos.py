"""The reliability matrix: break the calls of a restore, its rollback and a drill; check I1-I6.

``python -m vss_restore.local.chaos [--reduced] [--out chaos/results.json]`` (``make chaos``)
runs one execution per case on a fresh emulated world, with the case's faults injected,
and records the outcome and any invariant violated. The operations come from what a
fault-free run of each phase actually calls (recorded, not listed by hand), so a call a
later change adds is covered without touching this file:

- ``restore``: every mutating call of a restore, with each transient fault kind at its
  first and last call, and refused for good (``Permanent:<code>``) with each code AWS
  answers that operation with (``faults.REFUSALS``);
- ``rollback``: a first failure makes the restore roll back (a refusal once: capacity at
  ``StartInstances`` after the swap, a zone mismatch at the second ``AttachVolume`` mid
  swap, a volume quota at the third ``CreateVolume`` before it); then each call the
  rollback makes fails at its first call, transiently or for good;
- ``restore`` with two faults (``also``): a seeded sample of pairs of the cases above,
  on different operations;
- ``drill``: every mutating call of a clone drill, each transient kind and refused for good;
- ``online``: every mutating call of an online restore (Mode "Online", a service to stop,
  DeleteReplacedVolumes), each transient kind and refused for good; besides I1-I6 (I5: the
  instance still runs), no StopInstances or StartInstances call and no volume detached
  while its Windows disk was online;
- in every phase, the first invocation of each function the recorded run invoked
  (``lambda.Invoke:<function>``) throttled by Lambda, failed by Lambda, and run past its
  function's timeout (``faults.INVOKE_FAULT_KINDS``). Reduced: one of the three, in turn,
  for each function of the restore and of its rollback, and for each further function of
  the drill and the online restore.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import boto3

from vss_restore.local import world
from vss_restore.local.engine import (
    FUNCTION_PREFIX,
    LOCK_TABLE_NAME,
    ExecutionTimeout,
    LocalEngine,
)
from vss_restore.local.faults import (
    FAULT_KINDS,
    INVOKE,
    INVOKE_FAULT_KINDS,
    PERMANENT,
    fault_named,
    refusals,
)
from vss_restore.local.invariants import (
    InstanceState,
    check_drill_invariants,
    check_invariants,
)
from vss_restore.local.simulation import Simulation
from vss_restore.tasks import TASKS

PHASES = ("restore", "rollback", "drill", "online")
# Calls that only read: never faulted by the matrix (a read fault is a transient error).
_READS = ("Describe", "Get", "List", "Query", "Scan", "BatchGet")
# Services whose calls the tasks make (the interpreter's own lambda/states calls are not).
WATCHED_SERVICES = ("ec2", "dynamodb", "ssm", "sns", "events", "cloudwatch")
# The rollback tasks: every call after the first of them starts is a rollback call.
ROLLBACK_TASKS = ("ReattachOriginalVolumes", "RestorePowerState", "DeleteRestoredVolumes")
# First failures that make a restore roll back, each refused once with a code AWS uses.
ROLLBACK_TRIGGERS = (
    ("ec2.StartInstances", 1, "Once:InsufficientInstanceCapacity"),
    ("ec2.AttachVolume", 2, "Once:InvalidVolume.ZoneMismatch"),
    ("ec2.CreateVolume", 3, "Once:VolumeLimitExceeded"),
)
# make test: a transient refusal and a task run again at each rollback call.
REDUCED_ROLLBACK_KINDS = ("InternalError", "CrashAfterCall")
DOUBLE_FAULT_RUNS = 60
# make test: an online restore's calls each answered too late (applied, answer lost) and
# refused for good.
REDUCED_ONLINE_KINDS = ("ResponseLost",)
# Calls an online restore must never make, whatever fails.
POWER_CALLS = ("ec2.StopInstances", "ec2.StartInstances")
# Retry intervals do not sleep locally: a run that takes this long is stuck.
RUN_TIMEOUT_SECONDS = 300


def is_mutating(operation: str) -> bool:
    service, _, name = operation.partition(".")
    return service in WATCHED_SERVICES and not name.startswith(_READS)


@dataclass(frozen=True)
class Injection:
    """One fault: which call of which operation, and the fault's name (``faults.fault_named``)."""

    operation: str
    occurrence: int
    fault: str

    def __str__(self) -> str:
        return f"{self.operation}#{self.occurrence} {self.fault}"


@dataclass(frozen=True)
class Case:
    """The fault under test, in a phase, after (``before``) or beside (``also``) others."""

    phase: str
    injection: Injection
    before: tuple[Injection, ...] = ()
    also: tuple[Injection, ...] = ()

    @property
    def operation(self) -> str:
        return self.injection.operation

    @property
    def fault(self) -> str:
        return self.injection.fault

    @property
    def permanent(self) -> bool:
        return self.injection.fault.startswith(PERMANENT)


@dataclass(frozen=True)
class Outcome:
    operation: str
    occurrence: int
    fault: str
    phase: str
    status: str
    error: str | None
    invariants_ok: bool
    violations: list[str]
    injected: int
    seconds: float
    after: list[str] = field(default_factory=list)  # the first failure (rollback phase)
    also: list[str] = field(default_factory=list)  # the second fault (double faults)
    also_injected: int = 0


# --- the worlds ---------------------------------------------------------------------------


def _restore_world(engine: LocalEngine) -> tuple[Any, str, dict[str, Any]]:
    ec2 = boto3.client("ec2", region_name=engine.region)
    instance_id = world.windows_instance(ec2)
    world.vss_snapshot_set(
        ec2, instance_id, taken_at=datetime.now(UTC) - timedelta(hours=1), set_id="set-1"
    )
    # DeleteReplacedVolumes makes the restore call every operation it has.
    return ec2, instance_id, {"InstanceId": instance_id, "DeleteReplacedVolumes": True}


def _drill_world(engine: LocalEngine) -> tuple[Any, str, dict[str, Any]]:
    ec2, instance_id, _ = _restore_world(engine)
    subnet_id, _ = world.isolated_subnet(ec2)
    document = world.validation_document(boto3.client("ssm", region_name=engine.region))
    # No SecurityGroupIds: the drill makes (and removes) its own isolation group.
    return (
        ec2,
        instance_id,
        {
            "InstanceId": instance_id,
            "Mode": "Clone",
            "SubnetId": subnet_id,
            "ValidationDocument": document,
            # SSM checks the parameter against the document's allowedPattern.
            "ValidationParameters": {"Services": ["W3SVC"]},
        },
    )


def _online_world(engine: LocalEngine) -> tuple[Any, str, dict[str, Any]]:
    ec2 = boto3.client("ec2", region_name=engine.region)
    # A data volume deleted on termination: the online restore sets that flag again.
    disks = [
        replace(d, delete_on_termination=True) if d.device == "xvdg" else d
        for d in world.DEMO_DISKS
    ]
    instance_id = world.windows_instance(ec2, disks)
    world.vss_snapshot_set(
        ec2, instance_id, taken_at=datetime.now(UTC) - timedelta(hours=1), set_id="set-1"
    )
    request = {
        "InstanceId": instance_id,
        "Mode": "Online",
        "StopServices": ["MSSQLSERVER"],
        "DeleteReplacedVolumes": True,
    }
    return ec2, instance_id, request


def _world_of(phase: str) -> Callable[[LocalEngine], tuple[Any, str, dict[str, Any]]]:
    return {"drill": _drill_world, "online": _online_world}.get(phase, _restore_world)


# --- recording what a run calls -----------------------------------------------------------


class CallLog:
    """Every mutating call of a run, in order, with a marker where each task started."""

    def __init__(self) -> None:
        self.entries: list[str] = []

    def __call__(self, event_name: str, **_: Any) -> None:
        service, operation = event_name.split(".")[1:3]
        if is_mutating(f"{service}.{operation}"):
            self.entries.append(f"{service}.{operation}")

    def task_started(self, function: str) -> None:
        self.entries.append(f"task:{function}")

    def task_finished(self, function: str) -> None:
        return None

    def calls(self, since: int = 0) -> Counter[str]:
        return Counter(e for e in self.entries[since:] if not e.startswith("task:"))

    def invocations(self, since: int = 0) -> list[str]:
        """The functions invoked from ``since`` on (an index into ``entries``), in order."""
        return [e.removeprefix("task:") for e in self.entries[since:] if e.startswith("task:")]

    def first_task(self, names: Iterable[str]) -> int | None:
        """Where the first of these tasks started (an index into ``entries``)."""
        functions = {f"task:{FUNCTION_PREFIX}{TASKS[n]}" for n in names}
        return next((i for i, e in enumerate(self.entries) if e in functions), None)


def _inject(engine: LocalEngine, injections: Iterable[Injection]) -> list[Any]:
    return [engine.inject(fault_named(i.fault, i.operation, i.occurrence)) for i in injections]


def record(phase: str, first_failure: Sequence[Injection] = ()) -> CallLog:
    """The calls one run of ``phase`` makes, with ``first_failure`` injected (or none)."""
    log = CallLog()
    with LocalEngine() as engine:
        _, _, request = _world_of(phase)(engine)
        _inject(engine, first_failure)
        for service in WATCHED_SERVICES:
            engine.observe(f"before-parameter-build.{service}", log)
        if engine.dispatcher is not None:
            engine.dispatcher.observer = log
        result = engine.run(request, timeout=120)
    if not first_failure and result.status != "SUCCEEDED":
        raise RuntimeError(f"the fault-free {phase} failed: {result.error}: {result.cause}")
    return log


# --- the cases ----------------------------------------------------------------------------


def _kinds(
    operation: str, reduced: bool = False, transient: Sequence[str] = tuple(FAULT_KINDS)
) -> list[str]:
    """The transient kinds, then a permanent refusal with each code (reduced: the first)."""
    codes = refusals(operation)[:1] if reduced else refusals(operation)
    return [*transient, *(f"{PERMANENT}{code}" for code in codes)]


def phase_cases(
    phase: str,
    calls: Counter[str],
    reduced: bool = False,
    transient: Sequence[str] = tuple(FAULT_KINDS),
) -> list[Case]:
    """Each operation x fault kind at its first call; the transient ones also at its last."""
    cases: list[Case] = []
    for operation in sorted(calls):
        for kind in _kinds(operation, reduced, transient):
            last = calls[operation]
            again = not reduced and not kind.startswith(PERMANENT) and last > 1
            for n in (1, last) if again else (1,):
                cases.append(Case(phase, Injection(operation, n, kind)))
    return cases


def rollback_cases(trigger: Injection, log: CallLog, reduced: bool = False) -> list[Case]:
    """Each call of the rollback that ``trigger`` causes, failing at its first call."""
    start = log.first_task(ROLLBACK_TASKS)
    if start is None:
        raise RuntimeError(f"{trigger} did not make the restore roll back")
    before, during = log.calls(0) - log.calls(start), log.calls(start)
    return [
        Case("rollback", Injection(op, before[op] + 1, kind), before=(trigger,))
        for op in sorted(during)
        for kind in _kinds(op, reduced, REDUCED_ROLLBACK_KINDS if reduced else tuple(FAULT_KINDS))
    ]


def invoke_cases(
    phase: str,
    log: CallLog,
    reduced: bool = False,
    before: tuple[Injection, ...] = (),
    since: int = 0,
    seen: set[str] | None = None,
) -> list[Case]:
    """A Lambda fault at the first invocation, from ``since`` on, of each function ``log``
    invoked: every kind of ``INVOKE_FAULT_KINDS`` (reduced: one, in turn, and none for a
    function in ``seen``, which then holds the functions this phase covered).

    Faults name the function, not the n-th invocation of the run: the order of invocations
    in parallel branches differs run to run, the cases must not."""
    earlier = Counter(log.invocations()) - Counter(log.invocations(since))
    kinds = tuple(INVOKE_FAULT_KINDS)
    covered = set() if seen is None else seen
    cases: list[Case] = []
    for function in sorted(set(log.invocations(since))):
        if reduced and function in covered:
            continue
        covered.add(function)
        chosen = (kinds[len(cases) % len(kinds)],) if reduced else kinds
        injections = [Injection(f"{INVOKE}:{function}", earlier[function] + 1, k) for k in chosen]
        cases.extend(Case(phase, injection, before) for injection in injections)
    return cases


def double_cases(single: Sequence[Case], runs: int, seed: int) -> list[Case]:
    """A seeded sample of pairs of single faults on different operations, both from the start."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    pool = [c for c in single if c.phase in ("restore", "rollback")]
    cases: list[Case] = []
    while len(cases) < runs:
        a, b = rng.sample(pool, 2)
        if a.operation == b.operation:
            continue
        cases.append(Case(a.phase, a.injection, before=a.before, also=(*b.before, b.injection)))
    return cases


def matrix(reduced: bool = False, seed: int = 18) -> list[Case]:
    """Every case of the matrix.

    ``reduced`` (``make test``): first calls only, one refusal code per operation, one
    first failure for the rollback and two transient kinds there, no pairs, and only
    refusals in the drill (its transient faults have their own tests).
    """
    cases: list[Case] = []
    invoked: list[Case] = []
    seen: set[str] = set()  # reduced: the functions an invoke fault already reached
    log = record("restore")
    cases.extend(phase_cases("restore", log.calls(), reduced))
    invoked.extend(invoke_cases("restore", log, reduced, seen=seen))
    for operation, occurrence, fault in ROLLBACK_TRIGGERS[:1] if reduced else ROLLBACK_TRIGGERS:
        trigger = Injection(operation, occurrence, fault)
        log = record("restore", [trigger])
        cases.extend(rollback_cases(trigger, log, reduced))
        # Every invocation of the rollback, each function again (the rollback's own paths).
        start = log.first_task(ROLLBACK_TASKS) or 0
        invoked.extend(invoke_cases("rollback", log, reduced, (trigger,), start))
    if not reduced:
        cases.extend(double_cases(cases, DOUBLE_FAULT_RUNS, seed))
    # make test runs the drill's transient faults elsewhere: reduced, only its refusals here.
    drill_kinds = () if reduced else tuple(FAULT_KINDS)
    log = record("drill")
    cases.extend(phase_cases("drill", log.calls(), reduced, drill_kinds))
    invoked.extend(invoke_cases("drill", log, reduced, seen=seen))
    online_kinds = REDUCED_ONLINE_KINDS if reduced else tuple(FAULT_KINDS)
    log = record("online")
    cases.extend(phase_cases("online", log.calls(), reduced, online_kinds))
    invoked.extend(invoke_cases("online", log, reduced, seen=seen))
    return cases + invoked


# --- running ------------------------------------------------------------------------------


def run_case(case: Case, simulation: Simulation | None = None) -> Outcome:
    started = time.monotonic()
    with LocalEngine(simulation=simulation) as engine:
        ec2, instance_id, request = _world_of(case.phase)(engine)
        before = InstanceState.capture(ec2, instance_id)
        _inject(engine, case.before)
        [main] = _inject(engine, [case.injection])
        also = _inject(engine, case.also)
        power_calls: list[str] = []
        for operation in POWER_CALLS:
            engine.observe(f"before-call.{operation}", partial(_note_call, power_calls, operation))
        try:
            result = engine.run(request, timeout=RUN_TIMEOUT_SECONDS)
        except ExecutionTimeout as err:
            return _unfinished(case, str(err), main.injected, time.monotonic() - started)
        if case.phase == "drill":
            violations = check_drill_invariants(ec2, before, result)
        else:
            violations = check_invariants(ec2, before, result, request, LOCK_TABLE_NAME)
        if case.phase == "online":
            violations += [f"I5: an online restore called {c}" for c in power_calls]
            violations += [f"online: {v}" for v in engine.guests.violations]
    if result.status == "FAILED" and (result.error or "States.").startswith("States."):
        violations.append(f"failed without a named error: {result.error}: {result.cause}")
    return Outcome(
        operation=case.injection.operation,
        occurrence=case.injection.occurrence,
        fault=case.injection.fault,
        phase=case.phase,
        status=result.status,
        error=result.error,
        invariants_ok=not violations,
        violations=violations,
        injected=main.injected,
        seconds=round(time.monotonic() - started, 2),
        after=[str(i) for i in case.before],
        also=[str(i) for i in case.also],
        also_injected=sum(a.injected for a in also),
    )


def _note_call(calls: list[str], operation: str, **_: Any) -> None:
    calls.append(operation)


def _unfinished(case: Case, why: str, injected: int, seconds: float) -> Outcome:
    """A run that did not end in time: a violation (every wait is bounded), not a crash."""
    return Outcome(
        operation=case.injection.operation,
        occurrence=case.injection.occurrence,
        fault=case.injection.fault,
        phase=case.phase,
        status="RUNNING",
        error=None,
        invariants_ok=False,
        violations=[f"did not finish: {why}"],
        injected=injected,
        seconds=round(seconds, 2),
        after=[str(i) for i in case.before],
        also=[str(i) for i in case.also],
    )


def run_matrix(
    cases: Iterable[Case], workers: int = 2, simulation: Simulation | None = None
) -> list[Outcome]:
    # A fresh process per worker: the emulator's state is global to a process.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(partial(run_case, simulation=simulation), cases))


def _kind_column(fault: str) -> str:
    return "Permanent" if fault.startswith(PERMANENT) else fault


def summary(outcomes: list[Outcome]) -> str:
    """A table per phase (operation x fault kind: succeeded/failed runs), then the totals."""
    lines: list[str] = []
    kinds = [*FAULT_KINDS, "Permanent", *INVOKE_FAULT_KINDS]
    for phase in PHASES:
        runs = [o for o in outcomes if o.phase == phase and not o.also]
        if not runs:
            continue
        lines.append(f"{phase:<30}" + "".join(f"{k[:16]:>18}" for k in kinds))
        for operation in sorted({o.operation for o in runs}):
            cells = []
            for kind in kinds:
                cell = [
                    o for o in runs if o.operation == operation and _kind_column(o.fault) == kind
                ]
                ok = sum(o.status == "SUCCEEDED" for o in cell)
                bad = sum(not o.invariants_ok for o in cell)
                text = f"{ok} ok {len(cell) - ok} failed" + (f" {bad} BAD" if bad else "")
                cells.append(text if cell else "-")
            lines.append(f"{operation:<30}" + "".join(f"{c:>18}" for c in cells))
        lines.append("")
    errors = Counter(o.error for o in outcomes if o.status == "FAILED")
    lines.append(
        f"runs: {len(outcomes)} ("
        + ", ".join(f"{p} {sum(o.phase == p and not o.also for o in outcomes)}" for p in PHASES)
        + f", double faults {sum(bool(o.also) for o in outcomes)}), "
        f"faults injected: {sum(bool(o.injected) for o in outcomes)}, "
        f"operations: {len({o.operation for o in outcomes})}, "
        f"fault kinds: {len({_kind_column(o.fault) for o in outcomes})} "
        f"({len({o.fault for o in outcomes})} with each refusal code), "
        f"succeeded: {sum(o.status == 'SUCCEEDED' for o in outcomes)}, "
        f"failed: {sum(o.status == 'FAILED' for o in outcomes)}, "
        f"invariant violations: {sum(len(o.violations) for o in outcomes)}"
    )
    lines.append(
        "errors of the failed runs: " + ", ".join(f"{e} {n}" for e, n in errors.most_common())
    )
    for o in outcomes:
        if not o.invariants_ok:
            context = " after " + "; ".join(o.after) if o.after else ""
            context += " with " + "; ".join(o.also) if o.also else ""
            lines.append(
                f"  VIOLATION {o.phase} {o.operation}#{o.occurrence} {o.fault}{context}: {o.violations}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reduced", action="store_true", help="the reduced matrix of make test")
    parser.add_argument("--out", type=Path, default=Path("chaos/results.json"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=18, help="draws the double-fault pairs")
    parser.add_argument(
        "--simulate", type=int, metavar="SEED", help="run in simulation mode with this seed"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    cases = matrix(reduced=args.reduced, seed=args.seed)
    simulation = Simulation(seed=args.simulate) if args.simulate is not None else None
    outcomes = run_matrix(cases, args.workers, simulation)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([asdict(o) for o in outcomes], indent=2) + "\n")
    print(summary(outcomes))  # noqa: T201
    print(f"\nwrote {args.out} in {time.monotonic() - started:.0f} s")  # noqa: T201
    return 0 if all(o.invariants_ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
