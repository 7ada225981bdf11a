"""``vss-restore restore --online``: the data volumes of the running server, never a stop."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli.conftest import DEMO_INSTANCE, Outcome, assert_refused
from vss_restore.cli import commands as cli_app


def test_restore_online_swaps_the_data_volumes_and_keeps_the_instance_running(cli: Any) -> None:
    # GIVEN the local demo server; WHEN it is restored online, stopping SQL Server meanwhile
    outcome: Outcome = cli(
        "--local", "restore", "--online", "--stop-service", "MSSQLSERVER", "--wait", "--yes"
    )

    # THEN only its data devices were restored, it never stopped, SQL Server runs again
    assert outcome.exit_code == 0, outcome.stderr
    restored = outcome.json
    assert (restored["Status"], restored["Mode"]) == ("SUCCEEDED", "Online")
    report = restored["Report"]
    assert [v["Device"] for v in report["Volumes"]] == ["xvdf", "xvdg", "xvdh"]
    assert (report["PowerState"], report["DowntimeSeconds"]) == ("running", None)
    assert report["ApplicationDowntimeSeconds"] is not None
    assert [c["Step"] for c in report["DiskCommands"]] == ["TakeDisksOffline", "BringDisksOnline"]
    assert "MSSQLSERVER" in report["DiskCommands"][0]["OutputExcerpt"]


def test_history_shows_an_online_restore_as_mode_online(cli: Any) -> None:
    # GIVEN an online restore of the demo server
    assert cli("--local", "restore", "--online", "--wait", "--yes").exit_code == 0

    # WHEN its history is read
    history = cli("--local", "history").json

    # THEN the execution is listed as Mode "Online"
    assert [e["Mode"] for e in history["Restores"]][:1] == ["Online"]
    table = cli("--local", "--output", "table", "history")
    assert "Online" in table.stdout


def test_online_confirmation_says_the_instance_stays_running_and_which_disks_and_services(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a terminal to ask on
    monkeypatch.setattr(cli_app, "_interactive", lambda: True)

    # WHEN an online restore of two devices is asked for, and the answer is no
    outcome = cli(
        "--local",
        "restore",
        "--online",
        "--devices",
        "xvdf,xvdg",
        "--stop-service",
        "MSSQLSERVER",
        "--stop-service",
        "SQLSERVERAGENT",
        stdin="n\n",
    )

    # THEN the question says it stays running, which disks go offline, which services stop
    assert_refused(outcome, "Not confirmed: nothing was changed.")
    question = " ".join(outcome.stderr.split())
    assert f"{DEMO_INSTANCE} (" in question
    assert "stays RUNNING: it is not stopped" in question
    assert "the Windows disks of xvdf, xvdg go OFFLINE" in question
    assert "MSSQLSERVER, SQLSERVERAGENT stopped before the disks go offline" in question
    assert "/dev/sda1" not in question.split("Not touched", 1)[0].split("Replaces volume", 1)[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--devices", "/dev/sda1"], "--devices"),
        (["--no-power-on"], "--no-power-on: an online restore never stops the instance"),
    ],
    ids=["root-device", "no-power-on"],
)
def test_restore_online_refuses_what_it_cannot_do_and_starts_nothing(
    cli: Any, args: list[str], message: str
) -> None:
    # WHEN an online restore asks for the root device, a power option or an AWS document
    outcome = cli("--local", "restore", "--online", *args, "--wait", "--yes")

    # THEN it is refused as bad input, naming what is wrong; no execution was started
    assert_refused(outcome, message)
    assert "Started" not in outcome.stderr


def test_restore_online_with_an_unvetted_document_is_refused_by_the_workflow_changing_nothing(
    cli: Any,
) -> None:
    # WHEN an online restore names AWS's PowerShell document (the deployment's list decides,
    # so the workflow's ValidateRequest refuses it, not the command line)
    outcome = cli(
        "--local",
        "restore",
        "--online",
        "--validation-document",
        "AWS-RunPowerShellScript",
        "--wait",
        "--yes",
    )

    # THEN it ends as bad input naming the field and the names that run; nothing changed
    assert_refused(outcome, "InvalidRequest at ValidateRequest", "vss-restore-validation-*")
    assert "ValidationDocument" in outcome.stderr
    assert "Nothing on the instance had been changed" in " ".join(outcome.stderr.split())


def test_stop_service_without_online_is_refused(cli: Any) -> None:
    outcome = cli("--local", "restore", "--stop-service", "MSSQLSERVER", "--yes")

    assert_refused(outcome, "--stop-service", "--online")
