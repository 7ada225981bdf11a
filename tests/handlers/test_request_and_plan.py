"""ValidateRequest, FindSnapshotSet and PlanRestore: what a restore decides before it changes
anything, and what it refuses."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.handlers.conftest import CallTask
from tests.handlers.emulator import AwsCalls, Emulator, Malformed, misplaced_refusals
from tests.handlers.events import REMOVED, in_place_request, now
from tests.handlers.in_place import InPlaceRun, Server, take_set
from vss_restore import tags
from vss_restore.errors import (
    InstanceNotFound,
    InstanceNotRestorable,
    InvalidRequest,
    SnapshotSetIncomplete,
    SnapshotSetNotFound,
)
from vss_restore.local import LocalEngine

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

UNKNOWN_INSTANCE = "i-0123456789abcdef0"
OPT_IN_KEY = "vss-restore:opt-in"


# --- ValidateRequest -----------------------------------------------------------------------


def test_validate_request_passes_on_the_request_with_its_defaults_when_the_instance_is_restorable(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a running server and a request that names only the instance
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    before = aws.held()
    run = InPlaceRun(call_task, in_place_request(server.instance_id))
    event = run.event("ValidateRequest")

    # WHEN ValidateRequest runs
    validated = run.run("ValidateRequest", event=event)

    # THEN the state data the later states read: the request with every default the in-place
    # path branches on, the execution and when it started; and nothing changed
    assert validated["Execution"] == run.execution
    assert validated["StartedAt"] == event["StartedAt"]
    request = validated["Request"]
    assert request["InstanceId"] == server.instance_id
    assert request["Mode"] == "InPlace"
    assert (request["DryRun"], request["PowerOnAfterRestore"]) == (False, True)
    assert (request["DeleteReplacedVolumes"], request["WaitForInitialization"]) == (False, False)
    assert request["InitializationRate"] is None
    assert aws.held() == before


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"Foo": 1}, "Foo"),
        ({"DryRun": "yes"}, "DryRun"),
        ({"SubnetId": "subnet-12345678"}, "SubnetId"),  # a drill's field
    ],
)
def test_validate_request_refuses_a_bad_request_naming_the_field_when_a_field_is_wrong(
    engine: LocalEngine, call_task: CallTask, fields: dict[str, Any], field: str
) -> None:
    # GIVEN a request with one bad field
    run = InPlaceRun(call_task, {**in_place_request(UNKNOWN_INSTANCE), **fields})
    calls = AwsCalls(engine)

    # WHEN ValidateRequest runs
    with calls.recording(), pytest.raises(InvalidRequest) as refused:
        run.run("ValidateRequest")

    # THEN InvalidRequest names the field, and AWS was not even asked about the instance
    assert refused.value.field == field
    assert calls.made == []


def test_validate_request_fails_with_instance_not_found_when_no_instance_has_the_id(
    call_task: CallTask,
) -> None:
    # GIVEN a request for an instance this account and Region do not have
    run = InPlaceRun(call_task, in_place_request(UNKNOWN_INSTANCE))

    # WHEN ValidateRequest runs, THEN InstanceNotFound names it
    with pytest.raises(InstanceNotFound, match=UNKNOWN_INSTANCE):
        run.run("ValidateRequest")


def test_validate_request_fails_with_instance_not_restorable_when_the_instance_is_terminated(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a server that has been terminated
    server = Server.build(ec2)
    ec2.terminate_instances(InstanceIds=[server.instance_id])
    run = InPlaceRun(call_task, in_place_request(server.instance_id))

    # WHEN ValidateRequest runs, THEN the instance is not restorable in that state
    with pytest.raises(InstanceNotRestorable, match="terminated"):
        run.run("ValidateRequest")


@pytest.fixture
def opt_in_required(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack's opt-in tag (set before the engine, which reads the settings on start)."""
    monkeypatch.setenv("OPT_IN_TAG_KEY", OPT_IN_KEY)


