"""``make bench``: restores on the simulation's latency and throttling model, side by side.

For 1, 4, 8 and 16 volumes and many seeds, one restore each through the real definition in
simulation mode (the latency model of docs/performance.md). Every figure is in modelled
seconds and comes from the same run's draws: our downtime and recovery time above their
physical bounds, the plain scripts' (AWS's sample order, the best plain order) on the same
draws, state transitions, invocations and cost. Writes ``bench/results.json`` and
``bench/restore_times.png`` (or ``--out FILE``: that JSON file, the chart beside it).

With ``--online``, also restores without a reboot (Mode "Online") of servers with 1, 4 and 8
data volumes, each paired with an in-place restore of the same data volumes on the same seed
(``online`` in the JSON); ``--online-only`` runs just those and puts them into an existing
results file, leaving its other figures as they are.

    python -m vss_restore.local.bench [--volumes 1,4,8,16] [--seeds 20] [--out FILE]
        [--model fast|base|slow] [--variants] [--strategies] [--fleets 50x4,200x4]
        [--online | --online-only] [--online-volumes 1,4,8]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from vss_restore import tags
from vss_restore.definition import definition_path, repo_root
from vss_restore.devices import WINDOWS_ROOT_DEVICE
from vss_restore.executions import state_output, timeline
from vss_restore.fleet import MAX_CONCURRENCY
from vss_restore.local.baselines import (
    AWS_SAMPLE,
    BASELINES,
    BEST_SCRIPT,
    best_of,
    downtime_bound,
    draws_by_kind,
    restore_rto_bound,
    rto_bound,
    script_times,
)
from vss_restore.local.engine import LocalEngine
from vss_restore.local.initialization_model import seconds_to_initialize
from vss_restore.local.simulation import BUCKETS, SimulatedAws, Simulation
from vss_restore.local.world import Disk, fix_ids, vss_snapshot_set, windows_instance
from vss_restore.tasks import TASKS
from vss_restore.waiting import WAIT_IN_TASK_ENV

SIZES = (1, 4, 8, 16)
SEEDS = 20
# List prices, us-east-1, November 2026: Step Functions Standard per state transition;
# Lambda arm64 per GB-second and per request. The functions have 256 MB.
PRICES = {
    "step_functions_standard_per_transition": 0.000025,
    "lambda_arm64_per_gb_second": 0.0000133334,
    "lambda_per_request": 0.0000002,
}
LAMBDA_MEMORY_GB = 0.25
# The latency model's variants: every drawn delay multiplied (docs/performance.md).
MODELS = {"fast": 0.5, "base": 1.0, "slow": 2.0}
# The goals each size is held to (modelled seconds; speed-up against the best baseline).
GOALS = {
    "downtime_excess_s_p50": 3.0,
    "downtime_excess_s_p95": 8.0,
    "rto_excess_s_p50": 10.0,
}
FLEET_RATIO_GOAL = 1.15


# --- measures (pure) --------------------------------------------------------------------


def state_transitions(history: list[dict[str, Any]]) -> int:
    """Billed transitions: every state entered, and every retry of a task."""
    return sum(1 + run.retries for run in timeline(history))


def cost_usd(transitions: int, invocations: list[tuple[str, float]]) -> float:
    gb_seconds = sum(max(seconds, 0.001) for _, seconds in invocations) * LAMBDA_MEMORY_GB
    return (
        transitions * PRICES["step_functions_standard_per_transition"]
        + len(invocations) * PRICES["lambda_per_request"]
        + gb_seconds * PRICES["lambda_arm64_per_gb_second"]
    )


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- one restore ---------------------------------------------------------------------------


# The highest rate EBS provisions for volume initialization: the fastest a user can ask for.
PROVISIONED_RATE_MIBPS = 300
# How each volume initializes: (name, InitializationRate, fast snapshot restore). The restore
# path is the same in all three (the rate only rides on CreateVolume), so one run's volume
# availability times give all three on the same draws.
INITIALIZATIONS = (
    ("default", None, False),
    ("provisioned", PROVISIONED_RATE_MIBPS, False),
    ("fast_snapshot_restore", None, True),
)


def full_performance_seconds(
    started: float, back: float, restored: Sequence[tuple[float, int]], rate: int | None, fsr: bool
) -> float:
    """Modelled seconds from ``started`` until the restore is over (``back``) and every
    restored volume, available at its moment with its size in GiB, has loaded all its blocks."""
    loaded = [ready + seconds_to_initialize(size, rate, fsr) for ready, size in restored]
    return max([back, *loaded]) - started


def bench_disks(volumes: int) -> tuple[Disk, ...]:
    """A root volume and ``volumes - 1`` data volumes on xvdf, xvdg, ... xvdz, xvdaa, ..."""
    letters = [chr(c) for c in range(ord("f"), ord("z") + 1)]
    names = letters + [f"a{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    data = [Disk(f"xvd{names[i]}", "gp3", 100) for i in range(volumes - 1)]
    return (Disk(WINDOWS_ROOT_DEVICE, "gp3", 60, delete_on_termination=True), *data)


def bench_server(engine: LocalEngine, disks: Sequence[Disk], seed: int) -> str:
    """A Windows server with these volumes and a VSS set of them taken an hour ago; the
    same seed gives the same ids (call it before anything else in a new engine)."""
    fix_ids(seed)
    ec2 = boto3.client("ec2", region_name=engine.region)
    instance = windows_instance(ec2, tuple(disks), name=f"bench-{len(disks)}-{seed}")
    taken = datetime.now(UTC) - timedelta(hours=1)
    vss_snapshot_set(ec2, instance, taken_at=taken, set_id=f"bench-{seed}")
    return instance


@dataclass(frozen=True)
class Strategy:
    """How the workflow waits: in the task (the product), or by Step Functions retries."""

    name: str
    wait_in_task_seconds: int
    change: Callable[[dict[str, Any]], None] | None = None  # edits the definition's States

    def definition(self) -> str | None:
        if self.change is None:
            return None
        document = json.loads(definition_path().read_text())
        self.change(document["States"])
        return json.dumps(document)


def fixed_retries(states: dict[str, Any], interval: int = 2) -> None:
    """Retry readiness every ``interval`` seconds, without backoff."""
    for state in states.values():
        for retry in state.get("Retry", []):
            if retry["ErrorEquals"] == ["ResourceNotReady"]:
                retry.update(IntervalSeconds=interval, BackoffRate=1.0, MaxAttempts=400)
                retry.pop("MaxDelaySeconds", None)
        for branch in state.get("Branches", []):
            fixed_retries(branch["States"], interval)


# The tasks on the downtime path, in the order the swap calls them: a warm-up branch calls
# each once, as a no-op, while the instance stops.
def no_warm_up(states: dict[str, Any]) -> None:
    """The definition without its warm-up branch (``--strategies`` judges the branch again:
    it stays only while its paired gain exceeds the spread of identical runs)."""
    branches = states["PrepareVolumesAndStop"]["Branches"]
    branches[:] = [b for b in branches if not b["StartAt"].endswith("WarmUp")]


STRATEGIES = {
    "poll-in-task": Strategy("poll-in-task", 600),
    "poll-in-task-no-warm-up": Strategy("poll-in-task-no-warm-up", 600, no_warm_up),
    "retry-backoff": Strategy("retry-backoff", 0),
    "retry-fixed-2s": Strategy("retry-fixed-2s", 0, fixed_retries),
}


@contextmanager
def _in_task_budget(seconds: int) -> Iterator[None]:
    """The polling tasks' in-task budget for one run, as the strategy's stack sets it; the
    environment is as it was afterwards (a test in the same process must not inherit it)."""
    before = os.environ.get(WAIT_IN_TASK_ENV)
    os.environ[WAIT_IN_TASK_ENV] = str(seconds)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(WAIT_IN_TASK_ENV, None)
        else:
            os.environ[WAIT_IN_TASK_ENV] = before


def run_once(
    volumes: int, seed: int, strategy: str = "poll-in-task", model: str = "base"
) -> dict[str, Any]:
    """One simulated restore; its measures in modelled seconds."""
    with _in_task_budget(STRATEGIES[strategy].wait_in_task_seconds):
        return _run_once(volumes, seed, strategy, model)


def _run_once(volumes: int, seed: int, strategy: str, model: str) -> dict[str, Any]:
    chosen = STRATEGIES[strategy]
    started = time.monotonic()
    simulation = Simulation(seed=seed, latency_scale=MODELS[model])
    with LocalEngine(simulation=simulation, definition=chosen.definition()) as engine:
        instance = bench_server(engine, bench_disks(volumes), seed)
        result = engine.run({"InstanceId": instance}, timeout=1800)
        simulated = engine.simulated
        assert simulated is not None  # noqa: S101 - simulation mode was asked for
        sizes = {disk.device: disk.size for disk in bench_disks(volumes)}
        restored = [
            (simulated.available_at(line["NewVolumeId"]), sizes[line["Device"]])
            for line in (result.output or {}).get("Volumes", [])
        ]
        row = measure(volumes, seed, strategy, result.status, result.history, simulated)
        if result.status == "SUCCEEDED":
            row |= full_performance(simulated.marks, restored)
        return row | {"model": model, "wall_s": round(time.monotonic() - started, 2)}


def full_performance(
    marks: dict[str, float], restored: Sequence[tuple[float | None, int]]
) -> dict[str, float]:
    """The restore's time to full performance for each way its volumes can initialize."""
    known = [(ready, size) for ready, size in restored if ready is not None]
    return {
        f"full_performance_s_{name}": round(
            full_performance_seconds(
                marks["execution_started"], marks["last_task_finished"], known, rate, fsr
            ),
            2,
        )
        for name, rate, fsr in INITIALIZATIONS
    }


