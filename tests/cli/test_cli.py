"""Every subcommand in local mode: JSON parsed and checked, exit codes, bad input changes nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import DEMO_INSTANCE, INCOMPLETE_SET, LATEST_COMPLETE_SET, Outcome
from vss_restore.cli import commands as cli_app


def test_sets_lists_newest_first_and_says_why_a_set_is_incomplete(cli: Any) -> None:
    outcome: Outcome = cli("--local", "sets")

    assert outcome.exit_code == 0
    listing = outcome.json
    assert listing["InstanceId"] == DEMO_INSTANCE
    sets = listing["Sets"]
    created = [datetime.fromisoformat(s["CreatedAt"]) for s in sets]
    assert created == sorted(created, reverse=True)
    newest, latest_complete, oldest = sets
    assert newest["SnapshotSetId"] == INCOMPLETE_SET
    assert not newest["Complete"]
    assert any("xvdg" in r and "not AppConsistent" in r for r in newest["Reasons"])
    assert latest_complete["SnapshotSetId"] == LATEST_COMPLETE_SET
    assert latest_complete["Complete"]
    assert latest_complete["Latest"]
    assert oldest["Complete"]
    assert not oldest["Latest"]
    assert latest_complete["Devices"] == ["/dev/sda1", "xvdf", "xvdg", "xvdh"]


def test_sets_as_a_table_on_request(cli: Any) -> None:
    outcome = cli("--local", "--output", "table", "sets")

    assert outcome.exit_code == 0
    assert "incomplete" in outcome.stdout
    assert "(latest)" in outcome.stdout
    assert DEMO_INSTANCE in outcome.stdout


def test_sets_of_an_unknown_instance_is_bad_input(cli: Any) -> None:
    outcome = cli("--local", "sets", "--instance-id", "i-0123456789abcdef0")

    assert outcome.exit_code == 2
    assert "InstanceNotFound" in outcome.stderr


def test_plan_is_a_dry_run_showing_set_and_mapping(cli: Any) -> None:
    outcome = cli("--local", "plan")

    assert outcome.exit_code == 0
    plan = outcome.json
    assert plan["Status"] == "SUCCEEDED"
    assert plan["DryRun"] is True
    assert plan["SnapshotSetId"] == LATEST_COMPLETE_SET
    report = plan["Report"]
    assert report["Status"] == "DryRun"
    assert report["ReplacedVolumes"] == "untouched"
    assert [v["Device"] for v in report["Volumes"]] == ["/dev/sda1", "xvdf", "xvdg", "xvdh"]
    assert all(v["NewVolumeId"] is None for v in report["Volumes"])
    assert all(v["SnapshotId"].startswith("snap-") for v in report["Volumes"])


def test_plan_honours_point_in_time_and_devices(cli: Any) -> None:
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    outcome = cli("--local", "plan", "--point-in-time", two_days_ago, "--devices", "xvdg,xvdf")

    assert outcome.exit_code == 0
    plan = outcome.json
    assert plan["SnapshotSetId"] not in (LATEST_COMPLETE_SET, INCOMPLETE_SET)
    assert [v["Device"] for v in plan["Report"]["Volumes"]] == ["xvdf", "xvdg"]


def test_restore_wait_follows_each_state_and_prints_the_report(cli: Any, archive: Path) -> None:
    outcome = cli("--local", "restore", "--wait", "--yes")

    assert outcome.exit_code == 0, outcome.stderr
    restored = outcome.json
    assert restored["Status"] == "SUCCEEDED"
    assert restored["RolledBack"] is False
    report = restored["Report"]
    assert report["Status"] == "Succeeded"
    assert report["PowerState"] == "running"
    assert all(v["NewVolumeId"] != v["ReplacedVolumeId"] for v in report["Volumes"])
    assert restored["DowntimeSeconds"] is not None
    assert restored["RtoSeconds"] >= restored["DowntimeSeconds"]
    # each progress line: the UTC time the state ended, its mark, its name
    progress = [line.split() for line in outcome.stderr.splitlines()]
    states = [words[2] for words in progress if words[1:2] == ["✓"]]
    assert all(re.fullmatch(r"\d\d:\d\d:\d\dZ", words[0]) for words in progress if "✓" in words)
    assert states[:5] == [
        "ValidateRequest",
        "ChooseMode",
        "AcquireLock",
        "FindSnapshotSet",
        "PlanRestore",
    ]
    assert states[-1] == "Restored"
    assert len(list(archive.glob("*.json"))) == 1


def test_restore_options_reach_the_request(cli: Any) -> None:
    outcome = cli(
        "--local",
        "restore",
        "--yes",
        "--exclude-boot-volume",
        "--no-power-on",
        "--delete-replaced-volumes",
        "--snapshot-set-id",
        LATEST_COMPLETE_SET,
    )

    assert outcome.exit_code == 0, outcome.stderr
    report = outcome.json["Report"]
    assert [v["Device"] for v in report["Volumes"]] == ["xvdf", "xvdg", "xvdh"]
    assert report["PowerState"] == "stopped"
    assert report["ReplacedVolumes"] == "deleted"


def test_restore_of_an_incomplete_set_is_refused_before_anything_starts_even_with_yes(
    cli: Any,
) -> None:
    # WHEN a restore is asked, without a question, of a set EC2 shows to be incomplete
    outcome = cli("--local", "restore", "--yes", "--snapshot-set-id", INCOMPLETE_SET)

    # THEN it is refused with its named error as bad input, and no execution was started
    assert outcome.exit_code == 2
    assert outcome.stdout == ""
    assert outcome.stderr.strip().splitlines()[-1].startswith("SnapshotSetIncomplete:")
    assert cli("--local", "history").json["Restores"] == []


def test_restoring_an_unknown_instance_is_bad_input(cli: Any) -> None:
    outcome = cli("--local", "plan", "--instance-id", "i-0123456789abcdef0")

    assert outcome.exit_code == 2
    assert outcome.json["Error"] == "InstanceNotFound"
    assert outcome.json["RolledBack"] is False


def test_an_html_path_that_cannot_be_written_is_refused_before_anything_runs(
    cli: Any, archive: Path, tmp_path: Path
) -> None:
    outcome = cli("demo", "--html", str(tmp_path / "no-such-folder" / "report.html"))

    assert outcome.exit_code == 2
    assert "not a writable folder" in outcome.stderr
    assert not archive.exists() or not list(archive.iterdir())


def test_a_failed_swap_is_rolled_back_and_exits_1(cli: Any) -> None:
    outcome = cli("--local", "--inject-fault", "ec2.AttachVolume", "restore", "--yes", "--wait")

    assert outcome.exit_code == 1
    failed = outcome.json
    assert failed["Status"] == "FAILED"
    assert failed["Error"] == "SwapFailed"
    assert failed["RolledBack"] is True
    assert "Original volumes back on their devices" in failed["Cause"]
    assert "SwapFailed" in outcome.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--point-in-time", "yesterday"], "--point-in-time:"),
        (["--point-in-time", "2999-01-01T00:00:00+00:00"], "--point-in-time:"),
        (["--devices", "nope"], "--devices (value 1):"),
        (["--devices", "xvdf,xvdf"], "--devices:"),
        (["--instance-id", "i-nothex"], "--instance-id:"),
        (["--exclude-boot-volume", "--devices", "/dev/sda1"], "--devices:"),
    ],
)
def test_bad_input_exits_2_naming_the_field_and_starts_nothing(
    cli: Any, archive: Path, args: list[str], named: str
) -> None:
    outcome = cli("--local", "restore", "--yes", "--wait", *args)

    assert outcome.exit_code == 2
    assert outcome.stderr.startswith("InvalidRequest")
    assert named in outcome.stderr
    assert not archive.exists() or not list(archive.iterdir())


def test_a_device_not_attached_is_refused_before_anything_starts_with_exit_2(cli: Any) -> None:
    outcome = cli("--local", "restore", "--yes", "--devices", "xvdz")

    assert outcome.exit_code == 2
    assert outcome.stderr.startswith("InvalidRequest: ")
    assert "xvdz" in outcome.stderr
    assert cli("--local", "history").json["Restores"] == []


def test_bad_usage_exits_2(cli: Any) -> None:
    assert cli("--local", "restore", "--no-such-flag").exit_code == 2
    assert cli("--local", "--output", "yaml", "sets").exit_code == 2
    assert cli("--inject-fault", "ec2.AttachVolume", "sets").exit_code == 2
    assert cli("--local", "--inject-fault", "AttachVolume", "sets").exit_code == 2


def test_declining_the_confirmation_changes_nothing(
    cli: Any, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_app, "_interactive", lambda: True)

    outcome = cli("--local", "restore", "--wait", stdin="n\n")

    assert outcome.exit_code == 2
    assert f"Snapshot set  {LATEST_COMPLETE_SET}" in outcome.stderr  # stdout stays clean
    assert LATEST_COMPLETE_SET not in outcome.stdout  # (the test runner echoes the answer)
    assert "nothing was changed" in outcome.stderr
    assert not archive.exists() or not list(archive.iterdir())


def test_status_and_report_read_an_execution_of_an_earlier_command(cli: Any) -> None:
    restored = cli("--local", "restore", "--yes").json
    arn = restored["ExecutionArn"]

    status = cli("--local", "status", arn)
    report = cli("--local", "report", arn)

    assert status.exit_code == 0
    assert status.json == restored
    assert report.exit_code == 0
    timeline = report.json["Timeline"]
    assert timeline[0]["State"] == "ValidateRequest"
    assert timeline[-1]["State"] == "Restored"
    assert all(step["Outcome"] == "succeeded" for step in timeline)
    assert not any(step["Rollback"] for step in timeline)


def test_status_of_an_unknown_execution_is_bad_input(cli: Any) -> None:
    arn = "arn:aws:states:us-east-1:123456789012:execution:vss-restore:i-0123456789abcdef0-x"

    outcome = cli("--local", "status", arn)

    assert outcome.exit_code == 2
    assert "ExecutionDoesNotExist" in outcome.stderr


def test_history_lists_past_restores_newest_first(cli: Any) -> None:
    planned = cli("--local", "plan").json
    failed = cli("--local", "--inject-fault", "ec2.AttachVolume", "restore", "--yes").json
    restored = cli("--local", "restore", "--yes").json

    outcome = cli("--local", "history")

    assert outcome.exit_code == 0
    restores = outcome.json["Restores"]
    assert [r["ExecutionArn"] for r in restores] == [
        restored["ExecutionArn"],
        failed["ExecutionArn"],
        planned["ExecutionArn"],
    ]
    assert [r["Status"] for r in restores] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert [r["DryRun"] for r in restores] == [False, False, True]
    assert restores[0]["DowntimeSeconds"] is not None
    assert restores[1]["Error"] == "SwapFailed"
    assert all(r["DurationSeconds"] > 0 for r in restores)


def test_report_writes_a_self_contained_html_file(cli: Any, tmp_path: Path) -> None:
    arn = cli("--local", "restore", "--yes").json["ExecutionArn"]
    page = tmp_path / "report.html"

    outcome = cli("--local", "report", arn, "--html", str(page))

    assert outcome.exit_code == 0
    html = page.read_text()
    assert arn in html.replace("<wbr>", "")  # the ARN may break after a colon, never elsewhere
    assert "Restore succeeded" in html
    assert "http://" not in html
    assert "https://" not in html
    assert "<script" not in html


def test_demo_restores_the_demo_server_and_writes_html(cli: Any, tmp_path: Path) -> None:
    page = tmp_path / "demo.html"

    outcome = cli("demo", "--html", str(page))

    assert outcome.exit_code == 0
    assert outcome.json["Status"] == "SUCCEEDED"
    assert outcome.json["InstanceId"] == DEMO_INSTANCE
    assert page.is_file()


def test_aws_mode_reports_an_unreachable_aws_as_an_aws_error(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: fails fast
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.delenv("VSS_RESTORE_STATE_MACHINE_ARN", raising=False)

    outcome = cli("history", "--instance-id", DEMO_INSTANCE)

    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("AWS error")
