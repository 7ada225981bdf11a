"""The HTML report as a browser shows it: headless Chromium's rendered DOM and a screenshot."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import boto3
import pytest
from PIL import Image

from vss_restore import demo
from vss_restore.cli.html_report import render_html
from vss_restore.executions import ExecutionRecord, fetch_record
from vss_restore.local import Fault, LocalEngine
from vss_restore.local.world import attached

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
SUCCESS_GREEN = (0x1A, 0x7F, 0x37)
FAILURE_RED = (0xCF, 0x22, 0x2E)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("headless Chromium is missing: `make browser` installs it")
    return found


def run_chromium(page: Path, profile: Path, *args: str) -> str:
    done = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


class RenderedPage(HTMLParser):
    """What the DOM holds: elements by id, timeline rows, facts, text of marked elements."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, dict[str, str | None]] = {}
        self.rows: list[dict[str, str | None]] = []
        self.facts: dict[str, str] = {}
        self.external: list[str] = []
        self._fact: str | None = None
        self.error_name = ""
        self._in_error_name = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids[str(attributes["id"])] = attributes
        if tag == "tr" and "data-state" in attributes:
            self.rows.append(attributes)
        if tag == "dd":
            self._fact = attributes.get("data-fact")
        if tag == "p" and attributes.get("class") == "name":
            self._in_error_name = True
        for name in ("src", "href"):
            if attributes.get(name):
                self.external.append(str(attributes[name]))

    def handle_endtag(self, tag: str) -> None:
        self._fact = None
        self._in_error_name = False

    def handle_data(self, data: str) -> None:
        if self._fact:
            self.facts[self._fact] = self.facts.get(self._fact, "") + data
        if self._in_error_name:
            self.error_name += data


def rendered(page: Path, profile: Path) -> RenderedPage:
    parsed = RenderedPage()
    parsed.feed(run_chromium(page, profile, "--dump-dom"))
    return parsed


def screenshot(page: Path, profile: Path, out: Path) -> Image.Image:
    run_chromium(page, profile, "--window-size=1200,1500", f"--screenshot={out}")
    return Image.open(out).convert("RGB")


@pytest.fixture(scope="module")
def executions() -> Iterator[dict[str, ExecutionRecord]]:
    """One successful restore and one whose swap failed and was rolled back."""
    with LocalEngine() as engine:
        ec2 = boto3.client("ec2", region_name=engine.region)
        sfn = boto3.client("stepfunctions", region_name=engine.region)
        instance = demo.seed(ec2, datetime.now(UTC))
        succeeded = engine.run({"InstanceId": instance})
        before = attached(ec2, instance)
        engine.inject(Fault("ec2.AttachVolume", "InvalidParameterValue"))
        failed = engine.run({"InstanceId": instance})
        assert attached(ec2, instance) == before
        yield {
            "succeeded": fetch_record(sfn, succeeded.execution_arn),
            "rolled_back": fetch_record(sfn, failed.execution_arn),
        }


def write_page(record: ExecutionRecord, tmp_path: Path) -> Path:
    page = tmp_path / "report.html"
    page.write_text(render_html(record), encoding="utf-8")
    return page


def header_colour(image: Image.Image) -> tuple[int, int, int]:
    colour = image.getpixel((60, 30))
    assert isinstance(colour, tuple)
    return colour[0], colour[1], colour[2]


def test_successful_restore_report_renders(
    executions: dict[str, ExecutionRecord], tmp_path: Path
) -> None:
    record = executions["succeeded"]
    page = write_page(record, tmp_path)

    dom = rendered(page, tmp_path / "profile")

    assert dom.ids["outcome"]["data-status"] == "SUCCEEDED"
    assert dom.facts["Instance"] == record.instance_id
    assert dom.facts["Snapshot set"] == record.snapshot_set_id
    assert dom.facts["Downtime"].endswith(" s")
    assert dom.facts["RTO"].endswith(" s")
    entered = [e for e in record.history if e["type"].endswith("StateEntered")]
    assert [r["data-state"] for r in dom.rows] == [
        e["stateEnteredEventDetails"]["name"] for e in entered
    ]
    assert {r["data-outcome"] for r in dom.rows} == {"succeeded"}
    assert all(r["data-rollback"] == "false" for r in dom.rows)
    assert "error" not in dom.ids
    assert "volumes" in dom.ids
    assert dom.external == []


def test_rolled_back_restore_report_shows_error_and_rollback_path(
    executions: dict[str, ExecutionRecord], tmp_path: Path
) -> None:
    record = executions["rolled_back"]
    page = write_page(record, tmp_path)

    dom = rendered(page, tmp_path / "profile")

    assert dom.ids["outcome"]["data-status"] == "FAILED"
    assert dom.error_name == "SwapFailed"
    by_state = {r["data-state"]: r for r in dom.rows}
    assert by_state["AttachRestoredVolumes"]["data-outcome"] == "caught"
    assert by_state["ReattachOriginalVolumes"]["data-rollback"] == "true"
    assert by_state["RestorePowerState"]["data-rollback"] == "true"
    assert by_state["RestoreFailed"]["data-outcome"] == "failed"
    assert by_state["ValidateRequest"]["data-rollback"] == "false"
    assert dom.facts["Downtime"].endswith(" s")  # stopped until the rollback restarted it
    assert dom.external == []


@pytest.mark.parametrize(
    ("kind", "colour"), [("succeeded", SUCCESS_GREEN), ("rolled_back", FAILURE_RED)]
)
def test_screenshot_is_a_rendered_page_in_the_outcome_colour(
    executions: dict[str, ExecutionRecord], tmp_path: Path, kind: str, colour: tuple[int, int, int]
) -> None:
    page = write_page(executions[kind], tmp_path)

    image = screenshot(page, tmp_path / "profile", tmp_path / "shot.png")

    assert image.size == (1200, 1500)
    assert len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50  # text, bars: not blank
    assert all(abs(a - b) <= 8 for a, b in zip(header_colour(image), colour, strict=True))
