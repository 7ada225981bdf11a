"""``vss-restore``: the commands, following AWS CLI conventions.

Exit codes: 0 success, 1 the restore (or an AWS call) failed, 2 bad usage or bad input
(nothing was changed).
"""

from __future__ import annotations

import functools
import os
import shlex
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from importlib.metadata import version as installed_version
from typing import Annotated, Any, ParamSpec, TypeVar

import botocore.session
import typer
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound
from jmespath.parser import ParsedResult
from rich.console import Console
from rich.text import Text
from typer._completion_classes import completion_init
from typer._completion_shared import Shells, get_completion_script

from vss_restore.cli import render
from vss_restore.cli.confirmation import restore_approval
from vss_restore.cli.events import emit, follow_events
from vss_restore.cli.failure import BAD_INPUT_ERRORS, failure_block
from vss_restore.cli.global_options import GlobalOptionsAnywhere, wire_log_to_stderr
from vss_restore.cli.place import CURRENT_PLACE, Place, credentials_problem, current_place_text
from vss_restore.cli.progress import follow
from vss_restore.cli.structured import BadQuery, compile_query, shaped
from vss_restore.cli.target import (
    STACK_NAME_ENV,
    STATE_MACHINE_ARN_ENV,
    CliError,
    Options,
    StackNotDeployed,
    Target,
    open_target,
)
from vss_restore.cli.wording import refused_in_cli_words
from vss_restore.discovery import catalogue, find_snapshot_set
from vss_restore.errors import InstanceNotFound, InvalidRequest, TerminalError
from vss_restore.executions import ExecutionRecord
from vss_restore.instance import (
    describe_instance,
    instance_facts,
)
from vss_restore.models import RestoreRequest

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="vss-restore",
    help="Restore a Windows EC2 instance from its application-consistent (VSS) EBS snapshots.",
    no_args_is_help=True,
    add_completion=False,  # the `completion SHELL` command prints the script instead
    pretty_exceptions_enable=False,
    cls=GlobalOptionsAnywhere,
)
PROG_NAME = "vss-restore"
# The groups of commands in help, in the order an on-call engineer needs them.
PANELS = ("Restore", "Follow and report", "Drills and mounts", "After a failure", "Try it")


def examples(*command_lines: str) -> str:
    """A command's help epilog: real command lines to copy."""
    return "Examples:\n\n" + "\n\n".join(command_lines)


class OutputFormat(StrEnum):
    json = "json"
    table = "table"
    text = "text"


class EventsFormat(StrEnum):
    jsonl = "jsonl"


class ReportFormat(StrEnum):
    markdown = "markdown"


class State:
    """What the global options chose, shared by every command."""

    def __init__(
        self,
        options: Options,
        output: OutputFormat | None,
        query: ParsedResult | None = None,
        events: bool = False,
    ) -> None:
        self.options = options
        self.output = output
        self.query = query
        self.events = events  # --events jsonl: standard output is a stream of JSON lines

    def as_json(self, out: Console) -> bool:
        """Whether to print the command's document (JSON, or text) rather than tables."""
        if self.events:
            return True
        if self.output is not None:
            return self.output is not OutputFormat.table
        return self.query is not None or not out.is_terminal


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"{PROG_NAME} {installed_version(PROG_NAME)}")
        raise typer.Exit


def _configured_output(profile: str | None) -> OutputFormat | None:
    """As the AWS CLI: ``AWS_DEFAULT_OUTPUT``, else the profile's ``output`` (a format this
    command does not have, such as yaml, is passed over)."""
    value = os.environ.get("AWS_DEFAULT_OUTPUT")
    if value is None:
        try:
            config = botocore.session.Session(profile=profile).get_scoped_config()
        except ProfileNotFound:
            config = {}  # said when the command opens its target, with the fix
        value = config.get("output")
    try:
        return OutputFormat(str(value)) if value else None
    except ValueError:
        return None


def _query(expression: str | None) -> ParsedResult | None:
    if expression is None:
        return None
    try:
        return compile_query(expression)
    except BadQuery as err:
        raise typer.BadParameter(str(err), param_hint="--query") from err


