"""Running the ``vss-restore`` command in-process, as a user would type it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vss_restore.cli import app
from vss_restore.cli.archive import ARCHIVE_DIR_ENV
from vss_restore.demo import SETS

DEMO_INSTANCE = "i-3306bd39d925c575b"  # fixed by the local id seed
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
