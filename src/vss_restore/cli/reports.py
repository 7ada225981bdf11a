"""Following and reading executions: ``status``, ``watch``, ``history``, ``report``, and the
``demo`` restore with its report."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from vss_restore.cli import render
from vss_restore.cli.commands import (
    ExecutionArgument,
    InstanceOption,
    ReportFormat,
    State,
    _again,
    _consoles,
    _end,
    _fails_cleanly,
    _finish,
    _follow,
    _instance,
    app,
    examples,
)
from vss_restore.cli.fleet_progress import follow_fleet
from vss_restore.cli.fleets import _fleet_finish, fleet_report
from vss_restore.cli.html_report import render_html
from vss_restore.cli.markdown import STARTER_UNKNOWN, ReportHeader, markdown_summary
from vss_restore.cli.progress import follow
from vss_restore.cli.target import (
    CliError,
    Options,
    Target,
    is_fleet_execution,
    open_target,
)
from vss_restore.discovery import catalogue
from vss_restore.executions import ExecutionRecord, phases
from vss_restore.instance import (
    describe_instance,
    instance_facts,
    instance_name,
)

NewestOfOption = Annotated[
    str | None,
    typer.Option(
        "--instance-id",
        help="Instead of EXECUTION: the newest execution of this instance (id or Name tag).",
    ),
]


def _execution_record(
    target: Target, execution: str | None, instance_id: str | None
) -> ExecutionRecord:
    """The execution named, or the newest one of the instance named: exactly one of them."""
    if (execution is None) == (instance_id is None):
        raise CliError("give an EXECUTION (its name or ARN) or --instance-id, not both", 2)
    if execution is not None:
        return target.record(execution)
    instance = target.instance_id(str(instance_id))
    newest = target.past_restores(instance, 1)
    if not newest:
        raise CliError(f"ExecutionDoesNotExist: {instance} has no executions to show", 2)
    return newest[0]


@app.command(
    rich_help_panel="Follow and report",
    epilog=examples(
        "vss-restore status --instance-id web01",
        "vss-restore status i-0123456789abcdef0-5d1c0e9a7b3f",
    ),
)
@_fails_cleanly
def status(
    ctx: typer.Context, execution: ExecutionArgument = None, instance_id: NewestOfOption = None
) -> None:
    """An execution's status, current state, and its report or named error."""
    state: State = ctx.obj
    out, err = _consoles()
    with open_target(state.options) as target:
        record = _execution_record(target, execution, instance_id)
        if is_fleet_execution(record.name):
            _fleet_finish(state, target, record, out, err)
        else:
            _finish(state, target, record, out, err)


@app.command(
    rich_help_panel="Follow and report", epilog=examples("vss-restore watch --instance-id web01")
)
@_fails_cleanly
def watch(
    ctx: typer.Context, execution: ExecutionArgument = None, instance_id: NewestOfOption = None
) -> None:
    """Follow a running execution to its end, then print its report (as restore --wait)."""
    state: State = ctx.obj
    out, err = _consoles()
    with open_target(state.options) as target:
        record = _execution_record(target, execution, instance_id)
        fleet = is_fleet_execution(record.name)
        if not record.finished:
            err.print(f"Following {record.arn}", highlight=False, soft_wrap=True)
            record = _follow(state, target, record.arn, err, follow_fleet if fleet else follow)
        if fleet:
            _fleet_finish(state, target, record, out, err)
        else:
            _finish(state, target, record, out, err)


@app.command(
    rich_help_panel="Follow and report",
    epilog=examples(
        "vss-restore history --instance-id web01 --max-items 10", "vss-restore history --fleets"
    ),
)
@_fails_cleanly
def history(
    ctx: typer.Context,
    instance_id: InstanceOption = None,
    max_items: Annotated[
        int, typer.Option(min=1, help="Show at most this many of the newest executions.")
    ] = 50,
    fleets: Annotated[
        bool,
        typer.Option(
            "--fleets", help="The fleet executions (fleet-restore) instead of an instance's."
        ),
    ] = False,
) -> None:
    """Every execution of an instance (restores, dry runs, drills), or every fleet: outcome,
    RTO, downtime."""
    state: State = ctx.obj
    out, _ = _consoles()
    if fleets and instance_id is not None:
        raise CliError("give --instance-id or --fleets, not both", 2)
    if fleets:
        _fleet_history(state, max_items, out)
        return
    with open_target(state.options) as target:
        instance = _instance(target, instance_id)
        records = target.past_restores(instance, max_items)
    if state.as_json(out):
        entries = [render.history_entry(r) for r in records]
        render.print_json(out, {"InstanceId": instance, "Restores": entries})
    elif not records:
        out.print(
            f"No executions of {instance} yet (restores, dry runs, drills and mounts are "
            f"listed here once started; `vss-restore plan --instance-id {instance}` is a "
            "safe first one).",
            highlight=False,
        )
    else:
        out.print(render.history_table(instance, records))


