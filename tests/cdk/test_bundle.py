"""What is uploaded to Lambda: the handlers and domain code, and an arm64 dependency layer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from stacks.parts.bundle import LAYER_DIR, build_code_asset

from vss_restore.tasks import TASKS

REPO = Path(__file__).resolve().parents[2]


def test_code_asset_holds_every_handler_and_no_emulator_code(tmp_path: Path) -> None:
    code = build_code_asset(tmp_path / "code")
    assert {p.stem for p in (code / "functions").glob("*.py")} >= set(TASKS.values())
    assert (code / "vss_restore" / "discovery.py").is_file()
    assert not (code / "vss_restore" / "local").exists()
    assert not (code / "vss_restore" / "demo.py").exists()
    assert "moto" not in "".join(p.read_text() for p in code.rglob("*.py"))


def test_dependency_layer_is_built_for_arm64_python312_without_shadowing_boto(
    tmp_path: Path,
) -> None:
    # make test builds the layer first (make bundle); this checks what it produced
    packages = LAYER_DIR / "python"
    assert (packages / "aws_lambda_powertools").is_dir(), "run `make bundle`"
    cores = list(
        (packages / "pydantic_core").glob("_pydantic_core.cpython-312-aarch64-linux-gnu.so")
    )
    assert cores, "pydantic-core must be the aarch64 / CPython 3.12 build"
    for provided_by_runtime in ("boto3", "botocore", "urllib3"):
        assert not (packages / provided_by_runtime).exists(), provided_by_runtime


def test_synth_needs_no_aws_credentials(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(CDK_OUTDIR=str(tmp_path / "out"), JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20")
    result = subprocess.run(
        [sys.executable, "-m", "stacks.app"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "out" / "VssRestore.template.json").is_file()
