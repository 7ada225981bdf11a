"""Running the ``vss-restore`` command in-process, as a user would type it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from typer.testing import CliRunner

from vss_restore import demo
from vss_restore.cli import app
from vss_restore.cli.archive import ARCHIVE_DIR_ENV
from vss_restore.cli.target import CAPABILITY_MACHINE_ENV, RECORDS_TABLE_ENV, STATE_MACHINE_ARN_ENV
from vss_restore.demo import SETS
from vss_restore.local import LocalEngine
from vss_restore.local.engine import RECORDS_TABLE_NAME

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

DEMO_INSTANCE = "i-99b1196fe104baa77"  # fixed by the local id seed
LATEST_COMPLETE_SET = SETS[1][0]
INCOMPLETE_SET = SETS[2][0]


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "local-executions"
    monkeypatch.setenv(ARCHIVE_DIR_ENV, str(directory))
    return directory


@pytest.fixture
def cli(archive: Path) -> Any:
    """``cli("--local", "sets")`` runs the command and returns its exit code and output."""
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> Outcome:
        result = runner.invoke(app, list(args), input=stdin, catch_exceptions=False)
        return Outcome(result.exit_code, result.stdout, result.stderr)

    return run


def assert_refused(outcome: Outcome, *messages: str) -> None:
    """The command ended with exit code 2 (bad usage or input), saying each of ``messages``."""
    assert outcome.exit_code == 2, outcome.stderr
    for message in messages:
        assert message in outcome.stderr


@pytest.fixture
def demo_server(aws: None) -> tuple[EC2Client, str]:
    """The demo server and its snapshot sets in an account where the stack is not deployed."""
    ec2 = boto3.client("ec2", region_name="us-east-1")
    return ec2, demo.seed(ec2, datetime.now(UTC))


@pytest.fixture
def deployed_demo_server(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> tuple[EC2Client, str]:
    """The demo server and its snapshot sets, and the emulator's state machines named as
    deployed ones are (``VSS_RESTORE_STATE_MACHINE_ARN`` and the drill's and mount's)."""
    ec2 = boto3.client("ec2", region_name=engine.region)
    name_deployed_machines(monkeypatch, engine)
    return ec2, demo.seed(ec2, datetime.now(UTC))


def name_deployed_machines(monkeypatch: pytest.MonkeyPatch, engine: LocalEngine) -> None:
    """What a deployed stack's outputs say: the restore, drill and mount machines' ARNs, and
    the table of what was created."""
    monkeypatch.setenv(STATE_MACHINE_ARN_ENV, engine.state_machine_arn)
    monkeypatch.setenv(RECORDS_TABLE_ENV, RECORDS_TABLE_NAME)
    for capability, variable in CAPABILITY_MACHINE_ENV.items():
        monkeypatch.setenv(variable, engine.machine_arn(capability))
