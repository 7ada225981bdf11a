"""The fleet machine's loop: one turn per RunFleet, its waits, and the execution history.

A fake Step Functions on a virtual clock stands for the restore machine: each restore
ends a set time after it started. The turns run the real ``run_cycle`` with the state the
machine carries between them, so the arithmetic of docs/fleets.md is checked on the code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pytest

from vss_restore.definition import Limits
from vss_restore.errors import InvalidRequest
from vss_restore.fleet import (
    CYCLE_BUDGET,
    EVENTS_PER_CYCLE,
    HISTORY_EVENT_LIMIT,
    INITIALIZATION_WORST_SECONDS,
    MAX_FLEET_SIZE,
    POLL_FLEET_SECONDS,
    RESTORE_WORST_SECONDS,
    FleetRun,
    plan_fits,
    restore_worst_seconds,
    run_cycle,
)

FLEET_EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:vss-fleet:night-1"
RESTORE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:vss-restore"
MACHINES = {"restore": RESTORE_MACHINE, "drill": "unused", "mount": "unused"}
DEFAULT_CONCURRENCY = 10


class ExecutionDoesNotExist(Exception):
    pass


class ExecutionAlreadyExists(Exception):
    pass


@dataclass
class FakeStepFunctions:
    """Restores that take ``duration`` seconds of the virtual clock ``now``."""

    duration: float
    now: float = 0.0
    started: dict[str, float] = field(default_factory=dict)

    class exceptions:  # noqa: N801 - boto3's attribute name
        ExecutionDoesNotExist = ExecutionDoesNotExist
        ExecutionAlreadyExists = ExecutionAlreadyExists

    def describe_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803
        if executionArn not in self.started:
            raise ExecutionDoesNotExist(executionArn)
        ended = self.now >= self.started[executionArn] + self.duration
        return {"status": "SUCCEEDED" if ended else "RUNNING", "output": "{}"}

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> None:  # noqa: N803
        arn = f"{stateMachineArn.replace(':stateMachine:', ':execution:', 1)}:{name}"
        self.started.setdefault(arn, self.now)

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def fleet_plan(size: int, concurrency: int, options: dict[str, Any]) -> dict[str, Any]:
    return {
        "Waves": [[f"i-{n:017x}" for n in range(size)]],
        "Options": options,
        "MaxConcurrency": concurrency,
        "ToleratedFailurePercentage": 0,
        "StartIntervalSeconds": 1.0,
        "Execution": FLEET_EXECUTION,
    }


@dataclass
class Loop:
    turns: int
    seconds: float
    waits: list[int]


def run_loop(plan: dict[str, Any], sfn: FakeStepFunctions) -> Loop:
    """The fleet machine's loop: RunFleet, then (not done) the Wait state, then RunFleet."""
    state: dict[str, Any] = {"Done": False, "Progress": "", "IdleCycles": 0, "WaitSeconds": 0}
    turns, waits = 0, []
    while not state["Done"]:
        turns += 1
        run = FleetRun.of(plan, MACHINES, state["Progress"])
        state = run_cycle(sfn, run, state["IdleCycles"], sfn.sleep)  # type: ignore[arg-type]
        if not state["Done"]:
            waits.append(state["WaitSeconds"])
            sfn.now += state["WaitSeconds"]
    return Loop(turns, sfn.now, waits)


def test_the_worst_case_fleet_ends_well_within_the_execution_history() -> None:
    # GIVEN the largest fleet at the default concurrency with WaitForInitialization, every
    # restore taking its worst time (50 rounds of 5 h: 250 h)
    options = {"WaitForInitialization": True}
    plan = fleet_plan(MAX_FLEET_SIZE, DEFAULT_CONCURRENCY, options)
    worst = restore_worst_seconds(options)
    sfn = FakeStepFunctions(duration=worst)

    # WHEN the loop follows it to its end
    loop = run_loop(plan, sfn)

    # THEN it took no more turns than its budget, whose events stay well under the limit,
    # and ended within a wait of the restores' own end
    rounds = math.ceil(MAX_FLEET_SIZE / DEFAULT_CONCURRENCY)
    assert worst == RESTORE_WORST_SECONDS + INITIALIZATION_WORST_SECONDS == 5 * 3_600
    assert loop.turns <= CYCLE_BUDGET
    assert CYCLE_BUDGET * EVENTS_PER_CYCLE <= 0.75 * HISTORY_EVENT_LIMIT
    assert rounds * worst <= loop.seconds <= rounds * worst + rounds * max(loop.waits)
    assert max(loop.waits) <= 2 * rounds * worst / CYCLE_BUDGET


