"""The clone drill's tasks (Mode "Clone"), each called with the event its state gives it.

PlanClone → LaunchClone → SwapCloneRoot → (WaitInstanceRunning, WaitStatusChecks) →
RunValidation → WaitValidation → CleanupDrill → BuildDrillReport → PublishDrillOutcome: each
test runs the real tasks before the one it tests, so every event is made of real outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.handlers.conftest import CallTask
from tests.handlers.emulator import Malformed, misplaced_refusals
from tests.handlers.events import LIMITS, REMOVED, caught
from tests.handlers.mode_events import LONG_AGO, RETRIES, Execution, drill_request
from tests.handlers.mode_worlds import (
    DrillEvents,
    Inventory,
    commands,
    drill_tagged,
    forge_cleanup_tags,
    instance,
    metric_dimensions,
    metric_values,
    retag,
    volume,
    volume_ids,
    vss_set,
    windows_server,
)
from vss_restore import tags
from vss_restore.clone_root import CloneRoot
from vss_restore.drill import CleanupPass, ClonePlan, LaunchedClone, ValidationResult
from vss_restore.drill_report import DrillReport
from vss_restore.errors import (
    AwsAccessDenied,
    CloneLaunchFailed,
    DrillValidationFailed,
    ResourceNotReady,
    SwapFailed,
    WaitTimedOut,
)
from vss_restore.local import LocalEngine, world
from vss_restore.local.engine import CLONE_PROFILE_ARN
from vss_restore.local.faults import Fault
from vss_restore.local.fidelity import CommandOutcome
from vss_restore.local.invariants import InstanceState
from vss_restore.records import Records

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

DOCUMENT = world.VALIDATION_DOCUMENT  # the operator's, as ValidateRequest lets a drill run
CHECK = {"Services": ["W3SVC,MSSQLSERVER"]}
ROOT = "/dev/sda1"
StartDrill = Callable[..., Execution]


@pytest.fixture
def subnet(ec2: EC2Client) -> str:
    """An isolated subnet for the clone (no route out)."""
    return world.isolated_subnet(ec2)[0]


@pytest.fixture
def server(ec2: EC2Client) -> str:
    return windows_server(ec2)


@pytest.fixture
def snapshots(ec2: EC2Client, server: str) -> dict[str, str]:
    """The server's VSS set: device → snapshot."""
    return vss_set(ec2, server)


@pytest.fixture
def start_drill(
    call_task: CallTask,
    server: str,
    subnet: str,
    snapshots: dict[str, str],
    validation_document: str,
) -> StartDrill:
    """A drill of the server into the subnet, validated and its set found."""
    del validation_document  # created, so that a drill may name it

    def start(**options: Any) -> Execution:
        run = Execution.start(call_task, drill_request(server, subnet, **options))
        run.found()
        return run

    return start


# A moment every recorded expiry in these tests is past.
PAST = datetime(2020, 1, 1, tzinfo=UTC)


def plan(run: Execution) -> ClonePlan:
    return ClonePlan.model_validate(run.step("PlanClone", run.plan_clone(), "ClonePlan"))


def launch(run: Execution) -> LaunchedClone:
    plan(run)
    return LaunchedClone.model_validate(run.step("LaunchClone", run.launch_clone(), "Clone"))


def ready(run: Execution) -> None:
    """The clone launched, its root swapped, running and through its status checks."""
    launch(run)
    run.step("SwapCloneRoot", run.swap_clone_root(), "CloneRoot", retries=RETRIES)
    run.step("WaitInstanceRunning", run.wait_clone_running(), "CloneRunning", retries=RETRIES)
    run.step("WaitStatusChecks", run.wait_clone_status_checks(), "CloneReady", retries=RETRIES)


def validated(run: Execution) -> ValidationResult:
    ready(run)
    run.step("RunValidation", run.run_validation(run.clone_id), "Validation")
    waiting = run.wait_validation(run.clone_id)
    result = run.step("WaitValidation", waiting, "ValidationResult", retries=RETRIES)
    return ValidationResult.model_validate(result)


def launch_refused(engine: LocalEngine, run: Execution) -> CloneLaunchFailed:
    """The drill planned, EC2 refusing its launch: the error the Catch records at ``$.Error``."""
    plan(run)
    engine.inject(Fault("ec2.RunInstances", code="UnauthorizedOperation", permanent=True))
    with pytest.raises(CloneLaunchFailed) as failed:
        run.step("LaunchClone", run.launch_clone(), "Clone")
    run.data["Error"] = caught(failed.value)
    return failed.value


def report(run: Execution) -> DrillReport:
    return DrillReport.model_validate(
        run.step("BuildDrillReport", run.build_drill_report(), "Report")
    )


# --- PlanClone ---------------------------------------------------------------------------------


