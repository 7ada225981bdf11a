"""The benchmark's measures: bounds and the script baseline from draws, and one real run."""

from __future__ import annotations

import json
import math

import pytest

from vss_restore.local import bench

KINDS = {
    "stop": [80.0],
    "create": [1.0, 3.0],
    "detach": [2.0, 5.0],
    "attach": [4.0, 1.0],
    "start": [10.0],
    "checks": [100.0],
}


def test_downtime_bound_counts_each_batch_as_its_slowest_member() -> None:
    assert bench.downtime_bound(KINDS) == 80 + 5 + 4 + 10


def test_ideal_script_waits_for_every_operation_one_after_another() -> None:
    assert bench.script_rto(KINDS, seed=0, poll=0) == 80 + (1 + 3) + (2 + 5) + (4 + 1) + 10 + 100


def test_polling_script_sees_each_change_at_its_next_poll_and_pays_for_its_calls() -> None:
    polled = bench.script_rto(KINDS, seed=0, poll=15)

    waits = 90 + (15 + 15) + (15 + 15) + (15 + 15)  # every wait rounded up to 15 s polls
    assert polled > waits + 10 + 100
    assert polled == bench.script_rto(KINDS, seed=0, poll=15)  # the seed fixes the calls


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


def test_no_warm_up_strategy_drops_only_the_warm_up_branch() -> None:
    document = json.loads(bench.STRATEGIES["poll-in-task-no-warm-up"].definition() or "{}")

    branches = document["States"]["PrepareVolumesAndStop"]["Branches"]
    assert [b["StartAt"] for b in branches] == ["CreateVolumes", "StopInstance"]


def test_a_simulated_restore_never_beats_the_physical_bound() -> None:
    row = bench.run_once(volumes=2, seed=3)

    assert row["status"] == "SUCCEEDED"
    assert row["downtime_s"] >= row["downtime_bound_s"]
    assert row["rto_s"] > row["downtime_s"]
    assert row["baseline_rto_s"] >= row["baseline_ideal_rto_s"]
    assert row["state_transitions"] >= row["lambda_invocations"]
    assert row["cost_usd"] > 0


def test_throttle_bound_is_the_slowest_bucket_after_its_burst() -> None:
    # Buckets (size, refill per s): describe 100 and 20, mutating 50 and 5, CreateVolume 100 and 5.
    assert bench.throttle_bound({"describe": 100, "mutating": 50}) == 0.0
    assert bench.throttle_bound({"describe": 300, "mutating": 100}) == 10.0
    assert bench.throttle_bound({"describe": 300, "CreateVolume": 200}) == 20.0


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
    row = bench.run_fleet(seed=4, instances=3, volumes=2)

    assert row["status"] == "SUCCEEDED", row
    assert row["succeeded"] == 3
    assert row["unhandled_throttling"] == 0
    assert row["fleet_rto_s"] >= row["slowest_instance_bound_s"]
    assert row["rto_to_bound_ratio"] >= 1.0
