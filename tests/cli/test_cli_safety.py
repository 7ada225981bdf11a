"""A CLI that is safe at 3 a.m.: no restore without a yes, a confirmation that pins what was
approved, and contradictory or mistyped options refused before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tests.cli.conftest import DEMO_INSTANCE, INCOMPLETE_SET, LATEST_COMPLETE_SET
from vss_restore import demo
from vss_restore.cli import commands as cli_app
from vss_restore.cli.archive import ARCHIVE_DIR_ENV
from vss_restore.discovery import catalogue
from vss_restore.instance import describe_instance, instance_facts
from vss_restore.local import LocalEngine, world

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

OLDEST_SET = demo.SETS[0][0]
SRC = Path(__file__).resolve().parents[2] / "src"


def _run_without_terminal(args: list[str], archive: Path) -> subprocess.CompletedProcess[str]:
    """The real command in a child process, stdin closed (as under cron, CI or ``ssh`` without
    ``-t``)."""
    env = {**os.environ, "PYTHONPATH": str(SRC), ARCHIVE_DIR_ENV: str(archive)}
    return subprocess.run(
        [sys.executable, "-c", "from vss_restore.cli import main; main()", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--local", "restore"],
        ["--local", "fleet-restore", "--tag", "Fleet=demo"],
        ["--local", "cleanup"],
    ],
    ids=["restore", "fleet-restore", "cleanup"],
)
def test_command_refuses_with_exit_2_when_stdin_is_closed_and_yes_not_given(
    archive: Path, args: list[str]
) -> None:
    # GIVEN no terminal to ask on (stdin closed) and no --yes
    # WHEN the real command runs
    done = _run_without_terminal(args, archive)

    # THEN it refuses, names --yes, and starts nothing (a local run keeps every execution)
    assert done.returncode == 2, done.stderr
    assert "--yes" in done.stderr
    assert "no terminal" in done.stderr
    assert "Started" not in done.stderr
    assert done.stdout == ""
    assert not archive.exists() or not list(archive.iterdir())


def test_restore_starts_no_execution_when_no_terminal_and_yes_not_given(
    cli: Any, engine: LocalEngine, deployed_demo_server: tuple[EC2Client, str]
) -> None:
    # GIVEN a deployed state machine (the emulator's) and a command run with no terminal
    _, instance = deployed_demo_server

    # WHEN restore runs without --yes
    outcome = cli("--region", engine.region, "restore", "--instance-id", instance)

    # THEN Step Functions holds no execution at all
    assert outcome.exit_code == 2
    assert "--yes" in outcome.stderr
    sfn = boto3.client("stepfunctions", region_name=engine.region)
    assert sfn.list_executions(stateMachineArn=engine.state_machine_arn)["executions"] == []


def _planned_volumes(cli: Any) -> list[dict[str, Any]]:
    """Device, snapshot and replaced volume of a restore of the latest complete set."""
    volumes: list[dict[str, Any]] = cli("--local", "plan").json["Report"]["Volumes"]
    return volumes


@pytest.mark.parametrize("delete", [False, True], ids=["keep", "delete"])
def test_confirmation_shows_the_set_its_age_the_skipped_sets_and_each_volume_replaced(
    cli: Any, archive: Path, monkeypatch: pytest.MonkeyPatch, delete: bool
) -> None:
    # GIVEN a terminal, and the demo server whose newest set is incomplete
    volumes = _planned_volumes(cli)
    monkeypatch.setattr(cli_app, "_interactive", lambda: True)
    flags = ["--delete-replaced-volumes"] if delete else []

    # WHEN the operator answers no
    outcome = cli("--local", "restore", *flags, stdin="n\n")

    # THEN the question said what would be lost, and nothing ran
    question = outcome.stderr
    assert outcome.exit_code == 2
    assert "i-99b1196fe104baa77 (web01) is running: it will be STOPPED" in question
    assert f"Snapshot set  {LATEST_COMPLETE_SET}" in question
    assert "1 d 0 h ago" in question
    assert "LOST" in question
    assert f"Skipped       {INCOMPLETE_SET}" in question
    assert "because xvdg (snap-" in question
    assert "is not AppConsistent" in question
    for volume in volumes:
        row = f"{volume['Device']:<11}{volume['SnapshotId']:<24}{volume['ReplacedVolumeId']}"
        assert row in question
    assert ("DELETED once the restore succeeds" in question) is delete
    assert ("kept, detached and tagged" in question) is not delete
    assert all(len(line) <= 80 for line in question.splitlines())
    assert "nothing was changed" in question
    assert len(list(archive.iterdir())) == 1  # the plan above; the restore kept nothing


def test_restore_runs_the_set_shown_when_a_newer_set_completes_during_the_question(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a terminal where, while the question is read, a newer complete set appears
    monkeypatch.setattr(cli_app, "_interactive", lambda: True)
    newer_set = "7f7f7f7f-0000-4000-8000-000000000001"
    latest_after_question: list[str] = []

    def answer_yes_after_a_new_set(question: str, typed: str | None = None) -> bool:
        assert LATEST_COMPLETE_SET in question
        ec2 = boto3.client("ec2", region_name="us-east-1")  # the command's emulator
        world.vss_snapshot_set(
            ec2, DEMO_INSTANCE, taken_at=datetime.now(UTC) - timedelta(minutes=1), set_id=newer_set
        )
        facts = instance_facts(describe_instance(ec2, DEMO_INSTANCE))
        latest_after_question.extend(
            s["SnapshotSetId"] for s in catalogue(ec2, facts) if s["Latest"]
        )
        return True

    monkeypatch.setattr(cli_app, "_confirmed", answer_yes_after_a_new_set)

    # WHEN the operator says yes
    outcome = cli("--local", "restore", "--wait")

    # THEN the set that was shown is restored, though the new one is now the latest
    assert outcome.exit_code == 0, outcome.stderr
    assert latest_after_question == [newer_set]
    assert outcome.json["SnapshotSetId"] == LATEST_COMPLETE_SET
    assert outcome.json["Report"]["SnapshotSetId"] == LATEST_COMPLETE_SET


def test_restore_refuses_a_snapshot_set_id_with_a_point_in_time(cli: Any, archive: Path) -> None:
    # GIVEN / WHEN both a set and a point in time, which contradict each other
    outcome = cli(
        "--local",
        "restore",
        "--yes",
        "--snapshot-set-id",
        LATEST_COMPLETE_SET,
        "--point-in-time",
        "2024-01-01T00:00:00+00:00",
    )

    # THEN
    assert outcome.exit_code == 2
    assert outcome.stderr.startswith("InvalidRequest")
    assert "--snapshot-set-id" in outcome.stderr
    assert outcome.stdout == ""
    assert not archive.exists() or not list(archive.iterdir())


def test_a_point_in_time_before_every_set_names_the_oldest_set(
    cli: Any, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a terminal, and a point in time before the demo server's oldest set
    monkeypatch.setattr(cli_app, "_interactive", lambda: True)
    long_ago = "2020-01-01T00:00:00+00:00"

    # WHEN a restore (asked on the terminal) and a plan (a DryRun execution) use it
    restore = cli("--local", "restore", "--point-in-time", long_ago, stdin="y\n")
    plan = cli("--local", "plan", "--point-in-time", long_ago)

    # THEN both say every set is newer and name the oldest; the restore started nothing
    assert restore.exit_code == 2
    assert restore.stderr.startswith("SnapshotSetNotFound")
    assert "was taken after that time" in restore.stderr
    assert f"the oldest is {OLDEST_SET}" in restore.stderr
    assert plan.json["Error"] == "SnapshotSetNotFound"
    assert f"the oldest is {OLDEST_SET}" in plan.json["Cause"]
    assert len(list(archive.iterdir())) == 1  # only the plan's execution


def test_a_mistyped_fault_operation_exits_2_naming_it(cli: Any) -> None:
    outcome = cli("--local", "--inject-fault", "ec2.AttachVolumes", "restore", "--yes")

    assert outcome.exit_code == 2
    assert "no operation 'AttachVolumes'" in outcome.stderr
    assert "did you mean ec2.AttachVolume?" in outcome.stderr
    assert outcome.stdout == ""


def test_a_fault_on_an_unknown_service_exits_2_naming_it(cli: Any) -> None:
    outcome = cli("--local", "--inject-fault", "ecc2.AttachVolume", "sets")

    assert outcome.exit_code == 2
    assert "no AWS service 'ecc2'" in outcome.stderr


def test_cleanup_of_an_unknown_execution_exits_2_naming_it(cli: Any, engine: LocalEngine) -> None:
    arn = f"{engine.state_machine_arn.replace(':stateMachine:', ':execution:')}:no-such-drill"

    outcome = cli("--region", engine.region, "cleanup", "--yes", "--execution-arn", arn)

    assert outcome.exit_code == 2
    assert "ExecutionDoesNotExist" in outcome.stderr
    assert arn in outcome.stderr


def test_a_malformed_instance_id_is_explained_by_example_not_by_a_pattern(cli: Any) -> None:
    outcome = cli("--local", "restore", "--yes", "--instance-id", "i-12345")

    assert outcome.exit_code == 2
    assert outcome.stderr.startswith("InvalidRequest")
    assert "'i-12345' is not a valid id" in outcome.stderr
    assert "e.g. i-0123456789abcdef0" in outcome.stderr
    assert "[0-9a-f]" not in outcome.stderr
