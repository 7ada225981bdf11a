"""Data passed between the tasks of the workflow, and its public request and report."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
)

from vss_restore.capabilities import capability_of
from vss_restore.devices import WINDOWS_ROOT_DEVICE, is_valid_device
from vss_restore.errors import InvalidRequest
from vss_restore.initialization import (
    DEFAULT,
    MAX_RATE_MIBPS,
    MIN_RATE_MIBPS,
    InitializationMode,
)


def _resource_id(prefix: str, lengths: str, example: str) -> Callable[[str], str]:
    """A check of an EC2 id whose error says what a valid id looks like, not a regex."""
    hex_digits = "[0-9a-f]{8}([0-9a-f]{9})?" if lengths == "8 or 17" else "[0-9a-f]{8,17}"
    pattern = re.compile(rf"{prefix}-{hex_digits}")

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a valid id: expected {prefix}- followed by {lengths} "
                f"lowercase hexadecimal characters, e.g. {example}"
            )
        return value

    return check


InstanceId = Annotated[str, AfterValidator(_resource_id("i", "8 or 17", "i-0123456789abcdef0"))]
VolumeId = Annotated[str, AfterValidator(_resource_id("vol", "8 to 17", "vol-0123456789abcdef0"))]
SubnetId = Annotated[
    str, AfterValidator(_resource_id("subnet", "8 to 17", "subnet-0123456789abcdef0"))
]
SecurityGroupId = Annotated[
    str, AfterValidator(_resource_id("sg", "8 to 17", "sg-0123456789abcdef0"))
]
InstanceType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")]
# SSM document names: letters, digits, _ - . (AWS-owned names included), or a document ARN.
DocumentName = Annotated[
    str, StringConstraints(pattern=r"^(arn:[\w+=/,.@:-]+|[a-zA-Z0-9_.-]{3,128})$")
]
Mode = Literal["InPlace", "Clone", "Online", "Mount"]
# The modes each optional field applies to; a field given for another mode is refused
# rather than silently ignored.
FIELD_MODES: dict[str, tuple[str, ...]] = {
    "ExcludeBootVolume": ("InPlace", "Clone"),
    "PowerOnAfterRestore": ("InPlace",),
    "DeleteReplacedVolumes": ("InPlace", "Online"),
    "WaitForInitialization": ("InPlace", "Online"),
    "SubnetId": ("Clone",),
    "SecurityGroupIds": ("Clone",),
    "InstanceType": ("Clone",),
    "KeepClone": ("Clone",),
    "ValidationDocument": ("Clone", "Online"),
    "ValidationParameters": ("Clone", "Online"),
    "StopServices": ("Online",),
    "TargetInstanceId": ("Mount",),
    "ExpiresInHours": ("Mount",),
}
# Fields that only a clone drill uses, and those that only an in-place restore uses.
CLONE_ONLY_FIELDS = (
    *(f for f, modes in FIELD_MODES.items() if modes == ("Clone",)),
    "ValidationDocument",
    "ValidationParameters",
)
IN_PLACE_ONLY_FIELDS = ("PowerOnAfterRestore", "DeleteReplacedVolumes", "WaitForInitialization")
# Mode "Online" validates on the production instance itself: there, Run Command runs only
# the project's documents and the operator's own with this prefix (the IAM policy says so).
ONLINE_VALIDATION_PREFIX = "vss-restore-validation-"
# Mounted volumes are removed once expired: from one hour to 30 days after the mount.
DEFAULT_MOUNT_HOURS = 24
MAX_MOUNT_HOURS = 720
ServiceName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.$-]{1,256}$")]


def _valid_device(name: str) -> str:
    if not is_valid_device(name):
        raise ValueError(f"{name!r} is not an EBS device name such as /dev/sda1 or xvdf")
    return name


DeviceName = Annotated[str, AfterValidator(_valid_device)]


class Model(BaseModel):
    """Strict by default: unknown fields are errors, values are not coerced silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _iso_text(value: object) -> object:
    """Only ISO-8601 text: pydantic would otherwise read numbers as Unix timestamps."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 date-time string with a time zone")  # noqa: TRY004
    try:
        datetime.fromisoformat(value)
    except ValueError as err:
        raise ValueError("must be an ISO-8601 date-time string with a time zone") from err
    return value


def invalid_request(err: ValidationError) -> InvalidRequest:
    """The first problem pydantic found, as ``InvalidRequest`` naming its field."""
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "$"
    reason = (
        "is not a known field"
        if first["type"] == "extra_forbidden"
        else first["msg"].removeprefix("Value error, ")
    )
    return InvalidRequest(field, reason)


class RestoreRequest(Model):
    """The state machine input (PascalCase, like AWS APIs; only those names are accepted)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)

    instance_id: InstanceId = Field(alias="InstanceId")
    snapshot_set_id: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = Field(
        default=None, alias="SnapshotSetId"
    )
    restore_point_in_time: Annotated[AwareDatetime, BeforeValidator(_iso_text)] | None = Field(
        default=None, alias="RestorePointInTime"
    )
    exclude_boot_volume: bool = Field(default=False, alias="ExcludeBootVolume", strict=True)
    devices: list[DeviceName] | None = Field(default=None, alias="Devices", min_length=1)
    dry_run: bool = Field(default=False, alias="DryRun", strict=True)
    power_on_after_restore: bool = Field(default=True, alias="PowerOnAfterRestore", strict=True)
    delete_replaced_volumes: bool = Field(default=False, alias="DeleteReplacedVolumes", strict=True)
    # Time to full performance: EBS's Provisioned Rate for Volume Initialization, in MiB/s,
    # for every volume created (restores and drills), and whether to wait for it.
    initialization_rate: int | None = Field(default=None, alias="InitializationRate", strict=True)
    wait_for_initialization: bool = Field(default=False, alias="WaitForInitialization", strict=True)
    # Clone drills (Mode "Clone"): where the clone runs, what checks it, whether it stays.
    mode: Mode = Field(default="InPlace", alias="Mode")
    subnet_id: SubnetId | None = Field(default=None, alias="SubnetId")
    security_group_ids: list[SecurityGroupId] | None = Field(
        default=None, alias="SecurityGroupIds", min_length=1, max_length=5
    )
    instance_type: InstanceType | None = Field(default=None, alias="InstanceType")
    keep_clone: bool = Field(default=False, alias="KeepClone", strict=True)
    validation_document: DocumentName | None = Field(default=None, alias="ValidationDocument")
    # Mode "Online": Windows services stopped before the disks go offline, started after.
    stop_services: list[ServiceName] | None = Field(
        default=None, alias="StopServices", min_length=1, max_length=20
    )
    # Mode "Mount": where the set's volumes are attached, and for how long.
    target_instance_id: InstanceId | None = Field(default=None, alias="TargetInstanceId")
    expires_in_hours: int | None = Field(default=None, alias="ExpiresInHours", strict=True)
    validation_parameters: (
        dict[
            Annotated[str, StringConstraints(min_length=1, max_length=64)],
            list[Annotated[str, StringConstraints(max_length=4096)]],
        ]
        | None
    ) = Field(default=None, alias="ValidationParameters")

    @field_validator("security_group_ids")
    @classmethod
    def _groups_unique(cls, groups: list[str] | None) -> list[str] | None:
        if groups is not None and len(set(groups)) != len(groups):
            raise ValueError("lists a security group more than once")
        return groups

    @field_validator("stop_services")
    @classmethod
    def _services_unique(cls, services: list[str] | None) -> list[str] | None:
        if services is not None and len({s.lower() for s in services}) != len(services):
            raise ValueError("lists a service more than once (Windows service names ignore case)")
        return services

    @field_validator("expires_in_hours")
    @classmethod
    def _hours_in_range(cls, hours: int | None) -> int | None:
        if hours is not None and not 1 <= hours <= MAX_MOUNT_HOURS:
            raise ValueError(f"must be from 1 to {MAX_MOUNT_HOURS} hours; {hours} is not")
        return hours

    @field_validator("initialization_rate")
    @classmethod
    def _rate_in_range(cls, rate: int | None) -> int | None:
        if rate is not None and not MIN_RATE_MIBPS <= rate <= MAX_RATE_MIBPS:
            raise ValueError(
                f"must be from {MIN_RATE_MIBPS} to {MAX_RATE_MIBPS} (MiB/s), the range of "
                f"EBS's Provisioned Rate for Volume Initialization; {rate} is not"
            )
        return rate

    @field_validator("devices")
    @classmethod
    def _devices_consistent(
        cls, devices: list[str] | None, info: ValidationInfo
    ) -> list[str] | None:
        if devices is not None and len(set(devices)) != len(devices):
            raise ValueError("lists a device more than once")
        if devices and info.data.get("exclude_boot_volume") and WINDOWS_ROOT_DEVICE in devices:
            raise ValueError(f"lists {WINDOWS_ROOT_DEVICE} while ExcludeBootVolume is true")
        return devices

    @field_validator("restore_point_in_time")
    @classmethod
    def _not_in_future(cls, when: datetime | None) -> datetime | None:
        if when is not None and when > datetime.now(UTC):
            raise ValueError("is in the future")
        return when

    @classmethod
    def parse(cls, payload: object) -> RestoreRequest:
        """Validate raw input; raise ``InvalidRequest`` naming the first bad field."""
        if not isinstance(payload, dict):
            raise InvalidRequest("$", "the request must be a JSON object")
        try:
            request = cls.model_validate(payload)
        except ValidationError as err:
            raise invalid_request(err) from err
        request._check_mode_fields(payload)
        return request

    def _check_mode_fields(self, payload: dict[str, object]) -> None:
        """Refuse options that the chosen Mode would silently ignore."""
        for name, modes in FIELD_MODES.items():
            if self.mode in modes or name not in payload:
                continue
            # A drill refuses an in-place option even when false, as it always has.
            strict = self.mode == "Clone" and name in IN_PLACE_ONLY_FIELDS
            if strict or payload[name] not in (None, False):
                allowed = " or ".join(f'"{m}"' for m in modes)
                raise InvalidRequest(name, f"applies only when Mode is {allowed}")
        if self.mode == "Clone" and self.dry_run and self.keep_clone:
            raise InvalidRequest("KeepClone", "a DryRun launches no clone to keep")
        if self.mode == "Online" and self.devices and WINDOWS_ROOT_DEVICE in self.devices:
            raise InvalidRequest(
                "Devices",
                f"lists the root device {WINDOWS_ROOT_DEVICE}: an online restore never "
                'replaces the boot volume (restore it with Mode "InPlace")',
            )
        if (
            self.mode == "Online"
            and self.validation_document is not None
            and not self.validation_document.rsplit("/", 1)[-1].startswith(ONLINE_VALIDATION_PREFIX)
        ):
            raise InvalidRequest(
                "ValidationDocument",
                f"{self.validation_document!r} is not named {ONLINE_VALIDATION_PREFIX}*: an online "
                "restore validates on the production instance itself, where vss-restore runs only "
                f"its own documents and yours whose name starts with {ONLINE_VALIDATION_PREFIX} "
                "(create yours under such a name)",
            )
        if self.target_instance_id is not None and self.target_instance_id == self.instance_id:
            raise InvalidRequest(
                "TargetInstanceId", "is the instance itself: leave it out to mount there"
            )
        if self.snapshot_set_id is not None and self.restore_point_in_time is not None:
            raise InvalidRequest(
                "RestorePointInTime",
                "cannot be given with SnapshotSetId (a set id already names one set): "
                "give one of them",
            )
        if self.validation_parameters is not None and self.validation_document is None:
            raise InvalidRequest("ValidationParameters", "needs ValidationDocument")

    @property
    def is_clone(self) -> bool:
        return self.mode == "Clone"

    @property
    def mount_target(self) -> str:
        """Mode "Mount": the instance the volumes are attached to."""
        return self.target_instance_id or self.instance_id

    @property
    def mount_hours(self) -> int:
        return self.expires_in_hours or DEFAULT_MOUNT_HOURS

    def to_payload(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)


