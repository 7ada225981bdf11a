"""The bounds and the plain scripts on a run's draws: small cases checked by hand."""

from __future__ import annotations

import pytest

from vss_restore.local.baselines import (
    AWS_SAMPLE,
    BASELINES,
    BEST_SCRIPT,
    Baseline,
    ScriptClock,
    downtime_bound,
    draws_by_kind,
    restore_rto_bound,
    script_times,
)

# Two volumes; no call latencies (a script's calls then take no time).
KINDS = {
    "stop": [80.0],
    "create": [1.0, 3.0],
    "detach": [2.0, 5.0],
    "attach": [4.0, 1.0],
    "start": [10.0],
    "checks": [100.0],
}


def test_downtime_bound_adds_stop_slowest_detach_slowest_attach_and_start_when_swapping() -> None:
    assert downtime_bound(KINDS) == 80 + 5 + 4 + 10


def test_rto_bound_overlaps_creation_with_the_stop_when_the_stop_is_slower() -> None:
    assert restore_rto_bound(KINDS) == 80 + 5 + 4 + 10 + 100


def test_bounds_ignore_retried_swaps_when_a_volume_was_attached_twice() -> None:
    # GIVEN a third attach draw: a retry of one of the two volumes' attaches
    retried = KINDS | {"attach": [4.0, 1.0, 30.0]}

    # WHEN / THEN only one attach per restored volume counts
    assert downtime_bound(retried) == downtime_bound(KINDS)
    assert restore_rto_bound(retried) == restore_rto_bound(KINDS)


def test_aws_sample_sees_each_batch_at_its_next_poll_when_polling_every_5_s() -> None:
    # WHEN AWS's sample order runs on the draws with 5 s polls
    times = script_times(KINDS, Baseline(AWS_SAMPLE, 5))

    # THEN stopped at 80 (seen at 80); detached by 85 (seen 85); created by 88 (seen 90);
    # attached by 94 (seen 95); running at 105; checks pass at 205 (seen 205)
    assert times.rto_s == 205
    assert times.downtime_s == 105


def test_aws_sample_sees_each_batch_later_when_polling_every_15_s() -> None:
    # WHEN the same order polls every 15 s (the AWS SDK's EC2 waiters)
    times = script_times(KINDS, Baseline(AWS_SAMPLE, 15))

    # THEN stopped seen at 90; detached by 95, seen 105; created by 108, seen 120;
    # attached by 124, seen 135; running at 145; checks at 245, seen 255
    assert times.rto_s == 255
    assert times.downtime_s == 145


def test_best_script_overlaps_creation_with_the_stop_when_polling_every_5_s() -> None:
    # WHEN the best plain order runs: create while stopping, 5 s polls
    times = script_times(KINDS, Baseline(BEST_SCRIPT, 5))

    # THEN stopped and created seen at 80; detached seen 85; attached by 89, seen 90;
    # running at 100; checks at 200, seen 200
    assert times.rto_s == 200
    assert times.downtime_s == 100


def test_script_pays_its_call_latencies_in_turn_when_the_run_drew_them() -> None:
    # GIVEN a script whose mutating calls take 1 s and describes 0.5 s
    clock = ScriptClock(poll=5, mutating=[1.0], describe=[0.5])

    # WHEN it stops an instance that is stopped 2 s later and waits for it
    stopped_at = clock.call("StopInstances") + 2.0
    clock.wait_until(stopped_at, "DescribeInstances")

    # THEN the stop took effect at 1; the first describe returned at 1.5 (too early), the
    # next one 5 s later at 7.0
    assert stopped_at == 3.0
    assert clock.now == 7.0
    assert clock.calls == 3


def test_script_waits_for_a_token_when_its_bucket_is_empty() -> None:
    # GIVEN a script with free calls (the mutating bucket holds 50, refills 5 a second)
    clock = ScriptClock(poll=5)

    # WHEN it makes 51 mutating calls at once
    moments = [clock.call("DetachVolume") for _ in range(51)]

    # THEN 50 take effect at once and the 51st when the next token arrives, 0.2 s later
    assert moments[:50] == [0.0] * 50
    assert moments[50] == pytest.approx(0.2)


def test_every_baseline_is_never_faster_than_the_bound_when_run_on_the_same_draws() -> None:
    for baseline in BASELINES:
        times = script_times(KINDS, baseline)
        assert times.rto_s >= restore_rto_bound(KINDS), baseline
        assert times.downtime_s >= downtime_bound(KINDS), baseline


def test_draws_by_kind_keeps_the_order_drawn_when_grouping_by_kind() -> None:
    draws = [("stop", "i-1:1", 60.0), ("create", "vol-2", 2.0), ("create", "vol-1", 1.0)]

    assert draws_by_kind(draws) == {"stop": [60.0], "create": [2.0, 1.0]}