def test_plan_clone_plans_the_sets_snapshots_in_the_requested_subnet_when_the_set_is_found(
    ec2: EC2Client, start_drill: StartDrill, subnet: str, snapshots: dict[str, str]
) -> None:
    # GIVEN a drill into an isolated subnet, its set found
    run = start_drill()
    before = Inventory.capture(ec2)

    # WHEN the clone is planned
    planned = plan(run)

    # THEN the plan launches in that subnet and its VPC, from the source's AMI, with the set
    subnet_found = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]
    (interface,) = planned.launch["NetworkInterfaces"]
    assert (interface["SubnetId"], interface["AssociatePublicIpAddress"]) == (subnet, False)
    assert planned.vpc_id == subnet_found["VpcId"]
    assert planned.launch["ImageId"] == instance(ec2, run.instance_id)["ImageId"]
    assert {v.device: v.snapshot_id for v in planned.volumes} == snapshots
    # ... the set's root snapshot becomes the clone's root, in the subnet's zone
    assert planned.root_volume is not None
    assert planned.root_volume.snapshot_id == snapshots[ROOT]
    assert planned.root_volume.availability_zone == subnet_found["AvailabilityZone"]
    # ... in an isolation group of its own, expiring a day from now, for this execution
    assert (planned.isolate, "Groups" in interface) == (True, False)
    assert planned.execution == run.execution
    assert timedelta(hours=23) < planned.expires_at - datetime.now(UTC) <= timedelta(hours=24)
    # ... and planning launched, created and sent nothing
    assert Inventory.capture(ec2) == before


def test_plan_clone_launches_in_the_sources_subnet_and_warns_when_the_request_names_none(
    call_task: CallTask, ec2: EC2Client, server: str, snapshots: dict[str, str]
) -> None:
    # GIVEN a drill without SubnetId
    run = Execution.start(call_task, drill_request(server))
    run.found()

    # WHEN the clone is planned
    planned = plan(run)

    # THEN it goes to the source's subnet, and the plan says why that is not isolated
    source_subnet = instance(ec2, server)["SubnetId"]
    assert planned.launch["NetworkInterfaces"][0]["SubnetId"] == source_subnet
    assert any(source_subnet in warning for warning in planned.warnings)


def test_plan_clone_fails_with_clone_launch_failed_when_the_sources_ami_is_gone(
    ec2: EC2Client, start_drill: StartDrill
) -> None:
    # GIVEN a drill whose source's AMI has been deregistered since the request was checked
    run = start_drill()
    image_id = instance(ec2, run.instance_id)["ImageId"]
    ec2.deregister_image(ImageId=image_id)
    before = Inventory.capture(ec2)

    # WHEN the clone is planned / THEN CloneLaunchFailed names the AMI, and nothing changed
    with pytest.raises(CloneLaunchFailed, match=image_id):
        plan(run)
    assert Inventory.capture(ec2) == before


# --- LaunchClone -------------------------------------------------------------------------------


def test_launch_clone_launches_one_isolated_clone_with_the_sets_data_volumes_when_retried(
    ec2: EC2Client, start_drill: StartDrill, subnet: str, snapshots: dict[str, str]
) -> None:
    # GIVEN a planned drill
    run = start_drill()
    source_before = InstanceState.capture(ec2, run.instance_id)

    # WHEN the clone is launched, and LaunchClone runs again (a retry after a lost answer)
    clone = launch(run)
    again = LaunchedClone.model_validate(run.step("LaunchClone", run.launch_clone(), "Clone"))

    # THEN one clone runs in the subnet, tagged as this execution's drill of the source
    assert again == clone
    instances, _, groups = drill_tagged(ec2, run.execution)
    assert (set(instances), groups) == ({clone.instance_id}, {clone.isolation_group_id})
    raw = instance(ec2, clone.instance_id)
    assert raw["SubnetId"] == subnet
    labels = tags.tag_dict(raw["Tags"])
    assert (labels[tags.DRILL], labels[tags.EXECUTION]) == (run.instance_id, run.execution)
    # ... each data device holds a new volume made from the set's snapshot of that device
    on_clone = {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in raw["BlockDeviceMappings"]}
    data = {d: s for d, s in snapshots.items() if d != ROOT}
    assert {d: volume(ec2, on_clone[d])["SnapshotId"] for d in data} == data
    # ... in its isolation group: no way in, HTTPS out only
    assert [g["GroupId"] for g in raw["SecurityGroups"]] == [clone.isolation_group_id]
    assert clone.security_group_ids == [clone.isolation_group_id]
    (group,) = ec2.describe_security_groups(GroupIds=clone.security_group_ids)["SecurityGroups"]
    assert group["IpPermissions"] == []
    egress = [
        (r["IpProtocol"], r.get("FromPort"), r.get("ToPort")) for r in group["IpPermissionsEgress"]
    ]
    assert egress == [("tcp", 443, 443)]
    # ... and the source is as it was
    assert InstanceState.capture(ec2, run.instance_id) == source_before