def _fleet_history(state: State, max_items: int, out: Console) -> None:
    with open_target(state.options) as target:
        entries = [render.fleet_entry(r, fleet_report(r)) for r in target.past_fleets(max_items)]
    if state.as_json(out):
        render.print_json(out, {"Fleets": entries})
    elif not entries:
        out.print("No fleet executions yet (fleet-restore starts them).", highlight=False)
    else:
        out.print(render.fleets_table(entries))


def _writable(path: Path | None) -> Path | None:
    """Fail before anything runs if the report cannot be written where asked."""
    if path is not None and not (path.parent.is_dir() and os.access(path.parent, os.W_OK)):
        raise CliError(f"--html {path}: {path.parent} is not a writable folder", 2)
    return path


def _write_html(
    record: ExecutionRecord, path: Path, err: Console, header: ReportHeader | None = None
) -> None:
    try:
        path.write_text(render_html(record, header), encoding="utf-8")
    except OSError as failure:
        raise CliError(f"--html {path}: {failure}", 1) from failure
    err.print(f"HTML report written to {path}", highlight=False)


@app.command(
    rich_help_panel="Follow and report",
    epilog=examples(
        "vss-restore report --instance-id web01 --format markdown",
        "vss-restore report i-0123456789abcdef0-5d1c0e9a7b3f --html restore.html",
    ),
)
@_fails_cleanly
def report(
    ctx: typer.Context,
    execution: ExecutionArgument = None,
    instance_id: NewestOfOption = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report here.")
    ] = None,
    report_format: Annotated[
        ReportFormat | None,
        typer.Option(
            "--format",
            help="markdown: a short summary to paste into an incident channel (instead of the "
            "status and the phases).",
        ),
    ] = None,
    every_state: Annotated[
        bool, typer.Option("--states", help="List every state, not one line per phase.")
    ] = False,
) -> None:
    """An execution's outcome and timeline (phases, durations, retries, rollback)."""
    state: State = ctx.obj
    out, err = _consoles()
    html = _writable(html)
    with open_target(state.options) as target:
        record = _execution_record(target, execution, instance_id)
        header = ReportHeader(
            _instance_name(target, record.instance_id),
            target.started_by(record) or STARTER_UNKNOWN,
        )
    if html is not None:
        _write_html(record, html, err, header)
    runs = record.timeline()
    markdown = report_format is ReportFormat.markdown
    if markdown:
        again = functools.partial(_again, state)
        out.file.write(markdown_summary(record, again, header) + "\n")
    elif state.as_json(out):
        document = {**record.summary(), "StartedBy": header.started_by}
        render.print_json(out, {**document, "Timeline": [r.to_json() for r in runs]})
    else:
        render.print_status(out, record)
        out.print(render.fact_line("Started by", header.started_by), highlight=False)
        if every_state:
            out.print(render.timeline_table(runs))
        else:
            out.print(render.phases_table(phases(runs)))
    _end(state, record, out, err, explain=not markdown)  # the summary says what happened


def _instance_name(target: Target, instance_id: str | None) -> str | None:
    """The instance's Name tag, for a report's header (None if it cannot be read)."""
    if not instance_id:
        return None
    try:
        return instance_name(target.ec2, instance_id)
    except (ClientError, BotoCoreError):
        return None


@app.command(rich_help_panel="Try it", epilog=examples("vss-restore demo --html demo.html"))
@_fails_cleanly
def demo(
    ctx: typer.Context,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the HTML report here.")
    ] = None,
) -> None:
    """The demo restore of `make demo`: the demo server, on the embedded emulator."""
    state: State = ctx.obj
    out, err = _consoles()
    html = _writable(html)
    options = Options(**{**state.options.__dict__, "local": True})
    with open_target(options) as target:
        instance = _instance(target, None)
        facts = instance_facts(describe_instance(target.ec2, instance))
        if not state.as_json(out):
            out.print(render.sets_table(instance, catalogue(target.ec2, facts)))
        execution_arn = target.start({"InstanceId": instance})
        record = follow(target, execution_arn, err)
        if html is not None:
            _write_html(record, html, err)
        _finish(state, target, record, out, err)
