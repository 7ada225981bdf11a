"""Restores over time: one after another, locking, power states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tests.conftest import VssSetFactory
from tests.integration.conftest import RestoreRunner
from tests.integration.helpers import attached, power_state, snapshot_of_volume, volume_exists
from vss_restore.local.engine import LOCK_TABLE_NAME
from vss_restore.local.invariants import InstanceState

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


def _snapshots_behind(ec2: EC2Client, instance_id: str) -> dict[str, str]:
    return {d: snapshot_of_volume(ec2, v) for d, v in attached(ec2, instance_id).items()}


def _lock_item(instance_id: str) -> dict[str, Any] | None:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    return ddb.get_item(TableName=LOCK_TABLE_NAME, Key={"InstanceId": {"S": instance_id}}).get(
        "Item"
    )


def _put_lock(instance_id: str, owner: str, expires_in: timedelta) -> None:
    boto3.client("dynamodb", region_name="us-east-1").put_item(
        TableName=LOCK_TABLE_NAME,
        Item={
            "InstanceId": {"S": instance_id},
            "Owner": {"S": owner},
            "AcquiredAt": {"S": "2026-01-01T00:00:00+00:00"},
            "ExpiresAt": {"N": str(int((datetime.now(UTC) + expires_in).timestamp()))},
        },
    )


def test_second_restore_back_to_an_older_set_finds_it_through_lineage_after_originals_deleted(
    ec2: EC2Client, instance_with_volumes: str, vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN two sets, and a first restore to the newer one that deleted the original volumes
    older = vss_set("set-older", hours_ago=48)
    newer = vss_set("set-newer", hours_ago=24)
    first = restore(DeleteReplacedVolumes=True)
    assert first.report["ReplacedVolumes"] == "deleted"
    assert _snapshots_behind(ec2, instance_with_volumes) == newer
    assert not any(volume_exists(ec2, v) for v in first.before.volumes.values())

    # WHEN restoring the older set, whose snapshots name volumes that no longer exist
    second = restore(SnapshotSetId="set-older")

    # THEN it is found by lineage and restored; the first restore's volumes are kept
    assert second.report["SnapshotSetId"] == "set-older"
    assert _snapshots_behind(ec2, instance_with_volumes) == older
    assert all(volume_exists(ec2, v) for v in second.before.volumes.values())


def test_two_restores_in_a_row_keep_originals_and_latest_is_chosen_each_time(
    ec2: EC2Client, instance_with_volumes: str, vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN an older set; a restore to it; then a fresh set taken of the restored volumes
    older = vss_set("set-1", hours_ago=48)
    first = restore()
    assert first.report["SnapshotSetId"] == "set-1"
    fresh = vss_set("set-2", hours_ago=1)

    # WHEN restoring again with defaults, then again to the set taken before the first restore
    latest = restore()
    behind_latest = _snapshots_behind(ec2, instance_with_volumes)
    back = restore(SnapshotSetId="set-1")

    # THEN each restore used the intended set and every volume ever replaced still exists
    assert latest.report["SnapshotSetId"] == "set-2"
    assert behind_latest == fresh
    assert back.report["SnapshotSetId"] == "set-1"
    assert _snapshots_behind(ec2, instance_with_volumes) == older
    assert all(volume_exists(ec2, v) for v in first.before.volumes.values())


@pytest.mark.parametrize(
    ("running_before", "power_on", "state_after", "downtime_counted"),
    [
        (False, False, "stopped", False),
        (False, True, "running", False),
        (True, False, "stopped", False),
        (True, True, "running", True),
    ],
)
def test_power_state_after_restore_follows_power_on_after_restore(
    ec2: EC2Client,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    running_before: bool,
    power_on: bool,
    state_after: str,
    downtime_counted: bool,
) -> None:
    # GIVEN a running or stopped instance
    vss_set("set-1", hours_ago=1)
    if not running_before:
        ec2.stop_instances(InstanceIds=[instance_with_volumes])

    # WHEN restoring with PowerOnAfterRestore true or false
    done = restore(PowerOnAfterRestore=power_on)

    # THEN the volumes are swapped and the instance is in the asked-for state
    assert power_state(ec2, instance_with_volumes) == state_after
    assert done.report["PowerState"] == state_after
    assert ("StartInstance" in done.result.state_path()) == power_on
    assert (done.report["DowntimeSeconds"] is not None) == downtime_counted
    assert attached(ec2, instance_with_volumes) != done.before.volumes


def test_restore_fails_with_restore_in_progress_when_another_execution_holds_the_lock(
    ec2: EC2Client, instance_with_volumes: str, vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN another execution's lock on the instance
    vss_set("set-1", hours_ago=1)
    _put_lock(instance_with_volumes, "arn:other-execution", timedelta(hours=1))
    volumes_before = len(ec2.describe_volumes()["Volumes"])

    # WHEN a restore is started
    done = restore()

    # THEN it fails with RestoreInProgress, changes nothing and leaves the other lock alone
    assert (done.result.status, done.result.error) == ("FAILED", "RestoreInProgress")
    assert done.result.cause is not None
    assert "arn:other-execution" in done.result.cause
    assert InstanceState.capture(ec2, instance_with_volumes) == done.before
    assert len(ec2.describe_volumes()["Volumes"]) == volumes_before
    lock_item = _lock_item(instance_with_volumes)
    assert lock_item is not None
    assert lock_item["Owner"]["S"] == "arn:other-execution"


def test_expired_lock_of_a_crashed_execution_is_taken_over_and_released(
    instance_with_volumes: str, vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN a lock whose expiry has passed
    vss_set("set-1", hours_ago=1)
    _put_lock(instance_with_volumes, "arn:crashed-execution", -timedelta(minutes=1))

    # WHEN a restore is started
    done = restore()

    # THEN it proceeds and releases the lock at the end
    assert done.report["Status"] == "Succeeded"
    assert _lock_item(instance_with_volumes) is None
