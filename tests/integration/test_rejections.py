"""Requests that cannot be carried out fail fast with a named error and change nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tests.conftest import VssSetFactory
from tests.integration.conftest import RestoreRunner
from vss_restore.capabilities import FLEET_CAPABILITY, Machine
from vss_restore.local import LocalEngine
from vss_restore.local.engine import LOCK_TABLE_NAME
from vss_restore.local.invariants import InstanceState
from vss_restore.settings import reload_settings

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


@pytest.fixture
def unchanged(ec2: EC2Client, instance_with_volumes: str) -> Callable[[], None]:
    """Asserts, when called, that no volume, attachment, power state or lock changed."""
    before = InstanceState.capture(ec2, instance_with_volumes)
    volumes = sorted(v["VolumeId"] for v in ec2.describe_volumes()["Volumes"])

    def check() -> None:
        assert InstanceState.capture(ec2, instance_with_volumes) == before
        assert sorted(v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]) == volumes
        assert (
            boto3.client("dynamodb", region_name="us-east-1").scan(TableName=LOCK_TABLE_NAME)[
                "Items"
            ]
            == []
        )

    return check


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"Foo": 1}, "Foo"),
        ({"dry_run": True}, "dry_run"),
        ({"DryRun": "yes"}, "DryRun"),
        ({"Devices": []}, "Devices"),
        ({"Devices": ["not-a-device"]}, "Devices"),
        ({"Devices": ["xvdq"]}, "Devices"),
        ({"RestorePointInTime": "yesterday"}, "RestorePointInTime"),
        ({"RestorePointInTime": "2024-01-01T00:00:00"}, "RestorePointInTime"),
        ({"RestorePointInTime": 1700000000}, "RestorePointInTime"),
        ({"PowerOnAfterRestore": 1}, "PowerOnAfterRestore"),
        ({"ExcludeBootVolume": True, "Devices": ["/dev/sda1"]}, "Devices"),
        ({"InitializationRate": 500}, "InitializationRate"),
        ({"InitializationRate": "300"}, "InitializationRate"),
        ({"WaitForInitialization": "yes"}, "WaitForInitialization"),
    ],
)
def test_bad_request_fails_with_invalid_request_naming_the_field(
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    unchanged: Callable[[], None],
    fields: dict[str, Any],
    field: str,
) -> None:
    # GIVEN a restorable instance
    vss_set("set-1", hours_ago=1)

    # WHEN the request carries a bad field
    done = restore(**fields)

    # THEN it fails with InvalidRequest naming the field, and nothing changed
    assert (done.result.status, done.result.error) == ("FAILED", "InvalidRequest")
    assert done.result.cause is not None
    assert done.result.cause.startswith(f"InvalidRequest: {field}"), done.result.cause
    unchanged()


@pytest.mark.parametrize(
    ("request_body", "error", "named"),
    [
        ({"DryRun": True}, "InvalidRequest", "InstanceId"),
        (["i-0123456789abcdef0"], "InvalidRequest", "JSON object"),
        ({"InstanceId": "i-0123456789abcdef0"}, "InstanceNotFound", "i-0123456789abcdef0"),
    ],
)
def test_request_without_a_restorable_instance_is_rejected(
    engine: LocalEngine, request_body: Any, error: str, named: str
) -> None:
    result = engine.run(request_body)
    assert (result.status, result.error) == ("FAILED", error)
    assert result.cause is not None
    assert named in result.cause


def test_no_complete_set_fails_with_snapshot_set_not_found_and_says_why(
    vss_set: VssSetFactory, restore: RestoreRunner, unchanged: Callable[[], None]
) -> None:
    # GIVEN only incomplete sets
    vss_set("set-a", hours_ago=2, not_app_consistent=("xvdf",))
    vss_set("set-b", hours_ago=1, pending=("/dev/sda1",))

    # WHEN restoring
    done = restore()

    # THEN SnapshotSetNotFound, with each set's reason, and nothing changed (lock released)
    assert done.result.error == "SnapshotSetNotFound"
    assert done.result.cause is not None
    for expected in ("set-a", "set-b", "pending", "AppConsistent"):
        assert expected in done.result.cause
    unchanged()


@pytest.mark.parametrize(
    ("fields", "error", "named"),
    [
        ({}, "SnapshotSetNotFound", "no VSS snapshots were found"),
        ({"SnapshotSetId": "set-bad"}, "SnapshotSetIncomplete", "xvdh"),
        ({"SnapshotSetId": "set-missing"}, "SnapshotSetNotFound", "set-missing"),
        ({"RestorePointInTime": "2020-01-01T00:00:00Z"}, "SnapshotSetNotFound", "2020-01-01"),
    ],
)
def test_unusable_snapshot_choice_fails_with_a_named_error(
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    unchanged: Callable[[], None],
    fields: dict[str, Any],
    error: str,
    named: str,
) -> None:
    # GIVEN a complete and an incomplete set (none at all when no set is asked for)
    if fields:
        vss_set("set-ok", hours_ago=2)
        vss_set("set-bad", hours_ago=1, not_app_consistent=("xvdh",))

    # WHEN restoring with that choice
    done = restore(**fields)

    # THEN the named error explains it, and nothing changed
    assert done.result.error == error
    assert done.result.cause is not None
    assert named in done.result.cause
    unchanged()


def test_instance_without_the_opt_in_tag_is_refused_before_anything_changes(
    monkeypatch: pytest.MonkeyPatch,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    unchanged: Callable[[], None],
) -> None:
    # GIVEN a deployment that requires the opt-in tag, and an instance without it
    monkeypatch.setenv("OPT_IN_TAG_KEY", "vss-restore:enabled")
    monkeypatch.setenv("OPT_IN_TAG_VALUE", "true")
    reload_settings()  # the engine read the environment when it started
    vss_set("set-1", hours_ago=1)

    # WHEN restoring
    done = restore()

    # THEN InstanceNotRestorable, naming the tag, and nothing changed
    assert done.result.error == "InstanceNotRestorable"
    assert done.result.cause is not None
    assert "vss-restore:enabled=true" in done.result.cause
    unchanged()


@pytest.mark.parametrize(
    ("machine", "fields", "runs"),
    [
        ("restore", {"Mode": "Clone", "DryRun": True}, "drill"),
        ("restore", {"Mode": "Mount", "DryRun": True}, "mount"),
        ("drill", {"DryRun": True}, "restore"),
        ("mount", {"Mode": "Online", "DryRun": True}, "restore"),
    ],
)
def test_a_machine_refuses_a_request_for_another_capability_and_changes_nothing(
    engine: LocalEngine,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    unchanged: Callable[[], None],
    machine: Machine,
    fields: dict[str, Any],
    runs: str,
) -> None:
    # GIVEN a valid request, started on a machine that does not run its Mode (whoever may
    # start drills must not restore by asking for another Mode)
    vss_set("set-1", hours_ago=1)

    # WHEN
    result = engine.run({"InstanceId": instance_with_volumes, **fields}, machine=machine)

    # THEN refused on Mode, naming the machine that runs it, and nothing changed
    assert result.status == "FAILED"
    assert result.error == "InvalidRequest"
    assert result.cause is not None
    assert result.cause.startswith("InvalidRequest: Mode: ")
    assert f"start the {runs} state machine" in result.cause
    assert "ValidateRequest" in result.state_path()
    unchanged()


@pytest.mark.parametrize(
    ("machine", "fields", "runs"),
    [("drill-fleet", {}, "fleet"), ("fleet", {"Mode": "Clone"}, "drill-fleet")],
)
def test_a_fleet_machine_refuses_requests_of_the_other_capability_and_starts_nothing(
    engine: LocalEngine,
    instance_with_volumes: str,
    unchanged: Callable[[], None],
    machine: Machine,
    fields: dict[str, Any],
    runs: str,
) -> None:
    # GIVEN a fleet request for the other fleet's capability (whoever may start scheduled
    # drills must not restore a fleet by asking for another Mode)
    request = {"Instances": [instance_with_volumes], "DryRun": True, **fields}

    # WHEN started on that machine itself
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    result = engine.wait(
        sfn.start_execution(
            stateMachineArn=engine.machine_arn(machine), name="f-1", input=json.dumps(request)
        )["executionArn"]
    )

    # THEN refused on Mode before any child starts, and nothing changed
    assert (result.status, result.error) == ("FAILED", "InvalidRequest")
    message = json.loads(result.cause or "{}")["errorMessage"]
    assert message.startswith("Mode: ")
    assert message.endswith(f"start the {runs} state machine")
    children = engine.machine_arn(FLEET_CAPABILITY[machine])
    assert sfn.list_executions(stateMachineArn=children)["executions"] == []
    unchanged()