def require_mode(mode: str, modes: Collection[str] | None) -> None:
    """``InvalidRequest`` on ``Mode`` unless this state machine runs ``mode`` (None: any)."""
    if modes is None or mode in modes:
        return
    runs = " or ".join(f'"{m}"' for m in modes)
    machine = capability_of({"Mode": mode})
    raise InvalidRequest(
        "Mode",
        f'"{mode}" is not run by this state machine (it runs {runs}): start the {machine} '
        "state machine",
    )


class AttachedVolume(Model):
    device: str = Field(alias="Device")
    volume_id: str = Field(alias="VolumeId")
    delete_on_termination: bool = Field(alias="DeleteOnTermination")


PowerState = Literal["running", "stopped"]


class InstanceFacts(Model):
    """What the instance looked like when the restore took its lock."""

    instance_id: str = Field(alias="InstanceId")
    state: PowerState = Field(alias="State")
    availability_zone: str = Field(alias="AvailabilityZone")
    root_device_name: str = Field(alias="RootDeviceName")
    volumes: list[AttachedVolume] = Field(alias="Volumes")

    def volume_at(self, device: str) -> AttachedVolume | None:
        return next((v for v in self.volumes if v.device == device), None)


class SetMember(Model):
    device: str = Field(alias="Device")
    snapshot_id: str = Field(alias="SnapshotId")
    volume_id: str = Field(alias="VolumeId")
    volume_size: int = Field(alias="VolumeSize")
    encrypted: bool = Field(alias="Encrypted")
    kms_key_id: str | None = Field(default=None, alias="KmsKeyId")


