"""Restores over time: one after another, locking, power states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3

from tests.integration.helpers import (
    assert_invariants,
    attached,
    power_state,
    snapshot_of_volume,
    volume_exists,
)
from vss_restore.local import LocalEngine
from vss_restore.local.engine import LOCK_TABLE_NAME
from vss_restore.local.invariants import InstanceState


def _snapshots_behind(ec2, instance_id: str) -> dict[str, str]:
    return {d: snapshot_of_volume(ec2, v) for d, v in attached(ec2, instance_id).items()}


def test_second_restore_back_to_an_older_set_finds_it_through_lineage_after_originals_deleted(
    engine: LocalEngine, ec2, instance_with_volumes: str, vss_set
) -> None:
    # GIVEN two sets, and a first restore to the newer one that deleted the original volumes
    older = vss_set("set-older", hours_ago=48)
    newer = vss_set("set-newer", hours_ago=24)
    originals = InstanceState.capture(ec2, instance_with_volumes)
    first_request = {"InstanceId": instance_with_volumes, "DeleteReplacedVolumes": True}
    first = engine.run(first_request)
    assert first.status == "SUCCEEDED", first.cause
    assert _snapshots_behind(ec2, instance_with_volumes) == newer
    assert not any(volume_exists(ec2, v) for v in originals.volumes.values())
    assert first.output["ReplacedVolumes"] == "deleted"
    assert_invariants(ec2, originals, first, first_request)
    between = InstanceState.capture(ec2, instance_with_volumes)

    # WHEN restoring the older set, whose snapshots name volumes that no longer exist
    second_request = {"InstanceId": instance_with_volumes, "SnapshotSetId": "set-older"}
    second = engine.run(second_request)

    # THEN it is found by lineage and restored; the first restore's volumes are kept
    assert second.status == "SUCCEEDED", second.cause
    assert _snapshots_behind(ec2, instance_with_volumes) == older
    assert all(volume_exists(ec2, v) for v in between.volumes.values())
    assert_invariants(ec2, between, second, second_request)


def test_two_restores_in_a_row_keep_originals_and_latest_is_chosen_each_time(
    engine: LocalEngine, ec2, instance_with_volumes: str, vss_set
) -> None:
    # GIVEN an older set; a restore to it; then a fresh set taken of the restored volumes
    older = vss_set("set-1", hours_ago=48)
    originals = InstanceState.capture(ec2, instance_with_volumes)
    first = engine.run({"InstanceId": instance_with_volumes})
    assert first.output["SnapshotSetId"] == "set-1"
    fresh = vss_set("set-2", hours_ago=1)

    # WHEN restoring again with defaults, then again to the set taken before the first restore
    latest = engine.run({"InstanceId": instance_with_volumes})
    behind_latest = _snapshots_behind(ec2, instance_with_volumes)
    back = engine.run({"InstanceId": instance_with_volumes, "SnapshotSetId": "set-1"})

    # THEN each restore used the intended set and every volume ever replaced still exists
    assert latest.output["SnapshotSetId"] == "set-2"
    assert behind_latest == fresh
    assert back.status == "SUCCEEDED", back.cause
    assert _snapshots_behind(ec2, instance_with_volumes) == older
    assert all(volume_exists(ec2, v) for v in originals.volumes.values())


def test_stopped_instance_stays_stopped_when_power_on_after_restore_is_false(
    engine: LocalEngine, ec2, instance_with_volumes: str, vss_set
) -> None:
    # GIVEN a stopped instance
    vss_set("set-1", hours_ago=1)
    ec2.stop_instances(InstanceIds=[instance_with_volumes])
    before = InstanceState.capture(ec2, instance_with_volumes)
    request = {"InstanceId": instance_with_volumes, "PowerOnAfterRestore": False}

    # WHEN restoring without powering on
    result = engine.run(request)

    # THEN the volumes are swapped, the instance is still stopped and no downtime is counted
    assert result.status == "SUCCEEDED", result.cause
    assert power_state(ec2, instance_with_volumes) == "stopped"
    assert result.output["PowerState"] == "stopped"
    assert result.output["DowntimeSeconds"] is None
    assert "StartInstance" not in result.state_path()
    assert attached(ec2, instance_with_volumes) != before.volumes
    assert_invariants(ec2, before, result, request)


def test_stopped_instance_is_started_when_power_on_after_restore_is_true(
    engine: LocalEngine, ec2, instance_with_volumes: str, vss_set
) -> None:
    # GIVEN a stopped instance
    vss_set("set-1", hours_ago=1)
    ec2.stop_instances(InstanceIds=[instance_with_volumes])
    before = InstanceState.capture(ec2, instance_with_volumes)
    request = {"InstanceId": instance_with_volumes, "PowerOnAfterRestore": True}

    # WHEN restoring with power-on
    result = engine.run(request)

    # THEN it runs on the restored volumes
    assert result.status == "SUCCEEDED", result.cause
    assert power_state(ec2, instance_with_volumes) == "running"
    assert_invariants(ec2, before, result, request)


def test_running_instance_is_left_stopped_when_power_on_after_restore_is_false(
    engine: LocalEngine, ec2, instance_with_volumes: str, vss_set
) -> None:
    vss_set("set-1", hours_ago=1)
    result = engine.run({"InstanceId": instance_with_volumes, "PowerOnAfterRestore": False})
    assert result.status == "SUCCEEDED", result.cause
    assert power_state(ec2, instance_with_volumes) == "stopped"


def test_restore_fails_with_restore_in_progress_when_another_execution_holds_the_lock(
    engine: LocalEngine, ec2, instance_with_volumes: str, vss_set
) -> None:
    # GIVEN another execution's lock on the instance
    vss_set("set-1", hours_ago=1)
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    expires = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    ddb.put_item(
        TableName=LOCK_TABLE_NAME,
        Item={
            "InstanceId": {"S": instance_with_volumes},
            "Owner": {"S": "arn:other-execution"},
            "AcquiredAt": {"S": "2026-01-01T00:00:00+00:00"},
            "ExpiresAt": {"N": str(expires)},
        },
    )
    before = InstanceState.capture(ec2, instance_with_volumes)
    volumes_before = len(ec2.describe_volumes()["Volumes"])

    # WHEN a restore is started
    result = engine.run({"InstanceId": instance_with_volumes})

    # THEN it fails with RestoreInProgress, changes nothing and leaves the other lock alone
    assert result.status == "FAILED"
    assert result.error == "RestoreInProgress"
    assert "arn:other-execution" in result.cause
    assert InstanceState.capture(ec2, instance_with_volumes) == before
    assert len(ec2.describe_volumes()["Volumes"]) == volumes_before
    item = ddb.get_item(
        TableName=LOCK_TABLE_NAME, Key={"InstanceId": {"S": instance_with_volumes}}
    )["Item"]
    assert item["Owner"]["S"] == "arn:other-execution"


def test_expired_lock_of_a_crashed_execution_is_taken_over(
    engine: LocalEngine, ec2, instance_with_volumes: str, vss_set
) -> None:
    # GIVEN a lock whose expiry has passed
    vss_set("set-1", hours_ago=1)
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.put_item(
        TableName=LOCK_TABLE_NAME,
        Item={
            "InstanceId": {"S": instance_with_volumes},
            "Owner": {"S": "arn:crashed-execution"},
            "ExpiresAt": {"N": str(int((datetime.now(UTC) - timedelta(minutes=1)).timestamp()))},
        },
    )

    # WHEN a restore is started
    result = engine.run({"InstanceId": instance_with_volumes})

    # THEN it proceeds and releases the lock at the end
    assert result.status == "SUCCEEDED", result.cause
    assert "Item" not in ddb.get_item(
        TableName=LOCK_TABLE_NAME, Key={"InstanceId": {"S": instance_with_volumes}}
    )


def test_successful_restore_releases_its_lock(
    engine: LocalEngine, ec2, instance_with_volumes: str, vss_set
) -> None:
    vss_set("set-1", hours_ago=1)
    result = engine.run({"InstanceId": instance_with_volumes})
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    assert result.status == "SUCCEEDED"
    assert "Item" not in ddb.get_item(
        TableName=LOCK_TABLE_NAME, Key={"InstanceId": {"S": instance_with_volumes}}
    )