def measure(
    volumes: int,
    seed: int,
    strategy: str,
    status: str,
    history: list[dict[str, Any]],
    simulated: SimulatedAws,
) -> dict[str, Any]:
    kinds = draws_by_kind(simulated.draws)
    marks = simulated.marks
    transitions = state_transitions(history)
    row: dict[str, Any] = {"volumes": volumes, "seed": seed, "strategy": strategy}
    if status == "SUCCEEDED":
        downtime = marks["running"] - marks["stop_requested"]
        rto = marks["last_task_finished"] - marks["execution_started"]
        scripts = {b.key: script_times(kinds, b) for b in BASELINES}
        row |= {
            "downtime_s": round(downtime, 2),
            "downtime_bound_s": round(downtime_bound(kinds), 2),
            "downtime_excess_s": round(downtime - downtime_bound(kinds), 2),
            "rto_s": round(rto, 2),
            "rto_bound_s": round(restore_rto_bound(kinds), 2),
            "rto_excess_s": round(rto - restore_rto_bound(kinds), 2),
            "baselines": {
                key: {"rto_s": round(t.rto_s, 2), "downtime_s": round(t.downtime_s, 2)}
                for key, t in scripts.items()
            },
            "best_baseline_rto_s": round(best_of(scripts), 2),
            "speedup_vs_best_baseline": round(best_of(scripts) / rto, 3),
        }
    return row | {
        "status": status,
        "state_transitions": transitions,
        "lambda_invocations": len(simulated.invocations),
        "cost_usd": round(cost_usd(transitions, simulated.invocations), 6),
        "throttled_calls": simulated.throttled,
    }


