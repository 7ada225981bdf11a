"""Where the emulator (moto 5.2) is kinder than AWS, make it behave like AWS.

Each rule is a botocore hook on the boto3 session the workflow's clients come from, and
each has its own test. Only the local engine installs them; product code never sees them.

- ``CreateVolume`` honours ``ClientToken``: the same token returns the same volume, the
  same token with other parameters fails with ``IdempotentParameterMismatch``.
- ``CreateVolume`` from a snapshot that is not ``completed`` fails with ``IncorrectState``.
- ``AttachVolume`` to a device in use fails (``InvalidParameterValue``), and so does
  attaching a volume that is attached elsewhere (``VolumeInUse``).
- ``DetachVolume`` of the root volume of an instance that is not stopped fails
  (``IncorrectState``).
- SSM Run Command (a drill's validation): ``SendCommand`` refuses an instance that is not
  running (``InvalidInstanceId``, as for an agent that is not online) and a document SSM
  does not have (``InvalidDocument``); AWS's ``AWS-RunPowerShellScript`` exists. Commands
  report ``InProgress`` once, then the outcome: ``Success`` with a listing of the instance's
  disks unless a test has asked for another (``SsmRunCommand.respond``). In simulation mode
  a command is ``Pending``, then ``InProgress``, until its modelled end instead
  (``SsmRunCommand.pace``). moto would say ``Success`` at once, with no output, for any
  instance and document. ``GetCommandInvocation`` returns the first 24,000 characters of a
  command's output and the first 8,000 of its errors, as SSM does (``OUTPUT_LIMIT``,
  ``ERROR_LIMIT``); moto returns whatever it was given. ``CancelCommand`` (moto has none)
  makes a command that has not ended read ``Cancelling`` at the next look, then
  ``Cancelled``; a test may make a document's commands (or its next few) hang until then
  (``SsmRunCommand.hang``), as a guest that never answers. ``ListCommands`` shows each
  command as its invocation last read (``InProgress`` until seen ended), where moto says
  ``Success`` from the start, and answers 50 commands at a time (or ``MaxResults``) with a
  ``NextToken`` for the rest, where moto answers them all at once (``ListCommandsPages``).
- Windows in the instances (``windows_guests.WindowsGuests``): managed instances, SSM's
  parameter checks, and the project's disk document's effect on disks and services, with
  a record of any volume detached while its disk was online.
- ``RunInstances`` refuses a mapping of the AMI's root device to another snapshot
  (``InvalidBlockDeviceMapping``: a launch may resize or retype the root, never replace its
  snapshot), and an instance launched with block device mappings still gets its AMI's root
  volume, created from the AMI's root snapshot (``RunInstancesRootDevice``). An instance
  launched with its security groups on its network interface has them as its own, as EC2
  describes it (``RunInstancesInterfaceGroups``); moto lists no group for it.
- Volume initialization (``VolumeInitialization``): ``CreateVolume`` and ``RunInstances``
  mappings refuse a ``VolumeInitializationRate`` outside 100-300 MiB/s or without a snapshot
  (``InvalidParameterValue``) and keep the rate on the volume (moto drops it);
  ``Enable``/``Disable``/``DescribeFastSnapshotRestores`` keep fast snapshot restore per
  snapshot and zone (moto has none), and a volume created from an ``enabled`` one in its
  zone without a rate is ``FastRestored`` while the pair has volume creation credits;
  ``DescribeVolumeStatus`` (moto has none) answers with ``InitializationStatusDetails``:
  complete at once, as every change here is instant (simulation mode models the progress).
- The Step Functions service integration (``arn:aws:states:::states:startExecution.sync:2``,
  for definitions that start executions from a Task state) takes AWS's PascalCase
  parameters and answers in PascalCase: moto's interpreter passes them to boto3 unchanged
  (``SfnIntegrationCase``).
- ``StopExecution`` ends the execution at once: ``ABORTED`` from then on, with the stop's
  date (``StopExecutionAborts``); moto keeps it ``RUNNING`` until its thread notices, and
  ends it ``FAILED`` or ``SUCCEEDED`` if a task finishes first.
- The context object has ``$$.Execution.RedriveCount`` (``ExecutionRedriveCount``): 0, as
  for an execution that was never redriven; moto has no such field (a path to it fails the
  state with ``States.Runtime``) and no ``RedriveExecution``. A test expresses a redriven
  execution by giving its name a count (``ExecutionRedriveCount.redrive``): every state of
  it then reads that count, as every state a redrive resumes reads it on AWS.
- State data over 262,144 bytes (a task's result, a state's output, a task's input after
  ``Parameters``) fails the execution with ``States.DataLimitExceeded``, which neither
  ``States.ALL`` in a Catch nor in a Retry matches (``DataLimitExceededIsTerminal``). moto
  lets a Catch take it, crashes with ``States.Runtime`` when it happens inside a Parallel
  branch, and does not check a task's input.
- A Task whose ``lambda:Invoke`` call fails reports ``Lambda.<Exception>``
  (``Lambda.TooManyRequestsException``, ``Lambda.ServiceException``; with no answer,
  ``Lambda.SdkClientException``), as Step Functions' Lambda integration does
  (``LambdaInvokeErrors``); moto says ``Exception``.
- A path that selects nothing or a failing intrinsic function (``Parameters``,
  ``ResultSelector``, a Choice rule other than ``IsPresent``) fails the execution with
  ``States.Runtime``, which no Retry or Catch matches (``RuntimeErrorsAreTerminal``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.ssm.models import ssm_backends

from vss_restore.drill import VALIDATION_DONE
from vss_restore.local.responses import HookAnswer, answer, error_answer
from vss_restore.local.windows_guests import WindowsGuests

Hook = Callable[..., Any]


def _backend(request_signer: Any) -> Any:
    return ec2_backends[DEFAULT_ACCOUNT_ID][request_signer.region_name]


class Ec2Fidelity:
    """The hooks, plus the ClientToken memory they share."""

    def __init__(self) -> None:
        # (region, token) → (parameter fingerprint, the original answer), as AWS keeps them
        self._tokens: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}

    def hooks(self) -> list[tuple[str, Hook]]:
        return [
            ("before-call.ec2.CreateVolume", self.before_create_volume),
            ("after-call.ec2.CreateVolume", self.after_create_volume),
            ("before-call.ec2.AttachVolume", self.before_attach_volume),
            ("before-call.ec2.DetachVolume", self.before_detach_volume),
        ]

    # --- CreateVolume -------------------------------------------------------------------

    def before_create_volume(
        self, params: dict[str, Any], request_signer: Any, context: dict[str, Any], **_: Any
    ) -> HookAnswer | None:
        body = dict(params.get("body") or {})
        backend = _backend(request_signer)
        snapshot_id = body.get("SnapshotId")
        if snapshot_id:
            snapshot = backend.snapshots.get(snapshot_id)
            if snapshot is not None and snapshot.status != "completed":
                return error_answer(
                    "IncorrectState",
                    f"Snapshot '{snapshot_id}' is not 'completed' (it is {snapshot.status}).",
                )
        token = body.get("ClientToken")
        if not token:
            return None
        key = (request_signer.region_name, token)
        fingerprint = hashlib.sha256(
            json.dumps(
                {k: v for k, v in body.items() if k != "ClientToken"}, sort_keys=True
            ).encode()
        ).hexdigest()
        seen = self._tokens.get(key)
        if seen is None:
            context["vss_restore_client_token"] = (key, fingerprint)
            return None
        if seen[0] != fingerprint:
            return error_answer(
                "IdempotentParameterMismatch",
                "The client token you have provided is associated with a resource that has different parameters.",
            )
        # A repeat gets the original answer, even if that volume has since been deleted.
        return answer(200, seen[1])

    def after_create_volume(
        self, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        remembered = context.get("vss_restore_client_token")
        if remembered and parsed.get("VolumeId"):
            key, fingerprint = remembered
            original = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
            self._tokens[key] = (fingerprint, original)

    # --- AttachVolume / DetachVolume ----------------------------------------------------

    def before_attach_volume(
        self, params: dict[str, Any], request_signer: Any, **_: Any
    ) -> HookAnswer | None:
        body = dict(params.get("body") or {})
        backend = _backend(request_signer)
        instance = _instance(backend, body.get("InstanceId"))
        volume = backend.volumes.get(body.get("VolumeId"))
        device = body.get("Device")
        if instance is None or volume is None:
            return None
        if volume.attachment is not None:
            return error_answer("VolumeInUse", f"{volume.id} is already attached to an instance")
        if device in instance.block_device_mapping:
            return error_answer(
                "InvalidParameterValue",
                f"Invalid value '{device}' for unixDevice. Attachment point {device} is already in use",
            )
        return None

    def before_detach_volume(
        self, params: dict[str, Any], request_signer: Any, **_: Any
    ) -> HookAnswer | None:
        body = dict(params.get("body") or {})
        backend = _backend(request_signer)
        volume = backend.volumes.get(body.get("VolumeId"))
        if volume is None or volume.attachment is None:
            return None
        instance = volume.attachment.instance
        is_root = volume.attachment.device == getattr(instance, "root_device_name", "/dev/sda1")
        if is_root and instance.state != "stopped":
            return error_answer(
                "IncorrectState",
                f"Unable to detach root volume '{volume.id}' from instance '{instance.id}' while it is {instance.state}",
            )
        return None


RATE_RANGE_MIBPS = (100, 300)  # EBS's VolumeInitializationRate range


def _rate_refusal(rate: object, snapshot_id: object) -> HookAnswer | None:
    """AWS's refusal of a ``VolumeInitializationRate`` (as the request carries it), if any."""
    if rate is None:
        return None
    low, high = RATE_RANGE_MIBPS
    if not str(rate).isdigit() or not low <= int(str(rate)) <= high:
        return error_answer(
            "InvalidParameterValue",
            f"Value ({rate}) for parameter volumeInitializationRate is invalid. "
            f"It must be between {low} and {high} MiB/s.",
        )
    if not snapshot_id:
        return error_answer(
            "InvalidParameterValue",
            "A volume initialization rate can be specified only for volumes created from a snapshot.",
        )
    return None


