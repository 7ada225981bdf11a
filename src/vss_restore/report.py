"""The restore report, and the one-line account of a failure and its rollback."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from vss_restore.errors import (
    AwsRetriesExhausted,
    AwsUnavailable,
    Ec2Throttled,
    IncorrectState,
    ResourceNotReady,
    RollbackFailed,
    WaitTimedOut,
)
from vss_restore.initialization import DEFAULT, FAST_SNAPSHOT_RESTORE, estimate_seconds
from vss_restore.models import (
    ChosenSet,
    CreatedVolume,
    Mode,
    ReportDiskCommand,
    ReportVolume,
    RestorePlan,
    RestoreReport,
    VolumeInitialization,
    VolumeSpec,
)


def downtime_seconds(
    stop_requested_at: datetime | None, running_at: datetime | None
) -> float | None:
    """Seconds from the StopInstances call to running again; None if not both happened."""
    if stop_requested_at is None or running_at is None:
        return None
    return round((running_at - stop_requested_at).total_seconds(), 3)


def application_downtime_seconds(
    offline_sent_at: datetime | None, online_finished_at: datetime | None
) -> float | None:
    """Mode "Online": seconds from sending TakeDisksOffline (before its first service stops)
    to seeing BringDisksOnline finished (after its last service started).

    An upper bound: the end is the poll that saw the command finished, at most one poll
    interval after it did; the start is when the state that sends the command was entered,
    before SSM received it (also when the task was retried).
    """
    if offline_sent_at is None or online_finished_at is None:
        return None
    return round((online_finished_at - offline_sent_at).total_seconds(), 3)


# The disk commands of an online restore, as the workflow stores them under ``Disks``.
DISK_COMMAND_RESULTS = ("Offline", "Online", "RollbackOffline", "RollbackOnline")


def _present(items: list[dict[str, Any]] | None, names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Each item's ``names`` that have a value (no nulls, no empty lists), in that order."""
    return [
        {name: item[name] for name in names if item.get(name) not in (None, [])}
        for item in items or []
    ]


def disk_commands(disks: dict[str, Any]) -> list[ReportDiskCommand]:
    """Each disk command that ran to its end, in the order of the workflow."""
    return [
        ReportDiskCommand.model_validate(
            {
                **{
                    name: disks[key].get(name)
                    for name in ("Step", "CommandId", "Status", "OutputExcerpt")
                },
                "Disks": _present(
                    disks[key].get("Disks"),
                    ("VolumeId", "DriveLetters", "FolderPaths", "LockedVolumes"),
                ),
                "Services": _present(
                    disks[key].get("Services"), ("Name", "Status", "StoppedWith", "DependentOf")
                ),
            }
        )
        for key in DISK_COMMAND_RESULTS
        if isinstance(disks.get(key), dict)
    ]


def volume_initialization(spec: VolumeSpec) -> VolumeInitialization:
    """How the spec's volume initializes, and the estimate of how long it takes."""
    return VolumeInitialization(
        mode=spec.initialization,
        rate_mibps=spec.initialization_rate,
        estimated_seconds=estimate_seconds(
            spec.size, spec.initialization, spec.initialization_rate
        ),
    )


def full_performance(
    plan: RestorePlan,
    started_at: datetime,
    back_at: datetime | None,
    initialized_at: datetime | None,
) -> tuple[float | None, Literal["Measured", "Estimated"] | None]:
    """(seconds from ``started_at`` to full performance, "Measured" or "Estimated").

    Measured when EBS reported every volume initialized at ``initialized_at``; otherwise the
    time the instance was back (``back_at``) plus the slowest volume's estimate, which errs
    long (volumes begin to initialize when created, before the instance stops).
    """
    if initialized_at is not None:
        return round((initialized_at - started_at).total_seconds(), 3), "Measured"
    if back_at is None or not plan.volumes:
        return None, None
    slowest = max(volume_initialization(s).estimated_seconds for s in plan.volumes)
    return round((back_at - started_at).total_seconds() + slowest, 3), "Estimated"


def as_created(plan: RestorePlan, missed_fast_restore: Collection[str]) -> RestorePlan:
    """The plan with each device of ``missed_fast_restore`` initializing at the default rate.

    A volume planned for fast snapshot restore that EC2 created without it (the snapshot's
    volume creation credits had run out) loads lazily like any other.
    """
    return plan.model_copy(
        update={
            "volumes": [
                s.model_copy(update={"initialization": DEFAULT})
                if s.device in missed_fast_restore
                else s
                for s in plan.volumes
            ]
        }
    )


