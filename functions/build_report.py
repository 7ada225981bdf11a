"""BuildReport: the RestoreReport (also for DryRun, where it lists the plan)."""

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field

from vss_restore import clients
from vss_restore.initialization import missed_fast_restore
from vss_restore.instance import describe_instance, power_state
from vss_restore.lambda_task import task
from vss_restore.models import (
    CarriedRequest,
    ChosenSet,
    CreatedVolume,
    Model,
    MountRequest,
    RestorePlan,
    RestoreReport,
)
from vss_restore.mounts import MountReport, build_mount_report
from vss_restore.report import build_report, error_message
from vss_restore.waiting import utcnow
from vss_restore.windows_disks import DiskCommandResult


class Found(Model):
    model_config = ConfigDict(extra="ignore")
    snapshot_set: ChosenSet = Field(alias="SnapshotSet")


class Prepared(Model):
    created: list[CreatedVolume] = Field(alias="Created")
    stop: dict[str, Any] = Field(default_factory=dict, alias="Stop")  # none: Mode "Online"


class Document(Model):
    """The workflow state at the end of a restore (only the parts a report needs)."""

    model_config = ConfigDict(extra="ignore")
    request: CarriedRequest = Field(alias="Request")
    started_at: datetime = Field(alias="StartedAt")
    found: Found = Field(alias="Found")
    plan: RestorePlan = Field(alias="Plan")
    prepared: Prepared | None = Field(default=None, alias="Prepared")
    running: dict[str, datetime] = Field(default_factory=dict, alias="Running")
    finalized: dict[str, Any] = Field(default_factory=dict, alias="Finalized")
    finalize_error: dict[str, Any] | None = Field(default=None, alias="FinalizeError")
    initialized: dict[str, datetime] = Field(default_factory=dict, alias="Initialized")
    initialization_error: dict[str, Any] | None = Field(default=None, alias="InitializationError")
    # Mode "Mount": the volumes created, and the disk command that mounted them.
    created: list[CreatedVolume] | None = Field(default=None, alias="Created")
    mounted: DiskCommandResult | None = Field(default=None, alias="Mounted")
    mount_target: str | None = Field(default=None, alias="MountTarget")
    disks: dict[str, Any] = Field(default_factory=dict, alias="Disks")  # Mode "Online"


def _mount_report(doc: Document, request: MountRequest) -> MountReport:
    target = doc.mount_target or request.mount_target
    return build_mount_report(
        doc.plan,
        doc.found.snapshot_set,
        doc.created,
        doc.mounted,
        dry_run=request.dry_run,
        started_at=doc.started_at,
        finished_at=utcnow(),
        power_state=power_state(describe_instance(clients.ec2(), target)),
    )


@task
def handler(event: dict[str, Any]) -> RestoreReport:
    doc = Document.model_validate(event["Document"])
    if isinstance(doc.request, MountRequest):
        return _mount_report(doc, doc.request)
    warnings = list(doc.finalized.get("Warnings", []))
    if doc.finalize_error:
        _, message = error_message(doc.finalize_error)  # the message, not Lambda's document
        warnings.append(f"replaced volumes were not finalized: {message}")
    stop_requested_at = doc.prepared.stop.get("StopRequestedAt") if doc.prepared else None
    ec2 = clients.ec2()
    created = doc.prepared.created if doc.prepared else []
    return build_report(
        doc.plan,
        doc.found.snapshot_set,
        created or None,
        dry_run=doc.request.dry_run,
        started_at=doc.started_at,
        finished_at=utcnow(),
        stop_requested_at=datetime.fromisoformat(stop_requested_at) if stop_requested_at else None,
        running_at=doc.running.get("RunningAt"),
        replaced_volumes=str(doc.finalized.get("ReplacedVolumes", "kept")),
        power_state=power_state(describe_instance(ec2, doc.request.instance_id)),
        warnings=warnings,
        initialization_rate=doc.request.initialization_rate,
        initialized_at=doc.initialized.get("InitializedAt"),
        initialization_error=doc.initialization_error,
        missed_fast_restore=missed_fast_restore(ec2, doc.plan.volumes, created),
        mode=doc.request.mode,
        disks=doc.disks,
    )
