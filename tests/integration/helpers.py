"""Reading what the emulator holds, for assertions on state rather than on calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vss_restore import tags
from vss_restore.local import world
from vss_restore.local.engine import LOCK_TABLE_NAME
from vss_restore.local.invariants import InstanceState, check_invariants

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

    from vss_restore.local import ExecutionResult


def volume(ec2: EC2Client, volume_id: str) -> dict[str, Any]:
    return dict(ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0])


def volume_tags(ec2: EC2Client, volume_id: str) -> dict[str, str]:
    return tags.tag_dict(volume(ec2, volume_id).get("Tags"))


def volume_exists(ec2: EC2Client, volume_id: str) -> bool:
    found = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume_id]}])["Volumes"]
    return bool(found)


def attached(ec2: EC2Client, instance_id: str) -> dict[str, str]:
    return world.attached(ec2, instance_id)


def power_state(ec2: EC2Client, instance_id: str) -> str:
    raw = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return str(raw["State"]["Name"])


def volumes_of(ec2: EC2Client, result: ExecutionResult) -> list[dict[str, Any]]:
    found = ec2.describe_volumes(
        Filters=[{"Name": f"tag:{tags.EXECUTION}", "Values": [result.execution_arn]}]
    )
    return [dict(v) for v in found["Volumes"]]


def assert_invariants(
    ec2: EC2Client, before: InstanceState, result: ExecutionResult, request: dict[str, Any]
) -> None:
    violations = check_invariants(ec2, before, result, request, LOCK_TABLE_NAME)
    assert violations == [], violations


def snapshot_of_volume(ec2: EC2Client, volume_id: str) -> str:
    return str(volume(ec2, volume_id)["SnapshotId"])


# Step Functions' limit on a state's input or output (and on a task's result).
STATE_DATA_LIMIT = 262_144


def largest_state_data(history: list[dict[str, Any]]) -> int:
    """Bytes of the largest state input or output of an execution."""
    sizes = [
        len((details.get("input") or details.get("output") or "").encode())
        for event in history
        for key in ("stateEnteredEventDetails", "stateExitedEventDetails")
        if (details := event.get(key))
    ]
    return max(sizes)
