"""``fleet-restore``: many instances, wave by wave, one restore execution each."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from vss_restore.cli import render
from vss_restore.cli.commands import (
    ExcludeBootOption,
    NoPowerOnOption,
    PointInTimeOption,
    State,
    WaitOption,
    YesOption,
    _approve,
    _consoles,
    _fails_cleanly,
    _follow,
    _instance,
    _needs_terminal,
    _progress_console,
    _stand_in,
    app,
    examples,
)
from vss_restore.cli.events import emit
from vss_restore.cli.failure import BAD_INPUT_ERRORS
from vss_restore.cli.fleet_confirmation import fleet_approval
from vss_restore.cli.fleet_progress import FleetProgress, follow_fleet
from vss_restore.cli.target import (
    CliError,
    Target,
    open_target,
)
from vss_restore.executions import ExecutionRecord
from vss_restore.fleet import parse_fleet_request


def _fleet_request(
    instance_ids: list[str] | None,
    tag: str | None,
    waves: list[str] | None,
    **settings: Any,
) -> dict[str, Any]:
    """The fleet machine's input, validated here so that bad input never starts anything."""
    request: dict[str, Any] = {k: v for k, v in settings.items() if v is not None}
    if instance_ids:
        request["Instances"] = [i for item in instance_ids for i in item.split(",") if i]
    if tag is not None:
        key, sep, values = tag.partition("=")
        if not sep or not key or not values:
            raise CliError(f"--tag {tag!r}: expected KEY=VALUE[,VALUE...]", 2)
        request["TagFilter"] = {"Key": key, "Values": values.split(",")}
    if waves:
        request["Waves"] = [[i for i in wave.split(",") if i] for wave in waves]
    parse_fleet_request(request)
    return request


@app.command(
    "fleet-restore",
    rich_help_panel="Restore",
    epilog=examples("vss-restore fleet-restore --tag Fleet=web --max-concurrency 5 --wait"),
)
@_fails_cleanly
def fleet_restore(
    ctx: typer.Context,
    instance_ids: Annotated[
        list[str] | None,
        typer.Option(
            "--instance-id", help="An instance of the fleet (repeat, or separate with commas)."
        ),
    ] = None,
    tag: Annotated[
        str | None,
        typer.Option(
            "--tag", help="The fleet by tag: KEY=VALUE[,VALUE...] (instead of --instance-id)."
        ),
    ] = None,
    waves: Annotated[
        list[str] | None,
        typer.Option("--wave", help="Instances of one wave, comma-separated (repeat, in order)."),
    ] = None,
    max_concurrency: Annotated[
        int | None,
        typer.Option("--max-concurrency", min=1, max=100, help="Restores at a time (10)."),
    ] = None,
    tolerate_failures: Annotated[
        float | None,
        typer.Option(
            "--tolerate-failures",
            min=0,
            max=100,
            help="Percentage of failed restores allowed before no further wave starts (0).",
        ),
    ] = None,
    tolerated_failure_percentage: Annotated[
        float | None,
        typer.Option(
            "--tolerated-failure-percentage", min=0, max=100, hidden=True
        ),  # the earlier name of --tolerate-failures, still accepted
    ] = None,
    point_in_time: PointInTimeOption = None,
    exclude_boot_volume: ExcludeBootOption = False,
    no_power_on: NoPowerOnOption = False,
    wait: WaitOption = False,
    yes: YesOption = False,
) -> None:
    """Restore many instances, wave by wave, one restore execution each."""
    state: State = ctx.obj
    out, err = _consoles()
    given = [i for item in instance_ids or [] for i in item.split(",") if i]
    settings: dict[str, Any] = {
        "MaxConcurrency": max_concurrency,
        "ToleratedFailurePercentage": (
            tolerate_failures if tolerate_failures is not None else tolerated_failure_percentage
        ),
        "RestorePointInTime": point_in_time,
        "ExcludeBootVolume": exclude_boot_volume or None,
        "PowerOnAfterRestore": False if no_power_on else None,
    }
    # Bad input is refused before anything starts. Names become distinct stand-ins until the
    # target can look them up; waves (which must list the fleet's own ids) are checked then.
    stand_ins = [_stand_in(i, f"i-{n:017x}") for n, i in enumerate(given)]
    _fleet_request(stand_ins, tag, None, **settings)
    if not yes:
        _needs_terminal("fleet-restore")
    with open_target(state.options) as target:
        target.complete_world()  # a fleet: every server of the demo world, when local
        request = _fleet_request([_instance(target, i) for i in given], tag, waves, **settings)
        # With --yes too: an instance without a complete set is refused before anything starts.
        approval = fleet_approval(target.ec2, request, datetime.now(UTC))
        _approve(target.place, approval.question, approval.summary, yes, approval.typed)
        execution_arn = target.start_fleet(approval.request)  # the sets shown, pinned
        shown = _progress_console(state, target, execution_arn, wait, out, err)
        if shown is None:
            return
        record = _follow(state, target, execution_arn, shown, follow_fleet)
        _fleet_finish(state, target, record, out, err)


def fleet_report(record: ExecutionRecord) -> Any:
    """The fleet's report: its output, or a failed fleet's last RunFleet report."""
    return record.output if record.status == "SUCCEEDED" else record.last_output("Report")


def _fleet_summary(record: ExecutionRecord, report: Any) -> dict[str, Any]:
    return {
        "ExecutionArn": record.arn,
        "Name": record.name,
        "Status": record.status,
        "StartedAt": record.started_at.isoformat(),
        "StoppedAt": record.stopped_at.isoformat() if record.stopped_at else None,
        "Report": report,
    }


def _keep_fleet(target: Target, record: ExecutionRecord, report: Any) -> None:
    """Locally, the fleet and each of its restores are kept, as a single restore is: later
    commands (status, history, report) read them after the emulator is gone."""
    if not target.local or not record.finished:
        return
    target.keep(record)
    lines = report.get("Instances", []) if isinstance(report, dict) else []
    for line in lines:
        target.keep(target.record(line["Execution"]))


def _fleet_finish(
    state: State, target: Target, record: ExecutionRecord, out: Console, err: Console
) -> None:
    """Print a fleet's outcome, keep it locally, and exit with the documented code."""
    report = fleet_report(record)
    _keep_fleet(target, record, report)
    if not record.finished:  # `status` of a running fleet: where each restore is
        rows = FleetProgress(target).rows(record)
        if state.as_json(out):
            render.print_json(out, {**_fleet_summary(record, report), "Instances": rows})
        else:
            out.print(f"[bold]{record.status}[/]  {record.name}", highlight=False)
            out.print(render.fleet_table(rows, "Instances"))
        return
    if state.events:
        emit("Finished", **_fleet_summary(record, report))
    elif state.as_json(out):
        render.print_json(out, _fleet_summary(record, report))
    elif isinstance(report, dict):
        out.print(
            f"[{render.OUTCOME_STYLE.get(record.status, 'bold')}]{record.status}[/]  "
            f"{report['Succeeded']} of {report['Total']} restored, {report['Failed']} failed",
        )
        out.print(render.fleet_table(report["Instances"], "Instances"))
    if record.status != "SUCCEEDED":
        err.print(f"[red]{render.named_error(record)}[/]", highlight=False)
        raise typer.Exit(2 if record.error in BAD_INPUT_ERRORS else 1)
