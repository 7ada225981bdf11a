"""Windows disks of EBS volumes, changed through the project's own SSM Run Command document.

Restores that keep the instance running (Mode "Online") and mounts (Mode "Mount") must take
a disk offline in Windows before EC2 detaches its volume, and bring a newly attached volume's
disk online. The document (``documents/windows-disks.ps1``, deployed by the stack) finds each
disk by the EBS volume id that Windows reports as its serial number, never by disk number,
and prints one ``VSS-RESTORE-RESULT {json}`` line, parsed here. Run Command keeps only the first
24,000 characters of a command's output, so the document prints that line first and a bounded
tail of progress after it; it is looked for anywhere in the output all the same.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field

from vss_restore.aws_errors import error_code, refused
from vss_restore.drill import VALIDATION_DONE
from vss_restore.errors import (
    DiskCommandFailed,
    InstanceNotManaged,
    InstanceTypeNotSupported,
    ResourceNotReady,
    WaitTimedOut,
)
from vss_restore.models import Model

# Re-exported (PLC0414): the stack and the local engine name them from here.
from vss_restore.settings import DEFAULT_DISKS_DOCUMENT as DEFAULT_DISKS_DOCUMENT  # noqa: PLC0414
from vss_restore.settings import DISKS_DOCUMENT_ENV as DISKS_DOCUMENT_ENV  # noqa: PLC0414
from vss_restore.settings import settings

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_ssm.type_defs import CommandTypeDef

RESULT_MARKER = "VSS-RESTORE-RESULT "
# How long SSM may take to deliver a disk command (SendCommand's TimeoutSeconds: a command
# that has not started by then never runs; the agent was seen online just before), and how
# long the document may run (its timeoutSeconds). The workflow waits for both together
# (DiskCommandTimeoutSeconds): a wait shorter than their sum could give up on a command that
# is still going to run, and the rollback's next command would then race it.
DELIVERY_TIMEOUT_SECONDS = 120
EXECUTION_TIMEOUT_SECONDS = 600
# What a report keeps of a command's output: its end, where errors and the result are.
EXCERPT_CHARACTERS = 1500
DiskAction = Literal["Offline", "Online", "MountReadOnly"]
DISK_ACTIONS: tuple[DiskAction, ...] = ("Offline", "Online", "MountReadOnly")
# Whose Online it is: a restore's brings nothing up unless every disk can come up (the
# rollback that follows puts the originals back and starts the services on them); a
# rollback's brings up what it can and starts the services whatever else fails.
DiskPurpose = Literal["Restore", "Rollback"]
DISK_PURPOSES: tuple[DiskPurpose, ...] = ("Restore", "Rollback")


def purpose_of(step: str) -> DiskPurpose:
    """A rollback's disk steps are named so (``RollbackDisksOnline``); every other is the
    restore's own (pure)."""
    return "Rollback" if step.startswith("Rollback") else "Restore"


# Service names as Windows allows them (named SQL Server instances contain "$"); no quotes,
# so a name cannot break out of the script's single-quoted string.
SERVICE_NAME_PATTERN = r"^[A-Za-z0-9_.$-]{1,256}$"
_VOLUME_ID = r"vol-[0-9a-f]{8,17}"
_SERVICE = SERVICE_NAME_PATTERN.strip("^$")
# A document parameter of up to 20 such names, comma-separated ("": none).
SERVICE_LIST_PATTERN = rf"^({_SERVICE}(,{_SERVICE}){{0,19}})?$"


def document_name() -> str:
    """The disk document the stack deployed (``DISKS_DOCUMENT_NAME``)."""
    return settings().disks_document


