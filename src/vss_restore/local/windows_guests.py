"""Windows inside the emulator's instances, as the project's disk document sees and changes it.

moto runs no guest and no Run Command document: ``SendCommand`` succeeds at once, for any
parameters, and changes nothing; ``DescribeInstanceInformation`` is not implemented. This
model is the part of the fidelity layer that stands in for them:

- ``DescribeInstanceInformation``: a running instance is managed (agent ``Online``, Windows)
  unless a test unregisters it (``unmanaged``).
- ``SendCommand`` checks parameters against the document as SSM does (unknown names, values
  outside ``allowedValues``, text not matching ``allowedPattern``: ``InvalidParameters``).
- The project's disk document takes effect when its command is seen finished, as the
  document does it. ``Offline`` checks everything before it changes anything: every service
  exists, every volume's disk is found by volume id (only on a Nitro instance type: on Xen
  no disk carries the volume id), and none is refused: a disk Windows will not take offline
  (``unofflineable``), a member of a storage pool (``pools``), a dynamic disk unless every
  dynamic disk of the instance is requested (``dynamic``; a copy of a dynamic disk is one;
  one offline or read-only is not in use and goes alone), and, for a restore's Offline
  (``Purpose`` Restore), a disk in use whose volume BitLocker protects without auto-unlock
  (``bitlocker``: its copy would arrive locked) or keeps locked.
  Only then does it record each service's running dependents (``dependents``, recursively),
  stop the services (their dependents with them) and take the disks offline. ``Online``
  brings online the disks it finds, then starts the services and the dependents recorded for
  them, and only then fails for a disk it did not find or refused; a service that does not
  exist is skipped.
- Disk identities (MBR signature, GPT GUID) are copied with the data: a volume made from a
  snapshot carries the identity of the first volume of its chain of snapshot copies (or of
  the snapshot the chain starts from, as two volumes of one AMI's snapshot do), until a mount
  gives it one of its own. An offline disk whose identity is an online disk's collides:
  ``Online`` refuses it (the original or another copy of it is still attached), leaves it
  offline and fails naming it; ``MountReadOnly`` gives it an identity of its own.
- A copy of a volume BitLocker protects "by-hand" reports its volume locked once online
  (``LockedVolumes``); a copy online and writable with the identity of a volume mounted in
  folders (``folders``) reports those folders (``FolderPaths``).
- ``MountReadOnly`` refuses, before any disk changes, disks needing more drive letters than
  D: to Z: has free; else gives each disk a free letter and makes it read-only (never
  writable: a retry keeps it read-only).
- The output is the document's: the result line first, then at most 40 progress lines. A
  service in ``slow_stops`` takes that many seconds to stop; ``Stop-Service`` warns every 2
  seconds meanwhile, which the output shows unless the document silences warnings (it does).
- A volume attached while the instance runs arrives with its disk offline; a volume that was
  attached before (at launch, or at the last start) has its disk online, unless its device
  location is flagged offline: detaching a volume whose disk is offline flags its location
  (the device name stands for it here), and bringing a disk online there clears the flag.
- ``DetachVolume`` of a volume whose disk is online on a running instance is recorded in
  ``violations`` (EC2 would allow it; Windows would lose the disk's unwritten data).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.ssm.models import ssm_backends

from vss_restore.local.responses import HookAnswer, answer, error_answer
from vss_restore.windows_disks import (
    RESULT_MARKER,
    document_content,
    document_name,
    nvme_disks_by_volume_id,
)

Hook = Callable[..., Any]
_LETTERS = "DEFGHIJKLMNOPQRSTUVWXYZ"
# Progress lines the document prints after its result line, at the most.
OUTPUT_TAIL_LINES = 40
_SCRIPT = "\n".join(document_content()["mainSteps"][0]["inputs"]["runCommand"])
# Whether the document keeps Stop-Service's "Waiting for service" warnings out of its output.
DOCUMENT_SILENCES_WARNINGS = "$WarningPreference = 'SilentlyContinue'" in _SCRIPT or bool(
    re.search(r"Stop-Service[^\n]*-WarningAction SilentlyContinue", _SCRIPT)
)


@dataclass
class GuestDisk:
    offline: bool
    read_only: bool = False
    letters: tuple[str, ...] = ()
    signature_reset: bool = False
    number: int = 0


@dataclass
class _Command:
    instance_id: str
    action: str
    volume_ids: list[str]
    services: list[str]
    purpose: str = "Rollback"


@dataclass
class WindowsGuests:
    """Each instance's Windows disks and services (see the module's docstring)."""

    disks: dict[str, GuestDisk] = field(default_factory=dict)  # by volume id
    stopped_services: dict[str, list[str]] = field(default_factory=dict)  # by instance
    # Services an instance has; an instance not listed has any service it is asked for.
    known_services: dict[str, set[str]] = field(default_factory=dict)
    # Per instance: service -> the services that depend on it (SQLSERVERAGENT on MSSQLSERVER).
    dependents: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # Seconds a service takes to stop (Stop-Service warns every 2 s while it waits).
    slow_stops: dict[str, int] = field(default_factory=dict)
    # Volumes whose disk is dynamic (copies of them are too): their volumes may span disks.
    dynamic: set[str] = field(default_factory=set)
    # Storage pools: name -> member volumes.
    pools: dict[str, set[str]] = field(default_factory=dict)
    # Volumes whose disk Windows will not take offline, and why (page file, clustered).
    unofflineable: dict[str, str] = field(default_factory=dict)
    # BitLocker-protected volumes (copies of them are too): "auto-unlock", or "by-hand"
    # (unlocked by hand where it is attached: every copy of it arrives locked).
    bitlocker: dict[str, str] = field(default_factory=dict)
    # Volumes mounted in folders, and the folders: a copy online with the same identity on a
    # writable disk (a restore's) is mounted there again; a mount's read-only copy is not.
    folders: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # What Offline recorded on the instance: service -> running dependents stopped with it.
    recorded_dependents: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # Volumes given an identity of their own (a mount's reset): copies of them carry it.
    own_identity: set[str] = field(default_factory=set)
    # Per instance: device locations flagged offline, where a disk taken offline was detached.
    offline_locations: dict[str, set[str]] = field(default_factory=dict)
    unmanaged: set[str] = field(default_factory=set)
    violations: list[str] = field(default_factory=list)
    # (what, instance, volume) in the order it happened: offline, online, detach, attach
    events: list[tuple[str, str, str]] = field(default_factory=list)
    _commands: dict[str, _Command] = field(default_factory=dict)
    _outputs: dict[str, tuple[str, str]] = field(default_factory=dict)
    _failures: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(
        self, action: str, output: str = "Set-Disk : Access denied", *, after_services: bool = False
    ) -> None:
        """The next disk command with ``action`` fails with ``output`` and changes nothing;
        ``after_services``: an ``Offline`` that has stopped its services first (a disk that
        Windows will not take offline)."""
        self._failures.setdefault(action, []).append((output, after_services))

    def hooks(self) -> list[tuple[str, Hook]]:
        return [
            ("before-call.ssm.DescribeInstanceInformation", self.describe_instance_information),
            ("before-call.ssm.SendCommand", self.check_parameters),
            ("after-call.ssm.SendCommand", self.record_command),
            ("before-call.ec2.DetachVolume", self.before_detach),
            ("after-call.ec2.AttachVolume", self.after_attach),
            ("after-call.ec2.StartInstances", self.after_start),
        ]

    # --- what a test reads ----------------------------------------------------------------

    def disk_online(self, volume_id: str) -> bool:
        disk = self.disks.get(volume_id)
        return disk is None or not disk.offline

    # --- SSM ------------------------------------------------------------------------------

    def describe_instance_information(
        self, params: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> HookAnswer:
        body = json.loads(params.get("body") or b"{}")
        wanted = {
            v
            for f in body.get("Filters") or []
            if f.get("Key") == "InstanceIds"
            for v in f["Values"]
        }
        backend = ec2_backends[DEFAULT_ACCOUNT_ID][context["client_region"]]
        found = [
            {
                "InstanceId": instance.id,
                "PingStatus": "Online",
                "PlatformType": "Windows",
                "PlatformName": "Microsoft Windows Server 2022 Datacenter",
                "ResourceType": "EC2Instance",
            }
            for reservation in backend.reservations.values()
            for instance in reservation.instances
            if instance.state == "running"
            and instance.id not in self.unmanaged
            and (not wanted or instance.id in wanted)
        ]
        return answer(200, {"InstanceInformationList": found})

    def check_parameters(
        self, params: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> HookAnswer | None:
        body = json.loads(params.get("body") or b"{}")
        region = context["client_region"]
        document = ssm_backends[DEFAULT_ACCOUNT_ID][region]._documents.get(body.get("DocumentName"))
        if document is None:
            return None  # SsmRunCommand answers InvalidDocument
        content = json.loads(document.get_default_version().content)
        declared: dict[str, Any] = content.get("parameters") or {}
        given: dict[str, list[str]] = body.get("Parameters") or {}
        for name, values in given.items():
            spec = declared.get(name)
            if spec is None:
                return _invalid(f"{name} is not a parameter of {body['DocumentName']}")
            for value in values:
                if "allowedValues" in spec and value not in spec["allowedValues"]:
                    return _invalid(f"{name}: {value!r} is not one of {spec['allowedValues']}")
                if "allowedPattern" in spec and not re.search(spec["allowedPattern"], value):
                    return _invalid(f"{name}: {value!r} does not match {spec['allowedPattern']}")
        missing = [n for n, s in declared.items() if "default" not in s and n not in given]
        if missing:
            return _invalid(f"{missing[0]} is required by {body['DocumentName']}")
        return None

    def record_command(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        command = parsed.get("Command") or {}
        if command.get("DocumentName") != document_name():
            return
        parameters = command.get("Parameters") or {}
        action, volume_ids, services = disk_command_parameters(parameters)
        purpose = (parameters.get("Purpose") or ["Rollback"])[0]
        # SsmRunCommand (whose hooks run first) has put back the instances the request named.
        requested = command.get("InstanceIds") or []
        with self._lock:
            for instance_id in requested[:1]:  # the workflow sends each command to one instance
                self._commands[command["CommandId"]] = _Command(
                    instance_id, action, volume_ids, services, purpose
                )

    def finish(self, command_id: str, region: str) -> tuple[str, str] | None:
        """Run a disk command once (status, output); None for another document's command."""
        with self._lock:
            if command_id in self._outputs:
                return self._outputs[command_id]
            command = self._commands.get(command_id)
            if command is None:
                return None
            queued = self._failures.get(command.action) or []
            backend = ec2_backends[DEFAULT_ACCOUNT_ID][region]
            outcome = self._fail(command, *queued.pop(0)) if queued else self._run(command, backend)
            self._outputs[command_id] = outcome
            return outcome

    def _fail(self, command: _Command, output: str, after_services: bool) -> tuple[str, str]:
        if after_services and command.action == "Offline":
            stopped = self.stopped_services.setdefault(command.instance_id, [])
            stopped.extend(n for n in command.services if n not in stopped)
        return "Failed", output

    def _run(self, command: _Command, backend: Any) -> tuple[str, str]:
        instance_id = command.instance_id
        attached = _attached(backend, instance_id)
        found = attached if _nitro(backend, instance_id) else set()
        result: dict[str, Any] = {"Action": command.action, "Disks": [], "Services": []}
        log: list[str] = []
        if command.action == "Offline":
            refusal = self._refusal(command, backend, found)
            if refusal is not None:
                return "Failed", refusal
            self._stop_services(command, result, log)
        missing = [v for v in command.volume_ids if v not in found]
        refusal = self._refused_before_any_change(command, backend, attached, missing)
        if refusal is not None:
            return "Failed", refusal
        problems: list[str] = []
        for volume_id in command.volume_ids:
            if volume_id in missing:
                continue
            owner = self._collision(backend, volume_id, attached)
            if command.action == "Online" and owner is not None:
                # As the document: a copy of a disk still attached is left offline, refused.
                problems.append(
                    f"refused: the disk of {volume_id} collides with a disk that is online on "
                    f"this instance (the disk of {owner}): the original or another copy of it "
                    "is still attached; the disk was left offline"
                )
                result["Disks"].append(self._state(backend, volume_id))
                continue
            result["Disks"].append(self._change_disk(command, volume_id, backend, attached))
            log.append(f"disk of {volume_id} {command.action}")
        if command.action == "Online":
            self._start_services(command, result)
            if missing:
                problems.append(_not_found(missing))
            if problems:
                # As the document: the other disks are online and the services started.
                return "Failed", "; ".join(problems) + " (services started)"
        output = [RESULT_MARKER + json.dumps(result), *log[-OUTPUT_TAIL_LINES:]]
        return "Success", "\n".join(output)

    def _refused_before_any_change(
        self, command: _Command, backend: Any, attached: set[str], missing: list[str]
    ) -> str | None:
        """As the document: a mount whose disks are not all there or need more letters than
        are free, and a restore's Online with a disk missing or colliding, change nothing."""
        if command.action == "MountReadOnly":
            return _not_found(missing) if missing else self._letters_refusal(command, attached)
        if command.action != "Online" or command.purpose != "Restore":
            return None
        refused = [_not_found([v]) for v in missing] + [
            f"the disk of {v} collides (the disk of {owner})"
            for v in command.volume_ids
            if v not in missing and (owner := self._collision(backend, v, attached))
        ]
        if not refused:
            return None
        return "refused: " + "; ".join(refused) + "; no disk was brought online"

    def _refusal(self, command: _Command, backend: Any, found: set[str]) -> str | None:
        """Why the document's Offline refuses before changing anything; None if it does not."""
        instance_id = command.instance_id
        known = self.known_services.get(instance_id)
        # Every service must exist before any is stopped.
        missing = [n for n in command.services if known is not None and n not in known]
        if missing:
            return f"Cannot find any service with service name '{missing[0]}'."
        for volume_id in command.volume_ids:
            for pool, members in self.pools.items():
                if volume_id in members:
                    return (
                        f"refused: the disk of {volume_id} is a member of the storage pool "
                        f"'{pool}' (members: {', '.join(sorted(members))})"
                    )
        not_found = [v for v in command.volume_ids if v not in found]
        if not_found:
            return _not_found(not_found[:1]) + "; nothing was changed"
        for volume_id in command.volume_ids:
            refusal = self._disk_refusal(command, backend, volume_id)
            if refusal is not None:
                return refusal
        dynamic = sorted(v for v in found if self._is_dynamic(backend, v))
        # Only an online, writable disk holds a volume in use: an offline one (a rollback's
        # restored disk that arrived offline) or a read-only one (a mount) goes alone.
        requested = [v for v in command.volume_ids if v in dynamic and self._in_use(v)]
        left_out = [v for v in dynamic if v not in command.volume_ids]
        if requested and left_out:
            return (
                f"refused: the disk of {', '.join(requested)} is a dynamic disk, whose volumes "
                "may span several disks: every dynamic disk of the instance must be restored "
                f"with it, and these are not requested: {', '.join(left_out)}"
            )
        return None

    def _disk_refusal(self, command: _Command, backend: Any, volume_id: str) -> str | None:
        if volume_id in self.unofflineable:
            return (
                f"refused: the disk of {volume_id} cannot be taken offline: "
                f"{self.unofflineable[volume_id]}"
            )
        # A restore's only: a rollback's or an unmount's Offline takes a locked copy away.
        bitlocker = self._bitlocker(backend, volume_id)
        if command.purpose != "Restore" or not self._in_use(volume_id) or bitlocker is None:
            return None
        why = (
            "is locked by BitLocker"
            if bitlocker == "locked"
            else "is protected by BitLocker without auto-unlock: the restored copy would come "
            "up locked"
        )
        return f"refused: the disk of {volume_id} cannot be restored online: its volume {why}"

    def _bitlocker(self, backend: Any, volume_id: str) -> str | None:
        """ "locked" (a copy of a volume unlocked by hand), "by-hand" (such a volume itself),
        or None (not protected, or auto-unlocked)."""
        for source in _chain(backend, volume_id):
            if self.bitlocker.get(source) == "by-hand":
                return "by-hand" if source == volume_id else "locked"
        return None

    def _folders(self, backend: Any, volume_id: str) -> tuple[str, ...]:
        disk = self.disks.get(volume_id)
        if disk is None or disk.offline or disk.read_only or volume_id in self.own_identity:
            return ()
        return next((self.folders[v] for v in _chain(backend, volume_id) if v in self.folders), ())

    def _in_use(self, volume_id: str) -> bool:
        disk = self.disks.get(volume_id)
        return disk is None or not (disk.offline or disk.read_only)

    def _is_dynamic(self, backend: Any, volume_id: str) -> bool:
        return volume_id in self.dynamic or _lineage(backend, volume_id) in self.dynamic

    def _running_dependents(self, instance_id: str, service: str) -> list[str]:
        graph = self.dependents.get(instance_id, {})
        stopped = self.stopped_services.get(instance_id, [])
        found: list[str] = []
        pending = [service]
        while pending:
            for dependent in graph.get(pending.pop(0), []):
                if dependent not in stopped and dependent not in found:
                    found.append(dependent)
                    pending.append(dependent)
        return found

    def _stop_services(self, command: _Command, result: dict[str, Any], log: list[str]) -> None:
        instance_id = command.instance_id
        stopped = self.stopped_services.setdefault(instance_id, [])
        record = self.recorded_dependents.setdefault(instance_id, {})
        for name in command.services:  # recorded before the first stop, added to earlier ones
            known = record.get(name, [])
            record[name] = known + [
                d for d in self._running_dependents(instance_id, name) if d not in known
            ]
        for name in command.services:
            waited = self.slow_stops.get(name, 0)
            if waited and not DOCUMENT_SILENCES_WARNINGS:
                log.extend(
                    f"WARNING: Waiting for service '{name} ({name})' to stop..."
                    for _ in range(0, waited, 2)
                )
            log.append(f"stopping {name} (with {', '.join(record[name])})")
            stopped.extend(n for n in [name, *record[name]] if n not in stopped)
            result["Services"].append(
                {"Name": name, "Status": "Stopped", "StoppedWith": list(record[name])}
            )

    def _start_services(self, command: _Command, result: dict[str, Any]) -> None:
        instance_id = command.instance_id
        known = self.known_services.get(instance_id)
        stopped = self.stopped_services.setdefault(instance_id, [])
        record = self.recorded_dependents.setdefault(instance_id, {})
        # As the document: a service that does not exist was never stopped; skip it.
        found = [n for n in command.services if known is None or n in known]
        dependents: list[str] = []
        for name in found:
            dependents.extend(d for d in record.get(name, []) if d not in dependents)
        started = [*found, *dependents]
        stopped[:] = [n for n in stopped if n not in started]
        result["Services"] = [
            {"Name": n, "Status": "Running" if n in found else "NotFound"} for n in command.services
        ] + [
            {
                "Name": d,
                "Status": "Running",
                "DependentOf": next(n for n in found if d in record.get(n, [])),
            }
            for d in dependents
        ]
        for name in found:
            record.pop(name, None)

    def _change_disk(
        self, command: _Command, volume_id: str, backend: Any, attached: set[str]
    ) -> dict[str, Any]:
        instance_id = command.instance_id
        disk = self.disks.setdefault(volume_id, GuestDisk(offline=False))
        disk.number = sorted(attached).index(volume_id) + 1
        if command.action == "Offline":
            disk.offline = True
            self.events.append(("offline", instance_id, volume_id))
        else:
            if self._collision(backend, volume_id, attached) is not None:
                # MountReadOnly only (Online refuses): the copy gets an identity of its own.
                disk.signature_reset = True
                self.own_identity.add(volume_id)
            disk.offline = False
            # A mount never makes a disk writable; Online makes it writable.
            disk.read_only = command.action == "MountReadOnly"
            if command.action == "MountReadOnly" and not disk.letters:
                disk.letters = (self._free_letters(attached)[0],)
            # Brought online here: the location is no longer flagged offline.
            device = _device_of(backend, instance_id, volume_id)
            self.offline_locations.get(instance_id, set()).discard(device)
            self.events.append(("online", instance_id, volume_id))
        return self._state(backend, volume_id)

    def _state(self, backend: Any, volume_id: str) -> dict[str, Any]:
        disk = self.disks.setdefault(volume_id, GuestDisk(offline=False))
        locked = not disk.offline and self._bitlocker(backend, volume_id) == "locked"
        return {
            "VolumeId": volume_id,
            "DiskNumber": disk.number,
            "Offline": disk.offline,
            "ReadOnly": disk.read_only,
            "SignatureReset": disk.signature_reset,
            "DriveLetters": list(disk.letters),
            "FolderPaths": list(self._folders(backend, volume_id)),
            "LockedVolumes": [f"{disk.letters[0]}:" if disk.letters else "partition 1"]
            if locked
            else [],
        }

    def _collision(self, backend: Any, volume_id: str, attached: set[str]) -> str | None:
        """The online disk here an offline disk's identity collides with, if any: two copies of
        one volume through any chain of snapshots, or two volumes of one snapshot (an AMI's),
        share the identity until one gets its own."""
        disk = self.disks.get(volume_id)
        if disk is None or not disk.offline:
            return None
        identity = _identity(backend, volume_id, self.own_identity)
        for other in sorted(attached):
            if (
                other != volume_id
                and self.disk_online(other)
                and _identity(backend, other, self.own_identity) == identity
            ):
                return other
        return None

    def _free_letters(self, attached: set[str]) -> list[str]:
        used = {"C"} | {
            letter for v in attached for letter in (self.disks.get(v) or GuestDisk(False)).letters
        }
        # Volumes attached at boot hold C: (the root) and D:, E:, ... (the others).
        at_boot = [v for v in attached if v not in self.disks]
        used |= set(_LETTERS[: max(len(at_boot) - 1, 0)])
        return [letter for letter in _LETTERS if letter not in used]

    def _letters_refusal(self, command: _Command, attached: set[str]) -> str | None:
        """As the document: MountReadOnly refuses, before any disk changes, disks that need
        more drive letters than D: to Z: has free (one per disk without one)."""
        needed = [
            v for v in command.volume_ids if not (self.disks.get(v) or GuestDisk(False)).letters
        ]
        free = self._free_letters(attached)
        if len(needed) <= len(free):
            return None
        return (
            f"refused: the disks of {', '.join(command.volume_ids)} need {len(needed)} drive "
            f"letter(s) and {len(free)} of D: to Z: are free ({', '.join(free)}); nothing was "
            "changed: mount fewer volumes"
        )

    # --- EC2 ------------------------------------------------------------------------------

    def before_detach(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        body = dict(params.get("body") or {})
        volume_id = str(body.get("VolumeId", ""))
        backend = ec2_backends[DEFAULT_ACCOUNT_ID][context["client_region"]]
        volume = backend.volumes.get(volume_id)
        attachment = getattr(volume, "attachment", None)
        instance = getattr(attachment, "instance", None)
        if instance is None:
            return
        with self._lock:
            self.events.append(("detach", instance.id, volume_id))
            if instance.state == "running" and self.disk_online(volume_id):
                self.violations.append(
                    f"{volume_id} detached from {instance.id} while its disk was online"
                )
            if not self.disk_online(volume_id):
                # Windows keeps the device location of a disk detached offline flagged
                # offline: a disk found there at the next boot stays offline.
                flagged = self.offline_locations.setdefault(instance.id, set())
                flagged.add(_location(str(getattr(attachment, "device", ""))))
            self.disks.pop(volume_id, None)

    def after_attach(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        volume_id = str(parsed.get("VolumeId", ""))
        instance_id = str(parsed.get("InstanceId", ""))
        backend = ec2_backends[DEFAULT_ACCOUNT_ID][context["client_region"]]
        instance = _instance(backend, instance_id)
        with self._lock:
            self.events.append(("attach", instance_id, volume_id))
            # Running: the disk arrives offline (SAN policy); stopped: online at the next boot.
            self.disks[volume_id] = GuestDisk(
                offline=instance is not None and instance.state == "running"
            )

    def after_start(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        backend = ec2_backends[DEFAULT_ACCOUNT_ID][context["client_region"]]
        with self._lock:
            for change in parsed.get("StartingInstances") or []:
                instance_id = change["InstanceId"]
                flagged = self.offline_locations.get(instance_id, set())
                for volume_id in _attached(backend, instance_id):
                    # At boot a disk comes online unless its location is flagged offline.
                    if _device_of(backend, instance_id, volume_id) in flagged:
                        self.disks[volume_id] = GuestDisk(offline=True)
                    else:
                        self.disks.pop(volume_id, None)
                self.stopped_services.pop(instance_id, None)


def disk_command_parameters(parameters: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    """(Action, VolumeIds, Services) of a disk command, as SendCommand echoes its parameters."""

    def listed(name: str) -> list[str]:
        return [v for v in ",".join(parameters.get(name) or []).split(",") if v]

    return (parameters.get("Action") or [""])[0], listed("VolumeIds"), listed("Services")


def _not_found(volume_ids: list[str]) -> str:
    return "; ".join(
        f"no disk has the serial number {v.replace('-', '')} of {v}" for v in volume_ids
    )


def _nitro(backend: Any, instance_id: str) -> bool:
    """The instance's EBS disks are NVMe disks whose serial is the volume id (Nitro types)."""
    instance = _instance(backend, instance_id)
    instance_type = str(getattr(instance, "instance_type", "") or "")
    found = backend.describe_instance_types(instance_types=[instance_type]) if instance_type else []
    info = found[0] if found else {}
    return nvme_disks_by_volume_id(info if isinstance(info, dict) else {})


def _invalid(message: str) -> HookAnswer:
    return error_answer("InvalidParameters", message)


def _instance(backend: Any, instance_id: str) -> Any:
    for reservation in backend.reservations.values():
        for instance in reservation.instances:
            if instance.id == instance_id:
                return instance
    return None


def _attached(backend: Any, instance_id: str) -> set[str]:
    instance = _instance(backend, instance_id)
    if instance is None:
        return set()
    return {disk.volume_id for disk in instance.block_device_mapping.values()}


def _lineage(backend: Any, volume_id: str) -> str:
    """The volume a volume was copied from through its snapshot (itself if none)."""
    volume = backend.volumes.get(volume_id)
    snapshot = backend.snapshots.get(getattr(volume, "snapshot_id", None) or "")
    source = getattr(getattr(snapshot, "volume", None), "id", None)
    return str(source or volume_id)


def _chain(backend: Any, volume_id: str) -> list[str]:
    """The volume, then each volume it was copied from through a snapshot, back to the first."""
    chain = [volume_id]
    while (source := _lineage(backend, chain[-1])) not in chain:
        chain.append(source)
    return chain


def _identity(backend: Any, volume_id: str, own: set[str]) -> str:
    """The disk identity (signature or GUID) a volume's disk carries: that of the first volume
    of its chain of snapshot copies, or of the snapshot the chain starts from (an AMI's), or
    its own once reset (``own``)."""
    seen: set[str] = set()
    current = volume_id
    while current not in own and current not in seen:
        seen.add(current)
        volume = backend.volumes.get(current)
        snapshot_id = getattr(volume, "snapshot_id", None) or ""
        snapshot = backend.snapshots.get(snapshot_id)
        if snapshot is None:
            return snapshot_id or current
        source = getattr(getattr(snapshot, "volume", None), "id", None)
        if not source or source == current:
            return str(snapshot_id)
        current = str(source)
    return current


def _location(device: str) -> str:
    """A device name as a location (``/dev/xvdf`` and ``xvdf`` are one)."""
    return device.removeprefix("/dev/")


def _device_of(backend: Any, instance_id: str, volume_id: str) -> str:
    instance = _instance(backend, instance_id)
    mapping = getattr(instance, "block_device_mapping", {}) or {}
    for device, disk in mapping.items():
        if disk.volume_id == volume_id:
            return _location(str(device))
    return ""
