"""The drill report, its verdict, and how a drill's outcome is published."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from vss_restore.drill import (
    EVENT_DETAIL_TYPE,
    EVENT_SOURCE,
    METRIC_NAMESPACE,
    ClonePlan,
    LaunchedClone,
    ValidationResult,
)
from vss_restore.errors import DrillCleanupFailed, DrillValidationFailed
from vss_restore.models import ChosenSet, Model, SkippedSet
from vss_restore.report import error_message

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_events import EventBridgeClient

CloneFate = Literal["removed", "kept", "not launched", "left for cleanup", "planned"]


class DrillVolume(Model):
    device: str = Field(alias="Device")
    snapshot_id: str = Field(alias="SnapshotId")
    clone_volume_id: str | None = Field(alias="CloneVolumeId")


class DrillSecurityGroup(Model):
    group_id: str = Field(alias="GroupId")
    isolation: bool = Field(alias="Isolation")


class DrillReport(Model):
    """The outcome of a clone drill (the restore machine's output in Mode "Clone")."""

    mode: Literal["Clone"] = Field(default="Clone", alias="Mode")
    instance_id: str = Field(alias="InstanceId")
    status: Literal["Succeeded", "Failed", "DryRun"] = Field(alias="Status")
    snapshot_set_id: str | None = Field(alias="SnapshotSetId")
    snapshot_set_created_at: datetime | None = Field(alias="SnapshotSetCreatedAt")
    clone_instance_id: str | None = Field(alias="CloneInstanceId")
    clone: CloneFate = Field(alias="Clone")
    expires_at: datetime | None = Field(alias="ExpiresAt")
    volumes: list[DrillVolume] = Field(alias="Volumes")
    security_groups: list[DrillSecurityGroup] = Field(default_factory=list, alias="SecurityGroups")
    validation: ValidationResult | None = Field(alias="Validation")
    rto_seconds: float | None = Field(alias="RtoSeconds")
    started_at: datetime = Field(alias="StartedAt")
    finished_at: datetime = Field(alias="FinishedAt")
    error: str | None = Field(default=None, alias="Error")
    cause: str | None = Field(default=None, alias="Cause")
    skipped_sets: list[SkippedSet] = Field(default_factory=list, alias="SkippedSets")
    warnings: list[str] = Field(default_factory=list, alias="Warnings")
    launch: dict[str, Any] | None = Field(default=None, alias="Launch")


def _verdict(
    error: dict[str, Any] | None,
    validation: ValidationResult | None,
    cleanup_error: dict[str, Any] | None,
) -> tuple[str | None, str | None]:
    """The drill's named error and cause, or (None, None) if it proved the set restores."""
    if error:
        return error_message(error)
    if validation is not None and not validation.succeeded:
        first_line = next((line for line in validation.output.splitlines() if line.strip()), "")
        code = f" (exit code {validation.response_code})" if validation.response_code else ""
        return DrillValidationFailed.__name__, (
            f"validation document {validation.document} ended {validation.status}{code} "
            f"on the clone{': ' + first_line if first_line else ''}"
        )
    if cleanup_error:
        return DrillCleanupFailed.__name__, (
            "the clone or its volumes could not all be removed; they are tagged to expire and "
            f"`vss-restore cleanup` removes them: {error_message(cleanup_error)[1]}"
        )
    return None, None


def build_drill_report(
    *,
    source_instance_id: str,
    chosen: ChosenSet | None,
    plan: ClonePlan | None,
    clone: LaunchedClone | None,
    clone_volumes: dict[str, str],
    validation: ValidationResult | None,
    ready_at: datetime | None,
    dry_run: bool,
    kept: bool,
    error: dict[str, Any] | None,
    cleanup_error: dict[str, Any] | None,
    started_at: datetime,
    finished_at: datetime,
) -> DrillReport:
    """Pure: the report from what the drill's states recorded."""
    name, cause = _verdict(error, validation, cleanup_error)
    clone_instance_id = clone.instance_id if clone else None
    if dry_run and name is None:
        status: Literal["Succeeded", "Failed", "DryRun"] = "DryRun"
    else:
        status = "Failed" if name else "Succeeded"
    fate: CloneFate
    if status == "DryRun":
        fate = "planned"
    elif clone_instance_id is None:
        fate = "not launched"
    elif kept:
        fate = "kept"
    else:
        fate = "left for cleanup" if cleanup_error else "removed"
    # RTO: from the request to a clone proven healthy (status checks, then validation).
    proven_at = validation.finished_at if validation is not None else ready_at
    rto = (proven_at - started_at).total_seconds() if status == "Succeeded" and proven_at else None
    return DrillReport(
        instance_id=source_instance_id,
        status=status,
        snapshot_set_id=chosen.snapshot_set_id if chosen else None,
        snapshot_set_created_at=chosen.created_at if chosen else None,
        clone_instance_id=clone_instance_id,
        clone=fate,
        expires_at=plan.expires_at if plan and fate in ("kept", "left for cleanup") else None,
        volumes=[
            DrillVolume(
                device=v.device,
                snapshot_id=v.snapshot_id,
                clone_volume_id=clone_volumes.get(v.device),
            )
            for v in (plan.volumes if plan else [])
        ],
        security_groups=[
            DrillSecurityGroup(group_id=g, isolation=g == clone.isolation_group_id)
            for g in clone.security_group_ids
        ]
        if clone
        else [],
        validation=validation,
        rto_seconds=round(rto, 1) if rto is not None else None,
        started_at=started_at,
        finished_at=finished_at,
        error=name,
        cause=cause,
        skipped_sets=chosen.skipped if chosen else [],
        warnings=plan.warnings if plan else [],
        launch=plan.launch if plan and status == "DryRun" else None,
    )


def publish_drill_outcome(
    cloudwatch: CloudWatchClient, events: EventBridgeClient, report: DrillReport
) -> dict[str, Any]:
    """``DrillSucceeded`` (1/0) and ``DrillRtoSeconds`` metrics, and one EventBridge event.

    Metrics go out per instance and without dimensions (one alarm can watch every drill).
    A DryRun launched nothing and publishes nothing.
    """
    if report.status == "DryRun":
        return {"Published": False}
    data: list[Any] = []
    for dimensions in ([{"Name": "InstanceId", "Value": report.instance_id}], []):
        data.append(
            {
                "MetricName": "DrillSucceeded",
                "Dimensions": dimensions,
                "Value": 1.0 if report.status == "Succeeded" else 0.0,
                "Unit": "Count",
            }
        )
        if report.rto_seconds is not None:
            data.append(
                {
                    "MetricName": "DrillRtoSeconds",
                    "Dimensions": dimensions,
                    "Value": report.rto_seconds,
                    "Unit": "Seconds",
                }
            )
    cloudwatch.put_metric_data(Namespace=METRIC_NAMESPACE, MetricData=data)
    answer = events.put_events(
        Entries=[
            {
                "Source": EVENT_SOURCE,
                "DetailType": EVENT_DETAIL_TYPE,
                "Resources": [],
                "Detail": json.dumps(report.model_dump(mode="json", by_alias=True)),
            }
        ]
    )
    if answer.get("FailedEntryCount"):
        raise RuntimeError(f"EventBridge refused the drill event: {answer['Entries']}")
    return {"Published": True, "Metrics": len(data)}
