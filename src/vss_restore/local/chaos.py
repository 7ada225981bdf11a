"""The reliability matrix: break every mutating call of a restore, then check I1-I6.

``python -m vss_restore.local.chaos [--reduced] [--out chaos/results.json]`` (``make chaos``)
runs one restore per (operation, occurrence, fault kind) on a fresh emulated world, with
the fault injected at that call, and records the outcome and any invariant violated.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import boto3

from vss_restore.local import world
from vss_restore.local.engine import LOCK_TABLE_NAME, LocalEngine
from vss_restore.local.faults import FAULT_KINDS, fault_of_kind
from vss_restore.local.invariants import InstanceState, check_invariants
from vss_restore.local.simulation import Simulation

# Every call the workflow makes that changes something.
OPERATIONS = (
    "ec2.CreateVolume",
    "ec2.CreateTags",
    "ec2.StopInstances",
    "ec2.DetachVolume",
    "ec2.AttachVolume",
    "ec2.ModifyInstanceAttribute",
    "ec2.StartInstances",
    "ec2.DeleteVolume",
    "dynamodb.PutItem",
    "dynamodb.DeleteItem",
)


@dataclass(frozen=True)
class Case:
    operation: str
    occurrence: int
    fault: str


@dataclass(frozen=True)
class Outcome:
    operation: str
    occurrence: int
    fault: str
    status: str
    error: str | None
    invariants_ok: bool
    violations: list[str]
    injected: int
    seconds: float


def _world(engine: LocalEngine) -> tuple[Any, str, dict[str, Any]]:
    ec2 = boto3.client("ec2", region_name=engine.region)
    instance_id = world.windows_instance(ec2)
    world.vss_snapshot_set(
        ec2, instance_id, taken_at=datetime.now(UTC) - timedelta(hours=1), set_id="set-1"
    )
    # DeleteReplacedVolumes makes the restore call every operation above.
    return ec2, instance_id, {"InstanceId": instance_id, "DeleteReplacedVolumes": True}


class _CallCounter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, event_name: str, **_: Any) -> None:
        service, operation = event_name.split(".")[1:3]
        self.calls[f"{service}.{operation}"] += 1


def calls_per_operation() -> Counter[str]:
    """How often a clean restore calls each operation (to place 'later' occurrences)."""
    counter = _CallCounter()
    with LocalEngine() as engine:
        _, _, request = _world(engine)
        engine.observe("before-call.ec2", counter)
        engine.observe("before-call.dynamodb", counter)
        result = engine.run(request)
    if result.status != "SUCCEEDED":
        raise RuntimeError(f"the clean restore failed: {result.error}: {result.cause}")
    return counter.calls


def matrix(reduced: bool = False, calls: Counter[str] | None = None) -> list[Case]:
    """Each operation and fault kind at its first call, and (full matrix) at its last call."""
    counts = calls if calls is not None else (Counter() if reduced else calls_per_operation())
    cases: list[Case] = []
    for operation in OPERATIONS:
        occurrences = [1] if reduced or counts[operation] < 2 else [1, counts[operation]]
        cases.extend(Case(operation, n, kind) for n in occurrences for kind in FAULT_KINDS)
    return cases


def run_case(case: Case, simulation: Simulation | None = None) -> Outcome:
    started = datetime.now(UTC)
    with LocalEngine(simulation=simulation) as engine:
        ec2, instance_id, request = _world(engine)
        injector = engine.inject(fault_of_kind(case.fault, case.operation, case.occurrence))
        before = InstanceState.capture(ec2, instance_id)
        result = engine.run(request, timeout=120)
        violations = check_invariants(ec2, before, result, request, LOCK_TABLE_NAME)
    return Outcome(
        operation=case.operation,
        occurrence=case.occurrence,
        fault=case.fault,
        status=result.status,
        error=result.error,
        invariants_ok=not violations,
        violations=violations,
        injected=injector.injected,
        seconds=round((datetime.now(UTC) - started).total_seconds(), 2),
    )


def run_matrix(
    cases: Iterable[Case], workers: int = 2, simulation: Simulation | None = None
) -> list[Outcome]:
    # A fresh process per worker: the emulator's state is global to a process.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(partial(run_case, simulation=simulation), cases))


def summary(outcomes: list[Outcome]) -> str:
    kinds = list(FAULT_KINDS)
    lines = [f"{'operation':<30}" + "".join(f"{k[:16]:>18}" for k in kinds)]
    for operation in OPERATIONS:
        cells = []
        for kind in kinds:
            runs = [o for o in outcomes if o.operation == operation and o.fault == kind]
            ok = sum(o.status == "SUCCEEDED" for o in runs)
            bad = sum(not o.invariants_ok for o in runs)
            cells.append(f"{ok}/{len(runs)} ok" + (f" {bad} BAD" if bad else "") if runs else "-")
        lines.append(f"{operation:<30}" + "".join(f"{c:>18}" for c in cells))
    violated = [o for o in outcomes if not o.invariants_ok]
    exercised = [o for o in outcomes if o.injected]
    lines.append("")
    lines.append(
        f"runs: {len(outcomes)}, faults injected: {len(exercised)}, "
        f"operations: {len({o.operation for o in exercised})}, fault kinds: {len({o.fault for o in exercised})}, "
        f"succeeded: {sum(o.status == 'SUCCEEDED' for o in outcomes)}, "
        f"failed and rolled back: {sum(o.status == 'FAILED' for o in outcomes)}, "
        f"invariant violations: {sum(len(o.violations) for o in outcomes)}"
    )
    for outcome in violated:
        lines.append(
            f"  VIOLATION {outcome.operation}#{outcome.occurrence} {outcome.fault}: {outcome.violations}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reduced", action="store_true", help="first occurrence only")
    parser.add_argument("--out", type=Path, default=Path("chaos/results.json"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--simulate", type=int, metavar="SEED", help="run in simulation mode with this seed"
    )
    args = parser.parse_args(argv)
    cases = matrix(reduced=args.reduced)
    simulation = Simulation(seed=args.simulate) if args.simulate is not None else None
    outcomes = run_matrix(cases, args.workers, simulation)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([asdict(o) for o in outcomes], indent=2) + "\n")
    print(summary(outcomes))  # noqa: T201
    print(f"\nwrote {args.out}")  # noqa: T201
    return 0 if all(o.invariants_ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
