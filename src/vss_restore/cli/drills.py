"""``drill`` (a set restored on a clone, the source untouched) and ``cleanup`` (what drills
and mounts leave past their expiry)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from vss_restore.cli import render
from vss_restore.cli.commands import (
    InstanceOption,
    PointInTimeOption,
    SetOption,
    State,
    WaitOption,
    YesOption,
    _approve,
    _consoles,
    _fails_cleanly,
    _finish,
    _follow,
    _instance,
    _needs_terminal,
    _pairs,
    _progress_console,
    _stand_in,
    app,
    examples,
)
from vss_restore.cli.target import (
    open_disk_clients,
    open_target,
    require_execution,
)
from vss_restore.drill import CleanupPass, cleanup_pass
from vss_restore.models import RestoreRequest
from vss_restore.mounts import remove_expired_mounts


@app.command(
    rich_help_panel="Drills and mounts",
    epilog=examples(
        "vss-restore drill --instance-id web01 --subnet-id subnet-0123456789abcdef0 --wait"
    ),
)
@_fails_cleanly
def drill(
    ctx: typer.Context,
    instance_id: InstanceOption = None,
    snapshot_set_id: SetOption = None,
    point_in_time: PointInTimeOption = None,
    subnet_id: Annotated[
        str | None,
        typer.Option(
            "--subnet-id", help="Run the clone here (an isolated subnet). Default: the source's."
        ),
    ] = None,
    security_group_ids: Annotated[
        list[str] | None,
        typer.Option(
            "--security-group-id",
            help=(
                "The clone's security group (repeat). Default: an isolation group of the "
                "drill's own (no inbound, HTTPS out)."
            ),
        ),
    ] = None,
    instance_type: Annotated[
        str | None, typer.Option("--instance-type", help="The clone's type. Default: the source's.")
    ] = None,
    validation_document: Annotated[
        str | None,
        typer.Option(
            "--validation-document",
            help="Your SSM document (named vss-restore-validation-*, or one the deployment "
            "lists) run on the clone; --local has vss-restore-validation-services.",
        ),
    ] = None,
    validation_parameters: Annotated[
        list[str] | None,
        typer.Option("--validation-parameter", help="NAME=VALUE for the document (repeat)."),
    ] = None,
    keep_clone: Annotated[
        bool, typer.Option("--keep-clone", help="Leave the clone running (it expires in 24 h).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only plan the clone: launch nothing.")
    ] = False,
    wait: WaitOption = False,
) -> None:
    """Prove a snapshot set restores: a clone on a new instance; the source is never touched."""
    state: State = ctx.obj
    out, err = _consoles()
    given = {
        "Mode": "Clone",
        "SnapshotSetId": snapshot_set_id,
        "RestorePointInTime": point_in_time,
        "SubnetId": subnet_id,
        "SecurityGroupIds": security_group_ids or None,
        "InstanceType": instance_type,
        "ValidationDocument": validation_document,
        "ValidationParameters": _pairs(validation_parameters, "--validation-parameter") or None,
        "KeepClone": keep_clone or None,
        "DryRun": dry_run or None,
    }
    fields = {k: v for k, v in given.items() if v is not None}
    # bad input is refused before anything starts
    RestoreRequest.parse({"InstanceId": _stand_in(instance_id), **fields})
    with open_target(state.options) as target:
        request: dict[str, Any] = {"InstanceId": _instance(target, instance_id), **fields}
        network = target.drill_network if target.local and instance_id is None else None
        if subnet_id is None and network:
            request["SubnetId"] = network[0]
        RestoreRequest.parse(request)
        execution_arn = target.start(request)
        shown = _progress_console(state, target, execution_arn, wait, out, err)
        if shown is not None:
            _finish(state, target, _follow(state, target, execution_arn, shown), out, err)


@app.command(rich_help_panel="Drills and mounts", epilog=examples("vss-restore cleanup --dry-run"))
@_fails_cleanly
def cleanup(
    ctx: typer.Context,
    execution_arn: Annotated[
        str | None,
        typer.Option("--execution-arn", help="Remove this drill's clone now, expired or not."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed; change nothing.")
    ] = False,
    yes: YesOption = False,
) -> None:
    """Remove drill clones and volumes, and mounts, past their expiry (only what is tagged as a
    drill's or a mount's)."""
    state: State = ctx.obj
    out, _ = _consoles()
    asks = not dry_run and not yes
    if asks:
        _needs_terminal("cleanup")
    with open_disk_clients(state.options) as clients:
        ec2 = clients.ec2
        if execution_arn:
            require_execution(state.options, execution_arn)

        def sweep(dry: bool) -> CleanupPass:
            if execution_arn:
                return cleanup_pass(ec2, clients.records, execution=execution_arn, dry_run=dry)
            return cleanup_pass(ec2, clients.records, now=datetime.now(UTC), dry_run=dry)

        mount_warnings: list[str] = []

        def unmount_expired(dry: bool) -> list[str]:
            if execution_arn:
                return []  # one drill's resources: its clone, not anyone's mounts
            mount_warnings.clear()
            return remove_expired_mounts(
                clients.ec2,
                clients.ssm,
                clients.records,
                datetime.now(UTC),
                document=clients.disks_document,
                dry_run=dry,
                warnings=mount_warnings,
            )

        if asks:
            shown = sweep(dry=True)
            mounts = unmount_expired(dry=True)
            if not (shown.terminated or shown.deleted or mounts):
                out.print("Nothing to clean up: no expired drill or mount.", highlight=False)
                return
            question = (
                f"Terminate {len(shown.terminated)} drill instance(s) "
                f"({', '.join(shown.terminated) or 'none'}), delete {len(shown.deleted)} "
                f"drill volume(s) ({', '.join(shown.deleted) or 'none'}), and take "
                f"{len(mounts)} expired mount volume(s) offline, detach and delete them "
                f"({', '.join(mounts) or 'none'})?"
            )
            _approve(clients.place, question, "", yes=False)
        elif yes and not dry_run:
            what = f"the drill of {execution_arn}" if execution_arn else "every expired one"
            _approve(clients.place, "", f"cleanup of drill and mount resources: {what}", yes=True)
        removed = sweep(dry=dry_run)
        unmounted = unmount_expired(dry=dry_run)
    document = {
        "DryRun": dry_run,
        **removed.model_dump(by_alias=True),
        "UnmountedVolumes": unmounted,
        "Warnings": [*removed.warnings, *mount_warnings],
    }
    if state.as_json(out):
        render.print_json(out, document)
        return
    verb = "Would remove" if dry_run else "Removed"
    out.print(
        f"{verb} {len(removed.terminated)} instance(s): {', '.join(removed.terminated) or '—'}",
        highlight=False,
    )
    out.print(
        f"{verb} {len(removed.deleted)} volume(s): {', '.join(removed.deleted) or '—'}",
        highlight=False,
    )
    out.print(
        f"{verb} {len(unmounted)} expired mount volume(s): {', '.join(unmounted) or '—'}",
        highlight=False,
    )
    for warning in document["Warnings"]:
        out.print(f"Left alone: {warning}", highlight=False)
