"""``python -m vss_restore.workflow [--check]``: write (or check) ``statemachines/*.asl.json``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vss_restore.definition import repo_root
from vss_restore.workflow import MACHINES, text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vss_restore.workflow")
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    parser.add_argument("--out", type=Path, default=repo_root() / "statemachines")
    args = parser.parse_args(argv)
    stale = []
    for name in MACHINES:
        path = args.out / f"{name}.asl.json"
        wanted = text(name)
        if path.is_file() and path.read_text() == wanted:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(wanted)
    for path in stale:
        verb = "out of date" if args.check else "written"
        print(f"{path}: {verb}", file=sys.stderr)  # noqa: T201
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