@app.callback()
def _global_options(
    ctx: typer.Context,
    region: Annotated[str | None, typer.Option(help="AWS Region (else the profile's).")] = None,
    profile: Annotated[str | None, typer.Option(help="Named profile of your AWS config.")] = None,
    endpoint_url: Annotated[
        str | None, typer.Option(help="Send AWS calls to this URL instead of the default.")
    ] = None,
    output: Annotated[
        OutputFormat | None,
        typer.Option(
            help="json, table or text (default: table on a terminal, json when piped or "
            "with --query); text is tab-separated, as the AWS CLI's."
        ),
    ] = None,
    query: Annotated[
        str | None,
        typer.Option(
            help="JMESPath expression applied to the JSON output, as the AWS CLI's "
            "(--query Status).",
            metavar="JMESPATH",
        ),
    ] = None,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Log every AWS request and response (botocore) to stderr."),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Run on the embedded AWS emulator, seeded with the demo server (no AWS account).",
        ),
    ] = False,
    state_machine_arn: Annotated[
        str | None,
        typer.Option(
            envvar=STATE_MACHINE_ARN_ENV,
            help="The restore state machine (else the stack output StateMachineArn).",
        ),
    ] = None,
    stack_name: Annotated[
        str | None,
        typer.Option(
            envvar=STACK_NAME_ENV, help="Stack to read the ARN from [default: VssRestore]."
        ),
    ] = None,
    events: Annotated[
        EventsFormat | None,
        typer.Option(
            "--events",
            help="jsonl: while following an execution, write each state's end (and the "
            "rollback, and the outcome) to standard output as one JSON object per line, "
            "with its time.",
        ),
    ] = None,
    inject_fault: Annotated[
        list[str] | None,
        typer.Option(
            help="With --local: refuse the first call of OPERATION (e.g. ec2.AttachVolume) "
            "with CODE [InvalidParameterValue], to watch a rollback. Repeatable.",
            metavar="OPERATION[:CODE]",
            hidden=True,  # for trying a rollback on the emulator: docs/local.md
        ),
    ] = None,
) -> None:
    output = output or _configured_output(profile)
    faults = tuple(inject_fault or ())
    options = Options(region, profile, endpoint_url, state_machine_arn, stack_name, local, faults)
    compiled = _query(query)
    if compiled is not None and output is OutputFormat.table:
        raise typer.BadParameter(
            "selects from the JSON output: use it with --output json or text",
            param_hint="--query",
        )
    ctx.obj = State(options, output, compiled, events=events is EventsFormat.jsonl)
    ctx.with_resource(shaped(compiled, text=output is OutputFormat.text))
    if debug:
        ctx.with_resource(wire_log_to_stderr())


