"""Data passed between the tasks of the workflow, and its public request and report."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_serializer,
)

from vss_restore.capabilities import capability_of, fleet_machine_of
from vss_restore.devices import WINDOWS_ROOT_DEVICE, is_valid_device
from vss_restore.errors import InvalidRequest
from vss_restore.identifiers import (
    DOCUMENT_NAME_OR_ARN,
    INSTANCE_TYPE,
    check_security_group_id,
    check_subnet_id,
    resource_id,
)
from vss_restore.initialization import (
    DEFAULT,
    MAX_RATE_MIBPS,
    MIN_RATE_MIBPS,
    InitializationMode,
)

InstanceId = Annotated[str, AfterValidator(resource_id("i", "8 or 17", "i-0123456789abcdef0"))]
VolumeId = Annotated[str, AfterValidator(resource_id("vol", "8 to 17", "vol-0123456789abcdef0"))]
SubnetId = Annotated[str, AfterValidator(check_subnet_id)]
SecurityGroupId = Annotated[str, AfterValidator(check_security_group_id)]
InstanceType = Annotated[str, StringConstraints(pattern=INSTANCE_TYPE)]
DocumentName = Annotated[str, StringConstraints(pattern=DOCUMENT_NAME_OR_ARN)]
Mode = Literal["InPlace", "Clone", "Online", "Mount"]
# Mounted volumes are removed once expired: from one hour to 30 days after the mount.
DEFAULT_MOUNT_HOURS = 24
MAX_MOUNT_HOURS = 720
# A mount gives every volume a drive letter, and Windows has 23 for data volumes (D: to Z:).
MAX_MOUNT_VOLUMES = 23
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


def invalid_request(err: ValidationError, *, tagged: bool = False) -> InvalidRequest:
    """The first problem pydantic found, as ``InvalidRequest`` naming its field.

    ``tagged``: the error came from a member of a discriminated union, whose tag pydantic
    puts first in the location (``("Clone", "SubnetId")``); the field is what follows it.
    """
    first = err.errors()[0]
    loc = first["loc"][1:] if tagged else first["loc"]
    field = ".".join(str(p) for p in loc) or "$"
    reason = (
        "is not a known field"
        if first["type"] == "extra_forbidden"
        else first["msg"].removeprefix("Value error, ")
    )
    return InvalidRequest(field, reason)


class RestoreRequest(Model):
    """The state machine input: what every mode shares (PascalCase, like AWS APIs; only those
    names are accepted). One model per ``Mode`` adds its own fields (``InPlaceRequest``,
    ``CloneRequest``, ``OnlineRequest``, ``MountRequest``); ``parse`` returns the mode's."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)

    mode: Mode = Field(alias="Mode")
    instance_id: InstanceId = Field(alias="InstanceId")
    snapshot_set_id: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = Field(
        default=None, alias="SnapshotSetId"
    )
    restore_point_in_time: Annotated[AwareDatetime, BeforeValidator(_iso_text)] | None = Field(
        default=None, alias="RestorePointInTime"
    )
    devices: list[DeviceName] | None = Field(default=None, alias="Devices", min_length=1)
    dry_run: bool = Field(default=False, alias="DryRun", strict=True)
    # Time to full performance: EBS's Provisioned Rate for Volume Initialization, in MiB/s,
    # for every volume created (restores, drills and mounts).
    initialization_rate: int | None = Field(default=None, alias="InitializationRate", strict=True)

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
    def _devices_unique(cls, devices: list[str] | None) -> list[str] | None:
        if devices is not None and len(set(devices)) != len(devices):
            raise ValueError("lists a device more than once")
        return devices

    @field_validator("restore_point_in_time")
    @classmethod
    def _not_in_future(cls, when: datetime | None) -> datetime | None:
        if when is not None and when > datetime.now(UTC):
            raise ValueError("is in the future")
        return when

    @classmethod
    def parse(cls, payload: object, *, modes: Collection[str] | None = None) -> Request:
        """Validate raw input as its mode's model; raise ``InvalidRequest`` naming the first
        bad field. ``modes``: those the state machine runs (None: any), others refused."""
        if not isinstance(payload, dict):
            raise InvalidRequest("$", "the request must be a JSON object")
        try:
            mode: Mode = _MODE.validate_python(payload.get("Mode", "InPlace"))
        except ValidationError as err:
            raise InvalidRequest("Mode", err.errors()[0]["msg"]) from err
        require_mode(mode, modes)
        try:
            request: Request = _REQUEST.validate_python(_without_foreign_fields(payload, mode))
        except ValidationError as err:
            raise invalid_request(err, tagged=True) from err
        request._refuse_contradictions()
        return request

    def _refuse_contradictions(self) -> None:
        """Refuse values that are valid one by one but not together (each mode adds its own)."""
        if self.snapshot_set_id is not None and self.restore_point_in_time is not None:
            raise InvalidRequest(
                "RestorePointInTime",
                "cannot be given with SnapshotSetId (a set id already names one set): "
                "give one of them",
            )

    def to_payload(self) -> dict[str, object]:
        """The request as the workflow carries it: every mode's field, at its default where
        another mode's (the definition reads ``$.Request.<Field>`` by path)."""
        own = self.model_dump(mode="json", by_alias=True)
        return {**own, **{k: v for k, v in CARRIED_DEFAULTS.items() if k not in own}}


