"""Global options as the AWS CLI has them: anywhere on the line, --version, --debug, --query,
--output text, shell completion; and --instance-id by Name tag."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import typer

from tests.cli.conftest import DEMO_INSTANCE, INCOMPLETE_SET, LATEST_COMPLETE_SET
from vss_restore.cli import app
from vss_restore.cli.global_options import hoist_global_options
from vss_restore.cli.structured import as_text
from vss_restore.demo import SETS
from vss_restore.local import LocalEngine
from vss_restore.local.world import windows_instance

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

COMMAND = Path(sys.executable).parent / "vss-restore"
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("typed", "parsed"),
    [
        (["sets", "--local"], ["--local", "sets"]),
        (
            ["sets", "--instance-id", "web01", "--region", "eu-west-1", "--output=text"],
            ["--region", "eu-west-1", "--output=text", "sets", "--instance-id", "web01"],
        ),
        (
            ["--profile", "ops", "status", "restore-1", "--query", "Status"],
            ["--profile", "ops", "--query", "Status", "status", "restore-1"],
        ),
        (["report", "--", "--local"], ["report", "--", "--local"]),
        (["--local", "--output", "json"], ["--local", "--output", "json"]),
    ],
)
def test_hoist_global_options_puts_them_before_the_subcommand_when_typed_after_it(
    typed: list[str], parsed: list[str]
) -> None:
    group = typer.main.get_command(app)

    assert hoist_global_options(typed, group.params) == parsed


def test_sets_runs_on_the_emulator_when_local_follows_the_subcommand(cli: Any) -> None:
    outcome = cli("sets", "--local")

    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.json["InstanceId"] == DEMO_INSTANCE


def test_version_prints_the_installed_version_when_asked_before_or_after_a_command(
    cli: Any,
) -> None:
    before = cli("--version")
    after = cli("sets", "--version")

    assert before.exit_code == after.exit_code == 0
    assert before.stdout == after.stdout == f"vss-restore {version('vss-restore')}\n"


def test_debug_logs_each_aws_request_to_stderr_and_keeps_stdout_json(
    cli: Any, demo_server: tuple[EC2Client, str]
) -> None:
    _, instance = demo_server
    handlers = list(logging.getLogger("botocore").handlers)

    outcome = cli("sets", "--instance-id", instance, "--debug")

    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.json["InstanceId"] == instance
    assert "botocore" in outcome.stderr
    assert "DescribeInstances" in outcome.stderr
    assert "DescribeSnapshots" in outcome.stderr
    assert logging.getLogger("botocore").handlers == handlers  # nothing left behind


def test_debug_is_silent_when_not_given(cli: Any, demo_server: tuple[EC2Client, str]) -> None:
    _, instance = demo_server

    outcome = cli("sets", "--instance-id", instance)

    assert outcome.exit_code == 0
    assert "DescribeInstances" not in outcome.stderr


def test_query_prints_the_selected_json_value_when_query_is_given(
    cli: Any, engine: LocalEngine, deployed_demo_server: tuple[EC2Client, str]
) -> None:
    _, instance = deployed_demo_server
    finished = engine.run({"InstanceId": instance, "DryRun": True})

    outcome = cli("status", finished.execution_arn, "--query", "Status")

    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout == '"SUCCEEDED"\n'


def test_output_text_prints_tab_separated_values_when_asked(
    cli: Any, demo_server: tuple[EC2Client, str]
) -> None:
    _, instance = demo_server

    ids = cli(
        "sets", "--instance-id", instance, "--output", "text", "--query", "Sets[].SnapshotSetId"
    )
    latest = cli("--output", "text", "sets", "--instance-id", instance, "--query", "Sets[?Latest]")

    assert ids.exit_code == latest.exit_code == 0
    assert ids.stdout == "\t".join(s for s, _, _ in reversed(SETS)) + "\n"
    first, *nested = latest.stdout.splitlines()
    complete, _, grouped_by, latest_mark, set_id = first.split("\t")  # keys in sorted order
    assert (complete, grouped_by, latest_mark, set_id) == (
        "True",
        "AwsVssConfig",
        "True",
        LATEST_COMPLETE_SET,
    )
    assert "DEVICES\t/dev/sda1" in nested


def test_as_text_lays_out_json_as_the_aws_cli_text_output_does() -> None:
    document = {
        "Name": "r1",
        "Status": "SUCCEEDED",
        "Volumes": [{"Device": "xvdf", "Size": 200}, {"Device": "xvdg", "Iops": 8000}],
        "Tags": ["a", "b"],
        "Error": None,
    }

    assert as_text(document).splitlines() == [
        "None\tr1\tSUCCEEDED",
        "TAGS\ta",
        "TAGS\tb",
        "VOLUMES\txvdf\tNone\t200",
        "VOLUMES\txvdg\t8000\tNone",
    ]
    assert as_text([["a", "b"], ["c"]]).splitlines() == ["a\tb", "c"]
    assert as_text("SUCCEEDED") == "SUCCEEDED"


def test_query_is_bad_usage_when_it_is_not_jmespath(cli: Any) -> None:
    outcome = cli("--query", "Sets[", "sets", "--local")

    assert outcome.exit_code == 2
    assert "--query" in outcome.stderr
    assert "JMESPath" in outcome.stderr
    assert outcome.stdout == ""


def test_query_is_bad_usage_when_the_output_is_a_table(cli: Any) -> None:
    outcome = cli("--query", "Status", "--output", "table", "sets", "--local")

    assert outcome.exit_code == 2
    assert "--output json or text" in outcome.stderr


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete_bash"), ("zsh", "compdef"), ("fish", "complete --command vss-restore")],
)
def test_completion_prints_the_script_for_the_shell(cli: Any, shell: str, marker: str) -> None:
    outcome = cli("completion", shell)

    assert outcome.exit_code == 0
    assert "_VSS_RESTORE_COMPLETE" in outcome.stdout
    assert marker in outcome.stdout


def test_completion_script_is_answered_by_the_installed_command() -> None:
    # GIVEN what the bash script sends when the user types "vss-restore wa<TAB>"
    environment = {
        **os.environ,
        "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}",
        "_VSS_RESTORE_COMPLETE": "complete_bash",
        "COMP_WORDS": "vss-restore wa",
        "COMP_CWORD": "1",
    }

    # WHEN the command is run as the shell runs it
    answered = subprocess.run(
        [str(COMMAND)], env=environment, capture_output=True, text=True, timeout=120, check=False
    )

    # THEN it completes the subcommand
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.split() == ["watch"]


def test_instance_id_takes_the_name_tag_when_exactly_one_instance_has_it(
    cli: Any, demo_server: tuple[EC2Client, str]
) -> None:
    _, instance = demo_server

    outcome = cli("sets", "--instance-id", "web01")

    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.json["InstanceId"] == instance
    assert outcome.json["Sets"][0]["SnapshotSetId"] == INCOMPLETE_SET


def test_instance_id_lists_the_matches_when_several_instances_have_the_name(
    cli: Any, aws: None
) -> None:
    # GIVEN three instances named db01: one running, one stopped, one terminated
    ec2 = boto3.client("ec2", region_name="us-east-1")
    first, second, gone = (windows_instance(ec2, name="db01") for _ in range(3))
    ec2.stop_instances(InstanceIds=[second])
    ec2.terminate_instances(InstanceIds=[gone])

    # WHEN an instance is given by that name
    outcome = cli("sets", "--instance-id", "db01")

    # THEN nothing is chosen, and the error lists the two live ones with state and launch time
    assert outcome.exit_code == 2
    assert "2 instances are named 'db01'" in outcome.stderr
    assert f"{first} (running, launched " in outcome.stderr
    assert f"{second} (stopped, launched " in outcome.stderr
    assert gone not in outcome.stderr


def test_instance_id_is_not_found_when_no_instance_has_the_name(cli: Any, aws: None) -> None:
    outcome = cli("sets", "--instance-id", "nosuchserver")

    assert outcome.exit_code == 2
    assert "InstanceNotFound: no instance is named 'nosuchserver'" in outcome.stderr


def test_restore_starts_on_the_named_instance_when_given_its_name_tag(
    cli: Any, engine: LocalEngine, deployed_demo_server: tuple[EC2Client, str]
) -> None:
    _, instance = deployed_demo_server

    started = cli("restore", "--instance-id", "web01", "--yes")

    assert started.exit_code == 0, started.stderr
    described = boto3.client("stepfunctions", region_name=engine.region).describe_execution(
        executionArn=started.json["ExecutionArn"]
    )
    assert '"InstanceId": "' + instance + '"' in described["input"]
    engine.wait(started.json["ExecutionArn"])
