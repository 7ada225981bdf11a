"""Following a restore: ``watch``, executions by name, and Ctrl-C during ``restore --wait``."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from vss_restore import demo
from vss_restore.cli.target import Target
from vss_restore.local import LocalEngine
from vss_restore.local.world import Disk, attached, vss_config, windows_instance

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

COMMAND = Path(sys.executable).parent / "vss-restore"
REPO = Path(__file__).resolve().parents[2]
DEADLINE_SECONDS = 120  # only a hung command ever gets near it


class _HeldUntilWatched:
    """Holds every task until ``watch`` has read the execution once, so the watch always
    finds it running, however fast or slow the machine."""

    def __init__(self) -> None:
        self.watched = threading.Event()

    def task_started(self, function: str) -> None:
        assert self.watched.wait(DEADLINE_SECONDS), f"{function} held: watch never read"

    def task_finished(self, function: str) -> None:
        pass


@pytest.fixture
def held_until_watched(engine: LocalEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    held = _HeldUntilWatched()
    assert engine.dispatcher is not None
    monkeypatch.setattr(engine.dispatcher, "observer", held)
    read = Target.record

    def record_then_release(self: Target, execution: str) -> Any:
        found = read(self, execution)
        held.watched.set()
        return found

    monkeypatch.setattr(Target, "record", record_then_release)


@pytest.mark.usefixtures("held_until_watched")
def test_watch_follows_a_running_restore_to_its_end_when_given_the_execution_name(
    cli: Any, deployed_demo_server: tuple[EC2Client, str]
) -> None:
    # GIVEN a restore started in AWS without --wait
    ec2, instance = deployed_demo_server
    before = attached(ec2, instance)
    started = cli("restore", "--instance-id", instance, "--yes")
    name = started.json["ExecutionArn"].rsplit(":", 1)[-1]

    # WHEN the on-call engineer watches it by its name
    watched = cli("watch", name)

    # THEN it was followed state by state to its end, and the volumes are the new ones
    assert watched.exit_code == 0, watched.stderr
    assert watched.json["Status"] == "SUCCEEDED"
    assert watched.json["Name"] == name
    assert "Following" in watched.stderr
    assert "✓ ReleaseLock" in watched.stderr
    after = attached(ec2, instance)
    assert {v["NewVolumeId"] for v in watched.json["Report"]["Volumes"]} == set(after.values())
    assert not set(before.values()) & set(after.values())


@pytest.mark.usefixtures("held_until_watched")
def test_watch_follows_a_fleet_to_its_end_when_given_the_fleet_execution_name(
    cli: Any,
    engine: LocalEngine,
    monkeypatch: pytest.MonkeyPatch,
    deployed_demo_server: tuple[EC2Client, str],
) -> None:
    # GIVEN a fleet restore of two servers started without --wait
    ec2, instance = deployed_demo_server
    servers = demo.seed_fleet(ec2, datetime.now(UTC), instance)[1:]
    monkeypatch.setenv("VSS_RESTORE_FLEET_STATE_MACHINE_ARN", engine.fleet_state_machine_arn)
    started = cli("fleet-restore", "--instance-id", ",".join(servers), "--yes")
    name = started.json["ExecutionArn"].rsplit(":", 1)[-1]

    # WHEN it is watched by its name
    watched = cli("watch", name)

    # THEN the fleet's report says both servers were restored
    assert watched.exit_code == 0, watched.stderr
    assert watched.json["Status"] == "SUCCEEDED"
    report = watched.json["Report"]
    assert (report["Succeeded"], report["Failed"]) == (2, 0)
    assert sorted(i["InstanceId"] for i in report["Instances"]) == sorted(servers)
    assert all(f"{server}: SUCCEEDED" in watched.stderr for server in servers)


def test_status_and_report_find_an_execution_when_given_its_name(
    cli: Any, engine: LocalEngine, deployed_demo_server: tuple[EC2Client, str]
) -> None:
    # GIVEN a finished execution
    _, instance = deployed_demo_server
    finished = engine.run({"InstanceId": instance, "DryRun": True})
    name = finished.execution_arn.rsplit(":", 1)[-1]

    # WHEN status and report are given its name rather than its ARN
    status = cli("status", name)
    report = cli("report", name)

    # THEN both read that execution
    assert status.exit_code == report.exit_code == 0, status.stderr + report.stderr
    assert status.json["ExecutionArn"] == report.json["ExecutionArn"] == finished.execution_arn
    assert status.json["InstanceId"] == instance
    assert report.json["Timeline"][0]["State"] == "ValidateRequest"


def test_status_is_bad_input_when_no_execution_has_that_name(
    cli: Any, engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VSS_RESTORE_STATE_MACHINE_ARN", engine.state_machine_arn)

    outcome = cli("status", "i-0123456789abcdef0-000000000000")

    assert outcome.exit_code == 2
    assert "ExecutionDoesNotExist" in outcome.stderr
    assert "i-0123456789abcdef0-000000000000" in outcome.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def moto_server() -> Iterator[str]:
    """The emulator over HTTP in a process of its own, for a command run as its own process
    (``--endpoint-url``). Its own process: nothing an earlier test did to the emulator in
    this one (patches, configuration) can reach it, and it does not share this process's
    interpreter lock. Its state machines do not execute: an execution is RUNNING until
    stopped, with a fixed history of finished states."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5):
                    break
            except OSError:
                assert server.poll() is None, "the emulator's server ended at start-up"
                assert time.monotonic() < deadline, "the emulator's server never answered"
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=DEADLINE_SECONDS)