@pytest.mark.usefixtures("opt_in_required")
def test_validate_request_refuses_an_instance_without_the_opt_in_tag_until_it_has_it(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a stack that requires the opt-in tag, and a server without it
    server = Server.build(ec2)
    run = InPlaceRun(call_task, in_place_request(server.instance_id))

    # WHEN ValidateRequest runs, THEN the instance is refused, naming the tag
    with pytest.raises(InstanceNotRestorable, match=OPT_IN_KEY):
        run.run("ValidateRequest")

    # AND once the server carries the tag, the same request passes
    ec2.create_tags(Resources=[server.instance_id], Tags=tags.tag_list({OPT_IN_KEY: "true"}))
    assert run.run("ValidateRequest")["Request"]["InstanceId"] == server.instance_id


# --- FindSnapshotSet -------------------------------------------------------------------------


def test_find_snapshot_set_records_the_instance_and_chooses_its_latest_complete_set(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a server with a complete set, and a newer one whose xvdf snapshot is not
    # application-consistent
    server = Server.build(ec2)
    take_set(ec2, server.instance_id, "set-2", hours_ago=0.5, not_app_consistent=("xvdf",))
    aws = Emulator.of(ec2)
    run = InPlaceRun(call_task, in_place_request(server.instance_id)).through("AcquireLock")

    # WHEN FindSnapshotSet runs
    found = run.run("FindSnapshotSet")

    # THEN the instance is recorded as EC2 holds it (the rollback's target) ...
    instance = found["Instance"]
    assert instance["InstanceId"] == server.instance_id
    assert instance["State"] == aws.power_state(server.instance_id)
    assert (
        instance["AvailabilityZone"]
        == aws.instance(server.instance_id)["Placement"]["AvailabilityZone"]
    )
    assert {v["Device"]: v["VolumeId"] for v in instance["Volumes"]} == aws.attached(
        server.instance_id
    )
    assert {
        v["Device"]: v["DeleteOnTermination"] for v in instance["Volumes"]
    } == aws.delete_on_termination(server.instance_id)
    # ... and the chosen set is the complete one, each device with its snapshot, root first
    chosen = found["SnapshotSet"]
    assert chosen["SnapshotSetId"] == server.set_id
    assert [m["Device"] for m in chosen["Members"]] == ["/dev/sda1", "xvdf", "xvdg"]
    assert {m["Device"]: m["SnapshotId"] for m in chosen["Members"]} == server.snapshots
    assert [s["SnapshotSetId"] for s in chosen["Skipped"]] == ["set-2"]
    assert "xvdf" in " ".join(chosen["Skipped"][0]["Reasons"])


def test_find_snapshot_set_fails_with_snapshot_set_incomplete_when_the_named_set_is_not(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a request for a set whose xvdg snapshot is still pending
    server = Server.build(ec2)
    take_set(ec2, server.instance_id, "set-2", hours_ago=0.5, pending=("xvdg",))
    aws = Emulator.of(ec2)
    run = InPlaceRun(call_task, in_place_request(server.instance_id, snapshot_set_id="set-2"))
    run.through("AcquireLock")
    before = aws.held()

    # WHEN FindSnapshotSet runs, THEN it names the set and why; nothing changed
    with pytest.raises(SnapshotSetIncomplete, match=r"set-2 .*xvdg"):
        run.run("FindSnapshotSet")
    assert aws.held() == before


@pytest.mark.parametrize(
    "request_fields",
    [
        {"snapshot_set_id": "set-9"},
        {"restore_point_in_time": now() - timedelta(hours=3)},  # before the only set
    ],
    ids=["unknown-set-id", "point-in-time-before-every-set"],
)
def test_find_snapshot_set_fails_with_snapshot_set_not_found_when_no_set_matches(
    call_task: CallTask, ec2: EC2Client, request_fields: dict[str, Any]
) -> None:
    # GIVEN a request for a set the server does not have, or one older than its only set
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun(call_task, in_place_request(server.instance_id, **request_fields))
    run.through("AcquireLock")
    before = aws.held()

    # WHEN FindSnapshotSet runs, THEN SnapshotSetNotFound; nothing changed
    with pytest.raises(SnapshotSetNotFound, match=server.instance_id):
        run.run("FindSnapshotSet")
    assert aws.held() == before


def test_find_snapshot_set_refuses_a_device_the_instance_does_not_have_naming_devices(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a request for a device the server has no volume at (the request's own checks
    # cannot know that: ValidateRequest passes it)
    server = Server.build(ec2)
    run = InPlaceRun(call_task, in_place_request(server.instance_id, devices=["xvdz"]))
    run.through("AcquireLock")

    # WHEN FindSnapshotSet runs, THEN InvalidRequest names Devices and the device
    with pytest.raises(InvalidRequest, match="xvdz") as refused:
        run.run("FindSnapshotSet")
    assert refused.value.field == "Devices"


# --- PlanRestore -----------------------------------------------------------------------------


def test_plan_restore_plans_a_volume_per_device_with_the_settings_of_the_one_it_replaces(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the instance and set FindSnapshotSet recorded
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun(call_task, in_place_request(server.instance_id)).through("FindSnapshotSet")
    before = aws.held()

    # WHEN PlanRestore runs
    run.run("PlanRestore")

    # THEN a spec per device of the set, root first, each from the device's snapshot and
    # with the settings and flag of the volume it replaces, as EC2 holds that volume
    plan = run.plan
    assert (plan.instance_id, plan.snapshot_set_id) == (server.instance_id, server.set_id)
    assert plan.execution == run.execution
    assert [s.device for s in plan.volumes] == ["/dev/sda1", "xvdf", "xvdg"]
    assert plan.untouched_devices == []
    attached = aws.attached(server.instance_id)
    flags = aws.delete_on_termination(server.instance_id)
    zone = aws.instance(server.instance_id)["Placement"]["AvailabilityZone"]
    for spec in plan.volumes:
        original = aws.volume(attached[spec.device])
        assert original is not None
        assert spec.replaced_volume_id == original["VolumeId"]
        assert spec.snapshot_id == server.snapshots[spec.device]
        assert spec.availability_zone == zone
        assert (spec.volume_type, spec.size) == (original["VolumeType"], original["Size"])
        assert spec.iops == original.get("Iops")
        assert spec.throughput == original.get("Throughput")
        assert spec.delete_on_termination == flags[spec.device]
        assert spec.tags[tags.EXECUTION] == run.execution
        assert spec.tags[tags.REPLACED_VOLUME_ID] == original["VolumeId"]
    assert len({s.client_token for s in plan.volumes}) == len(plan.volumes)
    # AND planning changed nothing
    assert aws.held() == before


def test_plan_restore_gives_the_requested_rate_to_each_volume_whose_snapshot_has_no_fast_restore(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a rate in the request, and fast snapshot restore on xvdf's snapshot in the zone
    server = Server.build(ec2)
    zone = Emulator.of(ec2).instance(server.instance_id)["Placement"]["AvailabilityZone"]
    ec2.enable_fast_snapshot_restores(
        AvailabilityZones=[zone], SourceSnapshotIds=[server.snapshots["xvdf"]]
    )
    run = InPlaceRun(call_task, in_place_request(server.instance_id, initialization_rate=150))

    # WHEN the restore plans
    run.through("PlanRestore")

    # THEN xvdf's volume relies on fast snapshot restore and is sent no rate; the others
    # are created at the requested rate
    modes = {s.device: (s.initialization, s.initialization_rate) for s in run.plan.volumes}
    assert modes == {
        "/dev/sda1": ("ProvisionedRate", 150),
        "xvdf": ("FastSnapshotRestore", None),
        "xvdg": ("ProvisionedRate", 150),
    }


# --- malformed events ------------------------------------------------------------------------


def test_each_task_refuses_a_malformed_event_naming_the_field_before_any_aws_call(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN the events a restore gives these tasks, each with one field as the workflow
    # never sends it
    server = Server.build(ec2)
    run = InPlaceRun(call_task, in_place_request(server.instance_id))
    sent = {"ValidateRequest": run.event("ValidateRequest")}
    run.through("FindSnapshotSet")
    sent |= {task: run.event(task) for task in ("FindSnapshotSet", "PlanRestore")}
    cases = [
        Malformed("ValidateRequest", "StartedAt", "2026-01-01T00:00:00", ("StartedAt",)),
        Malformed("ValidateRequest", "Execution", REMOVED, ("Execution",)),
        Malformed("FindSnapshotSet", "Request", REMOVED, ("Request",)),
        Malformed("PlanRestore", "Instance.State", "hibernated", ("Instance", "State")),
        Malformed("PlanRestore", "SnapshotSet.Members", REMOVED, ("SnapshotSet", "Members")),
    ]

    # WHEN each task gets its malformed event, THEN it refuses it before any AWS call,
    # its ValidationError naming the field
    assert misplaced_refusals(engine, call_task, sent.__getitem__, cases) == []