def document_content() -> dict[str, Any]:
    """The SSM Command document (schema 2.2) the stack deploys and the local engine creates."""
    script = resources.files("vss_restore").joinpath("documents/windows-disks.ps1").read_text()
    return {
        "schemaVersion": "2.2",
        "description": (
            "vss-restore: take EBS volumes' Windows disks offline or online (matched by "
            "volume id), stop and start services"
        ),
        "parameters": {
            "Action": {"type": "String", "allowedValues": list(DISK_ACTIONS)},
            "VolumeIds": {
                "type": "String",
                "description": "Comma-separated EBS volume ids",
                "allowedPattern": rf"^{_VOLUME_ID}(,{_VOLUME_ID}){{0,39}}$",
            },
            "Services": {
                "type": "String",
                "default": "",
                "description": "Comma-separated Windows service names (stopped before "
                "Offline, started after Online)",
                "allowedPattern": SERVICE_LIST_PATTERN,
            },
            "Purpose": {
                "type": "String",
                "default": "Rollback",
                "description": "Restore: Offline also refuses BitLocker volumes that would "
                "come back locked, Online brings nothing online and starts nothing unless every "
                "disk can come online; Rollback: Offline takes any disk, Online brings up what "
                "it can",
                "allowedValues": list(DISK_PURPOSES),
            },
        },
        "mainSteps": [
            {
                "action": "aws:runPowerShellScript",
                "name": "WindowsDisks",
                "precondition": {"StringEquals": ["platformType", "Windows"]},
                "inputs": {
                    "runCommand": script.splitlines(),
                    "timeoutSeconds": str(EXECUTION_TIMEOUT_SECONDS),
                },
            }
        ],
    }


class DiskState(Model):
    volume_id: str = Field(alias="VolumeId")
    disk_number: int = Field(alias="DiskNumber")
    offline: bool = Field(alias="Offline")
    read_only: bool = Field(alias="ReadOnly")
    signature_reset: bool = Field(default=False, alias="SignatureReset")
    drive_letters: list[str] = Field(default_factory=list, alias="DriveLetters")
    # Folders its volumes are mounted in (C:\Data\), which have no letter by design.
    folder_paths: list[str] = Field(default_factory=list, alias="FolderPaths")
    # Its volumes BitLocker keeps locked (by letter, or "partition N"): unreadable until unlocked.
    locked_volumes: list[str] = Field(default_factory=list, alias="LockedVolumes")


class ServiceState(Model):
    name: str = Field(alias="Name")
    status: str = Field(alias="Status")
    # Offline: the running services that depended on it, which Windows stopped with it.
    stopped_with: list[str] = Field(default_factory=list, alias="StoppedWith")
    # Online: a dependent started again, and the named service it was stopped with.
    dependent_of: str | None = Field(default=None, alias="DependentOf")


class DiskCommandResult(Model):
    """A finished disk command: what it did, and the end of its output for the report."""

    step: str = Field(alias="Step")
    command_id: str = Field(alias="CommandId")
    status: str = Field(alias="Status")
    finished_at: datetime = Field(alias="FinishedAt")
    disks: list[DiskState] = Field(default_factory=list, alias="Disks")
    services: list[ServiceState] = Field(default_factory=list, alias="Services")
    output_excerpt: str = Field(alias="OutputExcerpt")


# SSM keeps at most 100 characters of a command's comment.
COMMENT_LIMIT = 100


def command_comment(step: str, execution: str) -> str:
    """Marks the command as this step's of this execution, within SSM's 100 characters:
    ``vss-restore <step> <digest> <execution name>``. The digest (of the whole execution ARN
    and the step) comes before the name, which alone is cut to fit, so that two executions
    whose long names begin alike never share a comment."""
    digest = hashlib.sha256(f"{execution}\n{step}".encode()).hexdigest()[:12]
    return f"vss-restore {step} {digest} {execution.rsplit(':', 1)[-1]}"[:COMMENT_LIMIT]


def require_managed(ssm: SSMClient, instance_id: str) -> None:
    """``InstanceNotManaged`` unless the instance's SSM agent is online (a Windows instance)."""
    found = ssm.describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
    ).get("InstanceInformationList", [])
    if not found or found[0].get("PingStatus") != "Online":
        state = found[0].get("PingStatus") if found else "not registered"
        raise InstanceNotManaged(
            f"{instance_id} is not managed by Systems Manager (agent: {state}): the disks "
            "cannot be taken offline or online without it; nothing was changed"
        )
    platform = found[0].get("PlatformType")
    if platform and platform != "Windows":
        raise InstanceNotManaged(
            f"{instance_id} runs {platform}, not Windows: its disks are not Windows disks; "
            "nothing was changed"
        )


