"""The wheel works outside the checkout: built, installed with its ``local`` extra into a clean
venv, and run from elsewhere, the ``vss-restore`` command finds everything it reads inside the
package (handlers, definitions, documents), never in the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from vss_restore.cli.archive import ARCHIVE_DIR_ENV
from vss_restore.tasks import FLEET_TASKS, TASKS

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements" / "dev.lock"
DEMO_INSTANCE = "i-99b1196fe104baa77"  # the demo server, fixed by the local id seed
# Generous: a bound on a hung process, not on how fast this machine is.
STEP_TIMEOUT = 900


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=STEP_TIMEOUT
    )
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _outside_environment(**extra: str) -> dict[str, str]:
    """This process's environment without anything that points Python at the checkout."""
    dropped = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONSAFEPATH"}
    return {**{k: v for k, v in os.environ.items() if k not in dropped}, **extra}


def _checkout_copy(target: Path) -> Path:
    """The project's files as git sees them (tracked, or new and not ignored), so a build
    writes its ``build/`` and ``*.egg-info`` there and never reads stale ones of the checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return target


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip wheel --no-deps`` of the checkout, as it is now."""
    root = tmp_path_factory.mktemp("wheel")
    source = _checkout_copy(root / "source")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--wheel-dir",
            str(root / "dist"),
            str(source),
        ],
        cwd=root,
        env=_outside_environment(),
    )
    (built,) = (root / "dist").glob("vss_restore-*.whl")
    return built


def test_wheel_holds_the_handlers_and_definitions_and_no_tests_when_built(wheel: Path) -> None:
    # GIVEN the built wheel
    names = set(zipfile.ZipFile(wheel).namelist())

    # THEN the handlers, the definitions and the documents are inside the package
    handlers = {f"vss_restore/functions/{m}.py" for m in [*TASKS.values(), *FLEET_TASKS.values()]}
    assert handlers <= names, sorted(handlers - names)
    definitions = {
        f"vss_restore/statemachines/{p.name}" for p in (REPO / "statemachines").glob("*.asl.json")
    }
    assert {"vss_restore/statemachines/restore.asl.json"} <= definitions <= names
    assert "vss_restore/documents/windows-disks.ps1" in names
    assert "vss_restore/py.typed" in names
    # ... and nothing of the checkout around it
    top_level = {name.split("/", 1)[0] for name in names}
    assert {n for n in top_level if not n.endswith(".dist-info")} == {"vss_restore"}, top_level
    assert not [n for n in names if n.startswith("tests/") or "/tests/" in n]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean venv (no system site-packages) with the wheel and its ``local`` extra at the
    lock's versions; pip is this venv's, pointed at the new one (``--python``)."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    _run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)],
        cwd=venv.parent,
        env=_outside_environment(),
    )
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "-c",
            str(LOCK),
            f"{wheel}[local]",
        ],
        cwd=venv.parent,
        env=_outside_environment(),
    )
    return venv


def test_installed_command_runs_the_demo_and_writes_its_html_report_when_outside_the_checkout(
    installed: Path, tmp_path: Path
) -> None:
    # GIVEN the installed command, run from a directory outside the checkout, without PYTHONPATH
    env = _outside_environment(HOME=str(tmp_path), **{ARCHIVE_DIR_ENV: str(tmp_path / "local")})
    command = str(installed / "bin" / "vss-restore")
    where = _run(
        [
            str(installed / "bin" / "python"),
            "-c",
            "import vss_restore; print(vss_restore.__file__)",
        ],
        cwd=tmp_path,
        env=env,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stdout

    # WHEN it runs the local demo (a restore on the embedded emulator) with its HTML report
    demo = _run(
        [command, "--local", "--output", "json", "demo", "--html", "demo.html"], tmp_path, env
    )
    outcome: dict[str, Any] = json.loads(demo.stdout)

    # THEN the demo restore succeeded and printed its report
    assert outcome["Status"] == "SUCCEEDED", outcome
    assert outcome["InstanceId"] == DEMO_INSTANCE
    new_volumes = [v["NewVolumeId"] for v in outcome["Report"]["Volumes"]]
    assert new_volumes, outcome["Report"]
    # ... and the page holds that report
    html = (tmp_path / "demo.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert f"SUCCEEDED: {DEMO_INSTANCE}" in html
    assert outcome["SnapshotSetId"] in html
    for volume in new_volumes:
        assert volume in html, volume
