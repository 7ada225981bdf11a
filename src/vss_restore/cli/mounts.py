"""``mount`` and ``unmount``: a snapshot set's volumes beside the live ones, read-only, and away.

A mount is an execution of the restore machine with Mode "Mount"; ``unmount`` reads its
``Mounts`` and takes exactly those volumes away (only volumes tagged as that execution's
mounts), as ``cleanup`` does once a mount has expired.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from vss_restore import tags
from vss_restore.cli import render
from vss_restore.cli.commands import (
    ExecutionArgument,
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
    _progress_console,
    _request,
    _stand_in,
    app,
    examples,
)
from vss_restore.cli.confirmation import Approval
from vss_restore.cli.render import fact_line
from vss_restore.cli.target import CliError, DiskClients, open_target
from vss_restore.discovery import find_snapshot_set
from vss_restore.errors import InvalidRequest
from vss_restore.instance import describe_instance, instance_facts
from vss_restore.models import MountRequest, RestoreRequest
from vss_restore.mounts import (
    Unmounted,
    free_devices,
    is_mount_volume,
    recorded_mount_volumes,
    unmount,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

    from vss_restore.executions import ExecutionRecord


def mount_approval(ec2: EC2Client, request: dict[str, Any], now: datetime) -> Approval:
    """What is mounted where, read-only, until when; the request pinned to that set and devices.

    A request the workflow would refuse (no such instance, no complete set, no free device)
    raises its named error here, before anything starts.
    """
    parsed = RestoreRequest.parse(request)
    if not isinstance(parsed, MountRequest):
        raise InvalidRequest("Mode", f'"{parsed.mode}": a mount\'s request has Mode "Mount"')
    try:
        source = instance_facts(describe_instance(ec2, parsed.instance_id))
        target = describe_instance(ec2, parsed.mount_target)
        chosen = find_snapshot_set(ec2, parsed, source)
    except (ClientError, BotoCoreError) as failure:
        question = (
            f"Mount a snapshot set of {parsed.instance_id} on {parsed.mount_target}, read-only?\n"
            f"(What it would mount could not be read: {failure})\nMount?"
        )
        return Approval(question, request, f"mount a set of {parsed.instance_id} (set not read)")
    devices = free_devices(target, len(chosen.members))
    name = tags.tag_dict(target.get("Tags")).get("Name")
    on = f"{parsed.mount_target} ({name})" if name else parsed.mount_target
    expires = now + timedelta(hours=parsed.mount_hours)
    lines = [
        fact_line("Snapshot set", chosen.snapshot_set_id),
        fact_line(
            "Taken",
            f"{render.when_text(chosen.created_at)}, "
            f"{render.age_text(now - chosen.created_at)} ago",
        ),
        fact_line(
            "On",
            f"{on}: new volumes attached beside its own, online READ-ONLY with "
            "drive letters. Nothing is stopped; nothing attached now is touched.",
        ),
        "",
        f"  {'Device':<11}{'Snapshot':<24}Attached as",
        *(
            f"  {m.device:<11}{m.snapshot_id:<24}{device}"
            for m, device in zip(chosen.members, devices, strict=True)
        ),
        "",
        fact_line(
            "Expires",
            f"{render.when_text(expires)} (in {parsed.mount_hours} h): then "
            "`cleanup` removes it; `unmount EXECUTION` does at any time",
        ),
        "",
    ]
    pinned = {k: v for k, v in request.items() if k != "RestorePointInTime"}
    pinned["SnapshotSetId"] = chosen.snapshot_set_id
    pinned["Devices"] = [m.device for m in chosen.members]
    question = "\n".join(["About to mount:", *lines, "Mount exactly this?"])
    summary = f"mount snapshot set {chosen.snapshot_set_id} of {parsed.instance_id} on {on}"
    return Approval(question, pinned, summary)


@app.command(
    rich_help_panel="Drills and mounts",
    epilog=examples("vss-restore mount --instance-id web01 --devices xvdf --wait"),
)
@_fails_cleanly
def mount(
    ctx: typer.Context,
    instance_id: InstanceOption = None,
    target_instance_id: Annotated[
        str | None,
        typer.Option(
            "--target-instance-id",
            help="Attach the volumes to this running instance (a recovery host in the Region). "
            "Default: the instance itself.",
        ),
    ] = None,
    snapshot_set_id: SetOption = None,
    point_in_time: PointInTimeOption = None,
    devices: Annotated[
        list[str] | None,
        typer.Option(
            "--device",
            "--devices",
            help="Only these devices of the set (repeat, or separate with commas). Default: "
            "the data devices; the root only when listed.",
        ),
    ] = None,
    expires_in_hours: Annotated[
        int | None,
        typer.Option(
            "--expires-in-hours", help="When cleanup may remove the mount (1-720) [default: 24]."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only plan the mount: create nothing.")
    ] = False,
    wait: WaitOption = False,
    yes: YesOption = False,
) -> None:
    """Mount a snapshot set's volumes read-only beside the live ones (file-level recovery)."""
    state: State = ctx.obj
    out, err = _consoles()
    fields: dict[str, Any] = {"Mode": "Mount"}
    if expires_in_hours is not None:
        fields["ExpiresInHours"] = expires_in_hours
    if dry_run:
        fields["DryRun"] = True
    # another stand-in than the source's: a name given for each is never "the same instance"
    target_given = (
        {"TargetInstanceId": _stand_in(target_instance_id, "i-00000000000000001")}
        if target_instance_id
        else {}
    )
    # bad input is refused before anything starts (and before the question, if one is asked)
    RestoreRequest.parse(
        {
            **_request(_stand_in(instance_id), snapshot_set_id, point_in_time, devices, False),
            **fields,
            **target_given,
        }
    )
    if not dry_run and not yes:
        _needs_terminal("mount")
    with open_target(state.options) as target:
        request = _request(
            _instance(target, instance_id), snapshot_set_id, point_in_time, devices, False
        )
        request.update(fields)
        if target_instance_id is not None:
            request["TargetInstanceId"] = target.instance_id(target_instance_id)
        RestoreRequest.parse(request)
        if not dry_run:
            approval = mount_approval(target.ec2, request, datetime.now(UTC))
            _approve(target.place, approval.question, approval.summary, yes)
            request = approval.request
        execution_arn = target.start(request)
        shown = _progress_console(state, target, execution_arn, wait, out, err)
        if shown is not None:
            _finish(state, target, _follow(state, target, execution_arn, shown), out, err)