def _fails_cleanly(command: Callable[P, R]) -> Callable[P, R]:
    """Named errors on stderr and the documented exit code, never a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        err = Console(stderr=True, soft_wrap=True, highlight=False)
        CURRENT_PLACE.set(None)  # an earlier command's (in the same process) is not this one's
        try:
            return command(*args, **kwargs)
        except CliError as failure:
            err.print(f"[red]{failure}[/]", highlight=False)
            raise typer.Exit(failure.exit_code) from failure
        except TerminalError as failure:
            message = (
                refused_in_cli_words(failure)
                if isinstance(failure, InvalidRequest)
                else str(failure)
            )
            where = current_place_text() if isinstance(failure, InstanceNotFound) else None
            if where:  # which account was looked in: staging and production share names
                message += f" (looked in {where})"
            err.print(f"[red]{type(failure).__name__}[/]: {message}", highlight=False)
            raise typer.Exit(2) from failure
        except (BotoCoreError, ClientError) as failure:
            problem = credentials_problem(failure)
            if problem is not None:  # nothing was called that could change anything
                err.print(f"[red]{problem}[/]", highlight=False)
                raise typer.Exit(2) from failure
            err.print(f"[red]AWS error[/]: {failure}", highlight=False)
            raise typer.Exit(1) from failure

    return run


InstanceOption = Annotated[
    str | None,
    typer.Option(
        "--instance-id",
        help="The instance: its id, or its Name tag when one instance has that name "
        "(with --local: the demo server by default).",
    ),
]
SetOption = Annotated[
    str | None, typer.Option("--snapshot-set-id", help="Restore exactly this snapshot set.")
]
PointInTimeOption = Annotated[
    str | None,
    typer.Option(
        "--point-in-time",
        help="Latest complete set taken at or before this ISO-8601 time (with a time zone).",
    ),
]
DevicesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--devices", help="Only these devices (repeat, or separate with commas). Default: all."
    ),
]
ExcludeBootOption = Annotated[
    bool, typer.Option("--exclude-boot-volume", help="Leave the root volume in place.")
]


NoPowerOnOption = Annotated[
    bool, typer.Option("--no-power-on", help="Leave the instance(s) stopped afterwards.")
]
WaitOption = Annotated[
    bool, typer.Option("--wait", help="Follow the execution as it runs, then report.")
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _instance(target: Target, given: str | None) -> str:
    if given:
        return target.instance_id(given)
    if target.demo_instance_id:
        return target.demo_instance_id
    raise CliError("--instance-id is required", 2)


# Names the instance in a request checked before the target is open (an instance's Name
# tag is looked up only then): every other field is checked as given.
STAND_IN_INSTANCE = "i-00000000000000000"


def _stand_in(given: str | None, stand_in: str = STAND_IN_INSTANCE) -> str:
    return given if given and given.startswith("i-") else stand_in


def _request(
    instance_id: str,
    snapshot_set_id: str | None,
    point_in_time: str | None,
    devices: list[str] | None,
    exclude_boot_volume: bool,
    **fields: Any,
) -> dict[str, Any]:
    """The state machine input, validated here so that bad input never starts anything."""
    request: dict[str, Any] = {"InstanceId": instance_id, **fields}
    if snapshot_set_id is not None:
        request["SnapshotSetId"] = snapshot_set_id
    if point_in_time is not None:
        request["RestorePointInTime"] = point_in_time
    if devices:
        request["Devices"] = [d.strip() for item in devices for d in item.split(",") if d.strip()]
    if exclude_boot_volume:
        request["ExcludeBootVolume"] = True
    RestoreRequest.parse(request)
    return request


def _consoles() -> tuple[Console, Console]:
    # No automatic highlighting: it colours fragments of ARNs and ids as if they were
    # numbers or IPv6 addresses; what matters is styled on purpose.
    return Console(highlight=False), Console(stderr=True, soft_wrap=True, highlight=False)


def _finish(
    state: State, target: Target, record: ExecutionRecord, out: Console, err: Console
) -> None:
    """Print the outcome, keep a local execution, and exit with the documented code."""
    target.keep(record)
    if state.events:
        emit("Finished", **record.summary())
    elif state.as_json(out):
        render.print_json(out, record.summary())
    else:
        render.print_status(out, record)
    _end(state, record, out, err)


def _end(
    state: State, record: ExecutionRecord, out: Console, err: Console, explain: bool = True
) -> None:
    """A failed execution: its failure block, once (under the status for people, on stderr
    beside a JSON document for scripts), and exit code 1, or 2 for a refused request."""
    if record.status == "SUCCEEDED" or not record.finished:
        return
    shown = err if state.as_json(out) else out
    for line in failure_block(record, functools.partial(_again, state)) if explain else []:
        shown.print(line, highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(2 if record.error in BAD_INPUT_ERRORS else 1)


@app.command(rich_help_panel="Restore", epilog=examples("vss-restore sets --instance-id web01"))
@_fails_cleanly
def sets(ctx: typer.Context, instance_id: InstanceOption = None) -> None:
    """The instance's VSS snapshot sets, newest first, and why any set cannot be restored."""
    state: State = ctx.obj
    out, _ = _consoles()
    with open_target(state.options) as target:
        instance = _instance(target, instance_id)
        facts = instance_facts(describe_instance(target.ec2, instance))
        entries = catalogue(target.ec2, facts)
    if state.as_json(out):
        render.print_json(out, {"InstanceId": instance, "Sets": entries})
    elif not entries:
        out.print(
            f"No VSS snapshot sets of {instance}: no snapshot of its volumes (or of volumes "
            "they replaced) carries the Device tag the VSS solution writes. Run the "
            "AWSEC2-CreateVssSnapshot document on it (docs/reference.md, sources).",
            highlight=False,
        )
    else:
        out.print(render.sets_table(instance, entries))


