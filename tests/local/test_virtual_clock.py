"""The virtual clock: modelled time moves only through modelled waits, whatever the host does.

The scheduler tests assert on modelled time and on the order things happen, never on how
long they took. The restore tests run the same seed again, once while another process keeps
a CPU busy, and expect the very same figures, ids and history.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from tests.conftest import REGION
from vss_restore import tags
from vss_restore.local import Fault, LocalEngine, world
from vss_restore.local.bench import bench_disks
from vss_restore.local.simulation import Simulation
from vss_restore.local.virtual_clock import (
    SimulationStalled,
    ThreadPool,
    VirtualClock,
    run_simulated,
)


def _spawn(clock: VirtualClock, *targets: Callable[[], object]) -> list[threading.Thread]:
    threads = [clock.thread(target=target, daemon=True) for target in targets]
    for thread in threads:
        thread.start()
    return threads


def _sleeper(clock: VirtualClock, log: list[tuple[str, float]], name: str, seconds: float) -> Any:
    def sleep() -> None:
        clock.sleep(seconds)
        log.append((name, clock.now()))

    return sleep


# --- the scheduler ----------------------------------------------------------------------------


def test_virtual_clock_wakes_sleepers_in_time_order_when_they_sleep_different_delays() -> None:
    # GIVEN a clock and two simulated threads, the first started sleeping longer
    clock = VirtualClock()
    log: list[tuple[str, float]] = []

    def main() -> None:
        for thread in _spawn(
            clock, _sleeper(clock, log, "long", 5.0), _sleeper(clock, log, "short", 2.0)
        ):
            thread.join()

    # WHEN they run
    run_simulated(clock, main)

    # THEN each wakes at its own modelled moment, the shorter first; the clock ends at the last
    assert log == [("short", 2.0), ("long", 5.0)]
    assert clock.now() == 5.0


def test_virtual_clock_wakes_equal_wake_ups_in_the_order_they_were_asked_for() -> None:
    # GIVEN three threads started c, a, b that all sleep 3 modelled seconds
    clock = VirtualClock()
    log: list[tuple[str, float]] = []

    def main() -> None:
        threads = _spawn(clock, *(_sleeper(clock, log, name, 3.0) for name in "cab"))
        for thread in threads:
            thread.join()

    # WHEN they run
    run_simulated(clock, main)

    # THEN they wake together, first come first served
    assert log == [("c", 3.0), ("a", 3.0), ("b", 3.0)]


def test_virtual_clock_resumes_a_fan_out_when_its_slowest_branch_ends() -> None:
    # GIVEN a parent that starts three branches (1, 4 and 2 modelled seconds) and waits for
    # an event the last one to end sets, as a Parallel state waits for its branches
    clock = VirtualClock()
    all_done = clock.event()
    ended: list[str] = []
    resumed_at: list[float] = []

    def branch(name: str, seconds: float) -> Callable[[], None]:
        def run() -> None:
            clock.sleep(seconds)
            ended.append(name)
            if len(ended) == 3:
                all_done.set()

        return run

    def parent() -> None:
        _spawn(clock, branch("a", 1.0), branch("b", 4.0), branch("c", 2.0))
        all_done.wait()
        resumed_at.append(clock.now())

    # WHEN the parent runs
    run_simulated(clock, parent)

    # THEN the branches end in modelled-time order and the parent resumes with the slowest
    assert ended == ["a", "c", "b"]
    assert resumed_at == [4.0]


def test_virtual_clock_times_a_wait_out_in_modelled_time_when_nobody_sets_the_event() -> None:
    # GIVEN one event nobody sets and one that a thread sets after 10 modelled seconds
    clock = VirtualClock()
    never, soon = clock.event(), clock.event()
    outcomes: list[tuple[str, bool, float]] = []

    def setter() -> None:
        clock.sleep(10.0)
        soon.set()

    def main() -> None:
        _spawn(clock, setter)
        outcomes.append(("soon", soon.wait(30.0), clock.now()))
        outcomes.append(("never", never.wait(30.0), clock.now()))

    # WHEN a thread waits up to 30 modelled seconds for each
    run_simulated(clock, main)

    # THEN the set event ends the wait at 10; the other wait times out 30 seconds later
    assert outcomes == [("soon", True, 10.0), ("never", False, 40.0)]


def test_virtual_clock_ends_a_join_at_its_timeout_while_the_joined_thread_still_runs() -> None:
    # GIVEN a thread that sleeps 50 modelled seconds, joined with a 10-second timeout
    clock = VirtualClock()
    seen: list[tuple[float, bool]] = []

    def main() -> None:
        (slow,) = _spawn(clock, lambda: clock.sleep(50.0))
        slow.join(timeout=10.0)
        seen.append((clock.now(), slow.is_alive()))
        slow.join()
        seen.append((clock.now(), slow.is_alive()))

    # WHEN the joins run
    run_simulated(clock, main)

    # THEN the first join gives up at 10 with the thread alive; the second returns at its end
    assert seen == [(10.0, True), (50.0, False)]


def test_virtual_clock_jumps_over_long_waits_without_sleeping() -> None:
    # GIVEN a simulated thread that waits eleven modelled days
    clock = VirtualClock()

    # WHEN it runs (a real sleep would outlast any test timeout)
    run_simulated(clock, lambda: clock.sleep(1_000_000.0))

    # THEN the clock has moved by exactly that
    assert clock.now() == 1_000_000.0


def test_virtual_clock_ignores_sleeps_of_threads_outside_the_simulation() -> None:
    clock = VirtualClock()

    clock.sleep(100.0)  # the test's own thread: not a simulated one

    assert clock.now() == 0.0


def test_virtual_clock_raises_simulation_stalled_when_a_thread_blocks_outside_the_clock() -> None:
    # GIVEN a simulated thread that blocks on a real event (the clock cannot see it) while
    # another simulated thread is ready to run
    clock = VirtualClock(stall_seconds=0.1)
    release = threading.Event()
    errors: list[BaseException] = []

    def blocked() -> None:
        release.wait()

    def waiting(target: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except SimulationStalled as err:
                errors.append(err)
                release.set()

        return run

    def main() -> None:
        sleeper, stuck = _spawn(clock, waiting(lambda: clock.sleep(1.0)), blocked)
        waiting(sleeper.join)()
        stuck.join()

    # WHEN they run
    run_simulated(clock, main)

    # THEN the waiting thread gets a clear error naming the stuck thread, instead of a hang
    assert errors
    assert all("(blocked) has run for" in str(err) for err in errors)


def test_thread_pool_runs_jobs_on_its_workers_in_modelled_time_when_used_by_task_code() -> None:
    # GIVEN a pool of two workers and three jobs of 5 modelled seconds each (task code's
    # concurrent calls)
    clock = VirtualClock()
    finished: list[tuple[int, float]] = []

    def job(n: int) -> int:
        clock.sleep(5.0)
        finished.append((n, clock.now()))
        return n * 10

    def main() -> None:
        with ThreadPool(clock, max_workers=2) as pool:
            futures = [pool.submit(job, n) for n in range(3)]
        finished.append((-1, clock.now()))
        finished.extend((f.result(), clock.now()) for f in futures)

    # WHEN the caller submits them and leaves the pool
    run_simulated(clock, main)

    # THEN two run at once and the third after them; leaving the pool waits for all three
    assert finished[:4] == [(0, 5.0), (1, 5.0), (2, 10.0), (-1, 10.0)]
    assert [n for n, _ in finished[4:]] == [0, 10, 20]


# --- a whole restore ------------------------------------------------------------------------------

_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?")


def _restore(seed: int) -> dict[str, Any]:
    """One simulated restore of a 3-volume server, whose first DescribeSnapshots calls are
    throttled three times (so Retry waits, with jitter): what must repeat for the seed."""
    with LocalEngine(region=REGION, simulation=Simulation(seed=seed)) as engine:
        engine.inject(Fault("ec2.DescribeSnapshots", code="RequestLimitExceeded", times=3))
        world.fix_ids(seed, REGION)
        ec2 = boto3.client("ec2", region_name=REGION)
        instance = world.windows_instance(ec2, bench_disks(3), name="clock")
        world.vss_snapshot_set(
            ec2, instance, taken_at=datetime(2026, 1, 1, tzinfo=UTC), set_id="clock"
        )
        result = engine.run({"InstanceId": instance}, timeout=300, name="clock-restore")
        simulated = engine.simulated
        assert simulated is not None
        created = ec2.describe_volumes(
            Filters=[{"Name": f"tag:{tags.CREATED_BY}", "Values": [tags.CREATED_BY_VALUE]}]
        )["Volumes"]
        # The interpreter stamps events with the wall clock: only those stamps may differ.
        history = [
            _TIMESTAMP.sub("<time>", repr({k: v for k, v in event.items() if k != "timestamp"}))
            for event in result.history
        ]
        return {
            "status": result.status,
            "rto_s": simulated.marks["last_task_finished"] - simulated.marks["execution_started"],
            "marks": dict(simulated.marks),
            "draws": list(simulated.draws),
            "volume_ids": sorted(v["VolumeId"] for v in created),
            "attached": world.attached(ec2, instance),
            "report_downtime_s": (result.output or {}).get("DowntimeSeconds"),
            "failed_attempts": sum(e["type"] == "LambdaFunctionFailed" for e in result.history),
            "history": history,
        }


@contextmanager
def _busy_cpu() -> Iterator[None]:
    """Another process keeps a CPU busy meanwhile."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        busy.kill()
        busy.wait()


