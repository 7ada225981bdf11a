"""``make bench-start``: how long a person waits for ``vss-restore --local`` on a terminal.

Each command runs as its own process on a pseudo-terminal, as it does when typed: the time
to its first output, to the restore's question (``[y/N]``, answered "n") and to its end,
in wall-clock seconds; min, median and max of ``--runs`` runs. These are seconds of a real
start on this machine, so they move with its load: run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

COMMAND = [sys.executable, "-c", "from vss_restore.cli import main; main()"]
CASES = {
    "sets": ["--local", "sets"],
    "restore to the question": ["--local", "restore"],
}
QUESTION = b"[y/N]"
DEADLINE_SECONDS = 120


@dataclass(frozen=True)
class Timing:
    first_output: float
    question: float | None
    end: float


def run_once(args: list[str], env: dict[str, str]) -> Timing:
    """One run on a pseudo-terminal: seconds to first output, to the question, to the end."""
    leader, follower = pty.openpty()
    started = time.monotonic()
    process = subprocess.Popen(
        [*COMMAND, *args], stdin=follower, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    first: float | None = None
    asked: float | None = None
    seen = b""
    try:
        while process.poll() is None or select.select([leader], [], [], 0)[0]:
            if time.monotonic() - started > DEADLINE_SECONDS:
                raise TimeoutError(f"{args} did not end within {DEADLINE_SECONDS} s")
            ready, _, _ = select.select([leader], [], [], 0.01)
            if not ready:
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed with the process
                break
            now = time.monotonic() - started
            first = now if first is None else first
            seen += chunk
            if asked is None and QUESTION in seen:
                asked = now
                os.write(leader, b"n\n")
        process.wait(timeout=DEADLINE_SECONDS)
    finally:
        os.close(leader)
    return Timing(first if first is not None else float("nan"), asked, time.monotonic() - started)


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
    }


def measure(runs: int, archive: Path) -> dict[str, dict[str, dict[str, float]]]:
    env = {**os.environ, "VSS_RESTORE_LOCAL_DIR": str(archive), "COLUMNS": "80", "LINES": "24"}
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, args in CASES.items():
        timings = [run_once(args, env) for _ in range(runs)]
        results[name] = {
            "first_output_s": _spread([t.first_output for t in timings]),
            "end_s": _spread([t.end for t in timings]),
        }
        questions = [t.question for t in timings if t.question is not None]
        if questions:
            results[name]["question_s"] = _spread(questions)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/local_start.json"))
    options = parser.parse_args()
    archive = options.out.parent / ".local-start-archive"
    results = {
        "runs": options.runs,
        "cpus": os.cpu_count(),
        "cases": measure(options.runs, archive),
    }
    options.out.write_text(json.dumps(results, indent=2) + "\n")
    for name, case in results["cases"].items():
        for metric, spread in case.items():
            print(
                f"{name:<24} {metric:<16} min {spread['min']:6.2f}  median "
                f"{spread['median']:6.2f}  max {spread['max']:6.2f} s"
            )


if __name__ == "__main__":
    main()
