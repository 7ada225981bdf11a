"""The benchmark's measures, summaries and verdicts, and small real runs."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from vss_restore.local import bench
from vss_restore.local.baselines import BASELINES
from vss_restore.local.simulation import SimulatedAws, Simulation
from vss_restore.waiting import WAIT_IN_TASK_ENV


def test_percentile_interpolates_between_ranks() -> None:
    assert bench.percentile([4, 1, 3, 2], 50) == 2.5
    assert bench.percentile([1, 2, 3, 4, 5], 95) == pytest.approx(4.8)
    assert math.isnan(bench.percentile([], 50))


def test_cost_adds_transitions_requests_and_gb_seconds() -> None:
    cost = bench.cost_usd(40, [("f", 2.0), ("g", 0.0)])

    expected = (
        40 * bench.PRICES["step_functions_standard_per_transition"]
        + 2 * bench.PRICES["lambda_per_request"]
        + (2.0 + 0.001) * bench.LAMBDA_MEMORY_GB * bench.PRICES["lambda_arm64_per_gb_second"]
    )
    assert cost == pytest.approx(expected)


def test_fixed_retry_strategy_rewrites_only_the_readiness_retries() -> None:
    document = json.loads(bench.STRATEGIES["retry-fixed-2s"].definition() or "{}")
    states = document["States"]
    stopped = states["PrepareVolumesAndStop"]["Branches"][1]["States"]["WaitInstanceStopped"]

    ready_retry = next(r for r in stopped["Retry"] if r["ErrorEquals"] == ["ResourceNotReady"])
    assert ready_retry["IntervalSeconds"] == 2
    assert ready_retry["BackoffRate"] == 1.0
    throttle_retry = next(r for r in stopped["Retry"] if "Ec2Throttled" in r["ErrorEquals"])
    assert throttle_retry["BackoffRate"] == 2
    assert bench.STRATEGIES["poll-in-task"].definition() is None


def test_no_warm_up_strategy_drops_only_the_warm_up_branch_when_compared() -> None:
    # GIVEN the definition without the warm-up branch the benchmark compares
    document = json.loads(bench.STRATEGIES["poll-in-task-no-warm-up"].definition() or "{}")

    # THEN PrepareVolumesAndStop keeps its creation and stop branches, and only those
    branches = document["States"]["PrepareVolumesAndStop"]["Branches"]
    assert [b["StartAt"] for b in branches] == ["CreateVolumes", "StopInstance"]


def test_a_simulated_restore_never_beats_its_bounds_nor_the_scripts_on_the_same_draws() -> None:
    before = os.environ.get(WAIT_IN_TASK_ENV)
    row = bench.run_once(volumes=2, seed=3)

    # the run's in-task budget is not left behind for the next test in this process
    assert os.environ.get(WAIT_IN_TASK_ENV) == before

    assert row["status"] == "SUCCEEDED"
    assert row["downtime_excess_s"] >= 0
    assert row["rto_excess_s"] >= 0
    assert row["rto_s"] > row["downtime_s"]
    assert set(row["baselines"]) == {b.key for b in BASELINES}
    assert row["best_baseline_rto_s"] == min(t["rto_s"] for t in row["baselines"].values())
    assert row["best_baseline_rto_s"] >= row["rto_bound_s"]
    assert row["state_transitions"] >= row["lambda_invocations"]
    assert row["cost_usd"] > 0


def test_throttle_bound_is_the_slowest_bucket_after_its_burst() -> None:
    # Buckets (size, refill per s): describe 100 and 20, mutating 50 and 5, CreateVolume 100 and 5.
    assert bench.throttle_bound({"describe": 100, "mutating": 50}) == 0.0
    assert bench.throttle_bound({"describe": 300, "mutating": 100}) == 10.0
    assert bench.throttle_bound({"describe": 300, "CreateVolume": 200}) == 20.0


def test_throttle_bound_is_zero_when_the_fleet_made_no_ec2_call() -> None:
    # A fleet refused before any restore started (its report says why) has no throttle bound.
    assert bench.throttle_bound({}) == 0.0


def test_instance_bound_adds_stop_or_create_then_swap_then_start_and_checks() -> None:
    draws = [
        ("stop", "i-1:1", 60.0),
        ("create", "vol-n1", 70.0),
        ("create", "vol-n2", 5.0),
        ("detach", "vol-o1:1", 2.0),
        ("detach", "vol-o2:1", 3.0),
        ("attach", "vol-n1:1", 4.0),
        ("start", "i-1:1", 8.0),
        ("checks", "i-1:1", 100.0),
        ("stop", "i-2:1", 999.0),  # another instance: not counted
    ]
    bound = bench.instance_bound(draws, "i-1", {"vol-o1", "vol-o2"}, {"vol-n1", "vol-n2"})
    assert bound == 70.0 + 3.0 + 4.0 + 8.0 + 100.0


def test_a_small_simulated_fleet_is_never_faster_than_its_bound_nor_throttled_into_failure() -> (
    None
):
    before = os.environ.get(WAIT_IN_TASK_ENV)
    row = bench.run_fleet(seed=4, instances=3, volumes=2)

    assert os.environ.get(WAIT_IN_TASK_ENV) == before

    assert row["status"] == "SUCCEEDED", row
    assert row["succeeded"] == 3
    assert row["unhandled_throttling"] == 0
    assert row["fleet_rto_s"] >= row["slowest_instance_bound_s"]
    assert row["ratio"] >= 1.0


def _run(seed: int, downtime_excess: float, rto: float = 300.0, **extra: object) -> dict[str, Any]:
    """A succeeded run's row, as ``measure`` writes it (8 volumes)."""
    scripts = {
        b.key: {"rto_s": rto + 10 * (n + 1), "downtime_s": 120.0} for n, b in enumerate(BASELINES)
    }
    return {
        "volumes": 8,
        "seed": seed,
        "status": "SUCCEEDED",
        "downtime_s": 100 + downtime_excess,
        "downtime_bound_s": 100.0,
        "downtime_excess_s": downtime_excess,
        "rto_s": rto,
        "rto_bound_s": rto - 5,
        "rto_excess_s": 5.0,
        "baselines": scripts,
        "best_baseline_rto_s": rto + 10,
        "speedup_vs_best_baseline": (rto + 10) / rto,
        "state_transitions": 25,
        "cost_usd": 0.002,
        "throttled_calls": 0,
        "full_performance_s_default": rto + 2000,
        "full_performance_s_provisioned": rto + 300,
        "full_performance_s_fast_snapshot_restore": rto,
    } | extra