# --- online restores against in-place restores of the same data volumes -------------------

ONLINE_SIZES = (1, 4, 8)  # data volumes, beside the root volume
# The services an online restore stops and starts: a SQL Server default instance.
ONLINE_SERVICES = ("MSSQLSERVER",)
# Each online restore is paired with an in-place restore of the same server on the same
# seed that restores the same volumes: its data volumes (the root volume stays).
ONLINE_REQUEST = {"Mode": "Online", "StopServices": list(ONLINE_SERVICES)}
IN_PLACE_DATA_REQUEST = {"ExcludeBootVolume": True}


@dataclass(frozen=True)
class Restored:
    """One simulated restore of a bench server."""

    status: str  # SUCCEEDED, or FAILED and the error
    report: dict[str, Any]
    rto_s: float | None
    # Volumes detached while their disk was online in Windows (the emulator's record).
    violations: int


def _restore(disks: Sequence[Disk], seed: int, request: dict[str, Any], model: str) -> Restored:
    with LocalEngine(simulation=Simulation(seed=seed, latency_scale=MODELS[model])) as engine:
        instance = bench_server(engine, disks, seed)
        result = engine.run({"InstanceId": instance, **request}, timeout=1800)
        marks = engine.simulated.marks if engine.simulated else {}
        succeeded = result.status == "SUCCEEDED"
        return Restored(
            status=result.status if succeeded else f"{result.status} {result.error}",
            report=result.output or {},
            rto_s=marks["last_task_finished"] - marks["execution_started"] if succeeded else None,
            violations=len(engine.guests.violations),
        )


def run_online_pair(data_volumes: int, seed: int, model: str = "base") -> dict[str, Any]:
    """An online restore of a server with ``data_volumes`` data volumes and an in-place
    restore of the same data volumes, on the same seed; modelled seconds."""
    with _in_task_budget(STRATEGIES["poll-in-task"].wait_in_task_seconds):
        return _run_online_pair(data_volumes, seed, model)


def _run_online_pair(data_volumes: int, seed: int, model: str) -> dict[str, Any]:
    started = time.monotonic()
    disks = bench_disks(data_volumes + 1)
    online = _restore(disks, seed, ONLINE_REQUEST, model)
    in_place = _restore(disks, seed, IN_PLACE_DATA_REQUEST, model)
    both = online.status == in_place.status == "SUCCEEDED"
    row: dict[str, Any] = {
        "volumes": data_volumes,
        "seed": seed,
        "model": model,
        "status": "SUCCEEDED" if both else f"online {online.status}, in place {in_place.status}",
        "detached_while_online": online.violations,
    }
    if both:
        application = float(online.report["ApplicationDowntimeSeconds"])
        downtime = float(in_place.report["DowntimeSeconds"])
        row |= {
            "application_downtime_s": round(application, 2),
            "in_place_downtime_s": round(downtime, 2),
            "ratio": round(application / downtime, 3),
            "online_rto_s": round(online.rto_s or 0.0, 2),
            "in_place_rto_s": round(in_place.rto_s or 0.0, 2),
            "restored_devices": sorted(v["Device"] for v in online.report.get("Volumes", [])),
        }
    return row | {"wall_s": round(time.monotonic() - started, 2)}