def test_launch_clone_uses_the_requested_groups_and_makes_no_isolation_group_when_given_groups(
    ec2: EC2Client, start_drill: StartDrill, subnet: str
) -> None:
    # GIVEN a drill into the subnet's own group
    vpc = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
    group_id = ec2.create_security_group(
        GroupName="operator-drills", Description="drills", VpcId=vpc
    )["GroupId"]
    run = start_drill(security_group_ids=[group_id])

    # WHEN the clone is launched
    clone = launch(run)

    # THEN it runs in that group only, and the drill made no group of its own
    assert (clone.security_group_ids, clone.isolation_group_id) == ([group_id], None)
    raw = instance(ec2, clone.instance_id)
    assert [g["GroupId"] for g in raw["SecurityGroups"]] == [group_id]
    assert drill_tagged(ec2, run.execution)[2] == set()


def test_launch_clone_fails_with_clone_launch_failed_and_launches_nothing_when_ec2_refuses(
    engine: LocalEngine, ec2: EC2Client, start_drill: StartDrill
) -> None:
    # GIVEN a planned drill, and EC2 refusing to launch it
    run = start_drill()
    plan(run)
    engine.inject(Fault("ec2.RunInstances", code="UnauthorizedOperation", permanent=True))

    # WHEN the clone is launched / THEN CloneLaunchFailed says what EC2 answered
    with pytest.raises(CloneLaunchFailed, match="UnauthorizedOperation"):
        run.step("LaunchClone", run.launch_clone(), "Clone")

    # ... no clone runs; the isolation group made first is the drill's, so its cleanup takes it
    instances, _, groups = drill_tagged(ec2, run.execution)
    assert (instances, len(groups)) == ({}, 1)
    removed = CleanupPass.model_validate(run.step("CleanupDrill", run.cleanup_drill(), "Cleanup"))
    assert set(removed.deleted_groups) == groups
    assert drill_tagged(ec2, run.execution) == ({}, set(), set())


# --- SwapCloneRoot -----------------------------------------------------------------------------


@pytest.mark.usefixtures("immediate_waits")
def test_swap_clone_root_hands_over_while_the_clone_stops_then_gives_it_the_sets_root(
    ec2: EC2Client, start_drill: StartDrill, snapshots: dict[str, str]
) -> None:
    # GIVEN a launched clone, on its AMI's root, and a task that may not wait
    run = start_drill()
    clone = launch(run)
    image_root = world.attached(ec2, clone.instance_id)[ROOT]

    # WHEN the swap is called: it stops the clone and hands over to the Retry; called again
    event = run.swap_clone_root()
    with pytest.raises(ResourceNotReady, match="stopping"):
        run.step("SwapCloneRoot", event, "CloneRoot")
    assert instance(ec2, clone.instance_id)["State"]["Name"] in ("stopping", "stopped")
    swapped = CloneRoot.model_validate(run.step("SwapCloneRoot", event, "CloneRoot"))

    # THEN the clone runs again, on the one volume made from the set's root snapshot
    raw = instance(ec2, clone.instance_id)
    root = next(m["Ebs"] for m in raw["BlockDeviceMappings"] if m["DeviceName"] == ROOT)
    assert (swapped.swapped, swapped.device, swapped.volume_id) == (True, ROOT, root["VolumeId"])
    from_root_snapshot = ec2.describe_volumes(
        Filters=[{"Name": "snapshot-id", "Values": [snapshots[ROOT]]}]
    )["Volumes"]
    assert [v["VolumeId"] for v in from_root_snapshot] == [swapped.volume_id]
    assert (root["DeleteOnTermination"], raw["State"]["Name"]) == (True, "running")
    # ... tagged as the drill's; the AMI's root is gone
    assert tags.tag_dict(volume(ec2, root["VolumeId"])["Tags"])[tags.EXECUTION] == run.execution
    assert swapped.image_root_volume_id == image_root
    assert image_root not in volume_ids(ec2)


def test_swap_clone_root_keeps_the_amis_root_and_changes_nothing_when_the_set_has_no_root(
    ec2: EC2Client, start_drill: StartDrill
) -> None:
    # GIVEN a drill of the data volumes only, its clone launched
    run = start_drill(exclude_boot_volume=True)
    clone = launch(run)
    before = Inventory.capture(ec2)

    # WHEN the swap is called
    swapped = CloneRoot.model_validate(
        run.step("SwapCloneRoot", run.swap_clone_root(), "CloneRoot")
    )

    # THEN there is nothing to swap: the clone keeps running on its AMI's root
    assert (swapped.swapped, swapped.device, swapped.volume_id) == (False, ROOT, None)
    assert Inventory.capture(ec2) == before
    assert instance(ec2, clone.instance_id)["State"]["Name"] == "running"


@pytest.mark.usefixtures("immediate_waits")
def test_swap_clone_root_fails_with_wait_timed_out_naming_its_limit_when_past_it(
    start_drill: StartDrill,
) -> None:
    # GIVEN a launched clone, and a swap state entered longer ago than its limit
    run = start_drill()
    launch(run)

    # WHEN the swap finds the clone still to be stopped / THEN WaitTimedOut names the limit
    limit = f"limit {LIMITS.CloneRootTimeoutSeconds} s"
    with pytest.raises(WaitTimedOut, match=limit):
        run.step("SwapCloneRoot", run.swap_clone_root(entered_ago=LONG_AGO), "CloneRoot")


