"""Stopping and starting the instance, and waiting until it is stopped, running and healthy."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from vss_restore.aws_errors import failing_as
from vss_restore.errors import IncorrectState, InstanceNotRestorable, RollbackFailed, StartFailed
from vss_restore.instance import describe_instance, power_state
from vss_restore.waiting import not_ready

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


def stop_instance(ec2: EC2Client, instance_id: str) -> bool:
    """Ask the instance to stop; True if it was running (False: already stopped or stopping)."""
    state = power_state(describe_instance(ec2, instance_id))
    if state == "pending":
        raise IncorrectState(f"{instance_id} is pending; it can be stopped once running")
    if state == "running":
        with failing_as(InstanceNotRestorable, f"StopInstances {instance_id}"):
            ec2.stop_instances(InstanceIds=[instance_id])
        return True
    return False


def instance_stopped(
    ec2: EC2Client, instance_id: str, entered_at: datetime, timeout_seconds: int, now: datetime
) -> None:
    state = power_state(describe_instance(ec2, instance_id))
    if state != "stopped":
        not_ready(f"{instance_id} is {state}, not stopped", entered_at, timeout_seconds, now)


def start_instance(ec2: EC2Client, instance_id: str) -> None:
    state = power_state(describe_instance(ec2, instance_id))
    if state == "stopping":
        raise IncorrectState(f"{instance_id} is stopping; it can be started once stopped")
    if state == "stopped":
        with failing_as(StartFailed, f"StartInstances {instance_id}"):
            ec2.start_instances(InstanceIds=[instance_id])


# Reads just after StartInstances may still show the old state (EC2 is eventually consistent).
START_GRACE = timedelta(seconds=30)


def instance_running(
    ec2: EC2Client, instance_id: str, entered_at: datetime, timeout_seconds: int, now: datetime
) -> None:
    state = power_state(describe_instance(ec2, instance_id))
    if state == "running":
        return
    if state != "pending" and now - entered_at >= START_GRACE:
        raise StartFailed(f"{instance_id} is {state} after StartInstances")
    not_ready(f"{instance_id} is {state}", entered_at, timeout_seconds, now)


def status_checks_passed(
    ec2: EC2Client, instance_id: str, entered_at: datetime, timeout_seconds: int, now: datetime
) -> None:
    """Both the system and the instance status checks report ``ok``."""
    statuses = ec2.describe_instance_status(InstanceIds=[instance_id], IncludeAllInstances=True)[
        "InstanceStatuses"
    ]
    state = statuses[0].get("InstanceState", {}).get("Name") if statuses else "unknown"
    if state == "pending":  # a read that lags the start, as in instance_running
        not_ready(f"{instance_id} is still pending", entered_at, timeout_seconds, now)
    if state != "running":
        raise StartFailed(f"{instance_id} is {state} while its status checks were awaited")
    system = statuses[0].get("SystemStatus", {}).get("Status", "initializing")
    own = statuses[0].get("InstanceStatus", {}).get("Status", "initializing")
    if "impaired" in (system, own):
        raise StartFailed(
            f"{instance_id} failed its status checks (system {system}, instance {own})"
        )
    if (system, own) != ("ok", "ok"):
        not_ready(
            f"{instance_id} status checks: system {system}, instance {own}",
            entered_at,
            timeout_seconds,
            now,
        )


def converge_power_state(
    ec2: EC2Client,
    instance_id: str,
    wanted: str,
    entered_at: datetime,
    timeout_seconds: int,
    now: datetime,
) -> None:
    """Move the instance to ``wanted`` (running or stopped) one step per call."""
    state = power_state(describe_instance(ec2, instance_id))
    if state == wanted:
        return
    with failing_as(RollbackFailed, f"putting {instance_id} back to {wanted}"):
        if wanted == "running" and state == "stopped":
            ec2.start_instances(InstanceIds=[instance_id])
        elif wanted == "stopped" and state == "running":
            ec2.stop_instances(InstanceIds=[instance_id])
    not_ready(f"{instance_id} is {state}, on its way to {wanted}", entered_at, timeout_seconds, now)