def summarize_online(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per data volume count: the online restore's application downtime against the
    in-place downtime, over the seeds where both succeeded (``ratio_p50``: the median of the
    per-seed ratios)."""
    rows = []
    for volumes in sorted({r["volumes"] for r in runs}):
        mine = _succeeded(runs, volumes)
        if not mine:
            continue
        rows.append(
            {
                "volumes": volumes,
                "application_downtime_s_p50": _p(mine, "application_downtime_s"),
                "application_downtime_s_p95": _p(mine, "application_downtime_s", 95),
                "in_place_downtime_s_p50": _p(mine, "in_place_downtime_s"),
                "in_place_downtime_s_p95": _p(mine, "in_place_downtime_s", 95),
                "ratio_p50": _p(mine, "ratio", digits=3),
                "online_rto_s_p50": _p(mine, "online_rto_s"),
                "seeds": len(mine),
                "failed_runs": sum(1 for r in runs if r["volumes"] == volumes) - len(mine),
            }
        )
    return rows


def _report_online(row: dict[str, Any]) -> None:
    name = f"online ({row['model']}) {row['volumes']:>2} data volumes seed {row['seed']:>2}"
    if row["status"] != "SUCCEEDED":
        print(f"{name}: {row['status']}", flush=True)
        return
    print(
        f"{name}: application downtime {row['application_downtime_s']:.1f} s, in place "
        f"{row['in_place_downtime_s']:.1f} s (ratio {row['ratio']:.3f}); online RTO "
        f"{row['online_rto_s']:.1f} s",
        flush=True,
    )


# --- a fleet ---------------------------------------------------------------------------------

FLEETS = ((50, 4), (200, 4))  # (servers, volumes each)
FLEET_SEEDS = 3


def throttle_bound(calls_by_bucket: dict[str, int]) -> float:
    """The least time EC2's token buckets allow for these calls (each bucket starts full)."""
    return max(
        (
            (max(0.0, (calls - BUCKETS[bucket][0]) / BUCKETS[bucket][1]))
            for bucket, calls in calls_by_bucket.items()
        ),
        default=0.0,
    )


def instance_bound(
    draws: Sequence[tuple[str, str, float]], instance: str, originals: set[str], created: set[str]
) -> float:
    """One instance's restore without waiting on anything but AWS: stop (while its volumes
    are created), detach, attach, start and status checks, each batch its slowest."""

    def of(kind: str, keys: set[str]) -> list[float]:
        return [v for k, key, v in draws if k == kind and key.split(":")[0] in keys]

    return rto_bound(
        of("stop", {instance})[0],
        of("create", created),
        of("detach", originals),
        of("attach", created),
        of("start", {instance})[0],
        of("checks", {instance})[0],
    )


def run_fleet(seed: int, instances: int, volumes: int, model: str = "base") -> dict[str, Any]:
    """One simulated fleet restore of ``instances`` servers at once; modelled seconds."""
    with _in_task_budget(STRATEGIES["poll-in-task"].wait_in_task_seconds):
        return _run_fleet(seed, instances, volumes, model)


def _run_fleet(seed: int, instances: int, volumes: int, model: str) -> dict[str, Any]:
    started = time.monotonic()
    simulation = Simulation(seed=seed, latency_scale=MODELS[model])
    with LocalEngine(simulation=simulation) as engine:
        fix_ids(seed)
        ec2 = boto3.client("ec2", region_name=engine.region)
        taken = datetime.now(UTC) - timedelta(hours=1)
        servers = []
        for n in range(instances):
            server = windows_instance(ec2, bench_disks(volumes), name=f"fleet-{n}")
            vss_snapshot_set(ec2, server, taken_at=taken, set_id=f"fleet-{seed}-{n}")
            servers.append(server)
        result = engine.run(
            # Every server at once, up to the fleet's largest MaxConcurrency (100).
            {"Instances": servers, "MaxConcurrency": min(instances, MAX_CONCURRENCY)},
            timeout=3600,
            machine="fleet",
        )
        simulated = engine.simulated
        assert simulated is not None  # noqa: S101 - simulation mode was asked for
        rto = simulated.marks["last_task_finished"] - simulated.marks["execution_started"]
        throttle = throttle_bound(simulated.calls_by_bucket)  # before our own reads below
        # The fleet's report: its output, or (a failed fleet) the FleetReport state's.
        report = result.output or state_output(result.history, "Report") or {}
        lines = report.get("Instances", [])
        bounds = []
        for volume in ec2.describe_volumes(
            Filters=[{"Name": f"tag:{tags.CREATED_BY}", "Values": [tags.CREATED_BY_VALUE]}]
        )["Volumes"]:
            labels = tags.tag_dict(volume.get("Tags"))
            bounds.append(
                (labels[tags.INSTANCE_ID], labels[tags.REPLACED_VOLUME_ID], volume["VolumeId"])
            )
        # A server whose restore failed has no bound (it may never have stopped or started):
        # it is listed and left out of the bound, and its fleet is not counted as a success.
        restored = [line["InstanceId"] for line in lines if line["Status"] == "SUCCEEDED"]
        per_instance = [
            instance_bound(
                simulated.draws,
                server,
                {o for i, o, _ in bounds if i == server},
                {c for i, _, c in bounds if i == server},
            )
            for server in restored
        ]
        bound = max(throttle, *per_instance, 0.0)
        return {
            "servers": instances,
            "volumes": volumes,
            "seed": seed,
            "status": result.status,
            "succeeded": len(restored),
            "not_restored": [server for server in servers if server not in restored],
            "fleet_rto_s": round(rto, 1),
            "throttle_bound_s": round(throttle, 1),
            "slowest_instance_bound_s": round(max(per_instance, default=0.0), 1),
            "bound_s": round(bound, 1),
            "ratio": round(rto / bound, 3) if bound else None,
            "rto_to_throttle_bound_ratio": round(rto / throttle, 3) if throttle else None,
            "calls_by_bucket": dict(simulated.calls_by_bucket),
            "throttled_calls": simulated.throttled,
            "throttled_by_operation": dict(simulated.throttled_by_operation),
            "unhandled_throttling": sum(1 for line in lines if line.get("Error") == "Ec2Throttled")
            + (1 if result.error == "Ec2Throttled" else 0),
            "wall_s": round(time.monotonic() - started, 1),
            "errors": sorted({line["Error"] for line in lines if line.get("Error")}),
        }


def summarize_fleets(fleets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per fleet size: the ratio of fleet RTO to its bound over the seeds, against the goal."""
    rows = []
    for servers, volumes in sorted({(f["servers"], f["volumes"]) for f in fleets}):
        mine = [f for f in fleets if (f["servers"], f["volumes"]) == (servers, volumes)]
        ratios = [f["ratio"] for f in mine if f["status"] == "SUCCEEDED"]
        rows.append(
            {
                "servers": servers,
                "volumes": volumes,
                "fleets": len(mine),
                "succeeded_fleets": len(ratios),
                "ratio_p50": round(percentile(ratios, 50), 3) if ratios else None,
                "ratio_max": max(ratios, default=None),
                "meets_goal": bool(ratios)
                and len(ratios) == len(mine)
                and max(ratios) <= FLEET_RATIO_GOAL,
                "fleet_rto_s_p50": round(percentile([f["fleet_rto_s"] for f in mine], 50), 1),
                "throttle_bound_s_p50": round(
                    percentile([f["throttle_bound_s"] for f in mine], 50), 1
                ),
                "slowest_instance_bound_s_p50": round(
                    percentile([f["slowest_instance_bound_s"] for f in mine], 50), 1
                ),
                "throttled_calls_total": sum(f["throttled_calls"] for f in mine),
                "unhandled_throttling_total": sum(f["unhandled_throttling"] for f in mine),
            }
        )
    return rows


# --- summary, cold imports, chart ----------------------------------------------------------


def _succeeded(runs: list[dict[str, Any]], volumes: int) -> list[dict[str, Any]]:
    return [r for r in runs if r["volumes"] == volumes and r["status"] == "SUCCEEDED"]


def _p(rows: list[dict[str, Any]], key: str, q: float = 50, digits: int = 2) -> float:
    return round(percentile([r[key] for r in rows], q), digits)


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per volume count: the headline figures over the seeds, and whether they meet the goals."""
    rows = []
    for volumes in sorted({r["volumes"] for r in runs}):
        mine = _succeeded(runs, volumes)
        if not mine:
            continue
        row: dict[str, Any] = {
            "volumes": volumes,
            "runs": len(mine),
            "failed_runs": sum(1 for r in runs if r["volumes"] == volumes) - len(mine),
            "downtime_excess_s_p50": _p(mine, "downtime_excess_s"),
            "downtime_excess_s_p95": _p(mine, "downtime_excess_s", 95),
            "rto_excess_s_p50": _p(mine, "rto_excess_s"),
            "rto_excess_s_p95": _p(mine, "rto_excess_s", 95),
            "speedup_vs_best_baseline_p50": _p(mine, "speedup_vs_best_baseline", digits=3),
            "state_transitions_p50": _p(mine, "state_transitions", digits=1),
            "cost_usd_p50": _p(mine, "cost_usd", digits=6),
            "downtime_s_p50": _p(mine, "downtime_s"),
            "downtime_bound_s_p50": _p(mine, "downtime_bound_s"),
            "rto_s_p50": _p(mine, "rto_s"),
            "rto_bound_s_p50": _p(mine, "rto_bound_s"),
            "best_baseline_rto_s_p50": _p(mine, "best_baseline_rto_s"),
            "full_performance_s_p50": _p(mine, "full_performance_s_default"),
            "full_performance_s_p50_provisioned": _p(mine, "full_performance_s_provisioned"),
            "full_performance_s_p50_fast_snapshot_restore": _p(
                mine, "full_performance_s_fast_snapshot_restore"
            ),
            "throttled_calls_total": sum(r["throttled_calls"] for r in mine),
        }
        row["meets_goals"] = (
            all(row[key] <= goal for key, goal in GOALS.items())
            and row["speedup_vs_best_baseline_p50"] >= 1.0
        )
        rows.append(row)
    return rows


def summarize_baselines(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per baseline and volume count: its recovery time and downtime over the same seeds."""
    rows = []
    for volumes in sorted({r["volumes"] for r in runs}):
        mine = _succeeded(runs, volumes)
        for baseline in BASELINES if mine else ():
            theirs = [r["baselines"][baseline.key] for r in mine]
            rows.append(
                {
                    "name": baseline.name,
                    "poll_seconds": baseline.poll_seconds,
                    "volumes": volumes,
                    "rto_s_p50": _p(theirs, "rto_s"),
                    "downtime_s_p50": _p(theirs, "downtime_s"),
                    "rto_s_p95": _p(theirs, "rto_s", 95),
                    "downtime_s_p95": _p(theirs, "downtime_s", 95),
                    # paired: this baseline's time over ours, seed by seed
                    "our_speedup_p50": round(
                        percentile(
                            [t["rto_s"] / r["rto_s"] for t, r in zip(theirs, mine, strict=True)], 50
                        ),
                        3,
                    ),
                }
            )
    return rows


def paired_verdict(
    baseline: list[dict[str, Any]],
    baseline_again: list[dict[str, Any]],
    candidate: list[dict[str, Any]],
    key: str = "downtime_s",
) -> dict[str, Any]:
    """Does a change earn its place? Seed by seed, ``baseline`` minus ``candidate`` (the gain)
    against two identical runs ``baseline`` and ``baseline_again`` (the spread). A change is
    worth making only if its median gain is larger than the median spread."""

    def by_seed(rows: list[dict[str, Any]]) -> dict[int, float]:
        return {r["seed"]: r[key] for r in rows if r["status"] == "SUCCEEDED"}

    first, again, other = by_seed(baseline), by_seed(baseline_again), by_seed(candidate)
    seeds = sorted(first.keys() & again.keys() & other.keys())
    gains = [first[s] - other[s] for s in seeds]
    spreads = [abs(again[s] - first[s]) for s in seeds]
    gain, spread = percentile(gains, 50), percentile(spreads, 50)
    return {
        "metric": key,
        "seeds": len(seeds),
        "gain_s_p50": round(gain, 2),
        "spread_s_p50": round(spread, 2),
        "spread_s_max": round(max(spreads, default=math.nan), 2),
        "gain_exceeds_spread": bool(seeds) and gain > spread,
    }


def _import_once(module: str) -> float:
    code = (
        "import time; t = time.perf_counter(); "
        f"import vss_restore.functions.{module}; print((time.perf_counter() - t) * 1000)"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and module names
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo_root()
    )
    return float(done.stdout.strip())


def cold_import_ms(module: str, starts: int = 5) -> float:
    """Median import time of a task module over fresh interpreters (its Lambda cold start)."""
    return round(statistics.median(_import_once(module) for _ in range(starts)), 1)


def draw_chart(summary: list[dict[str, Any]], baselines: list[dict[str, Any]], path: Path) -> None:
    import matplotlib as mpl  # noqa: PLC0415 - only the benchmark draws

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    sizes = [row["volumes"] for row in summary]
    figure, (rto_axes, down_axes) = plt.subplots(1, 2, figsize=(12, 5.5))

    def baseline(name: str, poll: float, key: str) -> list[float]:
        found = {
            b["volumes"]: b[key]
            for b in baselines
            if b["name"] == name and b["poll_seconds"] == poll
        }
        return [found[size] for size in sizes]

    for axes, ours, bound, metric in (
        (rto_axes, "rto_s_p50", "rto_bound_s_p50", "rto_s_p50"),
        (down_axes, "downtime_s_p50", "downtime_bound_s_p50", "downtime_s_p50"),
    ):
        axes.plot(sizes, [r[ours] for r in summary], "-o", color="tab:blue", label="vss-restore")
        axes.plot(
            sizes,
            [r[bound] for r in summary],
            ":o",
            color="tab:blue",
            markerfacecolor="white",
            label="physical bound",
        )
        for name, poll, label, colour, style in (
            (AWS_SAMPLE, 15, "AWS sample order", "tab:red", "-"),
            (AWS_SAMPLE, 5, "AWS sample order", "tab:red", "--"),
            (BEST_SCRIPT, 5, "best plain script", "tab:orange", "-"),
        ):
            axes.plot(
                sizes,
                baseline(name, poll, metric),
                style,
                marker="s",
                color=colour,
                label=f"{label}, {poll:g} s polls",
            )
        axes.set_xlabel("EBS volumes restored")
        axes.set_xticks(sizes)
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
    rto_axes.set_ylabel("modelled seconds (median over seeds)")
    rto_axes.set_title("Recovery time (until status checks pass)")
    down_axes.set_title("Downtime (stop call to running)")
    down_axes.legend(loc="lower right")
    figure.suptitle("Simulation mode, same draws for every line (docs/performance.md)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# --- entry point ---------------------------------------------------------------------------

Job = tuple[Any, ...]  # run_once's arguments: volumes, seed, strategy, model
JOB_KEYS = ("volumes", "seed", "strategy", "model")


def _run_all(
    jobs: list[Job],
    workers: int,
    report: Callable[[dict[str, Any]], None],
    run: Callable[..., dict[str, Any]] = run_once,
    keys: Sequence[str] = JOB_KEYS,
) -> list[dict[str, Any]]:
    """``run(*job)`` for every job on ``workers`` processes; a job that raised is a row of
    its arguments (named by ``keys``) and the error."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run, *job) for job in jobs]
        rows = []
        for job, future in zip(jobs, futures, strict=True):
            try:
                rows.append(future.result())
            except Exception as err:
                rows.append(dict(zip(keys, job, strict=True)) | {"status": repr(err)})
            report(rows[-1])
    return rows


def measure_online(
    sizes: Sequence[int], seeds: int, workers: int, model: str = "base"
) -> dict[str, Any]:
    """The ``online`` rows and the runs they come from."""
    jobs: list[Job] = [(v, s, model) for v in sizes for s in range(seeds)]
    runs = _run_all(jobs, workers, _report_online, run_online_pair, ("volumes", "seed", "model"))
    return {"online": summarize_online(runs), "online_runs": runs}


def _report(row: dict[str, Any]) -> None:
    name = f"{row['strategy']} ({row['model']})"
    if row["status"] != "SUCCEEDED":
        print(f"{name} {row['volumes']} volumes seed {row['seed']}: {row['status']}")
        return
    print(
        f"{name:<30} {row['volumes']:>2} volumes seed {row['seed']:>2}: "
        f"downtime {row['downtime_s']:.1f} s (+{row['downtime_excess_s']:.1f}) "
        f"RTO {row['rto_s']:.1f} s (+{row['rto_excess_s']:.1f}; best script "
        f"{row['best_baseline_rto_s']:.1f}) {row['state_transitions']} transitions",
        flush=True,
    )


def _fleet_sizes(text: str) -> list[tuple[int, int]]:
    """``50x4,200x4`` → [(50, 4), (200, 4)]; empty: no fleets."""
    sizes = []
    for part in filter(None, text.split(",")):
        servers, volumes = part.lower().split("x")
        sizes.append((int(servers), int(volumes)))
    return sizes


def compare_strategies(seeds: int, workers: int, volumes: int = 8) -> dict[str, Any]:
    """Every waiting strategy on the same seeds, the one without the warm-up branch twice: the
    spread of identical runs, against which the branch's gain is judged (``paired_verdict``)."""
    names = [*STRATEGIES, "poll-in-task-no-warm-up"]
    jobs = [(volumes, s, name, "base") for s in range(seeds) for name in names]
    rows = _run_all(jobs, workers, _report)
    runs = {name: rows[i :: len(names)] for i, name in enumerate(STRATEGIES)}
    without, again = runs["poll-in-task-no-warm-up"], rows[len(STRATEGIES) :: len(names)]
    return {
        "volumes": volumes,
        "summary": {name: summarize(mine)[0] for name, mine in runs.items() if summarize(mine)},
        # The warm-up branch belongs in the definition only while this says true for downtime.
        "warm_up": {
            key: paired_verdict(without, again, runs["poll-in-task"], key)
            for key in ("downtime_s", "rto_s")
        },
        "runs": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--volumes", "--sizes", dest="volumes", default=",".join(map(str, SIZES)))
    parser.add_argument("--model", choices=sorted(MODELS), default="base")
    parser.add_argument(
        "--variants", action="store_true", help="also the fast and slow latency models"
    )
    parser.add_argument(
        "--variant-seeds", type=int, help="seeds per size for the variants (default: --seeds)"
    )
    parser.add_argument("--strategies", action="store_true", help="also compare waiting")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--fleets",
        default=",".join(f"{s}x{v}" for s, v in FLEETS),
        help="fleet sizes, SERVERSxVOLUMES, comma-separated ('' for none)",
    )
    parser.add_argument("--fleet-seeds", type=int, default=FLEET_SEEDS)
    parser.add_argument(
        "--import-starts", type=int, default=5, help="fresh interpreters per task (0: skip)"
    )
    parser.add_argument("--out", type=Path, default=repo_root() / "bench" / "results.json")
    online = parser.add_mutually_exclusive_group()
    online.add_argument(
        "--online", action="store_true", help="also online restores against in-place ones"
    )
    online.add_argument(
        "--online-only",
        action="store_true",
        help="only the online rows, put into the existing --out file (other keys kept)",
    )
    parser.add_argument(
        "--online-volumes",
        default=",".join(map(str, ONLINE_SIZES)),
        help="data volumes per server for the online rows",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")
    sizes = [int(s) for s in args.volumes.split(",")]
    online_sizes = [int(s) for s in args.online_volumes.split(",")]
    if args.online_only:
        return _online_only(args.out, online_sizes, args.seeds, args.workers, args.model)

    def measured(model: str, seeds: int) -> list[dict[str, Any]]:
        jobs = [(v, s, "poll-in-task", model) for v in sizes for s in range(seeds)]
        return _run_all(jobs, args.workers, _report)

    started = time.monotonic()
    runs = measured(args.model, args.seeds)
    document: dict[str, Any] = {
        "model": f"latency model '{args.model}' (x{MODELS[args.model]:g}); modelled seconds "
        "on a virtual clock",
        "goals": GOALS | {"speedup_vs_best_baseline_p50": 1.0, "fleet_ratio": FLEET_RATIO_GOAL},
        "prices_usd": PRICES,
        "summary": summarize(runs),
        "baselines": summarize_baselines(runs),
    }
    if args.variants:
        document["variants"] = {}
        for model in sorted(set(MODELS) - {args.model}):
            theirs = measured(model, args.variant_seeds or args.seeds)
            document["variants"][model] = {
                "summary": summarize(theirs),
                "baselines": summarize_baselines(theirs),
            }
    if args.strategies:
        document["strategies"] = compare_strategies(max(args.seeds // 2, 1), args.workers)
    fleets = []
    for servers, volumes in _fleet_sizes(args.fleets):
        # One fleet at a time: each already runs its restores in this process.
        for seed in range(args.fleet_seeds):
            fleets.append(run_fleet(seed, servers, volumes, args.model))
            row = fleets[-1]
            print(
                f"fleet {servers} x {volumes} seed {seed}: {row['status']} "
                f"{row['succeeded']}/{servers} RTO {row['fleet_rto_s']} s, bound "
                f"{row['bound_s']} s (throttle {row['throttle_bound_s']} s), ratio "
                f"{row['ratio']}, throttled {row['throttled_calls']} "
                f"(unhandled {row['unhandled_throttling']})",
                flush=True,
            )
    document["fleets"] = fleets
    document["fleet_summary"] = summarize_fleets(fleets)
    if args.online:
        document |= measure_online(online_sizes, args.seeds, args.workers, args.model)
    document["cold_import_ms"] = (
        {m: cold_import_ms(m, args.import_starts) for m in sorted(TASKS.values())}
        if args.import_starts
        else {}
    )
    document["runs"] = runs
    document["wall_seconds"] = round(time.monotonic() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    chart = args.out.with_name("restore_times.png")
    draw_chart(document["summary"], document["baselines"], chart)
    print(json.dumps({"summary": document["summary"]}, indent=2))
    print(f"wrote {args.out} and {chart} in {document['wall_seconds']} s")
    return 0


def _online_only(out: Path, sizes: list[int], seeds: int, workers: int, model: str) -> int:
    """Measure the online rows and put them into ``out`` (created if missing), leaving
    every other figure in it as it was."""
    started = time.monotonic()
    measured = measure_online(sizes, seeds, workers, model)
    document = json.loads(out.read_text()) if out.exists() else {}
    document |= measured
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps({"online": measured["online"]}, indent=2))
    print(f"wrote the online rows into {out} in {round(time.monotonic() - started, 1)} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