@pytest.mark.parametrize(("size", "minutes"), [(500, 5), (500, 30), (500, 120), (50, 5)])
def test_a_fleet_sees_each_end_within_its_worst_time_spread_over_the_budget(
    size: int, minutes: int
) -> None:
    # GIVEN a fleet at the default concurrency, restores of minutes to their worst time
    plan = fleet_plan(size, DEFAULT_CONCURRENCY, {})
    sfn = FakeStepFunctions(duration=minutes * 60)

    # WHEN the loop follows it
    loop = run_loop(plan, sfn)

    # THEN within budget, and each round's end is seen within the loop's longest wait: the
    # fleet's worst time spread over the budget (500 servers: 3 minutes; 50: 18 s), up to
    # twice that at the end of a fleet whose restores all take their worst time
    rounds = math.ceil(size / DEFAULT_CONCURRENCY)
    spread = rounds * RESTORE_WORST_SECONDS / CYCLE_BUDGET
    assert loop.turns <= CYCLE_BUDGET
    assert max(loop.waits) <= max(POLL_FLEET_SECONDS, math.ceil(2 * spread))
    assert loop.seconds <= rounds * (minutes * 60 + max(loop.waits))


def test_restores_past_their_worst_time_lengthen_the_waits_not_the_history() -> None:
    # GIVEN the largest fleet whose restores all take three times their planned worst
    plan = fleet_plan(MAX_FLEET_SIZE, DEFAULT_CONCURRENCY, {})
    sfn = FakeStepFunctions(duration=3 * RESTORE_WORST_SECONDS)

    # WHEN the loop follows it
    loop = run_loop(plan, sfn)

    # THEN it still ends, its history under the limit with the retries' reserve intact
    assert loop.turns * EVENTS_PER_CYCLE <= 0.8 * HISTORY_EVENT_LIMIT


def test_the_loop_waits_its_shortest_while_restores_wait_only_for_the_start_budget() -> None:
    # GIVEN 100 restores allowed at once, started a second apart (31 a turn)
    plan = fleet_plan(100, 100, {})
    sfn = FakeStepFunctions(duration=3_600)

    # WHEN / THEN the first turns start 31 each and come back after the shortest wait
    loop = run_loop(plan, sfn)
    assert loop.waits[:3] == [POLL_FLEET_SECONDS] * 3
    assert len(sfn.started) == 100


def test_the_worst_restore_without_initialization_is_within_its_waits_limits() -> None:
    # GIVEN the restore's longest waits on its way (each wait's own limit) / THEN an hour
    # covers them, and the initialization's worst is its wait's limit
    limits = Limits()
    waits = (
        limits.VolumeWaitTimeoutSeconds
        + limits.StopTimeoutSeconds
        + 2 * limits.SwapWaitTimeoutSeconds
        + limits.StartTimeoutSeconds
        + limits.StatusCheckTimeoutSeconds
    )
    assert waits <= RESTORE_WORST_SECONDS
    assert limits.InitializationTimeoutSeconds == INITIALIZATION_WORST_SECONDS


def test_a_plan_the_loop_cannot_follow_to_its_end_is_refused_naming_the_field() -> None:
    # GIVEN the largest fleet one at a time with WaitForInitialization (500 restores of 5 h)
    instances = [f"i-{n:017x}" for n in range(MAX_FLEET_SIZE)]
    options = {"WaitForInitialization": True}

    # WHEN / THEN refused on MaxConcurrency, saying why; in waves, on Waves
    with pytest.raises(InvalidRequest) as refused:
        plan_fits([instances], options, 1, 1.0)
    assert refused.value.field == "MaxConcurrency"
    assert "2500 h" in str(refused.value)
    with pytest.raises(InvalidRequest) as in_waves:
        plan_fits([[i] for i in instances], options, 100, 1.0)
    assert in_waves.value.field == "Waves"
    # ... while the default concurrency, or no initialization wait, fits
    plan_fits([instances], options, DEFAULT_CONCURRENCY, 1.0)
    plan_fits([instances], {}, 2, 1.0)


def test_progress_carries_the_ends_so_that_a_turn_reads_only_the_others() -> None:
    # GIVEN a turn that saw the first of three restores succeed and the second run
    plan = fleet_plan(3, 1, {})
    sfn = FakeStepFunctions(duration=10)
    run = FleetRun.of(plan, MACHINES)
    first = run_cycle(sfn, run, 0, sfn.sleep)  # type: ignore[arg-type]
    sfn.now = 10
    second = run_cycle(sfn, FleetRun.of(plan, MACHINES, first["Progress"]), 0, sfn.sleep)  # type: ignore[arg-type]

    # WHEN the next turn starts from it
    again = FleetRun.of(plan, MACHINES, second["Progress"])

    # THEN the ended one is known without reading it, the started one is read again
    assert (first["Progress"], second["Progress"]) == ("R--", "SR-")
    assert list(again.finished) == [plan["Waves"][0][0]]
    assert again.progress() == "S--"
