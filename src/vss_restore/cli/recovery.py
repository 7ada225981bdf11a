"""``inspect`` and ``unlock``: the runbook's hand-typed steps after a failure, as commands.

``inspect`` shows where every device's volume is, the power state, the lock and the volumes
vss-restore made for the instance that are attached nowhere. ``unlock`` releases the lock
only if the execution named (or, if none is named, the one holding it) still holds it, and
never while that execution is running.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from botocore.exceptions import ClientError
from rich.console import Console

from vss_restore import lock
from vss_restore.aws_errors import error_code
from vss_restore.cli import render
from vss_restore.cli.commands import (
    InstanceOption,
    State,
    YesOption,
    _again,
    _approve,
    _consoles,
    _fails_cleanly,
    _instance,
    _needs_terminal,
    app,
    examples,
)
from vss_restore.cli.target import LOCK_TABLE_ENV, CliError, Target, open_target
from vss_restore.errors import TerminalError
from vss_restore.inventory import Inventory, inventory
from vss_restore.lock import LockNow, read_lock

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RECOVERY_PANEL = "After a failure"


def _lock_store(target: Target) -> tuple[DynamoDBClient, str]:
    """DynamoDB and the lock table's name, or the command stops saying how to name it."""
    table = target.lock_table()
    if not table or target.ddb is None:
        raise CliError(
            f"no lock table: deploy the stack (its LockTableName output is read) or set "
            f"{LOCK_TABLE_ENV}",
            2,
        )
    return target.ddb, table


def _holder_status(target: Target, owner: str) -> str | None:
    """The status of the execution holding the lock (None if Step Functions has no record)."""
    try:
        return target.record(owner).status
    except CliError:
        return None


def _lock_text(target: Target, held: LockNow | None, now: datetime) -> str:
    if held is None:
        return "free: no execution holds it"
    status = _holder_status(target, held.owner) or "no longer known to Step Functions"
    expiry = "" if held.expires_at is None else f", expires {render.when_text(held.expires_at)}"
    if held.expired(now):
        expiry += " (expired: the next restore takes it over)"
    return f"held by {held.owner.rsplit(':', 1)[-1]} ({status}) since {held.acquired_at}{expiry}"


def _print_inventory(out: Console, target: Target, found: Inventory, now: datetime) -> None:
    called = f"{found.instance_id} ({found.name})" if found.name else found.instance_id
    out.print(f"{called}: {found.power_state.upper()}", highlight=False)
    out.print(render.fact_line("Where", str(target.place())), highlight=False)
    out.print(render.fact_line("Lock", _lock_text(target, found.lock, now)), highlight=False)
    table = render.fitted_table(
        "Devices now", [("Device", True), ("Volume", True), ("State", True), ("What", False)]
    )
    for device in found.devices:
        table.add_row(device.device, device.volume_id, device.state, device.what)
    out.print(render.keep_ids_whole(table))
    if not found.devices:
        out.print("  No volume is attached to the instance.", highlight=False)
    if found.loose:
        loose = render.fitted_table(
            "vss-restore volumes of this instance attached nowhere",
            [("Volume", True), ("State", True), ("Status", True), ("What", False)],
        )
        for volume in found.loose:
            loose.add_row(volume.volume_id, volume.state, volume.status, volume.what)
        out.print(render.keep_ids_whole(loose))


@app.command(
    rich_help_panel=RECOVERY_PANEL,
    epilog=examples("vss-restore inspect --instance-id web01"),
)
@_fails_cleanly
def inspect(ctx: typer.Context, instance_id: InstanceOption = None) -> None:
    """Where every device's volume is now, the power state, the lock, and leftover volumes."""
    state: State = ctx.obj
    out, _ = _consoles()
    now = datetime.now(UTC)
    with open_target(state.options) as target:
        instance = _instance(target, instance_id)
        table = target.lock_table()
        found = inventory(target.ec2, target.ddb, table, instance)
        if state.as_json(out):
            document = {**found.to_json(), "Where": str(target.place())}
            if found.lock is not None:
                document["Lock"]["Status"] = _holder_status(target, found.lock.owner)
            render.print_json(out, document)
            return
        _print_inventory(out, target, found, now)
        if found.lock is not None:
            out.print(
                render.fact_line(
                    "Release it",
                    "once the devices are right and its execution has ended: "
                    + _again(state, "unlock", "--instance-id", instance),
                ),
                highlight=False,
            )


@app.command(
    rich_help_panel=RECOVERY_PANEL,
    epilog=examples("vss-restore unlock --instance-id web01 --execution i-0123456789abcdef0-5d1c"),
)
@_fails_cleanly
def unlock(
    ctx: typer.Context,
    instance_id: InstanceOption = None,
    execution: Annotated[
        str | None,
        typer.Option(
            "--execution",
            help="Release it only if this execution (name or ARN) holds it. Default: the "
            "execution that holds it, once it has ended.",
        ),
    ] = None,
    yes: YesOption = False,
) -> None:
    """Release the instance's lock left by an execution that has ended (never a running one)."""
    state: State = ctx.obj
    out, _ = _consoles()
    if not yes:
        _needs_terminal("unlock")
    with open_target(state.options) as target:
        instance = _instance(target, instance_id)
        ddb, table = _lock_store(target)
        held = read_lock(ddb, table, instance)
        if held is None:
            out.print(f"{instance} is not locked: nothing to release.", highlight=False)
            return
        owner = target.execution_arn(execution) if execution else held.owner
        if owner != held.owner:
            raise CliError(
                f"the lock of {instance} is held by {held.owner}, not {owner}: nothing was "
                "released (give the holder with --execution, after checking it has ended)",
                2,
            )
        status = _holder_status(target, owner)
        if status == "RUNNING":
            raise CliError(
                f"{owner.rsplit(':', 1)[-1]} is still RUNNING: its lock protects the restore "
                f"under way; nothing was released (follow it: {_again(state, 'watch', owner)})",
                2,
            )
        name = owner.rsplit(":", 1)[-1]
        question = (
            f"Release the lock of {instance}, held by {name} "
            f"({status or 'unknown to Step Functions'}) since {held.acquired_at}?"
        )
        _approve(target.place, question, question.rstrip("?").lower(), yes)
        try:
            released = lock.release(ddb, table, instance, owner)
        except ClientError as err:
            raise CliError(f"{error_code(err)}: the lock was not released: {err}", 1) from err
        except TerminalError as err:  # the table gone, or the call denied
            raise CliError(f"{type(err).__name__}: the lock was not released: {err}", 1) from err
    if not released:  # taken over or released between the read and now
        raise CliError(f"{instance}'s lock is no longer held by {name}: nothing was released", 1)
    if state.as_json(out):
        render.print_json(out, {"InstanceId": instance, "Released": True, "Owner": owner})
    else:
        out.print(f"Released the lock of {instance} (held by {name}).", highlight=False)