class SkippedSet(Model):
    snapshot_set_id: str = Field(alias="SnapshotSetId")
    created_at: datetime = Field(alias="CreatedAt")
    reasons: list[str] = Field(alias="Reasons")


class ChosenSet(Model):
    """The snapshot set a restore uses, and why newer sets were passed over."""

    snapshot_set_id: str = Field(alias="SnapshotSetId")
    created_at: datetime = Field(alias="CreatedAt")
    grouped_by: Literal["AwsVssConfig", "StartTime"] = Field(alias="GroupedBy")
    members: list[SetMember] = Field(alias="Members")
    skipped: list[SkippedSet] = Field(default_factory=list, alias="Skipped")


class VolumeSpec(Model):
    """Everything needed to create one replacement volume."""

    device: str = Field(alias="Device")
    snapshot_id: str = Field(alias="SnapshotId")
    replaced_volume_id: str = Field(alias="ReplacedVolumeId")
    availability_zone: str = Field(alias="AvailabilityZone")
    volume_type: str = Field(alias="VolumeType")
    size: int = Field(alias="Size")
    iops: int | None = Field(default=None, alias="Iops")
    throughput: int | None = Field(default=None, alias="Throughput")
    encrypted: bool = Field(alias="Encrypted")
    kms_key_id: str | None = Field(default=None, alias="KmsKeyId")
    multi_attach_enabled: bool = Field(default=False, alias="MultiAttachEnabled")
    delete_on_termination: bool = Field(alias="DeleteOnTermination")
    tags: dict[str, str] = Field(alias="Tags")
    client_token: str = Field(alias="ClientToken")
    # How the volume initializes, and the VolumeInitializationRate it is created with.
    initialization: InitializationMode = Field(default=DEFAULT, alias="Initialization")
    initialization_rate: int | None = Field(default=None, alias="InitializationRate")