@pytest.mark.usefixtures("immediate_waits")
def test_swap_clone_root_fails_with_clone_launch_failed_at_once_when_the_clone_has_terminated(
    ec2: EC2Client, start_drill: StartDrill
) -> None:
    # GIVEN a clone that EC2 terminated right after its launch (as it does when the role
    # cannot use a volume's KMS key: "Client.InternalError")
    run = start_drill()
    clone = launch(run)
    ec2.terminate_instances(InstanceIds=[clone.instance_id])

    # WHEN the swap is called / THEN it fails for good, naming the clone's state, without
    # handing a clone that can never stop over to the Retry until the limit
    with pytest.raises(CloneLaunchFailed, match="terminated"):
        run.step("SwapCloneRoot", run.swap_clone_root(), "CloneRoot")


# --- RunValidation -----------------------------------------------------------------------------


def test_run_validation_sends_the_document_to_the_clone_once_when_retried(
    start_drill: StartDrill,
) -> None:
    # GIVEN a drill with a validation document, its clone ready
    run = start_drill(document=DOCUMENT, parameters=CHECK)
    ready(run)

    # WHEN RunValidation runs, and runs again (a retry)
    sent = run.step("RunValidation", run.run_validation(run.clone_id), "Validation")
    again = run.step("RunValidation", run.run_validation(run.clone_id), "Validation")

    # THEN one command of the document, with the request's parameters, went to the clone
    (command,) = commands(run.clone_id)
    assert again == sent == {"CommandId": command["CommandId"]}
    assert (command["DocumentName"], command["Parameters"]) == (DOCUMENT, CHECK)
    assert command["InstanceIds"] == [run.clone_id]
    assert commands(run.instance_id) == []  # never on the source


def test_run_validation_fails_with_drill_validation_failed_and_sends_nothing_when_ssm_refuses(
    ec2: EC2Client, start_drill: StartDrill
) -> None:
    # GIVEN a parameter value that the document's allowedPattern refuses
    run = start_drill(document=DOCUMENT, parameters={"Services": ["W3SVC'; Stop-Computer"]})
    ready(run)
    before = Inventory.capture(ec2)

    # WHEN RunValidation runs / THEN DrillValidationFailed names the document; nothing sent
    with pytest.raises(DrillValidationFailed, match=DOCUMENT):
        run.step("RunValidation", run.run_validation(run.clone_id), "Validation")
    assert Inventory.capture(ec2) == before


@pytest.mark.usefixtures("immediate_waits")
def test_run_validation_waits_for_the_clone_to_register_with_ssm_until_its_limit(
    engine: LocalEngine, start_drill: StartDrill
) -> None:
    # GIVEN a ready clone whose SSM agent is not online yet
    run = start_drill(document=DOCUMENT, parameters=CHECK)
    ready(run)
    engine.guests.unmanaged.add(run.clone_id)

    # WHEN RunValidation runs: not ready while within its limit, WaitTimedOut past it
    with pytest.raises(ResourceNotReady, match="not registered"):
        run.step("RunValidation", run.run_validation(run.clone_id), "Validation")
    late = run.run_validation(run.clone_id, entered_ago=LONG_AGO)
    with pytest.raises(WaitTimedOut, match=f"limit {LIMITS.ValidationTimeoutSeconds} s"):
        run.step("RunValidation", late, None)

    # THEN nothing was sent
    assert commands(run.clone_id) == []


@pytest.mark.usefixtures("immediate_waits")
def test_run_validation_says_the_vpcs_dns_servers_are_the_likely_cause_when_the_agent_never_registers(
    ec2: EC2Client, engine: LocalEngine, start_drill: StartDrill, subnet: str
) -> None:
    # GIVEN a VPC whose DHCP options set gives the domain controllers as DNS servers
    world.domain_dns(ec2, subnet, ["10.0.0.10", "10.0.0.11"])
    run = start_drill(document=DOCUMENT, parameters=CHECK)

    # WHEN the clone is planned / THEN the plan warns of them
    planned = plan(run)
    assert planned.isolation.dns_servers == ["10.0.0.10", "10.0.0.11"]
    assert any(
        "DNS servers 10.0.0.10, 10.0.0.11, not AmazonProvidedDNS" in w for w in planned.warnings
    )

    # WHEN its agent never registers and RunValidation passes its limit
    ready(run)
    engine.guests.unmanaged.add(run.clone_id)
    late = run.run_validation(run.clone_id, entered_ago=LONG_AGO)
    with pytest.raises(WaitTimedOut) as timed_out:
        run.step("RunValidation", late, None)

    # THEN the error names the DNS servers first, then the endpoints' group and the profile
    message = str(timed_out.value)
    endpoints_group = world.ssm_endpoint_group(ec2, subnet)
    assert f"limit {LIMITS.ValidationTimeoutSeconds} s" in message
    assert message.index("DNS servers 10.0.0.10, 10.0.0.11") < message.index(endpoints_group)
    assert "domain controllers" in message
    assert f"{CLONE_PROFILE_ARN} must grant Systems Manager core" in message


