"""What is uploaded to Lambda: the handlers and the domain modules they import (an allow-list,
computed), and an arm64 dependency layer."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import distribution
from pathlib import Path

import pytest
from stacks.parts.bundle import (
    HANDLERS,
    LAYER_DIR,
    PACKAGE,
    RUNTIME_DATA,
    asset_path,
    build_code_asset,
    data_file,
    handler_modules,
    imported_modules,
    package_dirs,
)

from vss_restore.tasks import FLEET_TASKS, TASKS

REPO = Path(__file__).resolve().parents[2]
LAYER_REQUIREMENTS = REPO / "stacks" / "lambda-requirements.txt"
# What the Lambda Python runtime brings (the layer must not shadow them).
RUNTIME_PROVIDED = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
)


@pytest.fixture(scope="module")
def asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_code_asset(tmp_path_factory.mktemp("asset") / "code")


@pytest.fixture(scope="module")
def shipped() -> dict[str, Path]:
    """Module → source file of everything the asset ships (the computed allow-list)."""
    return imported_modules(handler_modules(), package_dirs(REPO / "pyproject.toml"))


# --- the computation, on a tiny fake package -----------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))


@pytest.fixture
def fake(tmp_path: Path) -> dict[str, Path]:
    """``pkg`` in ``src/pkg`` with its handlers in ``handlers/`` (``pkg.functions``), as the
    project maps ``functions/``; a domain module, a CLI, and modules only some of them use."""
    _write(
        tmp_path,
        {
            "handlers/__init__.py": "",
            "handlers/task.py": "from pkg import domain\nfrom pkg.models import Thing\n",
            "src/pkg/__init__.py": "",
            "src/pkg/domain.py": """\
                from typing import TYPE_CHECKING
                import pkg.sub.helper
                from .models import Thing

                if TYPE_CHECKING:
                    from pkg.typing_only import Hint
                else:
                    from pkg import at_run_time

                def later() -> None:
                    from pkg import lazy
                """,
            "src/pkg/models.py": "class Thing: ...\n",
            "src/pkg/sub/__init__.py": "",
            "src/pkg/sub/helper.py": "from .. import shared\n",
            "src/pkg/shared.py": "",
            "src/pkg/typing_only.py": "class Hint: ...\n",
            "src/pkg/at_run_time.py": "",
            "src/pkg/lazy.py": "",
            "src/pkg/cli/__init__.py": "from pkg import domain\nfrom pkg.cli import new_command\n",
            "src/pkg/cli/new_command.py": "import rich\n",
        },
    )
    return {"pkg": tmp_path / "src" / "pkg", "pkg.functions": tmp_path / "handlers"}


def test_imported_modules_follows_runtime_imports_when_handlers_import_domain_code(
    fake: dict[str, Path],
) -> None:
    # GIVEN a handler importing a domain module that imports more, absolutely and relatively

    # WHEN the modules it needs are computed
    needed = imported_modules(["pkg.functions.task"], fake, package="pkg")

    # THEN each imported module ships with the packages on the way, from its own directory
    assert set(needed) == {
        "pkg",
        "pkg.functions",
        "pkg.functions.task",
        "pkg.domain",
        "pkg.models",
        "pkg.sub",
        "pkg.sub.helper",
        "pkg.shared",
        "pkg.at_run_time",
        "pkg.lazy",
    }
    assert needed["pkg.functions"] == fake["pkg.functions"] / "__init__.py"
    assert needed["pkg.sub"] == fake["pkg"] / "sub" / "__init__.py"


def test_imported_modules_leaves_out_a_module_added_only_to_the_cli_when_computed(
    fake: dict[str, Path],
) -> None:
    # GIVEN a new module that only the CLI imports, and one imported only for type checking

    # WHEN the handler's modules are computed
    needed = imported_modules(["pkg.functions.task"], fake, package="pkg")

    # THEN neither ships, nor the CLI, nor anything outside the package (rich)
    assert not {"pkg.cli", "pkg.cli.new_command", "pkg.typing_only", "rich"} & set(needed)


def test_package_dirs_map_functions_into_the_package_when_read_from_pyproject() -> None:
    dirs = package_dirs(REPO / "pyproject.toml")

    assert dirs[PACKAGE] == REPO / "src" / PACKAGE
    assert dirs[HANDLERS] == REPO / "functions"


def test_data_file_is_found_through_the_package_dirs_when_a_package_lives_elsewhere() -> None:
    dirs = package_dirs(REPO / "pyproject.toml")

    assert data_file(Path("vss_restore/documents/windows-disks.ps1"), dirs) == (
        REPO / "src" / "vss_restore" / "documents" / "windows-disks.ps1"
    )
    assert data_file(Path("vss_restore/statemachines/restore.asl.json"), dirs) == (
        REPO / "statemachines" / "restore.asl.json"
    )
    with pytest.raises(FileNotFoundError, match="no such file"):
        data_file(Path("vss_restore/documents/missing.ps1"), dirs)


def test_asset_path_is_the_dotted_name_when_a_module_or_a_package() -> None:
    assert asset_path("a.functions.x", Path("functions/x.py")) == Path("a/functions/x.py")
    assert asset_path("a.functions", Path("functions/__init__.py")) == Path(
        "a/functions/__init__.py"
    )


# --- the real asset ------------------------------------------------------------------------


def test_code_asset_holds_every_handler_in_the_package_and_no_cli_local_or_demo(
    asset: Path,
) -> None:
    handlers = {p.stem for p in (asset / PACKAGE / "functions").glob("*.py")} - {"__init__"}
    assert handlers == {*TASKS.values(), *FLEET_TASKS.values()}
    assert [p.name for p in asset.iterdir()] == [PACKAGE]  # no top-level functions/
    assert (asset / PACKAGE / "discovery.py").is_file()
    for left_out in ("cli", "local", "demo.py", "statemachines", "py.typed"):
        assert not (asset / PACKAGE / left_out).exists(), left_out
    code = "".join(p.read_text() for p in asset.rglob("*.py"))
    for library in ("moto", "typer", "rich"):
        assert f"import {library}" not in code, library
        assert f"from {library}" not in code, library


def test_code_asset_holds_only_the_modules_handlers_import_and_their_data(
    asset: Path, shipped: dict[str, Path]
) -> None:
    # GIVEN the computed allow-list and the data its modules read
    expected = {asset_path(m, source) for m, source in shipped.items()} | {
        Path(PACKAGE, data) for module in shipped for data in RUNTIME_DATA.get(module, ())
    }

    # WHEN the asset's files are listed
    files = {p.relative_to(asset) for p in asset.rglob("*") if p.is_file()}

    # THEN it is exactly that: no module a handler does not import
    assert files == expected
    assert {"vss_restore.cli", "vss_restore.executions", "vss_restore.demo"}.isdisjoint(shipped)


def _reads_package_files(source: str) -> bool:
    """Does a module use importlib.resources or its own ``__file__`` (so reads files)?"""
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.update({node.module, *(f"{node.module}.{a.name}" for a in node.names)})
        elif isinstance(node, ast.Name) and node.id == "__file__":
            return True
    return any(name.startswith("importlib.resources") for name in imported)


def test_every_shipped_module_that_reads_package_files_ships_them_when_bundled(
    asset: Path, shipped: dict[str, Path]
) -> None:
    # GIVEN the shipped modules that read files of the package at run time
    readers = {m for m, source in shipped.items() if _reads_package_files(source.read_text())}

    # THEN each has its files listed in RUNTIME_DATA, and they are in the asset
    assert readers == set(RUNTIME_DATA), "list the files these modules read in RUNTIME_DATA"
    for module in readers:
        for data in RUNTIME_DATA[module]:
            assert (asset / PACKAGE / data).is_file(), data


def _pinned(requirements: Path) -> dict[str, str]:
    return {
        name.strip(): version.strip()
        for line in requirements.read_text().splitlines()
        if (text := line.split("#", 1)[0].strip())
        for name, _, version in [text.partition("==")]
    }


def _runtime_and_layer(target: Path) -> Path:
    """The host's stand-in for the Lambda runtime plus the layer: only the distributions of
    ``lambda-requirements.txt`` and those the runtime provides, linked file by file from the
    dev venv (the real layer is arm64 / Python 3.12 and cannot load here)."""
    layer = _pinned(LAYER_REQUIREMENTS)
    for name in [*layer, *RUNTIME_PROVIDED]:
        dist = distribution(name)
        if name in layer:
            assert dist.version == layer[name], f"the dev venv has {name} {dist.version}"
        for file in dist.files or []:
            installed = Path(str(dist.locate_file(file)))
            if file.parts[0] == ".." or not installed.is_file():
                continue  # console scripts outside site-packages; pyc files never written
            link = target / file
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(installed.resolve())
    return target


# Runs in `python -I -S -B`: no site-packages, no PYTHON* variables, no current directory.
_IMPORT_ALL = """
import importlib, json, sys, sysconfig
asset, deps, modules = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.path[:0] = [asset, deps]
failed = {}
for module in modules:
    try:
        importlib.import_module(module)
    except Exception as err:
        failed[module] = f"{type(err).__name__}: {err}"