@app.command(
    rich_help_panel="Restore",
    epilog=examples("vss-restore plan --instance-id web01 --devices xvdf"),
)
@_fails_cleanly
def plan(
    ctx: typer.Context,
    instance_id: InstanceOption = None,
    snapshot_set_id: SetOption = None,
    point_in_time: PointInTimeOption = None,
    devices: DevicesOption = None,
    exclude_boot_volume: ExcludeBootOption = False,
) -> None:
    """What a restore would do (a DryRun execution): the set chosen, device → snapshot → volume."""
    state: State = ctx.obj
    out, err = _consoles()
    build = functools.partial(
        _request,
        snapshot_set_id=snapshot_set_id,
        point_in_time=point_in_time,
        devices=devices,
        exclude_boot_volume=exclude_boot_volume,
        DryRun=True,
    )
    build(_stand_in(instance_id))  # bad input is refused before anything starts
    with open_target(state.options) as target:
        request = build(_instance(target, instance_id))
        try:
            execution_arn = target.start(request)
        except StackNotDeployed as missing:
            _plan_from_ec2(state, target, request, str(missing), out, err)
            return
        record = follow(target, execution_arn, Console(stderr=True, quiet=True))
        _finish(state, target, record, out, err)


def _plan_from_ec2(
    state: State, target: Target, request: dict[str, Any], missing: str, out: Console, err: Console
) -> None:
    """Without the stack: the set a restore would choose, and its snapshots, read from EC2 alone
    (the dry run's checks by the state machine's tasks do not run)."""
    facts = instance_facts(describe_instance(target.ec2, request["InstanceId"]))
    chosen = find_snapshot_set(target.ec2, RestoreRequest.parse(request), facts)
    note = f"set chosen from EC2 alone, no dry run: {missing}"
    document = {
        "InstanceId": facts.instance_id,
        "DryRun": True,
        "Checked": "EC2 only",
        **chosen.model_dump(mode="json", by_alias=True),
    }
    err.print(note, highlight=False)
    if state.as_json(out):
        render.print_json(out, document)
        return
    out.print(
        f"Snapshot set {chosen.snapshot_set_id} (taken {render.when_text(chosen.created_at)})",
        highlight=False,
    )
    for member in chosen.members:
        out.print(f"  {member.device:<12} {member.snapshot_id}", highlight=False)


def _interactive() -> bool:
    return sys.stdin.isatty()


# Words of a question that say what is lost or stopped: they stand out.
WARNING_WORDS = ("STOPPED", "LOST", "DELETED", "DELETE", "OFFLINE", "RUNNING")


def _confirmed(question: str, typed: str | None = None) -> bool:
    """Ask on stderr (stdout is the command's result); Ctrl-C or end of input means no.
    ``typed``: the answer that must be typed (anything else is no), instead of y/N."""
    body, _, asked = question.rpartition("\n")
    if body:
        text = Text(body)
        text.highlight_words(WARNING_WORDS, style="bold yellow")
        Console(stderr=True, soft_wrap=True, highlight=False).print(text)
    try:
        if typed is not None:
            answer = typer.prompt(asked, default="", show_default=False, err=True)
            return str(answer).strip() == typed
        return bool(typer.confirm(asked, err=True))
    except (typer.Abort, EOFError, KeyboardInterrupt):
        return False


def _needs_terminal(command: str) -> None:
    """Without a terminal to ask on, refuse: nothing starts on a question nobody read."""
    if not _interactive():
        raise CliError(
            f"{command} asks for confirmation, but there is no terminal to ask on (stdin is "
            "not a terminal): nothing was started. Add --yes to run it without asking.",
            2,
        )


def _ask(question: str, typed: str | None = None) -> None:
    if not _confirmed(question, typed):
        raise CliError("Not confirmed: nothing was changed.", 2)