class RestorePlan(Model):
    instance_id: str = Field(alias="InstanceId")
    snapshot_set_id: str = Field(alias="SnapshotSetId")
    execution: str = Field(alias="Execution")
    volumes: list[VolumeSpec] = Field(alias="Volumes")
    untouched_devices: list[str] = Field(alias="UntouchedDevices")


class CreatedVolume(Model):
    device: str = Field(alias="Device")
    volume_id: str = Field(alias="VolumeId")


class VolumeInitialization(Model):
    """How a restored volume initializes and how long it is estimated to take."""

    mode: InitializationMode = Field(alias="Mode")
    rate_mibps: int | None = Field(alias="RateMiBps")
    estimated_seconds: float = Field(alias="EstimatedSeconds")


class ReportVolume(Model):
    device: str = Field(alias="Device")
    snapshot_id: str = Field(alias="SnapshotId")
    new_volume_id: str | None = Field(alias="NewVolumeId")
    replaced_volume_id: str = Field(alias="ReplacedVolumeId")
    initialization: VolumeInitialization | None = Field(default=None, alias="Initialization")


class ReportDiskCommand(Model):
    """Mode "Online": one disk command of the restore, and the end of its output."""

    step: str = Field(alias="Step")
    command_id: str = Field(alias="CommandId")
    status: str = Field(alias="Status")
    output_excerpt: str = Field(alias="OutputExcerpt")