def test_plan_clone_sends_https_only_to_the_ssm_endpoints_group_and_gives_the_stacks_profile(
    ec2: EC2Client, start_drill: StartDrill, subnet: str
) -> None:
    # GIVEN a drill into a subnet whose VPC has the SSM endpoints, and a source with a profile
    run = start_drill(document=DOCUMENT, parameters=CHECK)

    # WHEN the clone is planned and launched
    planned = plan(run)
    clone = LaunchedClone.model_validate(run.step("LaunchClone", run.launch_clone(), "Clone"))

    # THEN its isolation group lets nothing in and only HTTPS out to the endpoints' group
    endpoints_group = world.ssm_endpoint_group(ec2, subnet)
    assert (planned.isolation.egress, planned.isolation.destinations) == (
        "endpoints",
        [endpoints_group],
    )
    (group,) = ec2.describe_security_groups(GroupIds=clone.security_group_ids)["SecurityGroups"]
    assert group["IpPermissions"] == []
    assert [
        (
            r["IpProtocol"],
            r["FromPort"],
            r["ToPort"],
            r["UserIdGroupPairs"][0]["GroupId"],
            r["IpRanges"],
        )
        for r in group["IpPermissionsEgress"]
    ] == [("tcp", 443, 443, endpoints_group, [])]
    # ... and it runs with the stack's profile
    assert instance(ec2, clone.instance_id)["IamInstanceProfile"]["Arn"] == CLONE_PROFILE_ARN


def test_launch_clone_converges_an_isolation_group_a_lost_answer_left_open_on_the_wanted_rules(
    ec2: EC2Client, start_drill: StartDrill, subnet: str
) -> None:
    # GIVEN a launched clone whose isolation group someone (or a half-done retry) opened again
    run = start_drill()
    clone = launch(run)
    group_id = clone.isolation_group_id
    assert group_id is not None
    ec2.authorize_security_group_egress(
        GroupId=group_id,
        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )

    # WHEN LaunchClone runs again (the state's retry)
    again = LaunchedClone.model_validate(run.step("LaunchClone", run.launch_clone(), "Clone"))

    # THEN the same group holds exactly the wanted rule again
    assert again == clone
    (group,) = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    endpoints_group = world.ssm_endpoint_group(ec2, subnet)
    assert [
        (
            r["IpProtocol"],
            r.get("FromPort"),
            [p["GroupId"] for p in r["UserIdGroupPairs"]],
            r["IpRanges"],
        )
        for r in group["IpPermissionsEgress"]
    ] == [("tcp", 443, [endpoints_group], [])]


# --- WaitValidation ----------------------------------------------------------------------------


@pytest.mark.usefixtures("immediate_waits")
def test_wait_validation_returns_the_result_once_finished_and_times_out_past_its_limit_before(
    start_drill: StartDrill,
) -> None:
    # GIVEN a validation sent to a ready clone
    run = start_drill(document=DOCUMENT, parameters=CHECK)
    ready(run)
    sent = run.step("RunValidation", run.run_validation(run.clone_id), "Validation")

    # WHEN it is awaited while the command runs: past the state's limit, and within it
    late = run.wait_validation(run.clone_id, entered_ago=LONG_AGO)
    with pytest.raises(WaitTimedOut, match=f"limit {LIMITS.ValidationTimeoutSeconds} s"):
        run.step("WaitValidation", late, None)
    result = ValidationResult.model_validate(
        run.step("WaitValidation", run.wait_validation(run.clone_id), "ValidationResult")
    )

    # THEN once finished it has the command's status and output: the clone's disks
    assert (result.document, result.command_id, result.status) == (
        DOCUMENT,
        sent["CommandId"],
        "Success",
    )
    for device, volume_id in run.data["CloneReady"]["Volumes"].items():
        assert f"{device} {volume_id} from snap-" in result.output


def test_wait_validation_returns_a_failed_command_and_the_report_fails_the_drill_on_it(
    engine: LocalEngine, start_drill: StartDrill
) -> None:
    # GIVEN a validation that ends Failed on the clone
    engine.ssm.respond(DOCUMENT, CommandOutcome("Failed", "Get-Service: MSSQLSERVER not found", 1))
    run = start_drill(document=DOCUMENT, parameters=CHECK)

    # WHEN it is awaited / THEN the result is returned, not raised
    result = validated(run)
    assert (result.status, result.response_code) == ("Failed", 1)

    # ... and the drill's report fails the drill, quoting it
    run.step("CleanupDrill", run.cleanup_drill(), "Cleanup")
    drill = report(run)
    assert (drill.status, drill.error) == ("Failed", "DrillValidationFailed")
    assert drill.cause is not None
    assert "MSSQLSERVER not found" in drill.cause


# --- CleanupDrill ------------------------------------------------------------------------------


