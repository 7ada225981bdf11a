"""``history``: every execution of the instance, its mode, and what a rolled-back restore cost."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from vss_restore.local import LocalEngine

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


def test_history_shows_each_mode_and_the_downtime_of_a_rolled_back_restore(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a restore, a rolled-back restore, a dry run and a drill dry run of the demo server
    restored = cli("--local", "restore", "--yes").json
    rolled_back = cli("--local", "--inject-fault", "ec2.AttachVolume", "restore", "--yes").json
    planned = cli("--local", "plan").json
    drilled = cli("--local", "drill", "--dry-run").json
    assert rolled_back["RolledBack"] is True

    # WHEN history is read, as JSON and as a table 80 columns wide
    listing = cli("--local", "history").json["Restores"]
    monkeypatch.setenv("COLUMNS", "80")
    table = cli("--local", "--output", "table", "history").stdout

    # THEN each execution has its mode, and the rolled-back one the downtime it caused
    by_arn = {entry["ExecutionArn"]: entry for entry in listing}
    assert [entry["ExecutionArn"] for entry in listing] == [
        drilled["ExecutionArn"],
        planned["ExecutionArn"],
        rolled_back["ExecutionArn"],
        restored["ExecutionArn"],
    ]
    assert [(e["Mode"], e["DryRun"]) for e in listing] == [
        ("Clone", True),
        ("InPlace", True),
        ("InPlace", False),
        ("InPlace", False),
    ]
    assert by_arn[rolled_back["ExecutionArn"]]["DowntimeSeconds"] > 0
    assert by_arn[rolled_back["ExecutionArn"]]["RolledBack"] is True
    for label in ("Drill dry run", "Dry run", "Restore", "rolled back"):
        assert label.split()[0] in table
    assert "SwapFailed" in table
    for entry in listing:
        assert entry["ExecutionArn"].rsplit(":", 1)[-1] in table  # the name, whole
        assert entry["SnapshotSetId"] in table
    assert all(len(line) <= 80 for line in table.splitlines())


def test_history_finds_executions_older_than_the_newest_max_items_of_the_machine(
    cli: Any, engine: LocalEngine, deployed_demo_server: tuple[EC2Client, str]
) -> None:
    # GIVEN the instance's dry run, followed by three executions of another instance
    _, instance = deployed_demo_server
    mine = engine.run({"InstanceId": instance, "DryRun": True})
    for _ in range(3):
        engine.run({"InstanceId": "i-0123456789abcdef0", "DryRun": True})

    # WHEN history asks for one execution of the instance
    history = cli("history", "--instance-id", instance, "--max-items", "1")

    # THEN it is found beyond the machine's newest executions
    assert history.exit_code == 0, history.stderr
    assert [r["ExecutionArn"] for r in history.json["Restores"]] == [mine.execution_arn]
