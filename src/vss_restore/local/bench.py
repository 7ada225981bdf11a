"""``make bench``: restores on the simulation's latency and throttling model, side by side.

For 1, 4, 8 and 16 volumes and many seeds, one restore each through the real definition in
simulation mode (the assumed latency model, README "Performance"). Every figure is in modelled seconds and comes from
the same run's draws: our downtime against the physical bound, our recovery time against
the sample script's algorithm, state transitions, invocations and cost. Writes
``bench/results.json`` and ``bench/restore_times.png``.

    python -m vss_restore.local.bench [--seeds 20] [--sizes 1,4,8,16] [--strategies]
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
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from vss_restore import tags
from vss_restore.definition import definition_path, repo_root
from vss_restore.devices import WINDOWS_ROOT_DEVICE
from vss_restore.executions import state_output, timeline
from vss_restore.local.engine import LocalEngine
from vss_restore.local.simulation import BUCKETS, DELAYS, SimulatedAws, Simulation
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
# The sample script's waits: AWS SDK EC2 waiters poll every 15 seconds.
SCRIPT_POLL_SECONDS = 15.0


# --- measures, from one run's draws (pure) -----------------------------------------------


def draws_by_kind(draws: Sequence[tuple[str, str, float]]) -> dict[str, list[float]]:
    kinds: dict[str, list[float]] = {}
    for kind, _, value in draws:
        kinds.setdefault(kind, []).append(value)
    return kinds


def downtime_bound(kinds: dict[str, list[float]]) -> float:
    """Stop, detach, attach, start: each batch of independent operations takes its slowest."""
    return kinds["stop"][0] + max(kinds["detach"]) + max(kinds["attach"]) + kinds["start"][0]


def _waited(delay: float, poll: float) -> float:
    """How long a script that checks every ``poll`` seconds waits for ``delay``."""
    return math.ceil(delay / poll) * poll if poll > 0 else delay


def script_rto(kinds: dict[str, list[float]], seed: int, poll: float) -> float:
    """The sample script on the same draws, until the instance passes its status checks.

    Stop and wait; then per volume, one at a time: create and wait, detach and wait, attach
    and wait; then start. ``poll`` 0 is the same algorithm with instant, free API calls.
    """
    calls = 3 * len(kinds["create"]) + 2

    def call_latency(n: int) -> float:
        if poll == 0:
            return 0.0
        import random  # noqa: PLC0415 - only here: a seeded stream for the script's calls

        return DELAYS["api-mutating"](random.Random(f"{seed}:script-call:{n}"))  # noqa: S311

    waits = [kinds["stop"][0], *kinds["create"], *kinds["detach"], *kinds["attach"]]
    total = sum(call_latency(n) for n in range(calls))
    total += sum(_waited(w, poll) for w in waits)
    return total + kinds["start"][0] + kinds["checks"][0]


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


def bench_disks(volumes: int) -> tuple[Disk, ...]:
    """A root volume and ``volumes - 1`` data volumes on xvdf, xvdg, ... xvdz, xvdaa, ..."""
    letters = [chr(c) for c in range(ord("f"), ord("z") + 1)]
    names = letters + [f"a{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    data = [Disk(f"xvd{names[i]}", "gp3", 100) for i in range(volumes - 1)]
    return (Disk(WINDOWS_ROOT_DEVICE, "gp3", 60, delete_on_termination=True), *data)


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


def no_warm_up(states: dict[str, Any]) -> None:
    """The definition without its warm-up branch."""
    branches = states["PrepareVolumesAndStop"]["Branches"]
    branches[:] = [b for b in branches if not b["StartAt"].startswith("WarmUp")]


STRATEGIES = {
    "poll-in-task": Strategy("poll-in-task", 600),
    "poll-in-task-no-warm-up": Strategy("poll-in-task-no-warm-up", 600, no_warm_up),
    "retry-backoff": Strategy("retry-backoff", 0),
    "retry-fixed-2s": Strategy("retry-fixed-2s", 0, fixed_retries),
}


def run_once(volumes: int, seed: int, strategy: str = "poll-in-task") -> dict[str, Any]:
    """One simulated restore; its measures in modelled seconds."""
    chosen = STRATEGIES[strategy]
    os.environ[WAIT_IN_TASK_ENV] = str(chosen.wait_in_task_seconds)
    started = time.monotonic()
    simulation = Simulation(seed=seed)
    with LocalEngine(simulation=simulation, definition=chosen.definition()) as engine:
        fix_ids(seed)
        ec2 = boto3.client("ec2", region_name=engine.region)
        instance = windows_instance(ec2, bench_disks(volumes), name=f"bench-{volumes}-{seed}")
        taken = datetime.now(UTC) - timedelta(hours=1)
        vss_snapshot_set(ec2, instance, taken_at=taken, set_id=f"bench-{seed}")
        result = engine.run({"InstanceId": instance}, timeout=1800)
        simulated = engine.simulated
        assert simulated is not None  # noqa: S101 - simulation mode was asked for
        return measure(volumes, seed, strategy, result.status, result.history, simulated) | {
            "wall_s": round(time.monotonic() - started, 2)
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
        row |= {
            "downtime_s": round(marks["running"] - marks["stop_requested"], 2),
            "downtime_bound_s": round(downtime_bound(kinds), 2),
            "rto_s": round(marks["last_task_finished"] - marks["execution_started"], 2),
            "baseline_rto_s": round(script_rto(kinds, seed, SCRIPT_POLL_SECONDS), 2),
            "baseline_ideal_rto_s": round(script_rto(kinds, seed, 0), 2),
        }
    return row | {
        "status": status,
        "state_transitions": transitions,
        "lambda_invocations": len(simulated.invocations),
        "cost_usd": round(cost_usd(transitions, simulated.invocations), 6),
        "throttled_calls": simulated.throttled,
    }


# --- a fleet ---------------------------------------------------------------------------------

FLEET_INSTANCES = 50
FLEET_VOLUMES = 4


def throttle_bound(calls_by_bucket: dict[str, int]) -> float:
    """The least time EC2's token buckets allow for these calls (each bucket starts full)."""
    return max(
        (max(0.0, (calls - BUCKETS[bucket][0]) / BUCKETS[bucket][1]))
        for bucket, calls in calls_by_bucket.items()
    )


