"""The Lambda code asset: the handlers and exactly the ``vss_restore`` modules they import.

An allow-list, computed: starting from ``vss_restore.functions.<module>`` of every task
(``TASKS``, ``FLEET_TASKS``), follow each ``import`` / ``from ... import`` of a
``vss_restore`` module, transitively, and ship those modules, the ``__init__.py`` of each
package on the way, and the data files a shipped module reads (``RUNTIME_DATA``). Imports
under ``if TYPE_CHECKING:`` never run, so they do not count. Everything else (the command
line, the emulator, the demo, a module added tomorrow for either) stays out without anyone
keeping a list. Built by copying files (no Docker, no network). The third-party libraries
the tasks need are a separate layer that ``make bundle`` installs for arm64 from
``lambda-requirements.txt``.
"""

from __future__ import annotations

import ast
import shutil
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from vss_restore.tasks import FLEET_TASKS, TASKS

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build" / "lambda"
CODE_DIR = BUILD / "code"
LAYER_DIR = BUILD / "layer"
PACKAGE = "vss_restore"
HANDLERS = f"{PACKAGE}.functions"
# Files a shipped module reads at run time (importlib.resources), relative to the package
# directory: shipped with the module. tests/cdk/test_bundle.py fails when a shipped module
# reads package files and has no line here.
RUNTIME_DATA: Mapping[str, tuple[str, ...]] = {
    # document_content(): the SSM document's script (the stack and the local engine call it)
    "vss_restore.windows_disks": ("documents/windows-disks.ps1",),
}


def handler_modules() -> list[str]:
    """``vss_restore.functions.<module>`` of every task of both machines, sorted."""
    return sorted({f"{HANDLERS}.{m}" for m in [*TASKS.values(), *FLEET_TASKS.values()]})


def handler_path(module: str) -> str:
    """The Lambda ``Handler`` setting of a task module in ``functions/``."""
    return f"{HANDLERS}.{module}.handler"


def package_dirs(pyproject: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Package name → its directory, as pyproject.toml's ``[tool.setuptools.package-dir]``
    maps them (``functions/`` is ``vss_restore.functions``), so the asset and the wheel agree."""
    table: dict[str, str] = tomllib.loads(pyproject.read_text())["tool"]["setuptools"][
        "package-dir"
    ]
    root = pyproject.parent
    dirs = {name: root / path for name, path in table.items() if name}
    dirs.setdefault(package, root / table.get("", ".") / package)
    return dirs


def _directory(name: str, dirs: Mapping[str, Path]) -> Path | None:
    """Where the dotted ``name`` lives in the checkout, through the package it belongs to."""
    owner = max((p for p in dirs if name == p or name.startswith(f"{p}.")), key=len, default="")
    return dirs[owner].joinpath(*name.removeprefix(owner).split(".")[1:]) if owner else None


def source_file(module: str, dirs: Mapping[str, Path]) -> Path | None:
    """The file that defines ``module`` (``__init__.py`` for a package), or None."""
    base = _directory(module, dirs)
    for candidate in () if base is None else (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def data_file(path: Path, dirs: Mapping[str, Path]) -> Path:
    """The checkout's file for a package file's path (``vss_restore/documents/x.ps1``)."""
    directory = _directory(".".join(path.parent.parts), dirs)
    if directory is None or not (directory / path.name).is_file():
        raise FileNotFoundError(f"{path}: no such file in the package")
    return directory / path.name


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: anywhere, except in ``if TYPE_CHECKING:``."""
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        else:
            pending.extend(ast.iter_child_nodes(node))


def _named(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[str]:
    """The dotted names an import statement may load (each, or its prefix, may be a module)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:  # relative: from the importing module's package, up level - 1
        package = module if is_package else module.rpartition(".")[0]
        anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
        base = f"{anchor}.{base}" if base else anchor
    yield base
    yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")


def _with_parents(name: str) -> Iterator[str]:
    parts = name.split(".")
    yield from (".".join(parts[:i]) for i in range(1, len(parts) + 1))


def imported_modules(
    roots: Iterable[str], dirs: Mapping[str, Path], package: str = PACKAGE
) -> dict[str, Path]:
    """``roots`` and every module of ``package`` they import at run time, transitively, with
    each package (``__init__``) on the way: module → its source file. Names that are not
    modules (a class imported from a module) and modules outside ``package`` are left out."""
    found: dict[str, Path] = {}
    pending = [*roots]
    while pending:
        name = pending.pop()
        for module in _with_parents(name):
            if module in found or not (module == package or module.startswith(f"{package}.")):
                continue
            path = source_file(module, dirs)
            if path is None:
                continue
            found[module] = path
            for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
                pending.extend(_named(node, module, is_package=path.name == "__init__.py"))
    return found


def asset_path(module: str, source: Path) -> Path:
    """Where ``module`` goes in the asset: its dotted name as a path, as Lambda imports it."""
    *packages, last = module.split(".")
    if source.name == "__init__.py":
        return Path(*packages, last, "__init__.py")
    return Path(*packages, f"{last}.py")


def build_code_asset(out_dir: Path = CODE_DIR) -> Path:
    """Write the allow-listed modules and their data into ``out_dir`` (replaced each time)."""
    dirs = package_dirs(REPO / "pyproject.toml")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    for module, source in sorted(imported_modules(handler_modules(), dirs).items()):
        data = [Path(PACKAGE, name) for name in RUNTIME_DATA.get(module, ())]
        shipped = [(source, asset_path(module, source))] + [(data_file(d, dirs), d) for d in data]
        for origin, target in shipped:
            (out_dir / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, out_dir / target)
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
