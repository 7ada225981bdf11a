"""Simulation mode's SSM Run Command: commands take modelled time, and act when they end."""

from __future__ import annotations

import boto3
import pytest

from vss_restore import windows_disks
from vss_restore.local import LocalEngine, world
from vss_restore.local.simulation import (
    FIND_DISK_RETRY_SECONDS,
    SimulatedAws,
    Simulation,
)
from vss_restore.local.virtual_clock import run_simulated

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:vss-restore:online-1"
POLL_SECONDS = 0.5


def _at(sim: SimulatedAws, monkeypatch: pytest.MonkeyPatch, model_seconds: float) -> None:
    monkeypatch.setattr(sim, "now", lambda: model_seconds)


def _sent(
    sim: SimulatedAws, command_id: str, action: str, volumes: list[str], services: list[str]
) -> None:
    """``SendCommand`` of the disk document, as the simulation sees its answer."""
    sim.after_send_command(
        {
            "Command": {
                "CommandId": command_id,
                "DocumentName": windows_disks.document_name(),
                "InstanceIds": ["i-1"],
                "Parameters": {
                    "Action": [action],
                    "VolumeIds": [",".join(volumes)],
                    "Services": [",".join(services)],
                },
            }
        }
    )


def _drawn(sim: SimulatedAws, kind: str) -> list[float]:
    return [value for k, _, value in sim.draws if k == kind]


def test_disk_command_takes_delivery_then_each_service_stop_then_each_disk_when_offline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN an Offline command of two volumes and SQL Server, sent at model time 10
    sim = SimulatedAws(Simulation(seed=4))
    _at(sim, monkeypatch, 10)
    _sent(sim, "c-1", "Offline", ["vol-1", "vol-2"], ["MSSQLSERVER"])

    # THEN it ends after the delivery, the service's stop and each disk in turn
    (delivery,) = _drawn(sim, "ssm-delivery")
    (stop,) = _drawn(sim, "sql-server-stop")
    disks = _drawn(sim, "disk-offline")
    assert len(disks) == 2
    done = sim.command_done_at("c-1")
    assert done == pytest.approx(10 + delivery + stop + sum(disks))
    assert done is not None

    # AND it is Pending until delivered, InProgress until then, and over from then on
    def status(t: float) -> str | None:
        _at(sim, monkeypatch, t)
        return sim.command_status("c-1")

    assert status(10 + delivery / 2) == "Pending"
    assert status(10 + delivery + 0.01) == "InProgress"
    assert status(done - 0.01) == "InProgress"
    assert status(done) is None


def test_online_command_waits_for_its_volume_to_attach_when_sent_before_the_attach_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a volume whose attach, asked at model time 0, ends after its drawn delay
    sim = SimulatedAws(Simulation(seed=2))
    _at(sim, monkeypatch, 0)
    sim.after_attach({"VolumeId": "vol-1"})
    (attached_at,) = _drawn(sim, "attach")

    # WHEN an Online command of that volume and SQL Server is sent at once
    _sent(sim, "c-1", "Online", ["vol-1"], ["MSSQLSERVER"])

    # THEN the document looks for the disk every 2 s until it has appeared, brings it
    # online, then starts the service
    (delivery,) = _drawn(sim, "ssm-delivery")
    looked = delivery
    while looked < attached_at:
        looked += FIND_DISK_RETRY_SECONDS
    (online,) = _drawn(sim, "disk-online")
    (start,) = _drawn(sim, "sql-server-start")
    assert attached_at > delivery, "the seed must draw an attach slower than the delivery"
    assert sim.command_done_at("c-1") == pytest.approx(looked + online + start)
    assert _drawn(sim, "sql-server-stop") == []


def test_command_times_repeat_for_a_seed_and_differ_for_another_when_drawn_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def done_at(seed: int) -> list[float | None]:
        sim = SimulatedAws(Simulation(seed=seed))
        _at(sim, monkeypatch, 0)
        _sent(sim, "c-1", "Offline", ["vol-1"], ["MSSQLSERVER", "W3SVC"])
        _sent(sim, "c-2", "Online", ["vol-1"], ["MSSQLSERVER", "W3SVC"])
        return [sim.command_done_at("c-1"), sim.command_done_at("c-2")]

    assert done_at(7) == done_at(7)
    assert done_at(7) != done_at(8)


def test_disk_command_changes_the_guest_only_once_its_modelled_end_has_passed_when_simulated() -> (
    None
):
    # GIVEN a running Windows server in simulation mode, its calls on the model clock
    with LocalEngine(simulation=Simulation(seed=11)) as engine:
        ec2 = boto3.client("ec2", region_name=engine.region)
        instance_id = world.windows_instance(ec2)
        volume_id = next(v for d, v in world.attached(ec2, instance_id).items() if d != "/dev/sda1")
        engine.begin_simulation()
        simulated = engine.simulated
        assert simulated is not None
        ssm = boto3.client("ssm", region_name=engine.region)
        seen: list[tuple[float, str, bool, list[str]]] = []
        sent: list[str] = []

        def take_offline() -> None:
            command_id = windows_disks.send_disk_command(
                ssm, instance_id, "Offline", [volume_id], ["MSSQLSERVER"], EXECUTION, "Offline"
            )
            sent.append(command_id)
            for _ in range(1000):
                status = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)[
                    "Status"
                ]
                seen.append(
                    (
                        simulated.now(),
                        status,
                        engine.guests.disk_online(volume_id),
                        list(engine.guests.stopped_services.get(instance_id, [])),
                    )
                )
                if status not in ("Pending", "InProgress"):
                    return
                simulated.clock.sleep(POLL_SECONDS)

        # WHEN the disk command is sent and polled every half second of model time
        run_simulated(simulated.clock, take_offline)

    # THEN every poll before the modelled end saw it running and the disk still online
    done = simulated.command_done_at(sent[0])
    assert done is not None
    *running, (ended_at, status, online, stopped) = seen
    assert len(running) > 2
    assert all(at < done and s in ("Pending", "InProgress") and o for at, s, o, _ in running)
    assert all(stopped_then == [] for *_, stopped_then in running)
    # AND the first poll at or after it saw it succeeded, the disk offline, SQL Server stopped
    assert done <= ended_at < done + POLL_SECONDS + 1
    assert (status, online, stopped) == ("Success", False, ["MSSQLSERVER"])


def test_other_documents_take_a_delivery_and_a_script_run_when_simulated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = SimulatedAws(Simulation(seed=3))
    _at(sim, monkeypatch, 5)
    sim.after_send_command(
        {
            "Command": {
                "CommandId": "c-9",
                "DocumentName": "AWS-RunPowerShellScript",
                "InstanceIds": ["i-1"],
                "Parameters": {"commands": ["Get-Disk"]},
            }
        }
    )
    (delivery,) = _drawn(sim, "ssm-delivery")
    (script,) = _drawn(sim, "script")
    assert sim.command_done_at("c-9") == pytest.approx(5 + delivery + script)
    assert _drawn(sim, "disk-offline") == _drawn(sim, "disk-online") == []