def initialization_warnings(
    plan: RestorePlan,
    initialization_rate: int | None,
    error: dict[str, Any] | None,
    missed_fast_restore: Collection[str] = frozenset(),
) -> list[str]:
    """What the report says about initialization: FSR chosen over the rate, FSR that did not
    happen, a wait given up. ``plan`` is the plan as planned."""
    warnings = [
        f"{s.device}: {s.snapshot_id} has fast snapshot restore enabled in "
        f"{s.availability_zone}: created with it, without InitializationRate {initialization_rate} "
        "(a rate would have replaced fast snapshot restore)"
        for s in plan.volumes
        if initialization_rate is not None
        and s.initialization == FAST_SNAPSHOT_RESTORE
        and s.device not in missed_fast_restore
    ]
    warnings += [
        f"{s.device}: created without fast snapshot restore although {s.snapshot_id} has it "
        f"enabled in {s.availability_zone} (no volume creation credit was left): it "
        "initializes at the default rate"
        for s in plan.volumes
        if s.device in missed_fast_restore
    ]
    if error:
        name, message = error_message(error)
        warnings.append(
            "the restore is complete, but the volumes were not seen fully initialized "
            f"({name}: {message}); they reach full performance when EBS has loaded every block"
        )
    return warnings


def build_report(
    plan: RestorePlan,
    chosen: ChosenSet,
    created: list[CreatedVolume] | None,
    *,
    dry_run: bool,
    started_at: datetime,
    finished_at: datetime,
    stop_requested_at: datetime | None,
    running_at: datetime | None,
    replaced_volumes: str,
    power_state: str,
    warnings: list[str],
    initialization_rate: int | None = None,
    initialized_at: datetime | None = None,
    initialization_error: dict[str, Any] | None = None,
    missed_fast_restore: Collection[str] = frozenset(),
    mode: Mode = "InPlace",
    disks: dict[str, Any] | None = None,
) -> RestoreReport:
    """The report; ``disks``: an online restore's disk commands (the workflow's ``Disks``)."""
    disks = disks or {}
    offline_sent = (disks.get("OfflineSent") or {}).get("SentAt")
    online_done = (disks.get("Online") or {}).get("FinishedAt")
    new_ids = {c.device: c.volume_id for c in created or []}
    created_as = as_created(plan, missed_fast_restore)
    seconds, basis = (
        (None, None)
        if dry_run
        else full_performance(created_as, started_at, running_at or finished_at, initialized_at)
    )
    return RestoreReport(
        instance_id=plan.instance_id,
        snapshot_set_id=plan.snapshot_set_id,
        status="DryRun" if dry_run else "Succeeded",
        volumes=[
            ReportVolume(
                device=s.device,
                snapshot_id=s.snapshot_id,
                new_volume_id=new_ids.get(s.device),
                replaced_volume_id=s.replaced_volume_id,
                initialization=volume_initialization(s),
            )
            for s in created_as.volumes
        ],
        started_at=started_at,
        finished_at=finished_at,
        downtime_seconds=downtime_seconds(stop_requested_at, running_at),
        snapshot_set_created_at=chosen.created_at,
        skipped_sets=chosen.skipped,
        replaced_volumes="untouched" if dry_run else replaced_volumes,
        power_state=power_state,
        warnings=[
            *warnings,
            *initialization_warnings(
                plan, initialization_rate, initialization_error, missed_fast_restore
            ),
        ],
        full_performance_seconds=seconds,
        full_performance_basis=basis,
        mode=mode,
        application_downtime_seconds=application_downtime_seconds(
            datetime.fromisoformat(offline_sent) if offline_sent else None,
            datetime.fromisoformat(online_done) if online_done else None,
        ),
        disk_commands=disk_commands(disks),
    )


def error_message(error: dict[str, Any]) -> tuple[str, str]:
    """(name, message) from a Catch's ``{"Error", "Cause"}``; Lambda causes are JSON."""
    name = str(error.get("Error", "States.TaskFailed"))
    cause = str(error.get("Cause", ""))
    try:
        decoded = json.loads(cause)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict) and "errorMessage" in decoded:
        cause = str(decoded["errorMessage"])
    # A retryable error that ends a run is one whose retries ran out: it gets the terminal
    # name of what that means, and keeps the last answer as its cause.
    if name in _RETRIES_RAN_OUT:
        name, said = _RETRIES_RAN_OUT[name]
        cause = f"{said}: {cause}"
    return name, cause


_RETRIES_RAN_OUT = {
    # A wait whose retries ran out is a timeout, whatever the last poll said.
    ResourceNotReady.__name__: (WaitTimedOut.__name__, "gave up waiting"),
    # So is a resource that stayed busy (a volume whose detach never completes) throughout.
    IncorrectState.__name__: (
        WaitTimedOut.__name__,
        "gave up waiting for a resource still changing state after every retry (IncorrectState)",
    ),
    Ec2Throttled.__name__: (
        AwsRetriesExhausted.__name__,
        "AWS still throttled the call after every retry (Ec2Throttled)",
    ),
    AwsUnavailable.__name__: (
        AwsRetriesExhausted.__name__,
        "AWS still failed the call after every retry (AwsUnavailable)",
    ),
}