def nvme_disks_by_volume_id(type_info: dict[str, Any]) -> bool:
    """True if an instance of this type (a ``DescribeInstanceTypes`` entry) shows its EBS
    volumes as NVMe disks whose serial number is the volume id.

    AWS documents that for instances built on the Nitro System: their type's ``Hypervisor``
    is ``nitro``, except bare metal types, which have no hypervisor and require NVMe for EBS
    (``EbsInfo.NvmeSupport`` ``required``). On Xen types the disks come from the AWS PV or
    Citrix PV drivers and their serial number is not reliably the volume id.
    """
    if type_info.get("Hypervisor") == "nitro":
        return True
    nvme = (type_info.get("EbsInfo") or {}).get("NvmeSupport")
    return bool(type_info.get("BareMetal")) and nvme == "required"


def require_nitro(ec2: EC2Client, instance_id: str, instance_type: str, mode: str) -> None:
    """``InstanceTypeNotSupported`` unless ``instance_type`` is built on the Nitro System.

    The disk document finds each disk by the volume id that Nitro instances report as its
    serial number: on any other instance it would stop the services and then find no disk.
    """
    types = ec2.describe_instance_types(InstanceTypes=[instance_type])  # type: ignore[list-item]
    found = types.get("InstanceTypes") or []
    if found and nvme_disks_by_volume_id(dict(found[0])):
        return
    hypervisor = found[0].get("Hypervisor", "unknown") if found else "unknown"
    raise InstanceTypeNotSupported(
        f"{instance_id} is a {instance_type} (hypervisor {hypervisor}): Mode {mode!r} needs an "
        "instance built on the Nitro System, whose EBS volumes are NVMe disks carrying the "
        "volume id as serial number, to find each disk before it stops anything; restore "
        'this instance with Mode "InPlace" instead (it stops the instance); nothing was changed'
    )


def command_sent_before(
    ssm: SSMClient, instance_id: str, comment: str, document: str
) -> str | None:
    """The id of the command of ``document`` already sent with ``comment``, if any: a task
    that is retried after its SendCommand went through finds it instead of sending again."""
    return sent_among(list(commands_on(ssm, instance_id)), comment, document)


def sent_among(commands: list[CommandTypeDef], comment: str, document: str) -> str | None:
    """The id of the command of ``document`` with ``comment`` among ``commands`` (pure)."""
    for command in commands:
        if command.get("Comment") == comment and command.get("DocumentName") == document:
            return str(command["CommandId"])
    return None


def commands_on(ssm: SSMClient, instance_id: str) -> Iterator[CommandTypeDef]:
    """Every command sent to the instance, page after page (SSM answers a page at a time)."""
    for page in ssm.get_paginator("list_commands").paginate(InstanceId=instance_id):
        yield from page.get("Commands", [])


def running_disk_command(
    ssm: SSMClient, instance_id: str, document: str, commands: list[CommandTypeDef]
) -> str | None:
    """Words naming a command of ``document`` among the instance's ``commands`` that has not
    ended, if any.

    Two disk commands must never run at once: one that was given up on (and cancelled, which
    Windows may take a while to act on) could change disks or services behind the next.
    ``ListCommands`` says which may still run; the invocation of each says whether it does.
    """
    for command in commands:
        if command.get("DocumentName") != document or command.get("Status") in VALIDATION_DONE:
            continue
        try:
            finished_invocation(ssm, str(command["CommandId"]), instance_id)
        except ResourceNotReady as err:
            return f"disk {err} ({command.get('Comment', '')})"
    return None


