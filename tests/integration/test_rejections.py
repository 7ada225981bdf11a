"""Requests that cannot be carried out fail fast with a named error and change nothing."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from vss_restore.local import LocalEngine
from vss_restore.local.engine import LOCK_TABLE_NAME
from vss_restore.local.invariants import InstanceState


def _nothing_changed(ec2, instance_id: str, before: InstanceState, volume_count: int) -> None:
    assert InstanceState.capture(ec2, instance_id) == before
    assert len(ec2.describe_volumes()["Volumes"]) == volume_count
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    assert ddb.scan(TableName=LOCK_TABLE_NAME)["Items"] == []


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"Foo": 1}, "Foo"),
        ({"DryRun": "yes"}, "DryRun"),
        ({"Devices": []}, "Devices"),
        ({"Devices": ["not-a-device"]}, "Devices"),
        ({"RestorePointInTime": "yesterday"}, "RestorePointInTime"),
        ({"RestorePointInTime": "2024-01-01T00:00:00"}, "RestorePointInTime"),
        ({"PowerOnAfterRestore": 1}, "PowerOnAfterRestore"),
        ({"ExcludeBootVolume": True, "Devices": ["/dev/sda1"]}, "$"),
        ({"Devices": ["xvdq"]}, "Devices"),
    ],
)
def test_bad_request_fails_with_invalid_request_naming_the_field(
    engine: LocalEngine,
    ec2,
    instance_with_volumes: str,
    vss_set,
    request_fields: dict[str, Any],
    field: str,
) -> None:
    # GIVEN a restorable instance
    vss_set("set-1", hours_ago=1)
    before = InstanceState.capture(ec2, instance_with_volumes)
    volume_count = len(ec2.describe_volumes()["Volumes"])

    # WHEN the request carries a bad field
    result = engine.run({"InstanceId": instance_with_volumes, **request_fields})

    # THEN it fails with InvalidRequest naming the field, and nothing changed
    assert result.status == "FAILED"
    assert result.error == "InvalidRequest"
    assert result.cause.startswith(f"InvalidRequest: {field}"), result.cause
    _nothing_changed(ec2, instance_with_volumes, before, volume_count)


def test_request_without_instance_id_names_instance_id(engine: LocalEngine) -> None:
    result = engine.run({"DryRun": True})
    assert result.error == "InvalidRequest"
    assert "InstanceId" in result.cause


def test_non_object_request_is_rejected(engine: LocalEngine) -> None:
    result = engine.run(["i-0123456789abcdef0"])  # type: ignore[arg-type]
    assert result.error == "InvalidRequest"


def test_unknown_instance_fails_with_instance_not_found(engine: LocalEngine) -> None:
    result = engine.run({"InstanceId": "i-0123456789abcdef0"})
    assert result.status == "FAILED"
    assert result.error == "InstanceNotFound"
    assert "i-0123456789abcdef0" in result.cause


def test_no_complete_set_fails_with_snapshot_set_not_found_and_says_why(
    engine: LocalEngine, ec2, instance_with_volumes: str, vss_set
) -> None:
    # GIVEN only incomplete sets
    vss_set("set-a", hours_ago=2, not_app_consistent=("xvdf",))
    vss_set("set-b", hours_ago=1, pending=("/dev/sda1",))
    before = InstanceState.capture(ec2, instance_with_volumes)
    volume_count = len(ec2.describe_volumes()["Volumes"])

    # WHEN restoring
    result = engine.run({"InstanceId": instance_with_volumes})

    # THEN SnapshotSetNotFound, with each set's reason, and nothing changed (lock released)
    assert result.error == "SnapshotSetNotFound"
    assert "set-a" in result.cause
    assert "set-b" in result.cause
    assert "pending" in result.cause
    _nothing_changed(ec2, instance_with_volumes, before, volume_count)


def test_no_snapshots_at_all_fails_with_snapshot_set_not_found(
    engine: LocalEngine, ec2, instance_with_volumes: str
) -> None:
    result = engine.run({"InstanceId": instance_with_volumes})
    assert result.error == "SnapshotSetNotFound"
    assert "no VSS snapshots were found" in result.cause


def test_named_incomplete_set_fails_with_snapshot_set_incomplete(
    engine: LocalEngine, ec2, instance_with_volumes: str, vss_set
) -> None:
    vss_set("set-ok", hours_ago=2)
    vss_set("set-bad", hours_ago=1, not_app_consistent=("xvdh",))
    result = engine.run({"InstanceId": instance_with_volumes, "SnapshotSetId": "set-bad"})
    assert result.error == "SnapshotSetIncomplete"
    assert "xvdh" in result.cause


def test_unknown_set_id_fails_with_snapshot_set_not_found(
    engine: LocalEngine, ec2, instance_with_volumes: str, vss_set
) -> None:
    vss_set("set-ok", hours_ago=2)
    result = engine.run({"InstanceId": instance_with_volumes, "SnapshotSetId": "set-missing"})
    assert result.error == "SnapshotSetNotFound"
    assert "set-missing" in result.cause


def test_point_in_time_before_every_set_fails_with_snapshot_set_not_found(
    engine: LocalEngine, ec2, instance_with_volumes: str, vss_set
) -> None:
    vss_set("set-ok", hours_ago=2)
    result = engine.run(
        {"InstanceId": instance_with_volumes, "RestorePointInTime": "2020-01-01T00:00:00Z"}
    )
    assert result.error == "SnapshotSetNotFound"