class ChoosesBootVolume(RestoreRequest):
    """Modes that restore the boot volume unless told not to (InPlace, Clone)."""

    exclude_boot_volume: bool = Field(default=False, alias="ExcludeBootVolume", strict=True)

    def _refuse_contradictions(self) -> None:
        if self.exclude_boot_volume and self.devices and WINDOWS_ROOT_DEVICE in self.devices:
            raise InvalidRequest(
                "Devices", f"lists {WINDOWS_ROOT_DEVICE} while ExcludeBootVolume is true"
            )
        super()._refuse_contradictions()


class ReplacesVolumes(RestoreRequest):
    """Modes that swap the instance's own volumes (InPlace, Online)."""

    delete_replaced_volumes: bool = Field(default=False, alias="DeleteReplacedVolumes", strict=True)
    # Whether to wait until the restored volumes are fully initialized.
    wait_for_initialization: bool = Field(default=False, alias="WaitForInitialization", strict=True)


class Validates(RestoreRequest):
    """Modes that run a validation document on the restored copy (Clone, Online)."""

    validation_document: DocumentName | None = Field(default=None, alias="ValidationDocument")
    validation_parameters: (
        dict[
            Annotated[str, StringConstraints(min_length=1, max_length=64)],
            list[Annotated[str, StringConstraints(max_length=4096)]],
        ]
        | None
    ) = Field(default=None, alias="ValidationParameters")

    def _refuse_contradictions(self) -> None:
        if self.validation_parameters is not None and self.validation_document is None:
            raise InvalidRequest("ValidationParameters", "needs ValidationDocument")
        super()._refuse_contradictions()


class InPlaceRequest(ChoosesBootVolume, ReplacesVolumes):
    """Mode "InPlace" (the default): the instance is stopped and its volumes swapped."""

    mode: Literal["InPlace"] = Field(default="InPlace", alias="Mode")
    power_on_after_restore: bool = Field(default=True, alias="PowerOnAfterRestore", strict=True)


class CloneRequest(ChoosesBootVolume, Validates):
    """Mode "Clone": a drill on a clone launched from the set; where it runs, whether it stays."""

    mode: Literal["Clone"] = Field(alias="Mode")
    subnet_id: SubnetId | None = Field(default=None, alias="SubnetId")
    security_group_ids: list[SecurityGroupId] | None = Field(
        default=None, alias="SecurityGroupIds", min_length=1, max_length=5
    )
    instance_type: InstanceType | None = Field(default=None, alias="InstanceType")
    keep_clone: bool = Field(default=False, alias="KeepClone", strict=True)

    @field_validator("security_group_ids")
    @classmethod
    def _groups_unique(cls, groups: list[str] | None) -> list[str] | None:
        if groups is not None and len(set(groups)) != len(groups):
            raise ValueError("lists a security group more than once")
        return groups

    def _refuse_contradictions(self) -> None:
        if self.dry_run and self.keep_clone:
            raise InvalidRequest("KeepClone", "a DryRun launches no clone to keep")
        super()._refuse_contradictions()