def send_disk_command(
    ssm: SSMClient,
    instance_id: str,
    action: DiskAction,
    volume_ids: list[str],
    services: list[str],
    execution: str,
    step: str,
    document: str | None = None,
) -> str:
    """Send the document once per step of an execution (a retried task finds its command),
    and only once no other disk command runs on the instance (``ResourceNotReady`` until then).

    ``document``: the disk document's name when not the tasks' own (the CLI's ``unmount``)."""
    comment = command_comment(step, execution)
    document = document or document_name()
    # One listing serves both: the retry's own command, and any other still running.
    listed = list(commands_on(ssm, instance_id))
    earlier = sent_among(listed, comment, document)
    if earlier is not None:
        return earlier
    running = running_disk_command(ssm, instance_id, document, listed)
    if running is not None:
        raise ResourceNotReady(
            f"{step}: {running} on {instance_id}: nothing is sent until it has ended"
        )
    parameters: dict[str, list[str]] = {
        "Action": [action],
        "VolumeIds": [",".join(volume_ids)],
        "Services": [",".join(services)],
    }
    if action != "MountReadOnly":  # which the document does not read
        parameters["Purpose"] = [purpose_of(step)]
    try:
        sent = ssm.send_command(
            InstanceIds=[instance_id],
            DocumentName=document,
            Parameters=parameters,
            Comment=comment,
            TimeoutSeconds=DELIVERY_TIMEOUT_SECONDS,
        )
    except ClientError as err:
        if error_code(err) in ("InvalidInstanceId", "InvalidDocument", "InvalidParameters"):
            raise DiskCommandFailed(
                f"{step}: SSM refused {document} on {instance_id}: {err}"
            ) from err
        refused(err, f"document {document} on {instance_id} ({step})")
    return str(sent["Command"]["CommandId"])


def cancel_disk_command(ssm: SSMClient, command_id: str, instance_id: str) -> str:
    """Cancel a command the workflow stopped waiting for, so that it does not go on to change
    disks or services behind the rollback's command; says what came of it (pure words). The
    next disk command waits until this one is seen ended (``send_disk_command``)."""
    try:
        ssm.cancel_command(CommandId=command_id, InstanceIds=[instance_id])
    except ClientError as err:
        return f"cancelling it failed ({error_code(err)}): the next disk command waits for its end"
    return "it was cancelled; the next disk command waits until it has ended"


def given_up(ssm: SSMClient, command_id: str, instance_id: str, err: WaitTimedOut) -> WaitTimedOut:
    """The error for a disk command waited for too long, which is cancelled first."""
    return WaitTimedOut(f"{err}; {cancel_disk_command(ssm, command_id, instance_id)}")


def attached_volume_ids(ec2: EC2Client, instance_id: str, volume_ids: list[str]) -> list[str]:
    """Those of ``volume_ids`` that EC2 shows attached, or attaching, to the instance.

    A rollback takes only these disks offline: the document fails on a volume whose disk
    is not there, and a replacement that never reached the instance has no disk to take.
    """
    volumes = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": volume_ids}])
    on_instance = {
        v["VolumeId"]
        for v in volumes["Volumes"]
        for a in v.get("Attachments") or []
        if a.get("InstanceId") == instance_id and a.get("State") in ("attaching", "attached")
    }
    return [v for v in volume_ids if v in on_instance]


def finished_invocation(
    ssm: SSMClient, command_id: str, instance_id: str, label: str = ""
) -> dict[str, Any]:
    """The command's invocation on the instance once it has finished (any of Run Command's
    terminal statuses); ``ResourceNotReady`` while it is undelivered or still running."""
    try:
        invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
    except ClientError as err:
        if error_code(err) == "InvocationDoesNotExist":  # not delivered yet
            raise ResourceNotReady(f"{label}command {command_id} not yet on {instance_id}") from err
        raise
    if invocation["Status"] not in VALIDATION_DONE:
        raise ResourceNotReady(f"{label}command {command_id} is {invocation['Status']}")
    return dict(invocation)