def instance_bound(
    draws: Sequence[tuple[str, str, float]], instance: str, originals: set[str], created: set[str]
) -> float:
    """One instance's restore without waiting on anything but AWS: stop (while its volumes
    are created), detach, attach, start and status checks, each batch its slowest."""

    def of(kind: str, keys: set[str]) -> list[float]:
        return [v for k, key, v in draws if k == kind and key.split(":")[0] in keys]

    stop = of("stop", {instance})[0]
    prepared = max([stop, *of("create", created)])
    swap = max(of("detach", originals), default=0.0) + max(of("attach", created), default=0.0)
    return prepared + swap + of("start", {instance})[0] + of("checks", {instance})[0]


def run_fleet(
    seed: int, instances: int = FLEET_INSTANCES, volumes: int = FLEET_VOLUMES
) -> dict[str, Any]:
    """One simulated fleet restore of ``instances`` servers at once; modelled seconds."""
    os.environ[WAIT_IN_TASK_ENV] = str(STRATEGIES["poll-in-task"].wait_in_task_seconds)
    started = time.monotonic()
    simulation = Simulation(seed=seed)
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
            {"Instances": servers, "MaxConcurrency": instances}, timeout=3600, machine="fleet"
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
        per_instance = [
            instance_bound(
                simulated.draws,
                server,
                {o for i, o, _ in bounds if i == server},
                {c for i, _, c in bounds if i == server},
            )
            for server in servers
        ]
        bound = max(throttle, *per_instance)
        return {
            "instances": instances,
            "volumes": volumes,
            "seed": seed,
            "status": result.status,
            "succeeded": sum(1 for line in lines if line["Status"] == "SUCCEEDED"),
            "fleet_rto_s": round(rto, 1),
            "throttle_bound_s": round(throttle, 1),
            "slowest_instance_bound_s": round(max(per_instance), 1),
            "bound_s": round(bound, 1),
            "rto_to_bound_ratio": round(rto / bound, 3),
            "rto_to_throttle_bound_ratio": round(rto / throttle, 3) if throttle else None,
            "calls_by_bucket": dict(simulated.calls_by_bucket),
            "throttled_calls": simulated.throttled,
            "throttled_by_operation": dict(simulated.throttled_by_operation),
            "unhandled_throttling": sum(1 for line in lines if line.get("Error") == "Ec2Throttled")
            + (1 if result.error == "Ec2Throttled" else 0),
            "wall_s": round(time.monotonic() - started, 1),
            "errors": sorted({line["Error"] for line in lines if line.get("Error")}),
        }