class VolumeInitialization:
    """Volume initialization as EBS shows it: rates kept, fast snapshot restore, progress."""

    def __init__(self) -> None:
        # (snapshot, zone) → fast snapshot restore state, and its volume creation credits
        self.fast_restores: dict[tuple[str, str], str] = {}
        self.credits: dict[tuple[str, str], int] = {}

    def hooks(self) -> list[tuple[str, Hook]]:
        return [
            ("before-call.ec2.CreateVolume", self.before_create_volume),
            ("after-call.ec2.CreateVolume", self.after_create_volume),
            ("before-call.ec2.RunInstances", self.before_run_instances),
            ("before-call.ec2.EnableFastSnapshotRestores", self.enable_fast_snapshot_restores),
            ("before-call.ec2.DisableFastSnapshotRestores", self.disable_fast_snapshot_restores),
            ("before-call.ec2.DescribeFastSnapshotRestores", self.describe_fast_snapshot_restores),
            ("before-call.ec2.DescribeVolumeStatus", self.describe_volume_status),
        ]

    def record(self, volume: Any, rate: int | None) -> None:
        """Keep ``rate`` on moto's volume (DescribeVolumes shows it); mark fast restores.

        A volume from a snapshot with fast snapshot restore ``enabled`` in its zone, and no
        rate, takes one of that pair's volume creation credits; without one it is not fast
        restored (AWS). The bucket holds ``MAX(1, MIN(10, 1024 / snapshot GiB))`` credits and
        is full when enabled here (on AWS it fills at that many per hour from empty, during
        optimization); it does not refill (the emulator's world has no hours).
        """
        volume.volume_initialization_rate = rate
        key = (volume.snapshot_id or "", volume.zone.name)
        fast = rate is None and self.fast_restores.get(key) == "enabled"
        if fast and self.credits.get(key, 0) >= 1:
            self.credits[key] -= 1
        else:
            fast = False
        volume.fast_restored = fast

    def before_create_volume(
        self, params: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> HookAnswer | None:
        body = dict(params.get("body") or {})
        rate = body.get("VolumeInitializationRate")
        refusal = _rate_refusal(rate, body.get("SnapshotId"))
        if refusal is None:
            context["vss_restore_initialization_rate"] = None if rate is None else int(str(rate))
        return refusal

    def after_create_volume(
        self, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        backend = ec2_backends[DEFAULT_ACCOUNT_ID][context["client_region"]]
        volume = backend.volumes.get(parsed.get("VolumeId"))
        if volume is None:
            return
        if not hasattr(volume, "fast_restored"):  # not a repeated ClientToken's answer
            self.record(volume, context.get("vss_restore_initialization_rate"))
        parsed["VolumeInitializationRate"] = volume.volume_initialization_rate
        parsed["FastRestored"] = volume.fast_restored

    def before_run_instances(self, params: dict[str, Any], **_: Any) -> HookAnswer | None:
        body = params.get("body")
        if not isinstance(body, dict):
            return None
        for index in _mapped_devices(body):
            prefix = f"BlockDeviceMapping.{index}.Ebs."
            refusal = _rate_refusal(
                body.get(prefix + "VolumeInitializationRate"), body.get(prefix + "SnapshotId")
            )
            if refusal is not None:
                return refusal
        return None

    # --- fast snapshot restore ----------------------------------------------------------

    def enable_fast_snapshot_restores(
        self, params: dict[str, Any], request_signer: Any, **_: Any
    ) -> HookAnswer:
        """Enabled at once (on AWS: enabling, then optimizing for 60 minutes per TiB)."""
        enabled = self._set_state(params, "enabled")
        snapshots = _backend(request_signer).snapshots
        for item in enabled:
            snapshot = snapshots.get(item["SnapshotId"])
            size = getattr(getattr(snapshot, "volume", None), "size", 1) or 1
            self.credits[(item["SnapshotId"], item["AvailabilityZone"])] = max(
                1, min(10, 1024 // int(size))
            )
        return answer(200, {"Successful": enabled, "Unsuccessful": []})

    def disable_fast_snapshot_restores(self, params: dict[str, Any], **_: Any) -> HookAnswer:
        return answer(200, {"Successful": self._set_state(params, "disabled"), "Unsuccessful": []})

    def _set_state(self, params: dict[str, Any], state: str) -> list[dict[str, Any]]:
        body = dict(params.get("body") or {})
        zones = _numbered(body, "AvailabilityZone")
        snapshots = _numbered(body, "SourceSnapshotId")
        done = []
        for snapshot_id in snapshots:
            for zone in zones:
                self.fast_restores[(snapshot_id, zone)] = state
                done.append(
                    {
                        "SnapshotId": snapshot_id,
                        "AvailabilityZone": zone,
                        "State": state,
                        "OwnerId": DEFAULT_ACCOUNT_ID,
                    }
                )
        return done

    def describe_fast_snapshot_restores(self, params: dict[str, Any], **_: Any) -> HookAnswer:
        filters = _filters(dict(params.get("body") or {}))
        found = [
            {
                "SnapshotId": snapshot_id,
                "AvailabilityZone": zone,
                "State": state,
                "OwnerId": DEFAULT_ACCOUNT_ID,
            }
            for (snapshot_id, zone), state in sorted(self.fast_restores.items())
            if state != "disabled"
            and snapshot_id in filters.get("snapshot-id", [snapshot_id])
            and zone in filters.get("availability-zone", [zone])
            and state in filters.get("state", [state])
        ]
        return answer(200, {"FastSnapshotRestores": found})

    # --- DescribeVolumeStatus -----------------------------------------------------------

    def describe_volume_status(
        self, params: dict[str, Any], request_signer: Any, **_: Any
    ) -> HookAnswer:
        backend = _backend(request_signer)
        ids = _numbered(dict(params.get("body") or {}), "VolumeId") or list(backend.volumes)
        missing = [i for i in ids if i not in backend.volumes]
        if missing:
            return error_answer(
                "InvalidVolume.NotFound", f"The volume '{missing[0]}' does not exist."
            )
        return answer(200, {"VolumeStatuses": [_volume_status(backend.volumes[i]) for i in ids]})


def _volume_status(volume: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "VolumeId": volume.id,
        "AvailabilityZone": volume.zone.name,
        "VolumeStatus": {
            "Status": "ok",
            "Details": [
                {"Name": "io-enabled", "Status": "passed"},
                {"Name": "io-performance", "Status": "not-applicable"},
            ],
        },
        "Actions": [],
        "Events": [],
    }
    if volume.snapshot_id:  # AWS reports initialization only for volumes from snapshots
        rate = getattr(volume, "volume_initialization_rate", None)
        details: dict[str, Any] = {
            "InitializationType": "provisioned-rate" if rate else "default",
            "Progress": 100,
        }
        if rate:
            details["EstimatedTimeToCompleteInSeconds"] = 0
        item["InitializationStatusDetails"] = details
    return item


def _numbered(body: dict[str, Any], name: str) -> list[str]:
    """``Name.1``, ``Name.2``, ... of a query-string request, in order."""
    values: list[str] = []
    while f"{name}.{len(values) + 1}" in body:
        values.append(str(body[f"{name}.{len(values) + 1}"]))
    return values


def _filters(body: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    index = 1
    while f"Filter.{index}.Name" in body:
        found[str(body[f"Filter.{index}.Name"])] = _numbered(body, f"Filter.{index}.Value")
        index += 1
    return found


@dataclass(frozen=True)
class CommandOutcome:
    status: str = "Success"
    output: str | None = None  # None: list the instance's disks, as a check script would
    response_code: int = 0


# AWS's own documents that drills use (moto has none of them).
AWS_DOCUMENTS = {
    "AWS-RunPowerShellScript": {
        "schemaVersion": "2.2",
        "description": "Run a PowerShell script.",
        "parameters": {"commands": {"type": "StringList", "description": "Commands to run."}},
        "mainSteps": [
            {
                "action": "aws:runPowerShellScript",
                "name": "runPowerShellScript",
                "inputs": {"runCommand": "{{ commands }}"},
            }
        ],
    }
}


# Where a SendCommand's own instance ids wait for its answer (botocore's request context).
_SENT_TO = "vss_restore_sent_to"


# What GetCommandInvocation keeps of a command's stdout and stderr (its first characters).
OUTPUT_LIMIT = 24_000
ERROR_LIMIT = 8_000


class SsmRunCommand:
    """Run Command as a drill sees it: refusals, a command in progress, then its outcome."""

    def __init__(self, guests: WindowsGuests | None = None) -> None:
        self.outcomes: dict[str, CommandOutcome] = {}
        self._seen: set[tuple[str, str]] = set()
        # Documents whose commands run until cancelled (a guest that never answers), and
        # the commands cancelled (moto has no CancelCommand).
        self.hung: dict[str, int | None] = {}  # document -> how many more (None: all)
        self._hung_commands: set[str] = set()
        self.cancelled: set[str] = set()
        self._cancelling_seen: set[str] = set()
        # The terminal status GetCommandInvocation gave each command that has ended: what
        # ListCommands shows (moto: "Success" for every command, from the moment it is sent).
        self._ended: dict[str, str] = {}
        self.guests = guests or WindowsGuests()  # the project's disk document runs here
        # Simulation mode: a command's status before its modelled end (None: it has ended),
        # on the model clock, instead of "InProgress" at the first look.
        self.pace: Callable[[str], str | None] | None = None

    def respond(self, document: str, outcome: CommandOutcome) -> None:
        """Commands of ``document`` end as ``outcome`` from now on."""
        self.outcomes[document] = outcome

    def hang(self, document: str, commands: int | None = None) -> None:
        """Commands of ``document`` (only the next ``commands`` sent, if given) stay
        ``InProgress`` until they are cancelled."""
        self.hung[document] = commands

    def hooks(self) -> list[tuple[str, Hook]]:
        return [
            ("before-call.ssm.CancelCommand", self.before_cancel_command),
            ("before-call.ssm.SendCommand", self.before_send_command),
            ("after-call.ssm.SendCommand", self.after_send_command),
            ("after-call.ssm.GetCommandInvocation", self.after_get_command_invocation),
            ("after-call.ssm.ListCommands", self.after_list_commands),
        ]

    def add_aws_documents(self, region: str) -> None:
        ssm = boto3.client("ssm", region_name=region)
        for name, content in AWS_DOCUMENTS.items():
            if name not in ssm_backends[DEFAULT_ACCOUNT_ID][region]._documents:
                ssm.create_document(Name=name, Content=json.dumps(content), DocumentType="Command")

    def before_send_command(
        self,
        params: dict[str, Any],
        request_signer: Any,
        context: dict[str, Any] | None = None,
        **_: Any,
    ) -> HookAnswer | None:
        body = json.loads(params.get("body") or b"{}")  # SSM speaks JSON, EC2 a query string
        if context is not None:
            context[_SENT_TO] = list(body.get("InstanceIds") or [])
        region = request_signer.region_name
        document = body.get("DocumentName", "")
        if document not in ssm_backends[DEFAULT_ACCOUNT_ID][region]._documents:
            return error_answer("InvalidDocument", f"Document {document} does not exist.")
        backend = _backend(request_signer)
        for instance_id in body.get("InstanceIds") or []:
            instance = _instance(backend, instance_id)
            if (
                instance is None
                or instance.state != "running"
                or instance_id in self.guests.unmanaged
            ):
                return error_answer(
                    "InvalidInstanceId", f"Instances [[{instance_id}]] not in a valid state."
                )
        return None

    def before_cancel_command(self, params: dict[str, Any], **_: Any) -> HookAnswer:
        """A command that has not ended reads ``Cancelling`` at the next look (the agent is
        stopping it), then ``Cancelled``; one that has ended keeps its status."""
        body = json.loads(params.get("body") or b"{}")
        command_id = str(body.get("CommandId"))
        if command_id not in self._ended:
            self.cancelled.add(command_id)
        return answer(200, {})

    def after_list_commands(self, parsed: dict[str, Any], **_: Any) -> None:
        """Each command's status as its invocation last read: ``InProgress`` (``Cancelling``
        once cancelled) until GetCommandInvocation has seen it end."""
        for command in parsed.get("Commands") or []:
            command_id = command.get("CommandId")
            running = "Cancelling" if command_id in self.cancelled else "InProgress"
            command["Status"] = self._ended.get(command_id, running)

    def after_send_command(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        """Only the instances the request names: moto adds every instance of the Region to a
        command sent without ``Targets`` (it resolves empty targets as "no filter")."""
        command = parsed.get("Command")
        sent_to = context.get(_SENT_TO)
        if not command or sent_to is None:
            return
        command["InstanceIds"] = list(sent_to)
        document = command.get("DocumentName", "")
        if document in self.hung:
            self._hung_commands.add(command["CommandId"])
            left = self.hung[document]
            if left is not None:
                if left <= 1:
                    del self.hung[document]
                else:
                    self.hung[document] = left - 1
        stored = ssm_backends[DEFAULT_ACCOUNT_ID][context["client_region"]]
        for kept in stored._commands:
            if kept.command_id == command["CommandId"]:
                kept.instance_ids = list(sent_to)

    def after_get_command_invocation(
        self, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        if "CommandId" not in parsed:
            return
        self._read_invocation(parsed, context)
        if parsed.get("Status") in VALIDATION_DONE:
            self._ended[parsed["CommandId"]] = str(parsed["Status"])

    def _read_invocation(self, parsed: dict[str, Any], context: dict[str, Any]) -> None:
        command_id = parsed["CommandId"]
        if command_id in self.cancelled:
            status = "Cancelled" if command_id in self._cancelling_seen else "Cancelling"
            self._cancelling_seen.add(command_id)
            parsed.update(Status=status, StatusDetails=status, ResponseCode=-1)
            return
        if command_id in self._hung_commands:
            parsed.update(Status="InProgress", StatusDetails="InProgress", ResponseCode=-1)
            return
        running = self._running_status(parsed["CommandId"], parsed["InstanceId"])
        if running is not None:
            parsed.update(Status=running, StatusDetails=running, ResponseCode=-1)
            parsed.update(StandardOutputContent="")
            return
        disk_command = self.guests.finish(parsed["CommandId"], context["client_region"])
        if disk_command is not None:
            status, text = disk_command
            parsed.update(
                Status=status,
                StatusDetails=status,
                ResponseCode=0 if status == "Success" else 1,
                StandardOutputContent=(text if status == "Success" else "")[:OUTPUT_LIMIT],
                StandardErrorContent=("" if status == "Success" else text)[:ERROR_LIMIT],
            )
            return
        outcome = self.outcomes.get(parsed.get("DocumentName", ""), CommandOutcome())
        output = outcome.output
        if output is None:
            backend = ec2_backends[DEFAULT_ACCOUNT_ID][context["client_region"]]
            output = _disk_listing(backend, parsed["InstanceId"])
        parsed.update(
            Status=outcome.status,
            StatusDetails=outcome.status,
            ResponseCode=outcome.response_code,
            StandardOutputContent=output[:OUTPUT_LIMIT],
        )

    def _running_status(self, command_id: str, instance_id: str) -> str | None:
        """The status of a command that has not ended yet; None once it has."""
        if self.pace is not None:
            return self.pace(command_id)
        if (command_id, instance_id) in self._seen:
            return None
        self._seen.add((command_id, instance_id))
        return "InProgress"


def _disk_listing(backend: Any, instance_id: str) -> str:
    """What a disk check prints on the clone: each device, its volume and the snapshot."""
    instance = _instance(backend, instance_id)
    if instance is None:
        return ""
    lines = []
    for device, disk in sorted(instance.block_device_mapping.items()):
        volume = backend.volumes.get(disk.volume_id)
        snapshot = getattr(volume, "snapshot_id", None) or "-"
        lines.append(f"{device} {disk.volume_id} from {snapshot}: Online")
    return "\n".join(lines)


def _instance(backend: Any, instance_id: str | None) -> Any:
    if not instance_id:
        return None
    for reservation in backend.reservations.values():
        for instance in reservation.instances:
            if instance.id == instance_id:
                return instance
    return None


class SfnIntegrationCase:
    """Step Functions tasks that call Step Functions speak PascalCase, as in AWS.

    moto leaves parameter and response names as they are, so ``StateMachineArn`` reaches
    boto3 (which wants ``stateMachineArn``) and ``executionArn`` comes back (the state
    expects ``ExecutionArn``). Only the top-level names change: ``Input`` and ``Output``
    hold the user's JSON.
    """

    def __init__(self) -> None:
        self._saved: dict[str, Any] = {}

    def install(self) -> None:
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (  # noqa: PLC0415
            state_task_service_sfn as sfn_task,
        )

        cls = sfn_task.StateTaskServiceSfn
        self._saved = {
            "_normalise_parameters": cls._normalise_parameters,
            "_normalise_response": cls._normalise_response,
        }
        original_parameters = cls._normalise_parameters

        def normalise_parameters(task: Any, parameters: dict[str, Any], *a: Any, **k: Any) -> None:
            original_parameters(task, parameters, *a, **k)
            for key in list(parameters):
                parameters[key[:1].lower() + key[1:]] = parameters.pop(key)

        def normalise_response(task: Any, response: Any, *a: Any, **k: Any) -> None:
            if isinstance(response, dict):
                for key in list(response):
                    response[key[:1].upper() + key[1:]] = response.pop(key)

        cls._normalise_parameters = normalise_parameters
        cls._normalise_response = normalise_response
        self._cls = cls

    def uninstall(self) -> None:
        for name, method in self._saved.items():
            setattr(self._cls, name, method)
        self._saved = {}


class StopExecutionAborts:
    """``StopExecution`` ends a Standard execution at once: ``ABORTED`` from then on, with
    the stop's date, error and cause (AWS).

    moto's interpreter only asks the execution's thread to stop: the execution stays
    ``RUNNING`` until the thread notices, and if a task ends (or fails) first it ends
    ``SUCCEEDED`` or ``FAILED`` instead, depending on the machine's load.
    """

    def __init__(self) -> None:
        self._saved: dict[str, Any] = {}
        self._asked: dict[str, tuple[str | None, str | None]] = {}  # ARN -> error, cause

    def hooks(self) -> list[tuple[str, Hook]]:
        return [("before-call.stepfunctions.StopExecution", self.remember)]

    def remember(self, params: dict[str, Any], **_: Any) -> None:
        """moto passes on neither the stop's error nor its cause: keep them for ``stop``."""
        body = json.loads(params.get("body") or b"{}")
        self._asked[body.get("executionArn", "")] = (body.get("error"), body.get("cause"))

    def install(self) -> None:
        from moto.stepfunctions.parser.api import ExecutionStatus  # noqa: PLC0415
        from moto.stepfunctions.parser.backend import execution as backend  # noqa: PLC0415

        execution_cls = backend.Execution
        communication_cls = backend.BaseExecutionWorkerCommunication
        original_stop = execution_cls.stop
        original_reflect = communication_cls._reflect_execution_status
        self._saved = {"stop": original_stop, "reflect": original_reflect}
        self._classes = (execution_cls, communication_cls)

        def stop(execution: Any, stop_date: Any, error: Any, cause: Any) -> None:
            if execution.exec_status != ExecutionStatus.RUNNING:
                return
            original_stop(execution, stop_date=stop_date, error=error, cause=cause)
            asked = self._asked.pop(execution.exec_arn, (error, cause))
            execution.vss_restore_stopped = (stop_date, *asked)
            _aborted(execution)

        def _aborted(execution: Any) -> None:
            stop_date, error, cause = execution.vss_restore_stopped
            execution.exec_status = ExecutionStatus.ABORTED
            execution.stop_date = stop_date
            execution.error, execution.cause, execution.output = error, cause, None

        def reflect(communication: Any) -> None:
            original_reflect(communication)
            if getattr(communication.execution, "vss_restore_stopped", None):
                _aborted(communication.execution)  # the thread ended after the stop

        execution_cls.stop = stop
        communication_cls._reflect_execution_status = reflect

    def uninstall(self) -> None:
        if self._saved:
            execution_cls, communication_cls = self._classes
            execution_cls.stop = self._saved["stop"]
            communication_cls._reflect_execution_status = self._saved["reflect"]
        self._saved = {}


class ExecutionRedriveCount:
    """``$$.Execution.RedriveCount``: how often the execution was redriven (0 if never).

    moto's context object has no ``RedriveCount``, and moto cannot redrive; ``redrive`` makes
    the execution of that name read a count, from its first state on.
    """

    def __init__(self) -> None:
        self._saved: dict[str, Any] = {}
        self._counts: dict[str, int] = {}  # execution name -> RedriveCount

    def redrive(self, execution_name: str, count: int = 1) -> None:
        self._counts[execution_name] = count

    def install(self) -> None:
        from moto.stepfunctions.parser.backend import execution_worker  # noqa: PLC0415

        worker_cls = execution_worker.ExecutionWorker
        original = worker_cls._get_evaluation_environment
        self._saved = {"env": original}
        self._cls = worker_cls
        counts = self._counts

        def environment(worker: Any) -> Any:
            env = original(worker)
            execution = env.states.context_object.context_object_data["Execution"]
            execution["RedriveCount"] = counts.get(execution["Name"], 0)
            return env

        worker_cls._get_evaluation_environment = environment

    def uninstall(self) -> None:
        if self._saved:
            self._cls._get_evaluation_environment = self._saved["env"]
        self._saved = {}


class RunInstancesVolumeSettings:
    """``RunInstances`` keeps each block device mapping's ``Iops``, ``Throughput`` and
    ``VolumeInitializationRate`` (the last through ``VolumeInitialization.record``).

    moto drops them (and then refuses io1/io2 for want of IOPS). A ``before-call`` hook reads
    them from the request, and moto's ``Instance.add_block_device`` is wrapped to create
    each volume with them, as AWS does.
    """

    def __init__(self, initialization: VolumeInitialization | None = None) -> None:
        self._pending: dict[str, dict[str, int]] = {}
        self._saved: Any = None
        self._initialization = initialization

    def hooks(self) -> list[tuple[str, Hook]]:
        return [("before-call.ec2.RunInstances", self.before_run_instances)]

    def before_run_instances(self, params: dict[str, Any], **_: Any) -> None:
        body = dict(params.get("body") or {})
        self._pending = {}
        for index, device in _mapped_devices(body).items():
            prefix = f"BlockDeviceMapping.{index}.Ebs."
            self._pending[device] = {
                name: int(body[prefix + name])
                for name in ("Iops", "Throughput", "VolumeInitializationRate")
                if prefix + name in body
            }

    def install(self) -> None:
        from moto.ec2.models.instances import Instance  # noqa: PLC0415

        self._saved = Instance.add_block_device
        pending = self._pending_for
        initialization = self._initialization

        def add_block_device(
            instance: Any,
            size: int,
            device_path: str,
            snapshot_id: str | None,
            encrypted: bool,
            delete_on_termination: bool,
            kms_key_id: str | None,
            volume_type: str | None,
        ) -> None:
            volume = instance.ec2_backend.create_volume(
                size=size,
                zone_name=instance._placement.zone,
                snapshot_id=snapshot_id,
                encrypted=encrypted,
                kms_key_id=kms_key_id,
                volume_type=volume_type,
                iops=pending(device_path).get("Iops"),
                throughput=pending(device_path).get("Throughput"),
            )
            if initialization is not None:
                initialization.record(volume, pending(device_path).get("VolumeInitializationRate"))
            instance.ec2_backend.attach_volume(
                volume.id, instance.id, device_path, delete_on_termination
            )

        Instance.add_block_device = add_block_device

    def _pending_for(self, device: str) -> dict[str, int]:
        return self._pending.get(device, {})

    def uninstall(self) -> None:
        if self._saved is not None:
            from moto.ec2.models.instances import Instance  # noqa: PLC0415

            Instance.add_block_device = self._saved
            self._saved = None


# SSM's most commands in one ListCommands answer (its MaxResults: 1 to 50).
LIST_COMMANDS_PAGE = 50
_PAGE = "vss_restore_list_commands_page"


class ListCommandsPages:
    """``ListCommands`` answers a page at a time, as SSM does: at most ``MaxResults``
    commands (``LIST_COMMANDS_PAGE`` when not given) and a ``NextToken`` while more are
    left, from which the next call goes on. moto answers every command at once, and a
    caller reading only the first answer would see them all."""

    def hooks(self) -> list[tuple[str, Hook]]:
        return [
            ("before-call.ssm.ListCommands", self.before_list_commands),
            ("after-call.ssm.ListCommands", self.after_list_commands),
        ]

    def before_list_commands(
        self, params: dict[str, Any], context: dict[str, Any] | None = None, **_: Any
    ) -> None:
        body = json.loads(params.get("body") or b"{}")
        if context is not None:
            context[_PAGE] = (
                int(body.get("NextToken") or 0),
                int(body.get("MaxResults") or LIST_COMMANDS_PAGE),
            )

    def after_list_commands(
        self, parsed: dict[str, Any], context: dict[str, Any] | None = None, **_: Any
    ) -> None:
        start, size = (context or {}).get(_PAGE, (0, LIST_COMMANDS_PAGE))
        listed = parsed.get("Commands") or []
        parsed["Commands"] = listed[start : start + size]
        parsed.pop("NextToken", None)
        if start + size < len(listed):
            parsed["NextToken"] = str(start + size)


class RunInstancesRootDevice:
    """``RunInstances`` treats the AMI's root device as EC2 does.

    EC2 refuses a root-device mapping whose ``SnapshotId`` is not the AMI's root snapshot
    (``InvalidBlockDeviceMapping``); moto launches it. And where moto gives an instance
    launched with block device mappings no root volume at all, EC2 creates it from the AMI's
    root mapping (with the launch's size or type, if given): the hook adds that mapping.
    """

    def hooks(self) -> list[tuple[str, Hook]]:
        return [("before-call.ec2.RunInstances", self.before_run_instances)]

    def before_run_instances(
        self, params: dict[str, Any], request_signer: Any, **_: Any
    ) -> HookAnswer | None:
        body = params.get("body")
        if not isinstance(body, dict):
            return None
        image = _backend(request_signer).amis.get(body.get("ImageId"))
        root_snapshot = _image_root_snapshot(image)
        if image is None or root_snapshot is None:
            return None
        root = image.root_device_name
        mapped = _mapped_devices(body)
        root_index = next((i for i, device in mapped.items() if device == root), None)
        if root_index is None:
            if not mapped:
                return None  # no mappings: moto gives the instance a root volume of its own
            index = root_index = len(mapped) + 1
            body[f"BlockDeviceMapping.{index}.DeviceName"] = root
            body[f"BlockDeviceMapping.{index}.Ebs.DeleteOnTermination"] = "true"
        snapshot_key = f"BlockDeviceMapping.{root_index}.Ebs.SnapshotId"
        if body.get(snapshot_key, root_snapshot) != root_snapshot:
            return error_answer(
                "InvalidBlockDeviceMapping",
                f"The snapshot of the root device {root} can't be changed at launch: "
                f"{body[snapshot_key]} is not the AMI's root snapshot {root_snapshot}.",
            )
        body[snapshot_key] = root_snapshot
        return None


class RunInstancesInterfaceGroups:
    """An instance launched with ``NetworkInterfaces`` has its primary interface's security
    groups as its own (``SecurityGroups``, the ``instance.group-id`` filter), as EC2 says;
    moto keeps only groups given as ``SecurityGroupIds`` there."""

    def hooks(self) -> list[tuple[str, Hook]]:
        return [("after-call.ec2.RunInstances", self.after_run_instances)]

    def after_run_instances(
        self, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        backend = ec2_backends[DEFAULT_ACCOUNT_ID][context["client_region"]]
        for launched in parsed.get("Instances") or []:
            instance = _instance(backend, launched.get("InstanceId"))
            if instance is None or instance.security_groups or 0 not in instance.nics:
                continue
            instance.security_groups = list(instance.nics[0]._group_set)
            launched["SecurityGroups"] = [
                {"GroupId": g.id, "GroupName": g.name} for g in instance.security_groups
            ]


def _mapped_devices(body: dict[str, Any]) -> dict[int, str]:
    """Index → device name of a ``RunInstances`` request's block device mappings (from 1)."""
    found: dict[int, str] = {}
    while f"BlockDeviceMapping.{len(found) + 1}.DeviceName" in body:
        found[len(found) + 1] = body[f"BlockDeviceMapping.{len(found) + 1}.DeviceName"]
    return found


def _image_root_snapshot(image: Any) -> str | None:
    if image is None:
        return None
    for mapping in getattr(image, "block_device_mappings", None) or []:
        if mapping.get("DeviceName") == image.root_device_name:
            snapshot = mapping.get("Ebs", {}).get("SnapshotId")
            return str(snapshot) if snapshot else None
    return None


DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"


class _Patches:
    """Patches of moto's interpreter, each undone by ``uninstall`` (last first)."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        self._saved.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, replacement)

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved = []


class DataLimitExceededIsTerminal(_Patches):
    """``States.DataLimitExceeded`` ends the execution, as on AWS.

    ``States.ALL`` does not match it (only a clause naming it does), so no catch-all Catch
    or Retry takes it; a Parallel branch that hits it fails its Parallel with it (moto
    refused the name and failed with ``States.Runtime``); a task whose input after
    ``Parameters`` is over the limit fails with it too.
    """

    def install(self) -> None:
        from moto.stepfunctions.parser.asl.component.common.error_name import (  # noqa: PLC0415
            custom_error_name,
            error_equals_decl,
        )
        from moto.stepfunctions.parser.asl.component.common.error_name import (  # noqa: PLC0415
            error_name as error_name_module,
        )
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import (  # noqa: PLC0415
            state_task,
            state_task_lambda,
        )

        decl = error_equals_decl.ErrorEqualsDecl
        original_eval = decl._eval_body

        def eval_body(self: Any, env: Any) -> None:
            reported = getattr(env.stack[-1], "error_name", None)
            named = any(getattr(n, "error_name", None) == reported for n in self.error_names)
            if reported == DATA_LIMIT_EXCEEDED and not named:
                env.stack.pop()
                env.stack.append(False)
                return
            original_eval(self, env)

        custom = custom_error_name.CustomErrorName
        original_init = custom.__init__

        def init(self: Any, error_name: str | None) -> None:
            if error_name == DATA_LIMIT_EXCEEDED:
                error_name_module.ErrorName.__init__(self, error_name=error_name)
                return
            original_init(self, error_name)

        self._patch(decl, "_eval_body", eval_body)
        self._patch(custom, "__init__", init)
        for cls in (state_task.StateTask, state_task_lambda.StateTaskLambda):
            self._patch(cls, "_eval_parameters", _checked_parameters(cls._eval_parameters))


def _checked_parameters(original: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """A task's ``_eval_parameters`` that fails as AWS does when its input is over the limit."""
    from moto.stepfunctions.parser.api import (  # noqa: PLC0415
        ExecutionFailedEventDetails,
        HistoryEventType,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (  # noqa: PLC0415
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (  # noqa: PLC0415
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (  # noqa: PLC0415
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails  # noqa: PLC0415
    from moto.stepfunctions.parser.quotas import is_within_size_quota  # noqa: PLC0415

    def eval_parameters(task: Any, env: Any) -> dict[str, Any]:
        parameters = original(task, env)
        if is_within_size_quota(parameters):
            return parameters
        typ = StatesErrorNameType.StatesStatesDataLimitExceeded
        raise FailureEventException(
            failure_event=FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=typ),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(
                    executionFailedEventDetails=ExecutionFailedEventDetails(
                        error=typ.to_name(),
                        cause=f"The state/task '{task.name}' has an input with a size "
                        "exceeding the maximum number of bytes service limit.",
                    )
                ),
            )
        )

    return eval_parameters


class LambdaInvokeErrors:
    """A Task state whose ``lambda:Invoke`` call itself fails reports ``Lambda.<Exception>``
    (``Lambda.TooManyRequestsException``, ``Lambda.ServiceException``, ...), and an SDK
    failure with no answer (a time-out, a lost connection) ``Lambda.SdkClientException``,
    as Step Functions' Lambda integration names them; a function's own error keeps its
    ``errorType``. moto reports any failed Invoke as ``Exception``, which no retrier of
    the definitions names.
    """

    def __init__(self) -> None:
        self._saved: Any = None

    def install(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415
        from moto.stepfunctions.parser.api import (  # noqa: PLC0415
            HistoryEventType,
            LambdaFunctionFailedEventDetails,
        )
        from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (  # noqa: PLC0415
            CustomErrorName,
        )
        from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (  # noqa: PLC0415
            FailureEvent,
        )
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import (  # noqa: PLC0415
            state_task_lambda,
        )
        from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails  # noqa: PLC0415

        cls = state_task_lambda.StateTaskLambda
        original = cls.__dict__["_from_error"]
        self._saved = (cls, original)

        def from_error(task: Any, env: Any, ex: Exception) -> Any:
            if isinstance(ex, ClientError):
                code = ex.response.get("Error", {}).get("Code", "AWSLambdaException")
                status = ex.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                message = ex.response.get("Error", {}).get("Message", "")
                error = f"Lambda.{code}"
                cause = f"{message} (Service: AWSLambda; Status Code: {status}; Error Code: {code})"
            elif isinstance(ex, BotoCoreError):
                error, cause = "Lambda.SdkClientException", f"Unable to execute HTTP request: {ex}"
            else:
                return original(task, env, ex)
            return FailureEvent(
                env=env,
                error_name=CustomErrorName(error),
                event_type=HistoryEventType.LambdaFunctionFailed,
                event_details=EventDetails(
                    lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(
                        error=error, cause=cause
                    )
                ),
            )

        cls._from_error = from_error

    def uninstall(self) -> None:
        if self._saved is not None:
            cls, original = self._saved
            cls._from_error = original
        self._saved = None


STATES_RUNTIME = "States.Runtime"


class RuntimeErrorsAreTerminal(_Patches):
    """A path that selects nothing, or an intrinsic function that fails, in a state's
    ``Parameters``, ``ResultSelector`` or a Choice rule's ``Variable`` fails the execution
    with ``States.Runtime``, which no Retry or Catch matches (not even ``States.ALL``).

    moto fails a Task's ``Parameters`` and ``ResultSelector`` with ``States.TaskFailed``
    (a Catch of ``States.ALL`` takes it), lets ``States.ALL`` match ``States.Runtime`` (a
    bad ``InputPath`` or ``OutputPath``), and treats a Choice rule on a missing variable as
    not matched (AWS: only ``IsPresent`` may test a missing variable).
    """

    def install(self) -> None:
        from moto.stepfunctions.parser.asl.component.common import (  # noqa: PLC0415
            parargs,
            result_selector,
        )
        from moto.stepfunctions.parser.asl.component.common.error_name import (  # noqa: PLC0415
            error_equals_decl,
        )
        from moto.stepfunctions.parser.asl.component.state.choice.comparison import (  # noqa: PLC0415
            comparison_operator_type,
            comparison_variable,
            variable,
        )

        for owner in (parargs.Parargs, result_selector.ResultSelector):
            self._patch(owner, "_eval_body", _runtime_on_failure(owner.__dict__["_eval_body"]))

        comparison = comparison_variable.ComparisonVariable
        original_compare = comparison.__dict__["_eval_body"]
        is_present = comparison_operator_type.ComparisonOperatorType.IsPresent

        def compare(self: Any, env: Any) -> None:
            if self.comparison_function.operator_type != is_present:
                self.variable.eval(env)
                missing = env.stack.pop()
                if isinstance(missing, variable.NoSuchVariable):
                    raise _runtime_failure(env, f"Invalid path '{missing.path}'")
            original_compare(self, env)

        self._patch(comparison, "_eval_body", compare)

        decl = error_equals_decl.ErrorEqualsDecl
        original_matches = decl.__dict__["_eval_body"]

        def matches(self: Any, env: Any) -> None:
            if getattr(env.stack[-1], "error_name", None) == STATES_RUNTIME:
                env.stack.pop()
                env.stack.append(False)
                return
            original_matches(self, env)

        self._patch(decl, "_eval_body", matches)


def _runtime_failure(env: Any, cause: str) -> Exception:
    from moto.stepfunctions.parser.api import (  # noqa: PLC0415
        HistoryEventType,
        TaskFailedEventDetails,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (  # noqa: PLC0415
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (  # noqa: PLC0415
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (  # noqa: PLC0415
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails  # noqa: PLC0415

    failure: Exception = FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(
                taskFailedEventDetails=TaskFailedEventDetails(error=STATES_RUNTIME, cause=cause)
            ),
        )
    )
    return failure


def _runtime_on_failure(original: Callable[..., None]) -> Callable[..., None]:
    """An ``_eval_body`` whose failures (a path or an intrinsic function) are ``States.Runtime``."""
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (  # noqa: PLC0415
        FailureEventException,
    )

    def eval_body(self: Any, env: Any) -> None:
        try:
            original(self, env)
        except FailureEventException:
            raise
        except Exception as err:
            raise _runtime_failure(env, str(err)) from err

    return eval_body