def test_summary_meets_the_goals_when_every_headline_figure_is_within_them() -> None:
    # GIVEN 20 seeds, downtime 1..20 s above the bound... and the same with 0.1..2.0 s
    slow = [_run(seed, float(seed + 1)) for seed in range(20)]
    fast = [_run(seed, (seed + 1) / 10) for seed in range(20)]

    # WHEN summarized
    (slow_row,) = bench.summarize(slow)
    (fast_row,) = bench.summarize(fast)

    # THEN the contract's figures are there, and only the fast one meets the goals
    assert slow_row["downtime_excess_s_p50"] == 10.5
    assert slow_row["downtime_excess_s_p95"] == pytest.approx(19.05)
    assert slow_row["rto_excess_s_p50"] == 5.0
    assert slow_row["speedup_vs_best_baseline_p50"] == pytest.approx(310 / 300, abs=1e-3)
    assert slow_row["state_transitions_p50"] == 25
    assert not slow_row["meets_goals"]
    assert fast_row["meets_goals"]


def test_summary_counts_failed_runs_apart_when_a_restore_fails() -> None:
    runs = [_run(0, 1.0), {"volumes": 8, "seed": 1, "strategy": "x", "status": "FAILED"}]

    (row,) = bench.summarize(runs)

    assert (row["runs"], row["failed_runs"]) == (1, 1)


def test_baselines_summary_has_one_row_per_script_and_size_when_summarized() -> None:
    rows = bench.summarize_baselines([_run(0, 1.0), _run(1, 2.0)])

    assert [(r["name"], r["poll_seconds"], r["volumes"]) for r in rows] == [
        (b.name, b.poll_seconds, 8) for b in BASELINES
    ]
    assert rows[0]["rto_s_p50"] == 310.0
    assert rows[0]["downtime_s_p50"] == 120.0
    assert rows[0]["our_speedup_p50"] == pytest.approx(310 / 300, abs=1e-3)


