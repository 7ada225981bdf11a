"""Reaching into the disks instance's Windows through SSM Run Command.

The suite prepares the instance's disks, writes and reads a marker file, and checks disks and
services from inside the guest, each time with one PowerShell script sent by ``run``. Disks
are found by their EBS volume id, which Windows shows as the NVMe disk's serial number
(``vol0abc…``, the hyphen dropped, possibly followed by ``_<n>``): disk numbers change as
volumes come and go.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import ClientError

from vss_restore.aws_errors import error_code

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

POWERSHELL_DOCUMENT = "AWS-RunPowerShellScript"
MARKER_FILE = "vss-restore-marker.txt"
_RUNNING = ("Pending", "InProgress", "Delayed")
_VOLUME_ID = re.compile(r"^vol-[0-9a-f]{8,17}$")

# Defines Get-VolumeDisk: the disk whose serial number is the volume id (hyphen dropped).
_FIND_DISK = """$ErrorActionPreference = 'Stop'
function Get-VolumeDisk([string]$VolumeId) {
    $serial = $VolumeId.Replace('-', '')
    $disk = @(Get-Disk | Where-Object {
            $_.SerialNumber -and ($_.SerialNumber -split '_')[0].Trim() -eq $serial })
    if ($disk.Count -ne 1) { throw "$($disk.Count) disks have the serial number $serial" }
    $disk[0]
}
function Get-VolumeLetter([string]$VolumeId) {
    $disk = Get-VolumeDisk $VolumeId
    $lettered = @(Get-Partition -DiskNumber $disk.Number |
            Where-Object { "$($_.DriveLetter)" -match '^[A-Z]$' })
    if ($lettered.Count -eq 0) { throw "the disk of $VolumeId has no drive letter" }
    "$($lettered[0].DriveLetter)"
}
function Clear-VolumeDisk([string]$VolumeId) {
    # A fresh EBS volume arrives raw; anything else on it is wiped, so setup is repeatable.
    $disk = Get-VolumeDisk $VolumeId
    if ($disk.IsOffline) { Set-Disk -Number $disk.Number -IsOffline $false }
    if ($disk.IsReadOnly) { Set-Disk -Number $disk.Number -IsReadOnly $false }
    if ("$($disk.PartitionStyle)" -ne 'RAW') {
        Clear-Disk -Number $disk.Number -RemoveData -RemoveOEM -Confirm:$false
    }
    Initialize-Disk -Number $disk.Number -PartitionStyle GPT
    $disk.Number
}
"""


class GuestCommandFailed(RuntimeError):
    """A Run Command on the guest did not succeed; the message carries its output."""


class AgentNotOnline(TimeoutError):
    """The instance's SSM agent did not report Online in time."""


class GuestControl(Protocol):
    """What the suite needs of a guest: its agent online, and PowerShell run on it."""

    def wait_online(self, instance_id: str, minutes: float = 20) -> None: ...

    def run(self, instance_id: str, script: str, minutes: float = 15) -> str:
        """Run ``script``; its standard output, or ``GuestCommandFailed``."""
        ...


@dataclass
class SsmGuest:
    """The real guest, through SSM (``AWS-RunPowerShellScript``); each wait is bounded."""

    ssm: SSMClient
    poll_seconds: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def wait_online(self, instance_id: str, minutes: float = 20) -> None:
        """Until Systems Manager reports the agent ``Online`` (it needs the instance profile)."""
        deadline = self.clock() + minutes * 60
        while True:
            found = self.ssm.describe_instance_information(
                Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
            )["InstanceInformationList"]
            if any(i.get("PingStatus") == "Online" for i in found):
                return
            if self.clock() > deadline:
                raise AgentNotOnline(
                    f"the SSM agent of {instance_id} is not Online in {minutes} min"
                )
            self.sleep(self.poll_seconds)

    def run(self, instance_id: str, script: str, minutes: float = 15) -> str:
        command_id = self.ssm.send_command(
            InstanceIds=[instance_id],
            DocumentName=POWERSHELL_DOCUMENT,
            Parameters={"commands": script.splitlines()},
            TimeoutSeconds=int(minutes * 60),
        )["Command"]["CommandId"]
        deadline = self.clock() + minutes * 60
        while True:
            self.sleep(self.poll_seconds / 2)
            status, output, errors = self._invocation(command_id, instance_id)
            if status == "Success":
                return output
            if status not in _RUNNING:
                raise GuestCommandFailed(
                    f"command {command_id} on {instance_id}: {status}\n{output}\n{errors}"
                )
            if self.clock() > deadline:
                raise GuestCommandFailed(
                    f"command {command_id} on {instance_id} still {status} after {minutes} min"
                )

    def _invocation(self, command_id: str, instance_id: str) -> tuple[str, str, str]:
        """(status, stdout, stderr); ``Pending`` while SSM does not know the invocation yet."""
        try:
            found = self.ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as err:
            if error_code(err) == "InvocationDoesNotExist":
                return "Pending", "", ""
            raise
        return (
            found["Status"],
            found.get("StandardOutputContent", ""),
            found.get("StandardErrorContent", ""),
        )