try:
    from vss_restore.windows_disks import document_content
    script = len(document_content()["mainSteps"][0]["inputs"]["runCommand"])
except Exception as err:
    script = f"{type(err).__name__}: {err}"
def importable(name):
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True
stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
print(json.dumps({
    "failed": failed,
    "loaded": sorted(m for m in sys.modules if m == "vss_restore" or m.startswith("vss_restore.")),
    "elsewhere": sorted(
        f"{name}: {mod.__file__}" for name, mod in list(sys.modules.items())
        if getattr(mod, "__file__", None) and not mod.__file__.startswith((asset, deps, *stdlib))
    ),
    "document_lines": script,
    "importable": {n: importable(n) for n in ("vss_restore.cli", "vss_restore.local", "typer", "rich", "moto")},
}))
"""


def test_every_handler_imports_in_a_clean_interpreter_with_only_the_runtime_and_the_layer(
    asset: Path, shipped: dict[str, Path], tmp_path: Path
) -> None:
    # GIVEN the asset, and beside it only the layer's and the runtime's distributions
    deps = _runtime_and_layer(tmp_path / "deps")

    # WHEN a fresh interpreter without site-packages imports every handler from them
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-B",
            "-c",
            _IMPORT_ALL,
            str(asset),
            str(deps),
            *handler_modules(),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)

    # THEN every handler loads, from nothing but the asset, the stand-in and the stdlib
    assert result["failed"] == {}
    assert result["elsewhere"] == []
    # ... and what they load is exactly what ships (nothing unused, nothing missing)
    assert result["loaded"] == sorted(shipped)
    assert isinstance(result["document_lines"], int), result["document_lines"]
    # ... and the isolation is real: what the asset leaves out cannot be imported there
    assert result["importable"] == {
        "vss_restore.cli": False,
        "vss_restore.local": False,
        "typer": False,
        "rich": False,
        "moto": False,
    }


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
