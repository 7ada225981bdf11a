"""``restore --initialization-rate N --wait-for-initialization``: the request and the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def test_restore_sends_the_rate_and_the_wait_and_reports_full_performance(cli: Any) -> None:
    # GIVEN / WHEN the demo server is restored at 250 MiB/s, waiting for initialization
    outcome = cli(
        "--local", "restore", "--yes", "--initialization-rate", "250", "--wait-for-initialization"
    )

    # THEN every volume was planned at that rate and the time to full performance measured
    assert outcome.exit_code == 0, outcome.stderr
    report = outcome.json["Report"]
    assert {v["Initialization"]["Mode"] for v in report["Volumes"]} == {"ProvisionedRate"}
    assert {v["Initialization"]["RateMiBps"] for v in report["Volumes"]} == {250}
    assert report["FullPerformanceBasis"] == "Measured"


def test_restore_table_shows_each_volumes_initialization_and_full_performance(cli: Any) -> None:
    # GIVEN / WHEN
    outcome = cli(
        "--local", "--output", "table", "restore", "--yes", "--initialization-rate", "300"
    )

    # THEN
    assert outcome.exit_code == 0, outcome.stderr
    assert "Initialization" in outcome.stdout
    assert "300 MiB/s" in outcome.stdout
    assert "Full perf." in outcome.stdout
    assert "(estimated)" in outcome.stdout


def test_restore_refuses_an_initialization_rate_out_of_range_and_starts_nothing(
    cli: Any, archive: Path
) -> None:
    # GIVEN / WHEN
    outcome = cli("--local", "restore", "--yes", "--wait", "--initialization-rate", "50")

    # THEN
    assert outcome.exit_code == 2
    assert outcome.stderr.startswith("InvalidRequest")
    assert "--initialization-rate" in outcome.stderr
    assert not archive.exists() or not list(archive.iterdir())