def _read_until(process: subprocess.Popen[str], text: str) -> str:
    """stderr of ``process`` up to the first line containing ``text``."""
    assert process.stderr is not None
    seen = ""
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + DEADLINE_SECONDS
    while text not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {text!r} on stderr within {DEADLINE_SECONDS} s: {seen}"
        if selector.select(timeout=remaining):
            line = process.stderr.readline()
            assert line, f"the command ended before {text!r}: {seen}"
            seen += line
    return seen


def test_ctrl_c_during_restore_wait_leaves_the_execution_running_and_says_how_to_follow_it(
    moto_server: str,
) -> None:
    # GIVEN a server with a VSS set taken through the API alone (the emulator is in another
    # process), and a state machine whose executions run until someone stops them
    ec2 = boto3.client("ec2", endpoint_url=moto_server, region_name="us-east-1")
    instance_id = windows_instance(ec2, (Disk("/dev/sda1"), Disk("xvdf", size=20)))
    for device, volume_id in attached(ec2, instance_id).items():
        ec2.create_snapshot(
            VolumeId=volume_id,
            TagSpecifications=[
                {
                    "ResourceType": "snapshot",
                    "Tags": [
                        {"Key": "Device", "Value": device},
                        {"Key": "AppConsistent", "Value": "true"},
                        {"Key": "AwsVssConfig", "Value": vss_config("set-1")},
                    ],
                }
            ],
        )
    sfn = boto3.client("stepfunctions", endpoint_url=moto_server, region_name="us-east-1")
    machine = sfn.create_state_machine(
        name="restore",
        definition='{"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": true}}}',
        roleArn="arn:aws:iam::123456789012:role/restore",
    )["stateMachineArn"]
    global_options = [
        "--region",
        "us-east-1",
        "--endpoint-url",
        moto_server,
        "--state-machine-arn",
        machine,
    ]
    process = subprocess.Popen(
        [
            str(COMMAND),
            *global_options,
            "restore",
            "--instance-id",
            instance_id,
            "--wait",
            "--yes",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"},
    )
    try:
        # WHEN the engineer presses Ctrl-C once the restore is being followed
        _read_until(process, "✓")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=DEADLINE_SECONDS)
    finally:
        process.kill()

    # THEN the command ends with 130, the execution still runs in AWS, and the message says
    # so with the exact commands to follow it
    (execution,) = sfn.list_executions(stateMachineArn=machine)["executions"]
    name = execution["name"]
    assert process.returncode == 130
    assert sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "RUNNING"
    assert f"execution {name} was NOT stopped; it goes on in AWS" in stderr
    assert f"vss-restore {' '.join(global_options)} watch {name}" in stderr
    assert f"vss-restore {' '.join(global_options)} status {name}" in stderr
    assert "Traceback" not in stderr
