"""Simulation mode: modelled delays and throttling in front of the instant emulator."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from vss_restore.local import LocalEngine, world
from vss_restore.local.engine import LOCK_TABLE_NAME
from vss_restore.local.invariants import InstanceState, check_invariants
from vss_restore.local.simulation import SimulatedAws, Simulation, lognormal
from vss_restore.waiting import POLL_STATUS_CHECKS_SECONDS


def _at(sim: SimulatedAws, monkeypatch: pytest.MonkeyPatch, model_seconds: float) -> None:
    monkeypatch.setattr(sim, "now", lambda: model_seconds)


def test_restore_in_simulation_mode_waits_for_modelled_state_changes_and_keeps_invariants() -> None:
    # GIVEN the demo server and a set, restored in simulation mode
    with LocalEngine(simulation=Simulation(seed=3)) as engine:
        ec2 = boto3.client("ec2", region_name=engine.region)
        instance_id = world.windows_instance(ec2)
        world.vss_snapshot_set(
            ec2, instance_id, taken_at=datetime.now(UTC) - timedelta(hours=1), set_id="s"
        )
        before = InstanceState.capture(ec2, instance_id)
        request = {"InstanceId": instance_id}

        # WHEN the restore runs
        result = engine.run(request, timeout=120)

        # THEN it succeeds after really polling (stop, start and status checks take modelled
        # minutes), inside one invocation of each wait task
        assert result.status == "SUCCEEDED", result.cause
        assert engine.simulated is not None
        assert engine.simulated.now() > 60
        assert engine.clock.slept.count(POLL_STATUS_CHECKS_SECONDS) > 1, "no wait polled"
        assert engine.dispatcher is not None
        assert engine.dispatcher.invocations.count("vss-restore-wait_instance_stopped") == 1
        assert check_invariants(ec2, before, result, request, LOCK_TABLE_NAME) == []


def test_same_seed_draws_the_same_delays_and_another_seed_different_ones() -> None:
    first, again, other = (SimulatedAws(Simulation(seed=s)) for s in (7, 7, 8))
    keys = [("stop", "i-1:1"), ("create", "vol-1"), ("checks", "i-1:1"), ("attach", "vol-2:1")]
    assert [first.draw(*k) for k in keys] == [again.draw(*k) for k in keys]
    assert [first.draw(*k) for k in keys] != [other.draw(*k) for k in keys]


def test_lognormal_has_the_median_and_p95_it_was_given() -> None:
    import random  # noqa: PLC0415

    rng = random.Random(1)  # noqa: S311
    draws = sorted(lognormal(rng, 1.5, 4) for _ in range(20000))
    assert statistics.median(draws) == pytest.approx(1.5, rel=0.05)
    assert draws[int(0.95 * len(draws))] == pytest.approx(4, rel=0.08)


def test_stop_is_seen_as_stopping_until_its_drawn_delay_has_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a StopInstances answered at model time 0
    sim = SimulatedAws(Simulation(seed=1))
    _at(sim, monkeypatch, 0)
    sim.after_stop({"StoppingInstances": [{"InstanceId": "i-1", "CurrentState": {}}]})
    delay = sim.draw("stop", "i-1:1")

    def shown_at(t: float) -> str:
        _at(sim, monkeypatch, t)
        described: dict[str, Any] = {
            "Reservations": [{"Instances": [{"InstanceId": "i-1", "State": {"Name": "stopped"}}]}]
        }
        sim.view_instances(described)
        return str(described["Reservations"][0]["Instances"][0]["State"]["Name"])

    # THEN it is stopping just before the delay and stopped after it; the delay is within the model
    assert 15 <= delay <= 360
    assert shown_at(delay - 0.1) == "stopping"
    assert shown_at(delay + 0.1) == "stopped"


def test_start_is_refused_while_the_instance_is_still_stopping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = SimulatedAws(Simulation(seed=1, throttling=False))
    _at(sim, monkeypatch, 0)
    sim.after_stop({"StoppingInstances": [{"InstanceId": "i-1", "CurrentState": {}}]})
    answer = sim.before_call(
        event_name="before-call.ec2.StartInstances", params={"body": {"InstanceId.1": "i-1"}}
    )
    assert answer is not None
    assert answer[1]["Error"]["Code"] == "IncorrectInstanceState"


def test_a_volume_can_be_detached_again_once_its_last_detach_has_finished(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a volume detached at model time 0 (a restore), then attached again (its rollback)
    sim = SimulatedAws(Simulation(seed=1, throttling=False))
    detach = {"body": {"VolumeId": "vol-1", "InstanceId": "i-1", "Device": "xvdf"}}

    def detach_at(t: float) -> Any:
        _at(sim, monkeypatch, t)
        return sim.before_call(event_name="before-call.ec2.DetachVolume", params=detach)

    assert detach_at(0) is None
    done = sim.draw("detach", "vol-1:1")

    # THEN a second detach is refused while the first is in progress, accepted after it
    refused = detach_at(done / 2)
    assert refused is not None
    assert refused[1]["Error"]["Code"] == "IncorrectState"
    assert detach_at(done + 0.1) is None


def test_status_checks_initialize_for_the_modelled_time_after_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = SimulatedAws(Simulation(seed=2))
    _at(sim, monkeypatch, 0)
    sim.after_start({"StartingInstances": [{"InstanceId": "i-1", "CurrentState": {}}]})
    ok_at = sim.draw("start", "i-1:1") + sim.draw("checks", "i-1:1")

    def checks_at(t: float) -> str:
        _at(sim, monkeypatch, t)
        described: dict[str, Any] = {
            "InstanceStatuses": [
                {
                    "InstanceId": "i-1",
                    "InstanceStatus": {"Status": "ok"},
                    "SystemStatus": {"Status": "ok"},
                }
            ]
        }
        sim.view_status(described)
        return str(described["InstanceStatuses"][0]["InstanceStatus"]["Status"])

    assert ok_at >= 40
    assert checks_at(ok_at - 0.1) == "initializing"
    assert checks_at(ok_at + 0.1) == "ok"


def test_token_bucket_answers_request_limit_exceeded_when_empty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the mutating bucket (50, refilling 5/s) and no model time passing
    sim = SimulatedAws(Simulation(seed=1))
    _at(sim, monkeypatch, 0)
    answers = [
        sim.before_call(event_name="before-call.ec2.DetachVolume", params={"body": {}})
        for _ in range(60)
    ]
    refused = [a for a in answers if a is not None]

    # THEN the 51st call on is throttled, until time refills the bucket
    assert len(refused) == 10
    assert refused[0][1]["Error"]["Code"] == "RequestLimitExceeded"
    assert sim.throttled == 10
    _at(sim, monkeypatch, 1.0)
    assert sim.before_call(event_name="before-call.ec2.DetachVolume", params={"body": {}}) is None