def test_cleanup_drill_removes_what_a_failed_swap_left_of_this_drill_and_nothing_else(
    engine: LocalEngine, ec2: EC2Client, start_drill: StartDrill
) -> None:
    # GIVEN two drills of the server; the first one's root swap failed half-way: the set's
    # root created, the AMI's root detached, the attach refused
    run, other = start_drill(), start_drill()
    launch(run)
    launch(other)
    image_root = world.attached(ec2, run.clone_id)[ROOT]
    engine.inject(Fault("ec2.AttachVolume", code="UnauthorizedOperation", permanent=True))
    with pytest.raises(SwapFailed, match="AttachVolume"):
        run.step("SwapCloneRoot", run.swap_clone_root(), "CloneRoot")
    left = {v for v in drill_tagged(ec2, run.execution)[1] if not volume(ec2, v)["Attachments"]}
    assert image_root in left
    assert len(left) == 2
    source_before = InstanceState.capture(ec2, run.instance_id)
    other_before = drill_tagged(ec2, other.execution)

    # WHEN the first drill is cleaned up
    removed = CleanupPass.model_validate(run.step("CleanupDrill", run.cleanup_drill(), "Cleanup"))

    # THEN its clone is terminated, both detached roots and the isolation group are deleted
    assert removed.terminated == [run.clone_id]
    assert set(removed.deleted) == left
    assert removed.deleted_groups == [run.data["Clone"]["IsolationGroupId"]]
    assert removed.pending == []
    assert drill_tagged(ec2, run.execution) == ({run.clone_id: "terminated"}, set(), set())
    # ... and the other drill and the source are untouched
    assert drill_tagged(ec2, other.execution) == other_before
    assert InstanceState.capture(ec2, run.instance_id) == source_before


@pytest.mark.usefixtures("immediate_waits")
def test_cleanup_drill_hands_over_to_the_retry_until_the_clone_is_gone(
    ec2: EC2Client, start_drill: StartDrill
) -> None:
    # GIVEN a drill with a running clone, and a task that may not wait
    run = start_drill()
    launch(run)

    # WHEN the cleanup is called: the clone is terminating, then gone at the next call
    event = run.cleanup_drill()
    with pytest.raises(ResourceNotReady, match=run.clone_id):
        run.step("CleanupDrill", event, "Cleanup")
    run.step("CleanupDrill", event, "Cleanup")

    # THEN nothing of the drill is left
    assert drill_tagged(ec2, run.execution) == ({run.clone_id: "terminated"}, set(), set())


def test_cleanup_drill_removes_only_expired_drills_when_called_by_the_schedule(
    call_task: CallTask, ec2: EC2Client, records: Records, start_drill: StartDrill
) -> None:
    # GIVEN a kept clone whose recorded expiry has passed, and one that has a day to go
    expired, fresh = start_drill(keep_clone=True), start_drill(keep_clone=True)
    launch(expired)
    launch(fresh)
    records.age(expired.execution, "drill", PAST)
    fresh_before = drill_tagged(ec2, fresh.execution)

    # WHEN the daily schedule calls the cleanup
    removed = CleanupPass.model_validate(call_task("CleanupDrill", {"Expired": True}))

    # THEN the expired clone is terminated, and the fresh drill is as it was
    assert removed.terminated == [expired.clone_id]
    assert drill_tagged(ec2, expired.execution)[0] == {expired.clone_id: "terminated"}
    assert drill_tagged(ec2, fresh.execution) == fresh_before
    assert removed.unrecorded == []


def test_cleanup_drill_goes_by_the_recorded_expiry_whatever_the_expiry_tags_say(
    call_task: CallTask, ec2: EC2Client, start_drill: StartDrill
) -> None:
    # GIVEN two kept clones within their day: one's expiry tag back-dated, one's garbled
    back_dated, garbled = start_drill(keep_clone=True), start_drill(keep_clone=True)
    for run in (back_dated, garbled):
        launch(run)
    retag(ec2, tags.EXPIRES_AT, "2020-01-01", back_dated.execution)
    retag(ec2, tags.EXPIRES_AT, "next tuesday", garbled.execution)
    before = [drill_tagged(ec2, run.execution) for run in (back_dated, garbled)]

    # WHEN the daily schedule calls the cleanup
    removed = CleanupPass.model_validate(call_task("CleanupDrill", {"Expired": True}))

    # THEN the pass completes and removes neither: the tags are not what it reads
    assert (removed.terminated, removed.deleted, removed.deleted_groups) == ([], [], [])
    assert [drill_tagged(ec2, run.execution) for run in (back_dated, garbled)] == before
    assert removed.warnings == []


def test_a_drills_own_cleanup_leaves_a_server_given_its_execution_tags_alone(
    ec2: EC2Client, start_drill: StartDrill
) -> None:
    # GIVEN a launched drill, and a production server someone tagged as that drill's
    run = start_drill()
    launch(run)
    production = world.windows_instance(ec2, world.DEMO_DISKS[:1], name="production")
    disks = list(world.attached(ec2, production).values())
    forge_cleanup_tags(ec2, [production, *disks], execution=run.execution)
    before = InstanceState.capture(ec2, production)

    # WHEN the drill removes what it created
    removed = CleanupPass.model_validate(
        run.step("CleanupDrill", run.cleanup_drill(), "Cleanup", retries=RETRIES)
    )

    # THEN its clone is gone, the server is as it was, and the drill names it
    assert removed.terminated == [run.clone_id]
    assert InstanceState.capture(ec2, production) == before
    assert sorted(removed.unrecorded) == sorted([production, *disks])