def test_paired_verdict_rejects_a_change_when_its_gain_is_within_the_spread_of_identical_runs() -> (
    None
):
    # GIVEN identical runs 1-3 s apart, and runs with the change 0.5 s faster
    baseline = [_run(s, 5.0) for s in range(5)]
    again = [_run(s, 5.0 + 1 + s % 3) for s in range(5)]
    changed = [_run(s, 4.5) for s in range(5)]

    # WHEN judged
    verdict = bench.paired_verdict(baseline, again, changed, "downtime_s")

    # THEN the gain (0.5 s) is smaller than the spread (2 s): not worth a state
    assert verdict["gain_s_p50"] == 0.5
    assert verdict["spread_s_p50"] == 2.0
    assert not verdict["gain_exceeds_spread"]


def test_paired_verdict_accepts_a_change_when_its_gain_exceeds_the_spread() -> None:
    baseline = [_run(s, 8.0) for s in range(5)]
    changed = [_run(s, 5.0) for s in range(5)]

    verdict = bench.paired_verdict(baseline, baseline, changed, "downtime_s")

    assert (verdict["gain_s_p50"], verdict["spread_s_p50"]) == (3.0, 0.0)
    assert verdict["gain_exceeds_spread"]


def test_fleet_summary_meets_the_goal_only_when_every_fleet_is_within_it() -> None:
    fleet = {"status": "SUCCEEDED", "fleet_rto_s": 600.0, "throttle_bound_s": 100.0}
    fleet |= {"slowest_instance_bound_s": 550.0, "throttled_calls": 0, "unhandled_throttling": 0}
    fleets = [
        fleet | {"servers": 50, "volumes": 4, "ratio": 1.1},
        fleet | {"servers": 50, "volumes": 4, "ratio": 1.12},
        fleet | {"servers": 200, "volumes": 4, "ratio": 1.1},
        fleet | {"servers": 200, "volumes": 4, "ratio": 1.3},
    ]

    rows = bench.summarize_fleets(fleets)

    assert [(r["servers"], r["meets_goal"], r["ratio_max"]) for r in rows] == [
        (50, True, 1.12),
        (200, False, 1.3),
    ]


def test_fleet_sizes_are_read_as_servers_x_volumes_and_none_when_empty() -> None:
    assert bench._fleet_sizes("50x4,200x4") == [(50, 4), (200, 4)]
    assert bench._fleet_sizes("") == []


def test_simulation_draws_every_delay_twice_as_long_when_the_model_is_slow() -> None:
    base = SimulatedAws(Simulation(seed=7))
    slow = SimulatedAws(Simulation(seed=7, latency_scale=bench.MODELS["slow"]))

    for kind in ("stop", "create", "api-mutating", "checks"):
        assert slow.draw(kind, "i-1:1") == pytest.approx(2 * base.draw(kind, "i-1:1"))


def test_bench_writes_the_contract_when_run_for_one_size_and_one_seed(tmp_path: Path) -> None:
    # WHEN the benchmark runs one restore of 1 volume, no fleets, no import timings
    out = tmp_path / "results.json"
    args = ["--volumes", "1", "--seeds", "1", "--fleets", "", "--import-starts", "0"]
    assert bench.main([*args, "--workers", "1", "--out", str(out)]) == 0

    # THEN results.json holds the contract's sections and the chart is beside it
    document = json.loads(out.read_text())
    (row,) = document["summary"]
    assert row["volumes"] == 1
    assert {
        "volumes",
        "downtime_excess_s_p50",
        "downtime_excess_s_p95",
        "rto_excess_s_p50",
        "rto_excess_s_p95",
        "speedup_vs_best_baseline_p50",
        "state_transitions_p50",
        "cost_usd_p50",
        "full_performance_s_p50",
        "full_performance_s_p50_provisioned",
    } <= set(row)
    # AND the restore is at full performance only once its volumes have loaded
    assert row["full_performance_s_p50_provisioned"] < row["full_performance_s_p50"]
    assert row["full_performance_s_p50"] > row["rto_s_p50"]
    assert {(b["name"], b["poll_seconds"]) for b in document["baselines"]} == {
        (b.name, b.poll_seconds) for b in BASELINES
    }
    assert document["fleets"] == []
    assert {"name", "poll_seconds", "volumes", "rto_s_p50", "downtime_s_p50"} <= set(
        document["baselines"][0]
    )
    assert document["cold_import_ms"] == {}
    assert (tmp_path / "restore_times.png").stat().st_size > 0