# Report fields that only an online restore has (left out of other reports).
ONLINE_REPORT_FIELDS = ("ApplicationDowntimeSeconds", "DiskCommands")


class RestoreReport(Model):
    """The state machine output."""

    instance_id: str = Field(alias="InstanceId")
    snapshot_set_id: str = Field(alias="SnapshotSetId")
    status: Literal["Succeeded", "DryRun"] = Field(alias="Status")
    volumes: list[ReportVolume] = Field(alias="Volumes")
    started_at: datetime = Field(alias="StartedAt")
    finished_at: datetime = Field(alias="FinishedAt")
    downtime_seconds: float | None = Field(alias="DowntimeSeconds")
    snapshot_set_created_at: datetime = Field(alias="SnapshotSetCreatedAt")
    skipped_sets: list[SkippedSet] = Field(alias="SkippedSets")
    replaced_volumes: Literal["kept", "deleted", "untouched"] = Field(alias="ReplacedVolumes")
    power_state: str = Field(alias="PowerState")
    warnings: list[str] = Field(default_factory=list, alias="Warnings")
    # Seconds from StartedAt until every restored volume is fully initialized: measured
    # when the restore waited for it (WaitForInitialization), else estimated.
    full_performance_seconds: float | None = Field(default=None, alias="FullPerformanceSeconds")
    full_performance_basis: Literal["Estimated", "Measured"] | None = Field(
        default=None, alias="FullPerformanceBasis"
    )
    mode: Mode = Field(default="InPlace", alias="Mode")
    # Mode "Online": the instance never stops (DowntimeSeconds is null); the application is
    # down from the first disk command to the end of the second.
    application_downtime_seconds: float | None = Field(
        default=None, alias="ApplicationDowntimeSeconds"
    )
    disk_commands: list[ReportDiskCommand] = Field(default_factory=list, alias="DiskCommands")

    @model_serializer(mode="wrap")
    def _online_fields_only_online(self, handler: SerializerFunctionWrapHandler) -> Any:
        dumped = handler(self)
        if self.mode != "Online" and isinstance(dumped, dict):
            for name in (*ONLINE_REPORT_FIELDS, *(_snake(n) for n in ONLINE_REPORT_FIELDS)):
                dumped.pop(name, None)
        return dumped


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