def _listed_mounts(record: ExecutionRecord) -> list[dict[str, Any]]:
    report = record.report or record.last_output("Report") or {}
    return [dict(m) for m in report.get("Mounts") or [] if isinstance(m, dict)]


def _refuse_untagged(ec2: EC2Client, record: ExecutionRecord) -> list[str]:
    """The volume ids the execution's report lists; CliError for one not tagged as its mount."""
    listed = [str(m["VolumeId"]) for m in _listed_mounts(record) if m.get("VolumeId")]
    if not listed:
        return []
    found = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": listed}])["Volumes"]
    strangers = [str(v["VolumeId"]) for v in found if not is_mount_volume(v, record.arn)]
    if strangers:
        raise CliError(
            f"{', '.join(strangers)} listed by {record.name} are not tagged as its mounts "
            f"({tags.MOUNTED_ON}, {tags.EXECUTION}): nothing was changed",
            2,
        )
    return listed


def _print_unmounted(state: State, out: Console, document: dict[str, Any]) -> None:
    if state.as_json(out):
        render.print_json(out, document)
        return
    deleted, gone = document["Deleted"], document.get("AlreadyGone", [])
    if deleted:
        out.print(f"Deleted {len(deleted)} volume(s): {', '.join(deleted)}", highlight=False)
    if gone:
        out.print(
            f"Already gone before this unmount: {', '.join(gone)}"
            + ("" if deleted else " (nothing left to delete)"),
            highlight=False,
        )
    if not deleted and not gone:
        out.print("Nothing to delete: this mount has no volume left.", highlight=False)
    for entry in document["LeftBehind"]:
        out.print(
            f"  [yellow]left behind[/]: {entry}, tagged "
            f"{tags.STATUS}={tags.STATUS_CLEANUP_REQUIRED}",
            highlight=False,
        )


@app.command(
    "unmount",
    rich_help_panel="Drills and mounts",
    epilog=examples("vss-restore unmount i-0123456789abcdef0-5d1c0e9a7b3f"),
)
@_fails_cleanly
def unmount_command(
    ctx: typer.Context, execution: ExecutionArgument, yes: YesOption = False
) -> None:
    """Take a mount away: its disks offline, its volumes detached and deleted (safe to repeat)."""
    state: State = ctx.obj
    out, _ = _consoles()
    if not yes:
        _needs_terminal("unmount")
    with open_target(state.options) as target:
        record = target.record(execution)
        if record.input.get("Mode") != "Mount":
            raise CliError(
                f"{record.name} is not a mount (Mode {record.input.get('Mode') or 'InPlace'}): "
                "unmount takes away only what `mount` attached; nothing was changed",
                2,
            )
        listed = _refuse_untagged(target.ec2, record)
        clients = target.disk_clients()
        present = [
            v["VolumeId"] for v in recorded_mount_volumes(target.ec2, clients.records, record.arn)
        ]
        if present:
            question = (
                f"Take {len(present)} mounted volume(s) of {record.name} offline, detach and "
                f"DELETE them ({', '.join(present)})?"
            )
            _approve(target.place, question, question.rstrip("?").lower(), yes)
        done = _unmount(clients, record.arn, target.poll_seconds)
    gone = sorted(set(listed) - set(present))
    _print_unmounted(
        state,
        out,
        {"ExecutionArn": record.arn, **done.model_dump(by_alias=True), "AlreadyGone": gone},
    )
    if done.left_behind:
        raise typer.Exit(1)


def _unmount(clients: DiskClients, execution: str, interval_seconds: float) -> Unmounted:
    return unmount(
        clients.ec2,
        clients.ssm,
        clients.records,
        execution,
        document=clients.disks_document,
        interval_seconds=interval_seconds,
    )
