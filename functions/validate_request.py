"""ValidateRequest: reject bad input, unknown or unrestorable instances, and what the guardrails
refuse (an unvetted validation document, an exposed place for a clone, a mount target that is
neither the source nor a recovery host), and an online restore or mount on an instance not
built on the Nitro System, before any change."""

from typing import Any

from pydantic import AwareDatetime, Field

from vss_restore import clients
from vss_restore.discovery import target_devices
from vss_restore.drill import ClonePlacement, check_clone_target
from vss_restore.initialization import require_sdk_support
from vss_restore.instance import describe_instance, instance_facts
from vss_restore.lambda_task import logger, task
from vss_restore.models import (
    CloneRequest,
    Model,
    MountRequest,
    OnlineRequest,
    ReplacesVolumes,
    RestoreRequest,
    Validates,
)
from vss_restore.opt_in import OptInTag
from vss_restore.recovery_host import RecoveryHostTag, check_mount_target
from vss_restore.run_command import require_document, require_vetted_document
from vss_restore.windows_disks import require_nitro


class Event(Model):
    request: Any = Field(alias="Request")
    execution: str = Field(alias="Execution")
    started_at: AwareDatetime = Field(alias="StartedAt")
    # The modes this state machine runs (from its definition, not the request).
    modes: tuple[str, ...] | None = Field(default=None, alias="Modes")


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    parsed = Event.model_validate(event)
    request = RestoreRequest.parse(parsed.request, modes=parsed.modes)
    raw = describe_instance(clients.ec2(), request.instance_id)
    facts = instance_facts(raw)
    opt_in = OptInTag.configured()
    if opt_in is not None:
        opt_in.require(raw)
    if request.initialization_rate is not None:
        require_sdk_support(clients.ec2(), "InitializationRate")
    if isinstance(request, ReplacesVolumes) and request.wait_for_initialization:
        require_sdk_support(clients.ec2(), "WaitForInitialization")
    if isinstance(request, OnlineRequest):
        target_devices(request, facts)  # data devices only: the root is InvalidRequest
        require_nitro(clients.ec2(), request.instance_id, raw["InstanceType"], request.mode)
    if isinstance(request, CloneRequest):
        check_clone_target(clients.ec2(), request, raw, ClonePlacement.configured())
    if isinstance(request, Validates) and request.validation_document:
        require_vetted_document(request.validation_document, parsed.execution)
        require_document(clients.ssm(), request.validation_document)
    validated = {
        "Request": request.to_payload(),
        "Execution": parsed.execution,
        "StartedAt": parsed.started_at.isoformat(),
    }
    if isinstance(request, MountRequest):
        # Devices that exist, at most as many as Windows has drive letters for.
        target_devices(request, facts)
        # The instance the volumes go to (the source itself unless TargetInstanceId).
        target = describe_instance(clients.ec2(), request.mount_target)
        check_mount_target(request, target, RecoveryHostTag.configured())
        require_nitro(clients.ec2(), request.mount_target, target["InstanceType"], request.mode)
        if opt_in is not None:
            opt_in.require(target)
        validated["MountTarget"] = request.mount_target
    logger.info(
        "request valid",
        extra={
            "mode": request.mode,
            "dry_run": request.dry_run,
            "opt_in_tag": opt_in.key if opt_in else None,
        },
    )
    return validated