def _quoted(volume_id: str) -> str:
    """A volume id as a PowerShell literal; anything but a volume id is refused."""
    if not _VOLUME_ID.match(volume_id):
        raise ValueError(f"{volume_id!r} is not an EBS volume id")
    return f"'{volume_id}'"


def _marker_path() -> str:
    return f'"$(Get-VolumeLetter $volume):\\{MARKER_FILE}"'


def _write_marker_lines(text: str) -> str:
    # Flushed, so that a crash-consistent snapshot taken next holds it.
    return f"""Set-Content -Path {_marker_path()} -Value '{text}' -NoNewline
Write-VolumeCache -DriveLetter (Get-VolumeLetter $volume)"""


def prepare_disks_script(marker_volume: str, stripe_volumes: tuple[str, str]) -> str:
    """Setup: the marker volume gets one NTFS partition with a letter and a marker reading
    ``before``; the two others become dynamic disks holding one striped NTFS volume."""
    first, second = (_quoted(v) for v in stripe_volumes)
    return (
        _FIND_DISK
        + f"""$volume = {_quoted(marker_volume)}
$number = Clear-VolumeDisk $volume
$partition = New-Partition -DiskNumber $number -UseMaximumSize -AssignDriveLetter
Format-Volume -Partition $partition -FileSystem NTFS -NewFileSystemLabel marker -Confirm:$false |
    Out-Null
{_write_marker_lines("before")}
$a = Clear-VolumeDisk {first}
$b = Clear-VolumeDisk {second}
$steps = @("select disk $a", 'convert dynamic', "select disk $b", 'convert dynamic',
    "create volume stripe disk=$a,$b", 'format fs=ntfs quick label=stripe', 'assign')
$file = Join-Path $env:TEMP 'vss-restore-stripe.txt'
Set-Content -Path $file -Value $steps -Encoding ASCII
diskpart /s $file
if ($LASTEXITCODE -ne 0) {{ throw "diskpart failed with exit code $LASTEXITCODE" }}
# W32Time is the service the online restore stops and starts again: make sure it runs.
Set-Service -Name W32Time -StartupType Automatic
Start-Service -Name W32Time
"""
    )


def write_marker_script(volume_id: str, text: str) -> str:
    """Overwrite the marker file on the volume's disk with ``text`` (letters only)."""
    if not text.isalpha():
        raise ValueError(f"{text!r}: a marker is one word")
    return _FIND_DISK + f"$volume = {_quoted(volume_id)}\n{_write_marker_lines(text)}\n"


def read_marker_script(volume_id: str) -> str:
    """The marker file's text, from the volume's disk (found by its serial number)."""
    return _FIND_DISK + f"$volume = {_quoted(volume_id)}\nGet-Content -Raw -Path {_marker_path()}\n"


def disk_read_only_script(volume_id: str) -> str:
    """``True`` or ``False``: whether Windows holds the volume's disk read-only."""
    return _FIND_DISK + f"(Get-VolumeDisk {_quoted(volume_id)}).IsReadOnly\n"


def service_status_script(name: str) -> str:
    """The service's status (``Running``, ``Stopped``, ...)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"{name!r} is not a service name")
    return f"(Get-Service -Name '{name}').Status.ToString()\n"
