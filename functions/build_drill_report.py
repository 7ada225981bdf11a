"""BuildDrillReport: the drill's report (also for a DryRun and for a failed drill)."""

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field

from vss_restore.drill import ClonePlan, LaunchedClone, ValidationResult
from vss_restore.drill_report import DrillReport, build_drill_report
from vss_restore.lambda_task import task
from vss_restore.models import CarriedClone, ChosenSet, Model
from vss_restore.waiting import utcnow


class Found(Model):
    model_config = ConfigDict(extra="ignore")
    snapshot_set: ChosenSet = Field(alias="SnapshotSet")


class Ready(Model):
    passed_at: datetime = Field(alias="PassedAt")
    volumes: dict[str, str] = Field(alias="Volumes")


class Document(Model):
    """The workflow state at the end of a drill (only the parts a report needs)."""

    model_config = ConfigDict(extra="ignore")
    request: CarriedClone = Field(alias="Request")
    started_at: datetime = Field(alias="StartedAt")
    found: Found | None = Field(default=None, alias="Found")
    plan: ClonePlan | None = Field(default=None, alias="ClonePlan")
    clone: LaunchedClone | None = Field(default=None, alias="Clone")
    ready: Ready | None = Field(default=None, alias="CloneReady")
    validation: ValidationResult | None = Field(default=None, alias="ValidationResult")
    error: dict[str, Any] | None = Field(default=None, alias="Error")
    cleanup_error: dict[str, Any] | None = Field(default=None, alias="CleanupError")


@task
def handler(event: dict[str, Any]) -> DrillReport:
    doc = Document.model_validate(event["Document"])
    return build_drill_report(
        source_instance_id=doc.request.instance_id,
        chosen=doc.found.snapshot_set if doc.found else None,
        plan=doc.plan,
        clone=doc.clone,
        clone_volumes=doc.ready.volumes if doc.ready else {},
        validation=doc.validation,
        ready_at=doc.ready.passed_at if doc.ready else None,
        dry_run=doc.request.dry_run,
        kept=doc.request.keep_clone,
        error=doc.error,
        cleanup_error=doc.cleanup_error,
        started_at=doc.started_at,
        finished_at=utcnow(),
    )