def finished_disk_command(
    ssm: SSMClient, command_id: str, instance_id: str, step: str, now: datetime
) -> DiskCommandResult:
    """The command's result once it has succeeded; ``ResourceNotReady`` before.

    A command that failed, was cancelled or timed out is ``DiskCommandFailed``, whose message
    ends with the end of the command's output.
    """
    invocation = finished_invocation(ssm, command_id, instance_id, f"{step}: ")
    status = str(invocation["Status"])
    output = str(invocation.get("StandardOutputContent") or "")
    errors = str(invocation.get("StandardErrorContent") or "")
    text = "\n".join(part for part in (output, errors) if part)
    if status != "Success":
        raise DiskCommandFailed(
            f"{step}: command {command_id} on {instance_id} ended {status}: {excerpt(text)}"
        )
    parsed = parse_result(output)
    check_disk_states(parsed, f"{step}: command {command_id} on {instance_id}")
    return DiskCommandResult.model_validate(
        {
            "Step": step,
            "CommandId": command_id,
            "Status": status,
            "FinishedAt": now,
            "Disks": parsed.get("Disks") or [],
            "Services": parsed.get("Services") or [],
            "OutputExcerpt": excerpt(text),
        }
    )


def parse_result(output: str) -> dict[str, Any]:
    """The document's ``VSS-RESTORE-RESULT`` object, wherever it is in the output (first in
    it, or after text printed without a line break); ``DiskCommandFailed`` if there is none
    or it was cut off."""
    decoder = json.JSONDecoder()
    start = output.find(RESULT_MARKER)
    while start >= 0:
        text = output[start + len(RESULT_MARKER) :]
        try:
            parsed, _ = decoder.raw_decode(text)
        except json.JSONDecodeError as err:
            raise DiskCommandFailed(
                "the disk command's result is not whole JSON (output cut off?): "
                f"{excerpt(text.splitlines()[0] if text else '')}"
            ) from err
        if isinstance(parsed, dict):
            return parsed
        start = output.find(RESULT_MARKER, start + 1)
    raise DiskCommandFailed(f"the disk command printed no result line: {excerpt(output)}")


# What each action leaves a disk as: (offline, read-only).
_EXPECTED_STATE: dict[str, tuple[bool, bool]] = {
    "Offline": (True, False),
    "Online": (False, False),
    "MountReadOnly": (False, True),
}


def check_disk_states(result: dict[str, Any], what: str) -> None:
    """``DiskCommandFailed`` naming the disk unless every disk the command reports is as its
    action leaves it: Offline offline; Online online and writable; MountReadOnly online and
    read-only; and no volume of a disk Online brought up locked by BitLocker. A "Success" is
    not taken on trust: a disk in any other state would be detached while online, or handed to
    the application read-only or unreadable."""
    action = result.get("Action")
    expected = _EXPECTED_STATE.get(str(action))
    if expected is None:
        raise DiskCommandFailed(f"{what}: the result names no known action ({action!r})")
    offline, read_only = expected
    words = {
        (True, False): "offline",
        (True, True): "offline",
        (False, False): "online and writable",
        (False, True): "online and read-only",
    }
    for disk in result.get("Disks") or []:
        state = (bool(disk.get("Offline")), bool(disk.get("ReadOnly")))
        if state[0] != offline or (not offline and state[1] != read_only):
            raise DiskCommandFailed(
                f"{what}: {action} reported success, but the disk of {disk.get('VolumeId')} "
                f"(disk {disk.get('DiskNumber')}) is {words[state]}, not {words[expected]}"
            )
        locked = disk.get("LockedVolumes") or []
        if action == "Online" and locked:
            # The application would find its volume unreadable (a mount reports it instead).
            raise DiskCommandFailed(
                f"{what}: Online reported success, but BitLocker keeps {', '.join(locked)} of "
                f"the disk of {disk.get('VolumeId')} locked: the services cannot read it"
            )


def excerpt(text: str) -> str:
    """The end of a command's output, where its result and any error are."""
    text = text.strip()
    return text if len(text) <= EXCERPT_CHARACTERS else "…" + text[-EXCERPT_CHARACTERS:]