def test_full_performance_waits_for_the_slowest_volume_to_load_when_it_outlasts_the_restore() -> (
    None
):
    # GIVEN a restore over at 300 s whose 100 GiB volume became available at 100 s
    restored = [(100.0, 100)]

    # WHEN its time to full performance is taken for each way the volume can initialize
    default = bench.full_performance_seconds(0.0, 300.0, restored, None, fsr=False)
    provisioned = bench.full_performance_seconds(0.0, 300.0, restored, 300, fsr=False)
    fast = bench.full_performance_seconds(0.0, 300.0, restored, None, fsr=True)

    # THEN the default (the assumed 50 MiB/s) and 300 MiB/s load after the restore is over,
    # and fast snapshot restore is at full performance as soon as the restore is
    assert default == pytest.approx(100 + 100 * 1024 / 50)
    assert provisioned == pytest.approx(100 + 100 * 1024 / 300, abs=0.05)  # estimates: 0.1 s
    assert fast == 300.0


# --- online restores against in-place restores --------------------------------------------


def _pair(volumes: int, seed: int, application: float, in_place: float) -> dict[str, Any]:
    """A paired run's row, as ``run_online_pair`` writes it."""
    return {
        "volumes": volumes,
        "seed": seed,
        "status": "SUCCEEDED",
        "application_downtime_s": application,
        "in_place_downtime_s": in_place,
        "ratio": application / in_place,
        "online_rto_s": 100.0 + seed,
    }


def test_online_summary_takes_the_median_of_the_paired_ratios_when_both_restores_succeeded() -> (
    None
):
    # GIVEN three seeds at 4 data volumes, where the median of the per-seed ratios is not
    # the ratio of the medians, and one seed whose online restore failed
    runs = [
        _pair(4, 0, 10.0, 100.0),
        _pair(4, 1, 30.0, 200.0),
        _pair(4, 2, 60.0, 150.0),
        {"volumes": 4, "seed": 3, "status": "online FAILED Boom, in place SUCCEEDED"},
        _pair(1, 0, 5.0, 50.0),
    ]

    # WHEN summarized
    one, four = bench.summarize_online(runs)

    # THEN each size has its row over its succeeded pairs
    assert one["volumes"] == 1
    assert (four["volumes"], four["seeds"], four["failed_runs"]) == (4, 3, 1)
    assert four["application_downtime_s_p50"] == 30.0
    assert four["in_place_downtime_s_p50"] == 150.0
    assert four["in_place_downtime_s_p95"] == pytest.approx(195.0)
    assert four["ratio_p50"] == 0.15  # 0.1, 0.15 and 0.4 paired; not 30 / 150
    assert four["online_rto_s_p50"] == 101.0


def test_online_rows_repeat_and_keep_the_other_figures_when_run_again_on_the_same_seed(
    tmp_path: Path,
) -> None:
    # GIVEN two results files with figures of an earlier run
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    for out in outs:
        out.write_text(json.dumps({"summary": [{"volumes": 1}], "runs": []}))

    # WHEN the online rows of one data volume and one seed are put into each
    args = ["--online-only", "--online-volumes", "1", "--seeds", "1", "--workers", "1"]
    for out in outs:
        assert bench.main([*args, "--out", str(out)]) == 0

    # THEN both runs measured exactly the same, beside the figures already there
    first, again = (json.loads(out.read_text()) for out in outs)
    assert first["online"] == again["online"]
    assert first["summary"] == [{"volumes": 1}]
    (row,) = first["online"]
    assert {
        "volumes",
        "application_downtime_s_p50",
        "application_downtime_s_p95",
        "in_place_downtime_s_p50",
        "in_place_downtime_s_p95",
        "ratio_p50",
        "online_rto_s_p50",
        "seeds",
    } <= set(row)
    assert (row["volumes"], row["seeds"]) == (1, 1)
    # AND the online restore restored the data volume only, with less downtime
    (run,) = first["online_runs"]
    assert run["restored_devices"] == ["xvdf"]
    assert run["detached_while_online"] == 0
    assert 0 < row["application_downtime_s_p50"] < row["in_place_downtime_s_p50"]