class OnlineRequest(ReplacesVolumes, Validates):
    """Mode "Online": the instance keeps running; its data disks go offline while swapped."""

    mode: Literal["Online"] = Field(alias="Mode")
    # Windows services stopped before the disks go offline, started after.
    stop_services: list[ServiceName] | None = Field(
        default=None, alias="StopServices", min_length=1, max_length=20
    )

    @field_validator("stop_services")
    @classmethod
    def _services_unique(cls, services: list[str] | None) -> list[str] | None:
        if services is not None and len({s.lower() for s in services}) != len(services):
            raise ValueError("lists a service more than once (Windows service names ignore case)")
        return services

    def _refuse_contradictions(self) -> None:
        if self.devices and WINDOWS_ROOT_DEVICE in self.devices:
            raise InvalidRequest(
                "Devices",
                f"lists the root device {WINDOWS_ROOT_DEVICE}: an online restore never "
                'replaces the boot volume (restore it with Mode "InPlace")',
            )
        super()._refuse_contradictions()


class MountRequest(RestoreRequest):
    """Mode "Mount": the set's volumes attached read-only to an instance, for a while."""

    mode: Literal["Mount"] = Field(alias="Mode")
    # Where the set's volumes are attached (the instance itself when absent), for how long.
    target_instance_id: InstanceId | None = Field(default=None, alias="TargetInstanceId")
    expires_in_hours: int | None = Field(default=None, alias="ExpiresInHours", strict=True)

    @field_validator("expires_in_hours")
    @classmethod
    def _hours_in_range(cls, hours: int | None) -> int | None:
        if hours is not None and not 1 <= hours <= MAX_MOUNT_HOURS:
            raise ValueError(f"must be from 1 to {MAX_MOUNT_HOURS} hours; {hours} is not")
        return hours

    @field_validator("devices")
    @classmethod
    def _devices_fit_the_letters(cls, devices: list[str] | None) -> list[str] | None:
        if devices is not None and len(devices) > MAX_MOUNT_VOLUMES:
            raise ValueError(too_many_to_mount(len(devices)))
        return devices

    def _refuse_contradictions(self) -> None:
        if self.target_instance_id is not None and self.target_instance_id == self.instance_id:
            raise InvalidRequest(
                "TargetInstanceId", "is the instance itself: leave it out to mount there"
            )
        super()._refuse_contradictions()

    @property
    def mount_target(self) -> str:
        """The instance the volumes are attached to."""
        return self.target_instance_id or self.instance_id

    @property
    def mount_hours(self) -> int:
        return self.expires_in_hours or DEFAULT_MOUNT_HOURS


def too_many_to_mount(count: int) -> str:
    """Why a mount of ``count`` volumes is refused: more than Windows has drive letters for."""
    return (
        f"lists {count} devices to mount, and a mount gives each volume a drive letter: "
        f"Windows has {MAX_MOUNT_VOLUMES} for data volumes (D: to Z:); mount at most "
        f"{MAX_MOUNT_VOLUMES} at a time"
    )


REQUEST_MODELS: dict[Mode, type[RestoreRequest]] = {
    "InPlace": InPlaceRequest,
    "Clone": CloneRequest,
    "Online": OnlineRequest,
    "Mount": MountRequest,
}


def _mode_of(value: object) -> str | None:
    """The union's tag: the request's Mode, "InPlace" when it has none."""
    mode = value.get("Mode", "InPlace") if isinstance(value, dict) else getattr(value, "mode", None)
    return mode if isinstance(mode, str) else None


Request = InPlaceRequest | CloneRequest | OnlineRequest | MountRequest
# The same union for pydantic: each model tagged with its Mode, a missing Mode is "InPlace".
TaggedRequest = Annotated[
    Annotated[InPlaceRequest, Tag("InPlace")]
    | Annotated[CloneRequest, Tag("Clone")]
    | Annotated[OnlineRequest, Tag("Online")]
    | Annotated[MountRequest, Tag("Mount")],
    Discriminator(_mode_of),
]
_REQUEST: TypeAdapter[Request] = TypeAdapter(TaggedRequest)
_MODE: TypeAdapter[Mode] = TypeAdapter(Mode)