@pytest.mark.parametrize(
    ("write", "undone"), [(1, "isolation group"), (2, "clone")], ids=["group", "clone"]
)
def test_launch_clone_undoes_what_it_cannot_record_so_nothing_is_left_unremovable(
    engine: LocalEngine,
    ec2: EC2Client,
    records: Records,
    start_drill: StartDrill,
    write: int,
    undone: str,
) -> None:
    # GIVEN a drill whose record of the group (first write), or of the clone (second),
    # DynamoDB refuses for good
    run = start_drill()
    plan(run)
    engine.inject(
        Fault(
            "dynamodb.BatchWriteItem",
            code="AccessDeniedException",
            occurrence=write,
            permanent=True,
        )
    )

    # WHEN the clone is launched / THEN the drill fails, naming the refusal...
    with pytest.raises(CloneLaunchFailed, match="AccessDeniedException"):
        run.step("LaunchClone", run.launch_clone(), "Clone")

    # ... and what could not be recorded is gone already: no running clone, and no group
    # but one recorded (which the drill's cleanup removes)
    instances, _, groups = drill_tagged(ec2, run.execution)
    assert set(instances.values()) <= {"shutting-down", "terminated"}, undone
    assert groups <= {r.resource_id for r in records.of_execution(run.execution, "drill")}
    assert len(groups) == write - 1, undone


def test_cleanup_drill_lets_ec2s_refusal_through_and_the_report_says_what_was_left(
    engine: LocalEngine, ec2: EC2Client, start_drill: StartDrill
) -> None:
    # GIVEN a launched clone that EC2 refuses to terminate
    run = start_drill()
    launch(run)
    engine.inject(Fault("ec2.TerminateInstances", code="UnauthorizedOperation", permanent=True))

    # WHEN the cleanup runs / THEN EC2's refusal goes through, named, the clone still runs
    with pytest.raises(
        AwsAccessDenied, match=r"TerminateInstances.*UnauthorizedOperation"
    ) as refused:
        run.step("CleanupDrill", run.cleanup_drill(), "Cleanup")
    assert drill_tagged(ec2, run.execution)[0] == {run.clone_id: "running"}

    # ... and the report, given the caught error, says the clone is left to expire
    run.data["CleanupError"] = caught(refused.value)
    drill = report(run)
    assert (drill.status, drill.error, drill.clone) == (
        "Failed",
        "DrillCleanupFailed",
        "left for cleanup",
    )
    assert drill.expires_at == datetime.fromisoformat(run.data["ClonePlan"]["ExpiresAt"])


# --- BuildDrillReport --------------------------------------------------------------------------


def test_build_drill_report_reports_a_proven_set_when_every_state_succeeded(
    start_drill: StartDrill, snapshots: dict[str, str]
) -> None:
    # GIVEN a drill whose clone passed its validation and was removed
    run = start_drill(document=DOCUMENT, parameters=CHECK)
    result = validated(run)
    run.step("CleanupDrill", run.cleanup_drill(), "Cleanup")

    # WHEN its report is built
    drill = report(run)

    # THEN it succeeded, on the set, with the clone's volumes, validation and RTO
    assert (drill.status, drill.error, drill.clone) == ("Succeeded", None, "removed")
    assert (drill.instance_id, drill.snapshot_set_id) == (run.instance_id, "set-1")
    assert drill.clone_instance_id == run.clone_id
    assert {v.device: v.snapshot_id for v in drill.volumes} == snapshots
    assert {v.device: v.clone_volume_id for v in drill.volumes} == run.data["CloneReady"]["Volumes"]
    assert drill.validation == result
    assert drill.rto_seconds is not None
    assert drill.rto_seconds >= 0
    assert [(g.group_id, g.isolation) for g in drill.security_groups] == [
        (run.data["Clone"]["IsolationGroupId"], True)
    ]


def test_build_drill_report_names_the_error_and_no_clone_when_the_launch_failed(
    engine: LocalEngine, start_drill: StartDrill
) -> None:
    # GIVEN a drill whose launch EC2 refused (the Catch records the error)
    run = start_drill()
    failed = launch_refused(engine, run)
    run.step("CleanupDrill", run.cleanup_drill(), "Cleanup")

    # WHEN its report is built
    drill = report(run)

    # THEN the drill failed with the launch's error, and no clone was launched
    assert (drill.status, drill.error, drill.clone) == (
        "Failed",
        "CloneLaunchFailed",
        "not launched",
    )
    assert drill.clone_instance_id is None
    assert drill.cause == str(failed)