@pytest.fixture(scope="module")
def first_run() -> dict[str, Any]:
    return _restore(seed=5)


def test_simulated_restore_repeats_its_figures_ids_and_history_when_run_again(
    first_run: dict[str, Any],
) -> None:
    # GIVEN a simulated restore with seed 5 that succeeded
    assert first_run["status"] == "SUCCEEDED"
    assert first_run["rto_s"] > 60
    assert len(first_run["volume_ids"]) == 3
    assert first_run["report_downtime_s"] > 15  # the report's dates are modelled ones too
    assert first_run["failed_attempts"] == 3  # each retried after a jittered interval

    # WHEN the same seed runs again
    again = _restore(seed=5)

    # THEN everything modelled is identical: RTO, every draw, the new volumes' ids, the
    # history event for event
    assert again == first_run


def test_simulated_restore_repeats_itself_when_another_process_keeps_a_cpu_busy(
    first_run: dict[str, Any],
) -> None:
    # WHEN the same seed runs while another process loads the CPU
    with _busy_cpu():
        loaded = _restore(seed=5)

    # THEN the result is the same as on an idle machine (determinism, not speed)
    assert loaded == first_run


def test_simulated_restore_differs_when_the_seed_differs(first_run: dict[str, Any]) -> None:
    other = _restore(seed=6)

    assert other["status"] == "SUCCEEDED"
    assert other["rto_s"] != first_run["rto_s"]