def _aliases(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(f.alias for f in model.model_fields.values() if f.alias)


# Each field and the modes whose model has it, derived from the models.
FIELD_MODES: dict[str, tuple[Mode, ...]] = {
    alias: tuple(m for m, model in REQUEST_MODELS.items() if alias in _aliases(model))
    for model in REQUEST_MODELS.values()
    for alias in _aliases(model)
}
# Every mode's fields at their defaults: what ``to_payload`` fills in for other modes.
CARRIED_DEFAULTS: dict[str, object] = {
    f.alias: f.get_default(call_default_factory=True)
    for model in REQUEST_MODELS.values()
    for f in model.model_fields.values()
    if f.alias and not f.is_required()
}


def _without_foreign_fields(payload: dict[str, Any], mode: Mode) -> dict[str, Any]:
    """The payload without fields of other modes given as null or false; any other value of
    such a field is refused rather than silently ignored. A drill refuses an in-place
    restore's options even when false, as it always has."""
    own = _aliases(REQUEST_MODELS[mode])
    in_place = _aliases(InPlaceRequest)
    kept: dict[str, Any] = {}
    for name, value in payload.items():
        modes = FIELD_MODES.get(name)
        if modes is None or name in own:
            kept[name] = value  # the mode's own field, or unknown (its model says so)
            continue
        if value in (None, False) and not (mode == "Clone" and name in in_place):
            continue
        allowed = " or ".join(f'"{m}"' for m in modes)
        raise InvalidRequest(name, f"applies only when Mode is {allowed}")
    return kept


def _carried_fields(value: object) -> object:
    """A carried request (``to_payload``) holds every mode's fields: its mode's model takes
    its own (unknown fields still reach the model, which refuses them)."""
    if not isinstance(value, dict):
        return value
    model = REQUEST_MODELS.get(value.get("Mode", "InPlace"))
    if model is None:
        return value
    own = _aliases(model)
    return {k: v for k, v in value.items() if k in own or k not in CARRIED_DEFAULTS}


# The request as the tasks receive it from the workflow (``to_payload``): any mode's, or one's.
CarriedRequest = Annotated[TaggedRequest, BeforeValidator(_carried_fields)]
CarriedClone = Annotated[CloneRequest, BeforeValidator(_carried_fields)]
CarriedMount = Annotated[MountRequest, BeforeValidator(_carried_fields)]


def require_mode(mode: str, modes: Collection[str] | None, *, fleet: bool = False) -> None:
    """``InvalidRequest`` on ``Mode`` unless this state machine runs ``mode`` (None: any);
    it names the machine that does (``fleet``: the fleet machine that does)."""
    if modes is None or mode in modes:
        return
    runs = " or ".join(f'"{m}"' for m in modes)
    request = {"Mode": mode}
    if fleet and capability_of(request) == "mount":
        raise InvalidRequest("Mode", f'"{mode}" is run by no fleet machine: one instance at a time')
    machine = fleet_machine_of(request) if fleet else capability_of(request)
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


class ReportService(Model):
    """A Windows service as a disk command left it (Offline: with the dependents it stopped
    with; Online: a dependent names the service it was started again with)."""

    name: str = Field(alias="Name")
    status: str = Field(alias="Status")
    stopped_with: list[str] | None = Field(default=None, alias="StoppedWith")
    dependent_of: str | None = Field(default=None, alias="DependentOf")


class ReportDisk(Model):
    """A Windows disk as a disk command left it: where its volumes can be read (letters, or
    folders they are mounted in) and those BitLocker keeps locked."""

    volume_id: str = Field(alias="VolumeId")
    drive_letters: list[str] | None = Field(default=None, alias="DriveLetters")
    folder_paths: list[str] | None = Field(default=None, alias="FolderPaths")
    locked_volumes: list[str] | None = Field(default=None, alias="LockedVolumes")


class ReportDiskCommand(Model):
    """Mode "Online": one disk command of the restore, the disks and services as it left them
    (named services and their dependents), and the end of its output."""

    step: str = Field(alias="Step")
    command_id: str = Field(alias="CommandId")
    status: str = Field(alias="Status")
    disks: list[ReportDisk] = Field(default_factory=list, alias="Disks")
    services: list[ReportService] = Field(default_factory=list, alias="Services")
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