def summarize_fleets(fleets: list[dict[str, Any]]) -> dict[str, Any]:
    ratios = [f["rto_to_bound_ratio"] for f in fleets if f["status"] == "SUCCEEDED"]
    return {
        "fleets": len(fleets),
        "succeeded_fleets": len(ratios),
        "instances": fleets[0]["instances"] if fleets else 0,
        "volumes": fleets[0]["volumes"] if fleets else 0,
        "rto_to_bound_ratio_p50": round(percentile(ratios, 50), 3) if ratios else None,
        "rto_to_bound_ratio_max": max(ratios, default=None),
        "fleet_rto_s_p50": round(percentile([f["fleet_rto_s"] for f in fleets], 50), 1),
        "throttle_bound_s_p50": round(percentile([f["throttle_bound_s"] for f in fleets], 50), 1),
        "slowest_instance_bound_s_p50": round(
            percentile([f["slowest_instance_bound_s"] for f in fleets], 50), 1
        ),
        "throttled_calls_total": sum(f["throttled_calls"] for f in fleets),
        "unhandled_throttling_total": sum(f["unhandled_throttling"] for f in fleets),
    }


# --- summary, cold imports, chart ----------------------------------------------------------


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for volumes in sorted({r["volumes"] for r in runs}):
        mine = [r for r in runs if r["volumes"] == volumes and r["status"] == "SUCCEEDED"]
        if not mine:
            continue
        ratios = [r["downtime_s"] / r["downtime_bound_s"] for r in mine]
        speedups = [r["baseline_rto_s"] / r["rto_s"] for r in mine]
        ideal = [r["baseline_ideal_rto_s"] / r["rto_s"] for r in mine]

        def p50(key: str, rows: list[dict[str, Any]] = mine) -> float:
            return round(percentile([r[key] for r in rows], 50), 6)

        rows.append(
            {
                "volumes": volumes,
                "runs": len(mine),
                "failed_runs": sum(
                    1 for r in runs if r["volumes"] == volumes and r["status"] != "SUCCEEDED"
                ),
                "downtime_ratio_p50": round(percentile(ratios, 50), 3),
                "downtime_ratio_p95": round(percentile(ratios, 95), 3),
                "speedup_p50": round(percentile(speedups, 50), 3),
                "speedup_vs_ideal_script_p50": round(percentile(ideal, 50), 3),
                "state_transitions_p50": p50("state_transitions"),
                "cost_usd_p50": p50("cost_usd"),
                "downtime_s_p50": p50("downtime_s"),
                "downtime_bound_s_p50": p50("downtime_bound_s"),
                "rto_s_p50": p50("rto_s"),
                "baseline_rto_s_p50": p50("baseline_rto_s"),
                "baseline_ideal_rto_s_p50": p50("baseline_ideal_rto_s"),
                "throttled_calls_total": sum(r["throttled_calls"] for r in mine),
            }
        )
    return rows


def _import_once(module: str) -> float:
    code = (
        "import time; t = time.perf_counter(); "
        f"import functions.{module}; print((time.perf_counter() - t) * 1000)"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and module names
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo_root()
    )
    return float(done.stdout.strip())


def cold_import_ms(module: str, starts: int = 5) -> float:
    """Median import time of a task module over fresh interpreters (its Lambda cold start)."""
    return round(statistics.median(_import_once(module) for _ in range(starts)), 1)