def _online_rollback(document: dict[str, Any]) -> list[str]:
    """Mode "Online": what the rollback's disk commands did (the instance is never stopped)."""
    if (document.get("Request") or {}).get("Mode") != "Online":
        return []
    disks = document.get("Disks") or {}
    parts = []
    if isinstance(disks.get("RollbackOffline"), dict):
        parts.append(
            "Restored volumes' disks taken offline: "
            f"{', '.join(d['VolumeId'] for d in disks['RollbackOffline'].get('Disks', []))}."
        )
    back = disks.get("RollbackOnline")
    if isinstance(back, dict):
        services = [f"{s['Name']} {s['Status']}" for s in back.get("Services", [])]
        parts.append(
            "Original volumes' disks online again"
            + (f", services: {', '.join(services)}." if services else ".")
        )
    if any(k.startswith("Rollback") for k in document):
        parts.append("The instance was not stopped (Mode Online).")
    return parts


LOCK_KEPT = (
    "Lock kept: no other restore can start on this instance until its item is deleted from "
    "the lock table (or expires)"
)


def _sentence(text: str) -> str:
    """``text`` ending in a full stop, so that the sentences of a cause never run together."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?", ")")) and not text.endswith("..") else f"{text}."


@dataclass(frozen=True)
class FailureSummary:
    """A failure, as its parts: the error, what happened, and what the rollback did."""

    error: str
    happened: str
    # (what, sentence): "volumes" and "deleted" name each volume, which a table can show instead
    steps: list[tuple[str, str]]

    @property
    def undone(self) -> list[str]:
        return [sentence for _, sentence in self.steps]

    @property
    def cause(self) -> str:
        return " ".join([self.happened, *self.undone])


def failure_summary(document: dict[str, Any]) -> FailureSummary:
    """What happened and what was rolled back, from the workflow state at the end of the
    failure path: ``Error`` from the Catch, and whatever the rollback tasks wrote
    (``RollbackVolumes``, ``RollbackPower``, ``RollbackCleanup``, ``RollbackFailure``,
    ``Leftovers``, ``Unlock`` or ``UnlockError``)."""
    name, message = error_message(document.get("Error") or {})
    happened = _sentence(f"{name}: {message}")
    parts: list[tuple[str, str]] = []
    rolled_back = any(k.startswith("Rollback") for k in document)
    if not rolled_back and "Prepared" in document:
        parts.append(
            ("state", "The volumes had been swapped before this error; nothing was rolled back.")
        )
    elif not rolled_back:
        parts.append(("state", "Nothing on the instance had been changed."))
    if document.get("RollbackFailure"):
        name = RollbackFailed.__name__
        r_name, r_message = error_message(document["RollbackFailure"])
        parts.append(("rollback", f"Rollback failed ({r_name}: {r_message})."))
        left = document.get("Leftovers") or "unknown, see the execution history"
        parts.append(("rollback", f"Left as it is: {left}."))
    volumes = document.get("RollbackVolumes")
    if volumes:
        parts.append(("volumes", f"Original volumes back on their devices: {', '.join(volumes)}."))
    parts.extend(("disks", sentence) for sentence in _online_rollback(document))
    power = document.get("RollbackPower")
    if power:
        parts.append(("power", f"Instance {power}, as before the restore."))
    cleanup = document.get("RollbackCleanup") or {}
    if cleanup.get("Deleted"):
        parts.append(("deleted", f"Deleted restored volumes: {', '.join(cleanup['Deleted'])}."))
    if cleanup.get("LeftBehind"):
        left_behind = ", ".join(cleanup["LeftBehind"])
        parts.append(("cleanup", f"Could not delete, tagged for cleanup: {left_behind}."))
    unlock = document.get("Unlock")
    if isinstance(unlock, dict):
        released = unlock.get("Released")
        parts.append(
            ("lock", "Lock released." if released else "Lock was not held by this execution.")
        )
    elif document.get("UnlockError"):
        # The last step of the rollback failed: the instance stays locked, say so.
        name = RollbackFailed.__name__
        u_name, u_message = error_message(document["UnlockError"])
        parts.append(
            ("lock", f"Rollback failed: the lock could not be released ({u_name}: {u_message}).")
        )
        parts.append(("lock", LOCK_KEPT + "."))
    elif document.get("RollbackFailure"):
        parts.append(("lock", f"{LOCK_KEPT}, after someone has put the instance right."))
    return FailureSummary(name, happened, parts)


def summarize_failure(document: dict[str, Any]) -> dict[str, str]:
    """The Fail state's ``Error`` and ``Cause``: what happened and what was rolled back."""
    summary = failure_summary(document)
    return {"Error": summary.error, "Cause": summary.cause}
