"""The Lambda code asset: ``functions/`` plus the domain package, without the local emulator.

Built by copying files (no Docker, no network). The third-party libraries the tasks need
are a separate layer that ``make bundle`` installs for arm64 from ``lambda-requirements.txt``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build" / "lambda"
CODE_DIR = BUILD / "code"
LAYER_DIR = BUILD / "layer"
# Local-only modules: the emulator engine and the demo never run in Lambda.
_EXCLUDED = ("local", "demo.py", "py.typed")


def build_code_asset(out_dir: Path = CODE_DIR) -> Path:
    """Copy the handlers and the domain package into ``out_dir`` (replaced each time)."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.copytree(
        REPO / "functions", out_dir / "functions", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(
        REPO / "src" / "vss_restore",
        out_dir / "vss_restore",
        ignore=shutil.ignore_patterns("__pycache__", *_EXCLUDED),
    )
    return out_dir


def require_layer(layer_dir: Path = LAYER_DIR) -> Path:
    """The dependency layer built by ``make bundle``; a clear error if it is missing."""
    if not (layer_dir / "python" / "pydantic").is_dir():
        raise FileNotFoundError(f"{layer_dir} has no dependencies: run `make bundle` first")
    return layer_dir


@dataclass(frozen=True)
class LambdaAssets:
    """Where the task code and the dependency layer are, ready for ``Code.from_asset``."""

    code_dir: Path
    layer_dir: Path

    @classmethod
    def build(cls) -> LambdaAssets:
        return cls(code_dir=build_code_asset(), layer_dir=require_layer())