def _approve(
    place: Callable[[], Place], question: str, summary: str, yes: bool, typed: str | None = None
) -> None:
    """Ask, saying where the command acts; with ``--yes``, log what was approved and where
    (stderr: standard output stays the command's result). ``typed``: what must be typed to
    approve, instead of y."""
    where = str(place())
    if yes:
        Console(stderr=True, soft_wrap=True, highlight=False).print(
            f"Approved with --yes: {summary}\n  in {where}", highlight=False, markup=False
        )
        return
    place_line = render.fact_line("Where", where)
    first, _, rest = question.partition("\n")
    if not rest:  # a one-line question: where, then the question itself
        _ask(f"{place_line}\n{question}", typed)
        return
    _ask("\n".join((first, place_line, rest)), typed)  # after the "About to ..." heading


def _progress_console(
    state: State, target: Target, execution_arn: str, wait: bool, out: Console, err: Console
) -> Console | None:
    """Where to follow a started execution; None when the command ends here (no --wait)."""
    name = _name(execution_arn)
    err.print(
        f"Started {name}  (later: {_again(state, 'status', name)})\n  {execution_arn}",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    if state.events:
        emit("Started", Name=name, ExecutionArn=execution_arn)
    if not wait and not target.local:
        if state.events:
            return None
        if state.as_json(out):
            render.print_json(out, {"ExecutionArn": execution_arn, "Status": "RUNNING"})
        else:
            out.print(
                f"Follow it with: {_again(state, 'watch', _name(execution_arn))}", highlight=False
            )
        return None
    # Locally the emulator ends with the command: the execution always runs to its end.
    return err if wait else Console(stderr=True, quiet=True)


@app.command(
    rich_help_panel="Restore",
    epilog=examples(
        "vss-restore restore --instance-id web01 --wait",
        "vss-restore restore --instance-id i-0123456789abcdef0 --point-in-time 2026-12-01T06:00:00Z --devices xvdf,xvdg",
    ),
)
@_fails_cleanly
def restore(
    ctx: typer.Context,
    instance_id: InstanceOption = None,
    snapshot_set_id: SetOption = None,
    point_in_time: PointInTimeOption = None,
    devices: DevicesOption = None,
    exclude_boot_volume: ExcludeBootOption = False,
    no_power_on: NoPowerOnOption = False,
    delete_replaced_volumes: Annotated[
        bool,
        typer.Option("--delete-replaced-volumes", help="Delete the old volumes after success."),
    ] = False,
    initialization_rate: Annotated[
        int | None,
        typer.Option(
            "--initialization-rate",
            help="Create the volumes with EBS's provisioned initialization rate (100-300 MiB/s).",
        ),
    ] = None,
    wait_for_initialization: Annotated[
        bool,
        typer.Option(
            "--wait-for-initialization",
            help="End only when every restored volume is fully initialized (full performance).",
        ),
    ] = False,
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help=(
                "Keep the instance running: swap only data volumes, their Windows disks taken "
                "offline and back online through SSM (never the root volume)."
            ),
        ),
    ] = False,
    stop_services: Annotated[
        list[str] | None,
        typer.Option(
            "--stop-service",
            help="With --online: a Windows service stopped before the disks go offline and "
            "started after (repeat).",
        ),
    ] = None,
    validation_document: Annotated[
        str | None,
        typer.Option(
            "--validation-document",
            help="With --online: your SSM document (named vss-restore-validation-*) run on the "
            "instance once its disks are back; if it fails, the restore is rolled back.",
        ),
    ] = None,
    validation_parameters: Annotated[
        list[str] | None,
        typer.Option("--validation-parameter", help="NAME=VALUE for the document (repeat)."),
    ] = None,
    wait: WaitOption = False,
    yes: YesOption = False,
) -> None:
    """Start a restore (asks first on a terminal); with --wait, follow it and print the report."""
    state: State = ctx.obj
    out, err = _consoles()
    if online and no_power_on:
        raise CliError("--no-power-on: an online restore never stops the instance", 2)
    flags: dict[str, Any] = {"DeleteReplacedVolumes": True} if delete_replaced_volumes else {}
    if online:
        flags["Mode"] = "Online"
    if stop_services:
        flags["StopServices"] = stop_services
    if validation_document is not None:
        flags["ValidationDocument"] = validation_document
    if validation_parameters:
        flags["ValidationParameters"] = _pairs(validation_parameters, "--validation-parameter")
    if no_power_on:
        flags["PowerOnAfterRestore"] = False
    if initialization_rate is not None:
        flags["InitializationRate"] = initialization_rate
    if wait_for_initialization:
        flags["WaitForInitialization"] = True

    def build(instance: str) -> dict[str, Any]:
        return _request(
            instance, snapshot_set_id, point_in_time, devices, exclude_boot_volume, **flags
        )

    build(_stand_in(instance_id))  # bad input is refused before anything starts
    if not yes:
        _needs_terminal("restore")
    with open_target(state.options) as target:
        request = build(_instance(target, instance_id))
        # With --yes too: a request only EC2 can refuse (no such set, device or instance)
        # is refused here, before anything starts.
        approval = restore_approval(target.ec2, request, datetime.now(UTC))
        _approve(target.place, approval.question, approval.summary, yes)
        request = approval.request  # exactly the set and devices that were shown
        execution_arn = target.start(request)
        shown = _progress_console(state, target, execution_arn, wait, out, err)
        if shown is not None:
            _finish(state, target, _follow(state, target, execution_arn, shown), out, err)


