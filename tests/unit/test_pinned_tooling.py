"""Pinned tooling: every Python package make installs has one exact version in the lock file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements" / "dev.lock"
LAYER_REQUIREMENTS = REPO / "stacks" / "lambda-requirements.txt"
PROJECT = "vss-restore"


def _pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements file, by canonical name (comments skipped)."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            name, sep, version = text.partition("==")
            assert sep, f"{path.name}: {text!r} is not pinned with =="
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _declared() -> list[Requirement]:
    """The project's dependencies and every optional extra's, from pyproject.toml."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        lines.extend(extra)
    return [r for r in map(Requirement, lines) if canonicalize_name(r.name) != PROJECT]


def test_lock_pins_every_declared_dependency_within_its_range_when_read() -> None:
    # GIVEN the lock file and pyproject.toml's dependencies and extras
    pins = _pins(LOCK)

    # WHEN each declared requirement is looked up in the lock
    missing = [str(r) for r in _declared() if canonicalize_name(r.name) not in pins]
    outside = [
        f"{r.name}=={pins[canonicalize_name(r.name)]} (wants {r.specifier})"
        for r in _declared()
        if canonicalize_name(r.name) in pins
        and not r.specifier.contains(pins[canonicalize_name(r.name)], prereleases=True)
    ]

    # THEN each has an exact version, and that version is one its range allows
    assert not missing, f"not in {LOCK.name} (run make lock): {missing}"
    assert not outside, f"pinned outside pyproject.toml's range: {outside}"
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", v) for v in pins.values())


def test_layer_pins_the_versions_the_tests_run_when_a_package_is_in_both() -> None:
    # GIVEN the Lambda layer's requirements and the dev lock
    layer, lock = _pins(LAYER_REQUIREMENTS), _pins(LOCK)

    # WHEN the packages they share are compared
    differing = {name: (v, lock[name]) for name, v in layer.items() if lock.get(name) != v}

    # THEN the functions in AWS run the versions the test suite ran (layer, lock)
    assert not differing


def test_make_installs_from_the_lock_when_it_bootstraps_the_venv() -> None:
    # GIVEN the Makefile
    makefile = (REPO / "Makefile").read_text()

    # WHEN its venv bootstrap rule is read
    rule = makefile.split("$(STAMP): pyproject.toml $(LOCK)\n", 1)[1].split("\n\n", 1)[0]

    # THEN every pip install in it is constrained by the lock, and the lock is the one tested
    installs = [line for line in rule.splitlines() if "pip install" in line]
    assert installs
    assert all("-c $(LOCK)" in line for line in installs)
    assert "LOCK := requirements/dev.lock" in makefile
