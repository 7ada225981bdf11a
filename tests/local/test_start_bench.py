"""``make bench-start``: its timing of a command on a terminal, and the figures in the docs."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from vss_restore.local import start_bench

REPO = Path(__file__).resolve().parents[2]


def test_a_run_times_the_first_output_the_question_and_the_end_when_answered_no(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a command that prints, asks on its terminal, and says what it was answered
    script = (
        "import sys\n"
        "print('starting', flush=True)\n"
        "sys.stdout.write('Restore? [y/N]: '); sys.stdout.flush()\n"
        "print('answer=' + sys.stdin.readline().strip(), flush=True)\n"
    )
    monkeypatch.setattr(start_bench, "COMMAND", [sys.executable, "-c", script])

    # WHEN one run is timed
    timing = start_bench.run_once([], {})

    # THEN every time was seen, in order (the answer "n" let it end)
    assert timing.question is not None
    assert 0 < timing.first_output <= timing.question <= timing.end


def test_docs_show_the_start_times_that_bench_local_start_json_holds() -> None:
    # GIVEN the committed results and the performance page
    results = json.loads((REPO / "bench" / "local_start.json").read_text())["cases"]
    page = (REPO / "docs" / "performance.md").read_text()

    # WHEN each case's row is read, THEN its figures are the file's, to 2 decimals
    for case, command in (("sets", "sets"), ("restore to the question", "restore")):
        row = re.search(rf"^\| `vss-restore --local {command}` \|(.*)$", page, re.M)
        assert row is not None, f"no row for {command}"
        cells = [c.strip() for c in row.group(1).split("|")[:3]]
        for cell, metric in zip(cells, ("first_output_s", "question_s", "end_s"), strict=True):
            spread = results[case].get(metric)
            expected = (
                "—"
                if spread is None
                else f"{spread['min']:.2f} / {spread['median']:.2f} / {spread['max']:.2f} s"
            )
            assert cell == expected, (case, metric)