ExecutionArgument = Annotated[
    str | None,
    typer.Argument(
        help="The execution: its ARN, or its name (or give --instance-id).",
        metavar="[EXECUTION]",
        show_default=False,
    ),
]


def _name(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]


def _again(state: State, *words: str) -> str:
    """The command line that reaches the same account, Region and stack as this one."""
    options = state.options
    given = {
        "--profile": options.profile,
        "--region": options.region,
        "--endpoint-url": options.endpoint_url,
        "--stack-name": options.stack_name,
        "--state-machine-arn": options.state_machine_arn,
    }
    command = [PROG_NAME, *(["--local"] if options.local else [])]
    for flag, value in given.items():
        if value:
            command += [flag, value]
    return shlex.join([*command, *words])


def _follow(
    state: State,
    target: Target,
    execution_arn: str,
    shown: Console,
    follower: Callable[[Target, str, Console], ExecutionRecord] = follow,
) -> ExecutionRecord:
    """Follow the execution to its end; Ctrl-C stops following, never the execution."""
    try:
        if state.events:
            return follow_events(target, execution_arn)
        return follower(target, execution_arn, shown)
    except KeyboardInterrupt:
        if target.local:
            message = (
                "Interrupted. With --local the emulator ends with this command, and the "
                "execution with it."
            )
        else:
            name = _name(execution_arn)
            message = (
                f"Interrupted: execution {name} was NOT stopped; it goes on in AWS.\n"
                f"  Follow it:   {_again(state, 'watch', name)}\n"
                f"  Its status:  {_again(state, 'status', name)}"
            )
        raise CliError(message, 130) from None


def _pairs(values: list[str] | None, option: str) -> dict[str, list[str]]:
    """``NAME=VALUE`` options as SSM parameters (a name given twice gets both values)."""
    parameters: dict[str, list[str]] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CliError(f"{option} {item!r}: expected NAME=VALUE", 2)
        parameters.setdefault(name, []).append(value)
    return parameters


@app.command(
    rich_help_panel="Try it",
    epilog=examples("vss-restore completion bash > /etc/bash_completion.d/vss-restore"),
)
def completion(
    shell: Annotated[Shells, typer.Argument(help="The shell to complete in.")],
) -> None:
    """Print the shell completion script (bash, zsh, fish or powershell); see docs/cli.md."""
    complete_var = f"_{PROG_NAME.replace('-', '_').upper()}_COMPLETE"
    typer.echo(get_completion_script(prog_name=PROG_NAME, complete_var=complete_var, shell=shell))


def main() -> None:
    completion_init()  # the shells `completion` prints scripts for answer through these
    app()
