"""What the person at the keyboard meets: where a command acts, failures they can act on,
the words of errors, help, empty answers and what scripts read."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from tests.cli.conftest import LATEST_COMPLETE_SET, Outcome, assert_refused
from vss_restore import lock
from vss_restore.cli import app, target
from vss_restore.cli import archive as local_archive
from vss_restore.cli import commands as cli_app
from vss_restore.executions import ExecutionRecord
from vss_restore.local import LocalEngine
from vss_restore.local.engine import LOCK_TABLE_NAME

LOCAL_PLACE = "the local emulator (account 123456789012, Region us-east-1; not AWS)"
INJECTED = ("--inject-fault", "ec2.AttachVolume")


def _asked_then_declined(
    cli: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch, *args: str
) -> Outcome:
    monkeypatch.setattr(cli_app, "_interactive", lambda: True)
    return cli(*args, stdin="n\n")


# --- where it acts ----------------------------------------------------------------------------


def test_restore_question_names_the_place_when_asked_on_the_emulator(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = _asked_then_declined(cli, monkeypatch, "--local", "restore")

    assert outcome.exit_code == 2
    assert "About to restore:" in outcome.stderr
    assert re.search(r"Where\s+the local emulator \(account 123456789012,", outcome.stderr)


def test_restore_question_names_account_alias_region_and_credentials_when_in_aws(
    cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    deployed_demo_server: tuple[Any, str],
) -> None:
    # GIVEN an account with an alias, and credentials from the environment
    boto3.client("iam").create_account_alias(AccountAlias="prod-payments")
    _, instance = deployed_demo_server

    # WHEN a restore asks for confirmation
    outcome = _asked_then_declined(cli, monkeypatch, "restore", "--instance-id", instance)

    # THEN the question says which account (with its alias), Region and credentials
    where = " ".join(outcome.stderr.split())
    assert (
        "Where account 123456789012 (prod-payments), Region us-east-1, credentials from "
        "environment variables" in where
    )
    assert "Not confirmed: nothing was changed." in outcome.stderr


def test_yes_logs_what_was_approved_and_where_when_it_asks_nothing(cli: Any) -> None:
    outcome = cli("--local", "restore", "--yes")

    assert outcome.exit_code == 0, outcome.stderr
    assert "Approved with --yes: restore i-99b1196fe104baa77 (web01) from snapshot set " in (
        outcome.stderr
    )
    assert LATEST_COMPLETE_SET in outcome.stderr
    assert f"in {LOCAL_PLACE}" in outcome.stderr


def test_instance_not_found_names_where_it_looked_when_given_a_name(cli: Any) -> None:
    outcome = cli("--local", "sets", "--instance-id", "web99")

    assert_refused(outcome, "InstanceNotFound: no instance is named 'web99'", LOCAL_PLACE)


def test_instance_not_found_names_the_account_when_given_an_id_in_aws(cli: Any, aws: None) -> None:
    outcome = cli("--region", "us-east-1", "sets", "--instance-id", "i-0123456789abcdef0")

    assert_refused(
        outcome,
        "InstanceNotFound: i-0123456789abcdef0 does not exist",
        "(looked in account 123456789012, Region us-east-1, credentials from environment",
    )


def test_missing_credentials_are_explained_with_the_fix_when_none_are_found(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN no credentials anywhere: not in the environment, no config files, no role
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    # WHEN a command needs AWS
    outcome = cli("--region", "us-east-1", "sets", "--instance-id", "i-0123456789abcdef0")

    # THEN it says how to get credentials, and it is a usage error (nothing was called)
    assert_refused(outcome, "no AWS credentials found", "aws sso login", "--local")
    assert "Unable to locate credentials" not in outcome.stderr


# --- words ----------------------------------------------------------------------------------


def test_a_bad_value_names_the_flag_and_starts_nothing_when_given_locally(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a world that fails the test if the emulator is started at all
    def never(*_: Any) -> Any:
        raise AssertionError("the emulator was started for a request the CLI can refuse")

    monkeypatch.setattr(target, "local_target", never)

    # WHEN requests with bad values are given
    rate = cli("--local", "restore", "--yes", "--initialization-rate", "5")
    services = cli("--local", "restore", "--yes", "--stop-service", "MSSQLSERVER")
    dry = cli("--local", "plan", "--point-in-time", "yesterday")
    mount = cli("--local", "mount", "--yes", "--expires-in-hours", "0")
    drill = cli("--local", "drill", "--dry-run", "--keep-clone")

    # THEN each names the flag, in the CLI's words, and exits 2
    assert_refused(rate, "InvalidRequest: --initialization-rate: must be from 100 to 300")
    assert_refused(services, "InvalidRequest: --stop-service: applies only with --online")
    assert_refused(dry, "InvalidRequest: --point-in-time:")
    assert_refused(mount, "InvalidRequest: --expires-in-hours: must be from 1 to 720")
    assert_refused(drill, "InvalidRequest: --keep-clone:")
    assert "InitializationRate" not in rate.stderr


def test_fleet_rules_name_the_flags_when_the_request_is_refused(cli: Any) -> None:
    outcome = cli(
        "--local", "fleet-restore", "--yes", "--tag", "Fleet=demo", "--instance-id", "web01"
    )

    assert_refused(outcome, "InvalidRequest: give exactly one of --instance-id and --tag")


# --- failures -------------------------------------------------------------------------------


def test_a_rolled_back_restore_prints_one_block_within_80_columns_when_shown_as_tables(
    cli: Any,
) -> None:
    outcome = cli("--local", *INJECTED, "--output", "table", "restore", "--yes", "--wait")

    assert outcome.exit_code == 1
    block = outcome.stdout[outcome.stdout.index("FAILED: SwapFailed") :]
    assert block.startswith("FAILED: SwapFailed at AttachRestoredVolumes")
    assert "Volumes now" in block
    assert "Undone        Instance running, as before the restore." in block
    assert re.search(r"vss-restore --local report i-99b1196fe104baa77-[0-9a-f]{12}", block)
    assert all(len(line) <= 80 for line in block.splitlines()), block
    assert "Planned volumes" not in outcome.stdout  # the block says where each volume is
    assert "What happened" not in outcome.stderr  # printed once
    # every restored volume appears whole with its fate, beside the original on its device
    assert len(re.findall(r"vol-[0-9a-f]{17} +vol-[0-9a-f]{17} deleted", block)) == 4


def test_progress_says_rolling_back_when_the_rollback_begins(cli: Any) -> None:
    outcome = cli("--local", *INJECTED, "restore", "--yes", "--wait")

    lines = outcome.stderr.splitlines()
    rolling = next(i for i, line in enumerate(lines) if "ROLLING BACK" in line)
    caught = next(i for i, line in enumerate(lines) if "↪ AttachRestoredVolumes" in line)
    assert (
        caught
        < rolling
        < next(i for i, line in enumerate(lines) if "ReattachOriginalVolumes" in line)
    )


def test_status_and_report_take_the_instance_for_its_newest_execution(cli: Any) -> None:
    # GIVEN two executions of the demo server, the newest a failure
    cli("--local", "restore", "--yes")
    failed = cli("--local", *INJECTED, "restore", "--yes").json

    # WHEN status and report are asked for by the instance's Name
    status = cli("--local", "status", "--instance-id", "web01")
    report = cli("--local", "report", "--instance-id", "web01")
    both = cli("--local", "status", failed["Name"], "--instance-id", "web01")

    # THEN both read the newest, and exit as a failure does; both ways at once is refused
    assert status.json["ExecutionArn"] == report.json["ExecutionArn"] == failed["ExecutionArn"]
    assert (status.exit_code, report.exit_code) == (1, 1)
    assert_refused(both, "not both")


def test_started_line_names_the_execution_to_use_later(cli: Any) -> None:
    outcome = cli("--local", "restore", "--yes")

    name = outcome.json["Name"]
    assert f"Started {name}  (later: vss-restore --local status {name})" in outcome.stderr


def test_report_markdown_summarises_a_failure_for_an_incident_channel(cli: Any) -> None:
    failed = cli("--local", *INJECTED, "restore", "--yes").json

    outcome = cli("--local", "report", failed["Name"], "--format", "markdown")

    lines = outcome.stdout.splitlines()
    assert outcome.exit_code == 1
    assert lines[0] == (
        "**Restore FAILED: SwapFailed at AttachRestoredVolumes** · `i-99b1196fe104baa77` "
        "(web01) · account `123456789012` · us-east-1"
    )
    assert any(line.startswith("- Undone: ") and "Lock released." in line for line in lines)
    assert lines[-1] == f"- Execution `{failed['Name']}`"
    assert outcome.stderr == ""  # the summary is the whole answer


def test_report_groups_states_by_phase_and_lists_them_all_on_request(cli: Any) -> None:
    name = cli("--local", "restore", "--yes").json["Name"]

    phases = cli("--local", "--output", "table", "report", name)
    every = cli("--local", "--output", "table", "report", name, "--states")

    for phase in ("Checks", "Volumes and stop", "Swap", "Start and checks", "Finish"):
        assert phase in phases.stdout
    assert "DetachOriginalVolumesWarmUp" not in phases.stdout
    assert "DetachOriginalVolumesWarmUp" in every.stdout


# --- after a failure: inspect and unlock ----------------------------------------------------


@pytest.fixture
def locked_by_ended(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, deployed_demo_server: tuple[Any, str]
) -> tuple[str, str]:
    """The demo server, locked by a dry run that has ended: (instance, execution ARN)."""
    _, instance = deployed_demo_server
    monkeypatch.setenv(target.LOCK_TABLE_ENV, LOCK_TABLE_NAME)
    ended = engine.run({"InstanceId": instance, "DryRun": True}).execution_arn
    ddb = boto3.client("dynamodb")
    lock.acquire(ddb, LOCK_TABLE_NAME, instance, ended, datetime.now(UTC), timedelta(hours=1))
    return instance, ended


def _lock_owner(instance: str) -> str | None:
    item = boto3.client("dynamodb").get_item(
        TableName=LOCK_TABLE_NAME, Key={"InstanceId": {"S": instance}}
    )
    return item.get("Item", {}).get("Owner", {}).get("S")


def test_unlock_refuses_when_another_execution_holds_the_lock(
    cli: Any, locked_by_ended: tuple[str, str]
) -> None:
    instance, holder = locked_by_ended

    outcome = cli(
        "unlock", "--instance-id", instance, "--execution", f"{instance}-000000000000", "--yes"
    )

    assert_refused(outcome, f"held by {holder}", "nothing was released")
    assert _lock_owner(instance) == holder


def test_unlock_refuses_while_the_holder_is_running(
    cli: Any, locked_by_ended: tuple[str, str], engine: LocalEngine
) -> None:
    # GIVEN the lock held by an execution Step Functions shows as running (a day's Wait,
    # at real speed: the emulator otherwise scales waits to nothing; the stop ends it)
    instance, _ = locked_by_ended
    engine.clock.time_scale = 1.0
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="waits",
        definition='{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 86400, "End": true}}}',
        roleArn="arn:aws:iam::123456789012:role/r",
    )["stateMachineArn"]
    running = sfn.start_execution(stateMachineArn=machine, name="running-one")["executionArn"]
    ddb = boto3.client("dynamodb")
    ddb.update_item(
        TableName=LOCK_TABLE_NAME,
        Key={"InstanceId": {"S": instance}},
        UpdateExpression="SET #o = :o",
        ExpressionAttributeNames={"#o": "Owner"},
        ExpressionAttributeValues={":o": {"S": running}},
    )

    # WHEN unlock is asked without naming the execution
    outcome = cli("unlock", "--instance-id", instance, "--yes")

    # THEN it refuses, and the running execution keeps its lock
    assert_refused(outcome, "running-one is still RUNNING", "nothing was released")
    assert _lock_owner(instance) == running
    sfn.stop_execution(executionArn=running)


def test_inspect_shows_the_lock_holder_and_each_device_when_locked(
    cli: Any, locked_by_ended: tuple[str, str]
) -> None:
    instance, holder = locked_by_ended

    outcome = cli("--output", "table", "inspect", "--instance-id", instance)

    text = " ".join(outcome.stdout.split())
    assert outcome.exit_code == 0, outcome.stderr
    assert f"{instance} (web01): RUNNING" in text
    assert f"held by {holder.rsplit(':', 1)[-1]} (SUCCEEDED)" in text
    assert text.count("not created by vss-restore") == 4
    assert f"vss-restore unlock --instance-id {instance}" in text


# --- help -----------------------------------------------------------------------------------


def _help(*command: str) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    "command",
    [(), *[(name,) for name in ("restore", "history", "fleet-restore", "report", "unlock")]],
)
def test_help_names_what_each_option_takes_in_words_when_asked(command: tuple[str, ...]) -> None:
    shown = _help(*command)

    assert not re.search(r"<(bool|str|int|float|list|path)", shown), shown
    assert "x>=" not in shown
    assert "--inject-fault" not in shown  # for the emulator only: docs/local.md


def test_help_shows_fleet_restore_options_whole_and_commands_grouped_at_80_columns() -> None:
    fleet = _help("fleet-restore")
    overview = _help()

    assert "--tolerate-failures " in fleet
    assert "…" not in fleet
    for panel in ("Restore", "Follow and report", "Drills and mounts", "After a failure"):
        assert f"─ {panel} ─" in overview
    assert "Examples:" in _help("restore")


# --- empty or misleading answers ------------------------------------------------------------


def test_history_says_there_are_no_executions_rather_than_an_empty_table(cli: Any) -> None:
    outcome = cli("--local", "--output", "table", "history")

    assert outcome.exit_code == 0
    assert outcome.stdout.startswith("No executions of i-99b1196fe104baa77 yet")


def test_a_dry_run_shows_no_rto_or_downtime(cli: Any) -> None:
    outcome = cli("--local", "--output", "table", "plan")

    assert outcome.exit_code == 0
    assert "Dry run" in outcome.stdout
    assert "RTO" not in outcome.stdout
    assert "Downtime" not in outcome.stdout


def test_cleanup_with_nothing_expired_says_so_without_asking(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = _asked_then_declined(cli, monkeypatch, "--local", "--output", "table", "cleanup")

    assert outcome.exit_code == 0
    assert "Nothing to clean up" in outcome.stdout
    assert "[y/N]" not in outcome.stderr


# --- scripts --------------------------------------------------------------------------------


def test_events_jsonl_streams_each_state_and_the_rollback_with_times(cli: Any) -> None:
    outcome = cli("--local", "--events", "jsonl", *INJECTED, "restore", "--yes", "--wait")

    events = [json.loads(line) for line in outcome.stdout.splitlines()]
    kinds = [e["Event"] for e in events]
    assert kinds[0] == "Started"
    assert kinds[-1] == "Finished"
    assert events[-1]["Status"] == "FAILED"
    assert "RollingBack" in kinds
    assert kinds.index("RollingBack") < kinds.index("Finished")
    exited = [e for e in events if e["Event"] == "StateExited"]
    assert exited[0]["State"] == "ValidateRequest"
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00", e["Time"]) for e in events)
    assert outcome.exit_code == 1


def test_history_json_has_the_name_status_takes(cli: Any) -> None:
    cli("--local", "restore", "--yes")

    (entry,) = cli("--local", "history").json["Restores"]
    status = cli("--local", "status", entry["Name"])

    assert status.json["ExecutionArn"] == entry["ExecutionArn"]


def test_aws_default_output_is_honoured_when_no_output_is_given(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_OUTPUT", "text")

    outcome = cli("--local", "sets")

    assert outcome.stdout.splitlines()[0] == "i-99b1196fe104baa77"
    assert "\t" in outcome.stdout


def _record(name: str) -> ExecutionRecord:
    return ExecutionRecord(
        arn=f"arn:aws:states:us-east-1:123456789012:execution:vss-restore:{name}",
        name=name,
        status="SUCCEEDED",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        stopped_at=datetime(2026, 1, 1, 0, 1, tzinfo=UTC),
        input={"InstanceId": "i-0123456789abcdef0"},
        output=None,
        error=None,
        cause=None,
        history=[],
    )


def test_local_executions_are_pruned_to_the_newest_when_more_are_kept(
    archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an archive that keeps 3 and already holds 3, saved a minute apart
    monkeypatch.setattr(local_archive, "KEEP", 3)
    kept = local_archive.LocalArchive(archive)
    for minute in range(3):
        kept.save(_record(f"i-0123456789abcdef0-old{minute}"))
        old = archive / f"i-0123456789abcdef0-old{minute}.json"
        os.utime(old, ns=(minute * 60 * 10**9, minute * 60 * 10**9))

    # WHEN one more is saved
    kept.save(_record("i-0123456789abcdef0-new"))

    # THEN the oldest went and the newest stayed
    names = sorted(p.stem for p in archive.glob("*.json"))
    assert names == [
        "i-0123456789abcdef0-new",
        "i-0123456789abcdef0-old1",
        "i-0123456789abcdef0-old2",
    ]


def test_report_says_who_started_it_when_it_ran_on_this_machine(cli: Any) -> None:
    name = cli("--local", "restore", "--yes").json["Name"]

    outcome = cli("--local", "--output", "table", "report", name)

    assert "Started by    you, on this machine (the local emulator)" in outcome.stdout


def test_report_says_who_started_it_from_cloudtrail_when_in_aws(
    cli: Any, engine: LocalEngine, deployed_demo_server: tuple[Any, str]
) -> None:
    # GIVEN a restore started in the account (CloudTrail records the caller)
    _, instance = deployed_demo_server
    name = cli("restore", "--instance-id", instance, "--yes").json["ExecutionArn"]

    # WHEN its report is read
    outcome = cli("report", name)

    # THEN it names the identity that called StartExecution
    assert outcome.json["StartedBy"] == "arn:aws:sts::123456789012:user/moto"


def test_colours_mark_what_is_lost_and_never_split_an_arn_when_on_a_colour_terminal(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a terminal that shows colours
    monkeypatch.setenv("FORCE_COLOR", "1")
    name = cli("--local", "--output", "json", "restore", "--yes").json["Name"]

    # WHEN the status is shown and a restore asks its question
    status = cli("--local", "--output", "table", "status", name)
    asked = _asked_then_declined(cli, monkeypatch, "--local", "restore")

    # THEN the ARN is one run of plain text, and STOPPED and LOST stand out
    arn = f"arn:aws:states:us-east-1:123456789012:execution:vss-restore:{name}"
    assert arn in status.stdout
    assert "\x1b[" in status.stdout  # colours are on: the outcome is styled
    assert re.search(r"\x1b\[[0-9;]*m(STOPPED)\x1b\[0m", asked.stderr)
    assert re.search(r"\x1b\[[0-9;]*m(LOST)\x1b\[0m", asked.stderr)


def test_cleanup_with_yes_logs_what_it_was_allowed_and_where(cli: Any) -> None:
    outcome = cli("--local", "cleanup", "--yes")

    assert outcome.exit_code == 0, outcome.stderr
    assert "Approved with --yes: cleanup of drill and mount resources: every expired one" in (
        outcome.stderr
    )
    assert f"in {LOCAL_PLACE}" in outcome.stderr
