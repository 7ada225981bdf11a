"""One self-contained HTML page per execution: nothing is fetched, it can be mailed or attached.

Header (outcome, instance, set, downtime, RTO), the error on failure, a timeline of every
state with its duration, attempts and rollback path, and the device → volume mapping.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from vss_restore.cli.markdown import OLD_VOLUMES, ReportHeader
from vss_restore.cli.render import duration_text, seconds_text, when_text
from vss_restore.executions import ExecutionRecord, Phase, StateRun, phases

_STYLE = """
:root { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1f24; }
body { margin: 0; background: #f4f6f8; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
header { border-radius: 10px; padding: 20px 24px; color: #fff; }
header.succeeded { background: #1a7f37; } header.dryrun { background: #0969da; }
header.failed { background: #cf222e; } header.running { background: #6e7781; }
header h1 { margin: 0 0 12px; font-size: 26px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 0; }
dt { opacity: .85; } dd { margin: 0; font-weight: 600; overflow-wrap: normal; }
.scroll { overflow-x: auto; } td.id { white-space: nowrap; font-family: ui-monospace, monospace; }
tr.phase th { background: #f6f8fa; color: #1b1f24; padding-top: 9px; }
section { background: #fff; border-radius: 10px; margin-top: 18px; padding: 16px 24px;
  box-shadow: 0 1px 2px rgba(0,0,0,.08); }
h2 { font-size: 18px; margin: 0 0 12px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e4e7eb; vertical-align: middle; }
th { color: #57606a; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.track { position: relative; height: 14px; background: #eef1f4; border-radius: 3px; min-width: 320px; }
.bar { position: absolute; top: 0; height: 14px; border-radius: 3px; background: #2da44e; min-width: 2px; }
tr.caught .bar { background: #bf8700; } tr.failed .bar { background: #cf222e; }
tr.running .bar { background: #6e7781; } tr.rollback td.state { color: #8250df; font-weight: 600; }
tr.rollback .bar { background: #8250df; }
.tag { font-size: 12px; border-radius: 8px; padding: 1px 7px; background: #eef1f4; margin-left: 6px; }
#error .name { font-size: 18px; font-weight: 700; color: #cf222e; margin: 0 0 6px; }
pre { white-space: pre-wrap; word-break: break-word; background: #f6f8fa; padding: 12px;
  border-radius: 6px; margin: 0; font-size: 13px; }
footer { color: #57606a; font-size: 12px; margin-top: 18px; }
"""


def _package_version() -> str:
    try:
        return version("vss-restore")
    except PackageNotFoundError:
        return "unknown"


def _headline(record: ExecutionRecord) -> tuple[str, str]:
    if record.status == "SUCCEEDED":
        return (
            ("dryrun", "Dry run: nothing was changed")
            if record.dry_run
            else (
                "succeeded",
                "Restore succeeded",
            )
        )
    if record.status == "RUNNING":
        return "running", "Restore in progress"
    rolled = " — rolled back" if record.rolled_back else ""
    return "failed", f"Restore {record.status.lower().replace('_', ' ')}{rolled}"


def _facts(record: ExecutionRecord, header: ReportHeader) -> str:
    instance_name = header.instance_name
    report = record.report or {}
    arn = record.arn.split(":")
    instance = record.instance_id or "—"
    rows = [
        ("Instance", f"{instance} ({instance_name})" if instance_name else instance),
        ("Account", arn[4] if len(arn) > 4 else "—"),
        ("Region", arn[3] if len(arn) > 3 else "—"),
        ("Snapshot set", record.snapshot_set_id or "—"),
        ("Set taken", when_text(report.get("SnapshotSetCreatedAt"))),
        ("Downtime", seconds_text(record.downtime_seconds)),
        ("RTO", seconds_text(record.rto_seconds if record.status == "SUCCEEDED" else None)),
        ("Started", record.started_at.isoformat(timespec="seconds")),
        ("Started by", header.started_by),
        ("Finished", record.stopped_at.isoformat(timespec="seconds") if record.stopped_at else "—"),
        ("Old volumes", OLD_VOLUMES.get(str(report.get("ReplacedVolumes")), "—")),
        ("Full performance", _full_performance(report)),
        ("Execution", record.arn),
    ]
    # An ARN may break after a colon, never inside an id.
    return "".join(
        f'<dt>{escape(k)}</dt><dd data-fact="{escape(k)}">{escape(v).replace(":", ":<wbr>")}</dd>'
        for k, v in rows
    )


def _full_performance(report: dict[str, Any]) -> str:
    full = report.get("FullPerformanceSeconds")
    if full is None:
        return "—"
    return f"after {duration_text(full)} ({str(report.get('FullPerformanceBasis', '')).lower()})"


def _timeline_rows(record: ExecutionRecord, runs: list[StateRun]) -> str:
    end = record.stopped_at or max((r.exited_at or r.entered_at for r in runs), default=None)
    total = max((end - record.started_at).total_seconds(), 1e-6) if end else 1e-6
    rows = []
    phase_of_run = {id(run): phase for phase in phases(runs) for run in phase.runs}
    current: Phase | None = None
    for run in runs:
        phase = phase_of_run[id(run)]
        if phase is not current:
            current = phase
            rows.append(
                f'<tr class="phase" data-phase="{escape(phase.name)}"><th colspan="6">'
                f"{escape(phase.name)} · {len(phase.runs)} states · {phase.seconds:.2f} s</th></tr>"
            )
        offset = (run.entered_at - record.started_at).total_seconds() / total * 100
        width = (run.seconds or 0.0) / total * 100
        classes = [run.outcome] + (["rollback"] if run.rollback else [])
        errors = ", ".join(dict.fromkeys(run.errors))
        label = '<span class="tag">rollback</span>' if run.rollback else ""
        rows.append(
            f'<tr class="{" ".join(classes)}" data-state="{escape(run.name)}" '
            f'data-outcome="{run.outcome}" data-rollback="{str(run.rollback).lower()}">'
            f'<td class="state">{escape(run.name)}{label}</td>'
            f'<td><div class="track"><div class="bar" style="left:{offset:.2f}%;'
            f'width:{min(width, 100 - offset):.2f}%"></div></div></td>'
            f'<td class="num">{"" if run.seconds is None else f"{run.seconds:.2f}"}</td>'
            f'<td class="num">{run.attempts or ""}</td>'
            f"<td>{escape(run.outcome)}</td><td>{escape(errors)}</td></tr>"
        )
    return "".join(rows)


def _volume_rows(record: ExecutionRecord) -> str:
    return "".join(
        f'<tr data-device="{escape(v["Device"])}"><td class="id">{escape(v["Device"])}</td>'
        f'<td class="id">{escape(v["SnapshotId"])}</td>'
        f'<td class="id">{escape(v.get("NewVolumeId") or "—")}</td>'
        f'<td class="id">{escape(v["ReplacedVolumeId"])}</td></tr>'
        for v in record.volume_mapping()
    )


def render_html(record: ExecutionRecord, header: ReportHeader | None = None) -> str:
    header = header or ReportHeader()
    css_class, headline = _headline(record)
    runs = record.timeline()
    error = (
        f'<section id="error"><h2>Error</h2><p class="name">{escape(record.error)}</p>'
        f"<pre>{escape(record.cause or '')}</pre></section>"
        if record.error
        else ""
    )
    volumes = _volume_rows(record)
    note = (
        ""
        if record.status == "SUCCEEDED"
        else "<p>Planned mapping: the restore did not finish, the error says where each "
        "volume is now.</p>"
    )
    volume_section = (
        f'<section id="volumes"><h2>Volumes</h2>{note}<div class="scroll"><table><thead><tr><th>Device</th>'
        "<th>Snapshot</th><th>New volume</th><th>Replaced volume</th></tr></thead>"
        f"<tbody>{volumes}</tbody></table></div></section>"
        if volumes
        else ""
    )
    retries = sum(r.retries for r in runs)
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vss-restore {escape(record.status)}: {escape(record.instance_id or record.name)}</title>
<style>{_STYLE}</style></head>
<body><main>
<header id="outcome" class="{css_class}" data-status="{escape(record.status)}">
<h1>{escape(headline)}</h1><dl id="facts">{_facts(record, header)}</dl></header>
{error}
<section id="timeline"><h2>Timeline: {len(runs)} states, {retries} retries</h2>
<div class="scroll"><table><thead><tr><th>State</th><th>When</th><th>Seconds</th><th>Attempts</th><th>Outcome</th>
<th>Errors</th></tr></thead><tbody>{_timeline_rows(record, runs)}</tbody></table></div>
</section>
{volume_section}
<footer>vss-restore {escape(_package_version())} · report generated {generated}</footer>
</main></body></html>
"""