def draw_chart(summary: list[dict[str, Any]], path: Path) -> None:
    import matplotlib as mpl  # noqa: PLC0415 - only the benchmark draws

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    sizes = [row["volumes"] for row in summary]
    figure, axes = plt.subplots(figsize=(9, 5.5))
    lines = [
        ("baseline_rto_s_p50", "sample script RTO (waiters poll every 15 s)", "tab:red", "-"),
        ("baseline_ideal_rto_s_p50", "sample script RTO (instant waits)", "tab:red", ":"),
        ("rto_s_p50", "vss-restore RTO", "tab:blue", "-"),
        ("downtime_s_p50", "vss-restore downtime", "tab:green", "-"),
        ("downtime_bound_s_p50", "physical bound of downtime", "tab:green", ":"),
    ]
    for key, label, colour, style in lines:
        axes.plot(
            sizes, [row[key] for row in summary], style, marker="o", color=colour, label=label
        )
    axes.set_xlabel("EBS volumes restored")
    axes.set_ylabel("modelled seconds (median over seeds)")
    axes.set_xticks(sizes)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend()
    axes.set_title("Restore time and downtime (simulation mode, assumed latency model)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# --- entry point ---------------------------------------------------------------------------


def _run_all(
    jobs: list[tuple[int, int, str]], workers: int, report: Callable[[dict[str, Any]], None]
) -> list[dict[str, Any]]:
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_once, *job) for job in jobs]
        rows = []
        for job, future in zip(jobs, futures, strict=True):
            try:
                rows.append(future.result())
            except Exception as err:
                volumes, seed, strategy = job
                rows.append(
                    {"volumes": volumes, "seed": seed, "strategy": strategy, "status": repr(err)}
                )
            report(rows[-1])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--strategies", action="store_true", help="also compare waiting")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--fleet-seeds", type=int, default=3, help="fleets of 50 x 4 volumes (0: none)"
    )
    parser.add_argument("--out", type=Path, default=repo_root() / "bench")
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")
    sizes = [int(s) for s in args.sizes.split(",")]

    def report(row: dict[str, Any]) -> None:
        if row["status"] != "SUCCEEDED":
            print(f"{row['strategy']} {row['volumes']} volumes seed {row['seed']}: {row['status']}")
            return
        print(
            f"{row['strategy']:<15} {row['volumes']:>2} volumes seed {row['seed']:>2}: "
            f"{row['status']} downtime {row['downtime_s']:.1f} s (bound "
            f"{row['downtime_bound_s']:.1f}) RTO {row['rto_s']:.1f} s (script "
            f"{row['baseline_rto_s']:.1f}) {row['state_transitions']} transitions",
            flush=True,
        )

    started = time.monotonic()
    runs = _run_all(
        [(v, s, "poll-in-task") for v in sizes for s in range(args.seeds)], args.workers, report
    )
    document: dict[str, Any] = {
        "model": "assumed latency model; modelled seconds on a virtual clock",
        "prices_usd": PRICES,
        "runs": runs,
        "summary": summarize(runs),
    }
    if args.strategies:
        compared = _run_all(
            [(8, s, name) for name in STRATEGIES for s in range(max(args.seeds // 2, 1))],
            args.workers,
            report,
        )
        document["strategies"] = {
            name: summarize([r for r in compared if r["strategy"] == name])[0]
            for name in STRATEGIES
        }
    if args.fleet_seeds:
        # One fleet at a time: each already runs 50 restores in this process.
        fleets = []
        for seed in range(args.fleet_seeds):
            fleets.append(run_fleet(seed))
            row = fleets[-1]
            print(
                f"fleet seed {seed}: {row['status']} {row['succeeded']}/{row['instances']} "
                f"RTO {row['fleet_rto_s']} s, bound {row['bound_s']} s (throttle "
                f"{row['throttle_bound_s']} s), ratio {row['rto_to_bound_ratio']}, "
                f"throttled {row['throttled_calls']} (unhandled {row['unhandled_throttling']})",
                flush=True,
            )
        document["fleet"] = {"runs": fleets, "summary": summarize_fleets(fleets)}
    document["cold_import_ms"] = {m: cold_import_ms(m) for m in sorted(TASKS.values())}
    document["wall_seconds"] = round(time.monotonic() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    draw_chart(document["summary"], args.out / "restore_times.png")
    print(json.dumps({"summary": document["summary"]}, indent=2))
    print(f"wrote {args.out / 'results.json'} in {document['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