def test_build_drill_report_reports_the_planned_launch_when_the_drill_is_a_dry_run(
    ec2: EC2Client, start_drill: StartDrill
) -> None:
    # GIVEN a DryRun drill, planned
    run = start_drill(dry_run=True)
    planned = plan(run)

    # WHEN its report is built
    drill = report(run)

    # THEN it is a DryRun that shows the launch it would make; nothing ran
    assert (drill.status, drill.clone, drill.clone_instance_id) == ("DryRun", "planned", None)
    assert drill.launch == planned.launch
    assert drill_tagged(ec2, run.execution) == ({}, set(), set())


# --- PublishDrillOutcome -----------------------------------------------------------------------


def test_publish_drill_outcome_puts_the_metrics_and_one_event_when_the_drill_succeeded(
    start_drill: StartDrill,
) -> None:
    # GIVEN the report of a drill whose clone passed its status checks, and a subscriber to
    # the drills' events
    subscriber = DrillEvents()
    run = start_drill()
    ready(run)
    run.step("CleanupDrill", run.cleanup_drill(), "Cleanup")
    drill = report(run)
    assert drill.status == "Succeeded"

    # WHEN the outcome is published
    published = run.step("PublishDrillOutcome", run.publish_drill_outcome(), "Published")

    # THEN DrillSucceeded is 1 and DrillRtoSeconds the RTO, per instance and for all drills
    assert published == {"Published": True, "Metrics": 4}
    for name in ("DrillSucceeded", "DrillRtoSeconds"):
        assert sorted(metric_dimensions(name), key=len) == [{}, {"InstanceId": run.instance_id}]
    assert metric_values("DrillSucceeded", {"InstanceId": run.instance_id}) == [1.0]
    assert metric_values("DrillRtoSeconds", {"InstanceId": run.instance_id}) == [drill.rto_seconds]
    # ... and the subscriber received the report
    (event,) = subscriber.received()
    assert DrillReport.model_validate(event["detail"]) == drill


def test_publish_drill_outcome_counts_a_failed_drill_without_an_rto(
    engine: LocalEngine, start_drill: StartDrill
) -> None:
    # GIVEN the report of a drill whose clone could not be launched
    run = start_drill()
    launch_refused(engine, run)
    assert report(run).status == "Failed"

    # WHEN its outcome is published
    run.step("PublishDrillOutcome", run.publish_drill_outcome(), "Published")

    # THEN DrillSucceeded is 0, and no RTO is put
    assert metric_values("DrillSucceeded", {"InstanceId": run.instance_id}) == [0.0]
    assert metric_values("DrillRtoSeconds", {"InstanceId": run.instance_id}) == []


def test_publish_drill_outcome_publishes_nothing_for_a_dry_run(start_drill: StartDrill) -> None:
    # GIVEN a DryRun drill's report, and a subscriber
    subscriber = DrillEvents()
    run = start_drill(dry_run=True)
    plan(run)
    report(run)

    # WHEN its outcome is published / THEN nothing is: no metric, no event
    published = run.step("PublishDrillOutcome", run.publish_drill_outcome(), "Published")
    assert published == {"Published": False}
    assert metric_values("DrillSucceeded", {"InstanceId": run.instance_id}) == []
    assert subscriber.received() == []


# --- the tasks' input models -------------------------------------------------------------------


def test_drill_tasks_refuse_a_malformed_event_naming_the_field_before_any_aws_call(
    engine: LocalEngine, call_task: CallTask, start_drill: StartDrill
) -> None:
    # GIVEN a drill whose clone is launched, its validation sent and its report built
    run = start_drill(document=DOCUMENT, parameters=CHECK)
    launch(run)
    run.step("RunValidation", run.run_validation(run.clone_id), "Validation")
    report(run)
    events = {
        "PlanClone": run.plan_clone(),
        "LaunchClone": run.launch_clone(),
        "SwapCloneRoot": run.swap_clone_root(),
        "RunValidation": run.run_validation(run.clone_id),
        "WaitValidation": run.wait_validation(run.clone_id),
        "CleanupDrill": run.cleanup_drill(),
        "BuildDrillReport": run.build_drill_report(),
        "PublishDrillOutcome": run.publish_drill_outcome(),
    }

    # WHEN each task gets its event with a field its state never leaves out or sends so
    # THEN its input model names that field, before any AWS call
    cases = [
        Malformed("PlanClone", "Execution", REMOVED, ("Execution",)),
        Malformed("LaunchClone", "Plan.Launch", REMOVED, ("Plan", "Launch")),
        Malformed("SwapCloneRoot", "TimeoutSeconds", "0", ("TimeoutSeconds",)),
        Malformed("RunValidation", "Document", REMOVED, ("Document",)),
        Malformed("WaitValidation", "CommandId", REMOVED, ("CommandId",)),
        Malformed("CleanupDrill", "EnteredTime", "yesterday", ("EnteredTime",)),
        Malformed("BuildDrillReport", "Document.StartedAt", REMOVED, ("StartedAt",)),
        Malformed("PublishDrillOutcome", "Report.Status", "Unknown", ("Report", "Status")),
    ]
    assert misplaced_refusals(engine, call_task, events.__getitem__, cases) == []
