"""Clone drills (Mode "Clone"): the set restores on a new instance; the source never changes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.conftest import VssSetFactory
from vss_restore import tags
from vss_restore.drill import EVENT_SOURCE, METRIC_NAMESPACE, cleanup_pass
from vss_restore.executions import fetch_record
from vss_restore.local import ExecutionResult, LocalEngine, world
from vss_restore.local.engine import CLONE_PROFILE_ARN
from vss_restore.local.faults import Fault
from vss_restore.local.fidelity import CommandOutcome
from vss_restore.local.invariants import InstanceState
from vss_restore.records import Records
from vss_restore.settings import reload_settings

DOCUMENT = world.VALIDATION_DOCUMENT  # the operator's, named as a drill may run it
CHECK = {"Services": ["W3SVC"]}


@pytest.fixture
def events_queue(engine: LocalEngine) -> str:
    """An SQS queue that receives every vss-restore event from the default bus."""
    sqs = boto3.client("sqs", region_name=engine.region)
    events = boto3.client("events", region_name=engine.region)
    queue_url = sqs.create_queue(QueueName="drill-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="drills", EventPattern=json.dumps({"source": [EVENT_SOURCE]}))
    events.put_targets(Rule="drills", Targets=[{"Id": "queue", "Arn": arn}])
    return str(queue_url)


def drill_events(engine: LocalEngine, queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=engine.region)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def metric_values(engine: LocalEngine, name: str, instance_id: str) -> list[float]:
    cloudwatch = boto3.client("cloudwatch", region_name=engine.region)
    now = datetime.now(UTC)
    stats = cloudwatch.get_metric_statistics(
        Namespace=METRIC_NAMESPACE,
        MetricName=name,
        Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
        Period=60,
        Statistics=["Sum", "SampleCount"],
    )
    return [p["Sum"] for p in stats["Datapoints"]]


def drill_resources(ec2: Any) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Instance id → state, and the volumes, of everything tagged as a drill's."""
    drill_filter = [{"Name": "tag-key", "Values": [tags.DRILL]}]
    instances = {
        i["InstanceId"]: i["State"]["Name"]
        for r in ec2.describe_instances(Filters=drill_filter)["Reservations"]
        for i in r["Instances"]
    }
    return instances, ec2.describe_volumes(Filters=drill_filter)["Volumes"]


def drill_groups(ec2: Any) -> list[dict[str, Any]]:
    """The security groups tagged as a drill's."""
    drill_filter = [{"Name": "tag-key", "Values": [tags.DRILL]}]
    return list(ec2.describe_security_groups(Filters=drill_filter)["SecurityGroups"])


def source_groups(ec2: Any, instance_id: str) -> set[str]:
    raw = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return {g["GroupId"] for g in raw.get("SecurityGroups", [])}


def impaired_status_checks(parsed: dict[str, Any], **_: Any) -> None:
    for status in parsed.get("InstanceStatuses", []):
        status["InstanceStatus"]["Status"] = "impaired"
        status["SystemStatus"]["Status"] = "impaired"


def failed_report(engine: LocalEngine, result: ExecutionResult) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions", region_name=engine.region)
    report = fetch_record(sfn, result.execution_arn).report
    assert report is not None
    return report


@pytest.mark.usefixtures("validation_document")
def test_drill_proves_the_set_on_a_clone_and_leaves_the_source_alone(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    drill_target: dict[str, Any],
    events_queue: str,
) -> None:
    # GIVEN a running server with a VSS set, and an isolated subnet
    snapshots = vss_set("set-1", hours_ago=2)
    before = InstanceState.capture(ec2, instance_with_volumes)

    # WHEN a drill runs with a validation document
    result = engine.run(
        {
            "InstanceId": instance_with_volumes,
            **drill_target,
            "ValidationDocument": DOCUMENT,
            "ValidationParameters": CHECK,
        }
    )

    # THEN it succeeds and reports the clone, its validation and the RTO
    assert result.status == "SUCCEEDED", result.cause
    report = result.output
    assert report is not None
    assert (report["Mode"], report["Status"], report["Clone"]) == ("Clone", "Succeeded", "removed")
    assert report["SnapshotSetId"] == "set-1"
    assert report["Validation"]["Status"] == "Success"
    assert report["RtoSeconds"] is not None
    assert report["RtoSeconds"] >= 0
    by_device = {v["Device"]: v for v in report["Volumes"]}
    assert {d: v["SnapshotId"] for d, v in by_device.items()} == snapshots
    # ... the validation ran on the clone, whose disks came from the set's snapshots
    for device, snapshot_id in snapshots.items():
        assert (
            f"{device} {by_device[device]['CloneVolumeId']} from {snapshot_id}"
            in (report["Validation"]["Output"])
        )
    # ... the source is exactly as it was: same volumes, still running, never stopped
    assert InstanceState.capture(ec2, instance_with_volumes) == before
    assert not any("StopInstances" in str(e) for e in result.history)
    # ... the clone ran in the isolated subnet and is gone, with all its volumes
    instances, volumes = drill_resources(ec2)
    assert instances == {report["CloneInstanceId"]: "terminated"}
    assert volumes == []
    assert not set(before.volumes.values()) & {v["CloneVolumeId"] for v in report["Volumes"]}
    # ... in an isolation group of its own, which is gone too
    (group,) = report["SecurityGroups"]
    assert group["Isolation"] is True
    assert group["GroupId"] not in source_groups(ec2, instance_with_volumes)
    assert drill_groups(ec2) == []
    # ... and the outcome was published as metrics and as one event
    assert metric_values(engine, "DrillSucceeded", instance_with_volumes) == [1.0]
    assert metric_values(engine, "DrillRtoSeconds", instance_with_volumes) == [report["RtoSeconds"]]
    (event,) = drill_events(engine, events_queue)
    assert event["detail"]["CloneInstanceId"] == report["CloneInstanceId"]


def test_clone_keeps_the_originals_settings_in_the_given_subnet(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    drill_target: dict[str, Any],
    drill_instance_types: str,
) -> None:
    # GIVEN the demo's volumes (gp3 with IOPS/throughput, io2, a customer key) and a set
    vss_set("set-1", hours_ago=2)
    before = InstanceState.capture(ec2, instance_with_volumes)
    originals = {
        v["Attachments"][0]["Device"]: v
        for v in ec2.describe_volumes(VolumeIds=list(before.volumes.values()))["Volumes"]
    }

    # WHEN a drill keeps its clone, on another instance type the deployment allows
    result = engine.run(
        {
            "InstanceId": instance_with_volumes,
            **drill_target,
            "InstanceType": drill_instance_types,
            "KeepClone": True,
        }
    )

    # THEN the clone stays, in the drill's subnet and groups, tagged to expire
    assert result.status == "SUCCEEDED", result.cause
    report = result.output
    assert report is not None
    assert report["Clone"] == "kept"
    clone = ec2.describe_instances(InstanceIds=[report["CloneInstanceId"]])["Reservations"][0][
        "Instances"
    ][0]
    assert clone["State"]["Name"] == "running"
    assert clone["InstanceType"] == drill_instance_types
    assert clone["SubnetId"] == drill_target["SubnetId"]
    assert [g["GroupId"] for g in clone["SecurityGroups"]] == [
        g["GroupId"] for g in report["SecurityGroups"]
    ]
    labels = tags.tag_dict(clone["Tags"])
    assert labels[tags.DRILL] == instance_with_volumes
    assert labels[tags.EXECUTION] == result.execution_arn
    expires = datetime.fromisoformat(labels[tags.EXPIRES_AT])
    assert expires == datetime.fromisoformat(report["ExpiresAt"])
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)
    # ... each clone volume has its original's type, size, IOPS, throughput and key
    for line in report["Volumes"]:
        volume = ec2.describe_volumes(VolumeIds=[line["CloneVolumeId"]])["Volumes"][0]
        original = originals[line["Device"]]
        for key in ("VolumeType", "Size", "Iops", "Throughput", "Encrypted", "KmsKeyId"):
            assert volume.get(key) == original.get(key), (line["Device"], key)
        assert tags.tag_dict(volume["Tags"])[tags.DRILL] == instance_with_volumes
    # ... and the source never held a clone disk
    assert InstanceState.capture(ec2, instance_with_volumes) == before


@pytest.mark.usefixtures("validation_document")
def test_failed_validation_fails_the_drill_and_still_removes_everything(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    drill_target: dict[str, Any],
    events_queue: str,
) -> None:
    # GIVEN a set, and a validation script that finds the application broken
    vss_set("set-1", hours_ago=2)
    engine.ssm.respond(
        DOCUMENT, CommandOutcome("Failed", "W3SVC is not running\nsite down", response_code=3)
    )
    before = InstanceState.capture(ec2, instance_with_volumes)

    # WHEN the drill runs
    result = engine.run(
        {
            "InstanceId": instance_with_volumes,
            **drill_target,
            "ValidationDocument": DOCUMENT,
            "ValidationParameters": CHECK,
        }
    )

    # THEN it fails with a named error that quotes the script
    assert result.status == "FAILED"
    assert result.error == "DrillValidationFailed"
    assert result.cause is not None
    assert "exit code 3" in result.cause
    assert "W3SVC is not running" in result.cause
    # ... its report (kept in the history) says so and has no RTO
    report = failed_report(engine, result)
    assert report["Validation"]["Status"] == "Failed"
    assert report["RtoSeconds"] is None
    assert report["Clone"] == "removed"
    # ... the clone and its volumes are gone, and the source is untouched
    instances, volumes = drill_resources(ec2)
    assert set(instances.values()) == {"terminated"}
    assert volumes == []
    assert InstanceState.capture(ec2, instance_with_volumes) == before
    # ... and the failure was published
    assert metric_values(engine, "DrillSucceeded", instance_with_volumes) == [0.0]
    assert metric_values(engine, "DrillRtoSeconds", instance_with_volumes) == []
    (event,) = drill_events(engine, events_queue)
    assert event["detail"]["Error"] == "DrillValidationFailed"


def test_a_clone_that_never_passes_its_checks_is_removed(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    drill_target: dict[str, Any],
) -> None:
    # GIVEN a set, and status checks that fail (on any instance: only the clone is checked)
    vss_set("set-1", hours_ago=2)
    engine.observe("after-call.ec2.DescribeInstanceStatus", impaired_status_checks)
    before = InstanceState.capture(ec2, instance_with_volumes)

    # WHEN the drill runs
    result = engine.run({"InstanceId": instance_with_volumes, **drill_target})

    # THEN it fails with the check's error, and nothing of the drill is left
    assert result.status == "FAILED"
    assert result.error == "StartFailed"
    instances, volumes = drill_resources(ec2)
    assert set(instances.values()) == {"terminated"}
    assert volumes == []
    assert InstanceState.capture(ec2, instance_with_volumes) == before


def test_dry_run_drill_plans_the_clone_and_launches_nothing(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    drill_target: dict[str, Any],
) -> None:
    snapshots = vss_set("set-1", hours_ago=2)

    result = engine.run({"InstanceId": instance_with_volumes, **drill_target, "DryRun": True})

    assert result.status == "SUCCEEDED", result.cause
    report = result.output
    assert report is not None
    assert (report["Status"], report["Clone"]) == ("DryRun", "planned")
    launch = report["Launch"]
    (interface,) = launch["NetworkInterfaces"]
    assert (interface["SubnetId"], interface["AssociatePublicIpAddress"]) == (
        drill_target["SubnetId"],
        False,
    )
    # ... the set's data volumes are mapped at launch; the root is swapped in after launch
    root = "/dev/sda1"
    assert {m["DeviceName"]: m["Ebs"]["SnapshotId"] for m in launch["BlockDeviceMappings"]} == {
        d: s for d, s in snapshots.items() if d != root
    }
    assert {v["Device"]: v["SnapshotId"] for v in report["Volumes"]} == snapshots
    assert "Groups" not in interface  # the isolation group is made at launch
    assert drill_resources(ec2) == ({}, [])
    assert drill_groups(ec2) == []


def test_drill_of_a_stopped_server_leaves_it_stopped(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    drill_target: dict[str, Any],
) -> None:
    vss_set("set-1", hours_ago=2)
    ec2.stop_instances(InstanceIds=[instance_with_volumes])
    before = InstanceState.capture(ec2, instance_with_volumes)

    result = engine.run({"InstanceId": instance_with_volumes, **drill_target})

    assert result.status == "SUCCEEDED", result.cause
    assert InstanceState.capture(ec2, instance_with_volumes) == before
    assert before.power_state == "stopped"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"Mode": "InPlace", "SubnetId": "subnet-0123456789abcdef0"}, "SubnetId"),
        ({"KeepClone": True, "Mode": "InPlace"}, "KeepClone"),
        ({"PowerOnAfterRestore": False}, "PowerOnAfterRestore"),
        ({"DeleteReplacedVolumes": True}, "DeleteReplacedVolumes"),
        ({"Mode": "Copy"}, "Mode"),
        ({"SubnetId": "subnet-0123456789abcdef0"}, "SubnetId"),
        ({"SecurityGroupIds": ["sg-0123456789abcdef0"]}, "SecurityGroupIds"),
        ({"InstanceType": "M5 Large"}, "InstanceType"),
        ({"ValidationParameters": {"commands": ["dir"]}}, "ValidationParameters"),
        ({"ValidationDocument": "vss-restore-validation-none"}, "ValidationDocument"),
        # AWS's own document would run any command the request gives, as SYSTEM
        ({"ValidationDocument": "AWS-RunPowerShellScript"}, "ValidationDocument"),
        ({"DryRun": True, "KeepClone": True}, "KeepClone"),
    ],
)
def test_bad_drill_requests_launch_nothing(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    drill_target: dict[str, Any],
    change: dict[str, Any],
    field: str,
) -> None:
    vss_set("set-1", hours_ago=2)
    request = {"InstanceId": instance_with_volumes, **drill_target, **change}
    if change.get("Mode") == "InPlace":
        request.pop("SubnetId", None)
        request.update(change)

    result = engine.run(request)

    assert result.status == "FAILED"
    assert result.error == "InvalidRequest"
    assert result.cause is not None
    assert f"InvalidRequest: {field}:" in result.cause, result.cause
    assert drill_resources(ec2) == ({}, [])
    assert drill_groups(ec2) == []


def test_security_group_of_another_vpc_is_refused(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    drill_target: dict[str, Any],
) -> None:
    vss_set("set-1", hours_ago=2)
    default_vpc_group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]

    result = engine.run(
        {
            "InstanceId": instance_with_volumes,
            **drill_target,
            "SecurityGroupIds": [default_vpc_group["GroupId"]],
        }
    )

    assert (result.status, result.error) == ("FAILED", "InvalidRequest")
    assert result.cause is not None
    assert "is not in" in result.cause
    assert drill_resources(ec2) == ({}, [])


def test_cleanup_removes_only_expired_drill_resources(
    engine: LocalEngine,
    ec2: Any,
    records: Records,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    drill_target: dict[str, Any],
) -> None:
    # GIVEN a kept clone, an unrelated server, and the source
    vss_set("set-1", hours_ago=2)
    kept = engine.run({"InstanceId": instance_with_volumes, **drill_target, "KeepClone": True})
    assert kept.output is not None
    clone_id = kept.output["CloneInstanceId"]
    clone_volumes = {v["CloneVolumeId"] for v in kept.output["Volumes"]}
    bystander = world.windows_instance(ec2, world.DEMO_DISKS[:1], name="other")
    source = InstanceState.capture(ec2, instance_with_volumes)

    # WHEN the cleanup runs before the clone expires, nothing goes
    early = cleanup_pass(ec2, records, now=datetime.now(UTC))
    assert (early.terminated, early.deleted) == ([], [])

    # WHEN it runs after the expiry: the clone goes (its volumes with it), nothing else
    late = cleanup_pass(ec2, records, now=datetime.now(UTC) + timedelta(hours=25))
    assert late.terminated == [clone_id]
    instances, volumes = drill_resources(ec2)
    assert instances == {clone_id: "terminated"}
    assert not {v["VolumeId"] for v in volumes} & clone_volumes
    assert InstanceState.capture(ec2, instance_with_volumes) == source
    assert world.attached(ec2, bystander)


def test_a_source_whose_ami_is_gone_fails_with_clone_launch_failed_and_launches_nothing(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    drill_target: dict[str, Any],
) -> None:
    vss_set("set-1", hours_ago=2)
    before = InstanceState.capture(ec2, instance_with_volumes)
    image_id = ec2.describe_instances(InstanceIds=[instance_with_volumes])["Reservations"][0][
        "Instances"
    ][0]["ImageId"]
    engine.observe("after-call.ec2.DescribeImages", lambda parsed, **_: parsed.update(Images=[]))

    result = engine.run({"InstanceId": instance_with_volumes, **drill_target})

    assert (result.status, result.error) == ("FAILED", "CloneLaunchFailed")
    assert result.cause is not None
    assert image_id in result.cause
    assert drill_resources(ec2) == ({}, [])
    assert InstanceState.capture(ec2, instance_with_volumes) == before


def test_a_refused_launch_fails_with_clone_launch_failed_and_leaves_nothing(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    drill_target: dict[str, Any],
) -> None:
    vss_set("set-1", hours_ago=2)
    before = InstanceState.capture(ec2, instance_with_volumes)
    engine.inject(Fault("ec2.RunInstances", "InvalidParameterCombination"))

    result = engine.run({"InstanceId": instance_with_volumes, **drill_target})

    assert (result.status, result.error) == ("FAILED", "CloneLaunchFailed")
    assert result.cause is not None
    assert "InvalidParameterCombination" in result.cause
    assert drill_resources(ec2) == ({}, [])
    assert InstanceState.capture(ec2, instance_with_volumes) == before


def test_a_clone_that_cannot_be_removed_fails_the_drill_with_drill_cleanup_failed(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    drill_target: dict[str, Any],
) -> None:
    vss_set("set-1", hours_ago=2)
    before = InstanceState.capture(ec2, instance_with_volumes)
    engine.inject(Fault("ec2.TerminateInstances", "UnauthorizedOperation", times=100))

    result = engine.run({"InstanceId": instance_with_volumes, **drill_target})

    assert (result.status, result.error) == ("FAILED", "DrillCleanupFailed")
    report = failed_report(engine, result)
    assert report["Clone"] == "left for cleanup"
    assert report["ExpiresAt"] is not None
    instances, _ = drill_resources(ec2)
    assert instances == {report["CloneInstanceId"]: "running"}  # tagged, to expire
    assert InstanceState.capture(ec2, instance_with_volumes) == before


def test_every_device_of_the_clone_root_included_holds_a_volume_from_the_set(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    drill_target: dict[str, Any],
) -> None:
    # GIVEN a set, and an emulator that refuses another snapshot for the AMI's root at launch
    snapshots = vss_set("set-1", hours_ago=2)
    source = InstanceState.capture(ec2, instance_with_volumes)
    original_root = ec2.describe_volumes(VolumeIds=[source.volumes["/dev/sda1"]])["Volumes"][0]

    # WHEN a drill keeps its clone
    result = engine.run({"InstanceId": instance_with_volumes, **drill_target, "KeepClone": True})

    # THEN every device of the clone holds a volume created from the set's snapshot
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None
    clone_id = result.output["CloneInstanceId"]
    clone = ec2.describe_instances(InstanceIds=[clone_id])["Reservations"][0]["Instances"][0]
    assert clone["State"]["Name"] == "running"
    held = {m["DeviceName"]: m["Ebs"] for m in clone["BlockDeviceMappings"]}
    volumes = {
        v["VolumeId"]: v
        for v in ec2.describe_volumes(VolumeIds=[e["VolumeId"] for e in held.values()])["Volumes"]
    }
    assert {d: volumes[e["VolumeId"]]["SnapshotId"] for d, e in held.items()} == snapshots
    # ... each goes with the clone when it is terminated
    assert all(e["DeleteOnTermination"] for e in held.values())
    # ... the root has the original root's settings
    root = volumes[held["/dev/sda1"]["VolumeId"]]
    for key in ("VolumeType", "Size", "Iops", "Throughput", "Encrypted", "KmsKeyId"):
        assert root.get(key) == original_root.get(key), key
    # ... and the AMI's own root volume is gone: only the clone's volumes carry the drill tag
    _, tagged = drill_resources(ec2)
    assert {v["VolumeId"] for v in tagged} == set(volumes)
    assert "SwapCloneRoot" in result.state_path()


def test_kept_clone_keeps_its_isolation_group_tagged_to_expire(
    engine: LocalEngine,
    ec2: Any,
    records: Records,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    drill_target: dict[str, Any],
) -> None:
    # GIVEN a set and a drill request that names no security group
    vss_set("set-1", hours_ago=2)

    # WHEN the drill keeps its clone
    result = engine.run({"InstanceId": instance_with_volumes, **drill_target, "KeepClone": True})

    # THEN the clone runs only in the drill's isolation group, never in the source's groups
    assert result.status == "SUCCEEDED", result.cause
    report = result.output
    assert report is not None
    (group,) = drill_groups(ec2)
    assert report["SecurityGroups"] == [{"GroupId": group["GroupId"], "Isolation": True}]
    clone = ec2.describe_instances(InstanceIds=[report["CloneInstanceId"]])["Reservations"][0][
        "Instances"
    ][0]
    assert [g["GroupId"] for g in clone["SecurityGroups"]] == [group["GroupId"]]
    assert not source_groups(ec2, instance_with_volumes) & {group["GroupId"]}
    # ... which lets nothing in, and out only HTTPS to the VPC's SSM endpoints' group
    endpoints_group = world.ssm_endpoint_group(ec2, drill_target["SubnetId"])
    assert group["IpPermissions"] == []
    assert [
        (
            r["IpProtocol"],
            r.get("FromPort"),
            r.get("ToPort"),
            [p["GroupId"] for p in r["UserIdGroupPairs"]],
            r["IpRanges"],
            r.get("Ipv6Ranges", []),
            r.get("PrefixListIds", []),
        )
        for r in group["IpPermissionsEgress"]
    ] == [("tcp", 443, 443, [endpoints_group], [], [], [])]
    # ... and runs with the stack's own instance profile, not the source's
    assert clone["IamInstanceProfile"]["Arn"] == CLONE_PROFILE_ARN
    # ... and carries the drill's tags, expiry included
    labels = tags.tag_dict(group["Tags"])
    assert labels[tags.DRILL] == instance_with_volumes
    assert labels[tags.EXECUTION] == result.execution_arn
    assert labels[tags.EXPIRES_AT] == report["ExpiresAt"].replace("Z", "+00:00")
    # WHEN cleanup runs after the expiry, the clone and then its group go
    cleanup_pass(ec2, records, now=datetime.now(UTC) + timedelta(hours=25))
    cleanup_pass(ec2, records, now=datetime.now(UTC) + timedelta(hours=25))
    assert drill_groups(ec2) == []


def test_named_security_groups_are_used_and_no_isolation_group_is_made(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
) -> None:
    # GIVEN a subnet and a group the request names
    vss_set("set-1", hours_ago=2)
    subnet_id, group_id = world.isolated_subnet(ec2)

    # WHEN a drill runs in that group
    result = engine.run(
        {
            "InstanceId": instance_with_volumes,
            "Mode": "Clone",
            "SubnetId": subnet_id,
            "SecurityGroupIds": [group_id],
        }
    )

    # THEN the report lists that group, not as an isolation group, and says to check it
    assert result.status == "SUCCEEDED", result.cause
    report = result.output
    assert report is not None
    assert report["SecurityGroups"] == [{"GroupId": group_id, "Isolation": False}]
    assert any("requested security groups" in w for w in report["Warnings"])
    assert drill_groups(ec2) == []
    assert ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]


# --- guardrails: what a drill runs, and where --------------------------------------------------


def _exposed_subnet(ec2: Any, *, own_table: bool, route: dict[str, str]) -> str:
    """A subnet whose traffic reaches an internet gateway: through a route table of its own,
    or (no table of its own) through its VPC's main one."""
    subnet_id, _ = world.isolated_subnet(ec2)
    vpc_id = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["VpcId"]
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc_id)
    if own_table:
        table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet_id)
    else:
        main = [
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "association.main", "Values": ["true"]},
        ]
        table = ec2.describe_route_tables(Filters=main)["RouteTables"][0]["RouteTableId"]
    ec2.create_route(RouteTableId=table, GatewayId=gateway, **route)
    return subnet_id


def kept_clone_in(instance_id: str, subnet_id: str) -> dict[str, Any]:
    """A drill request that keeps its clone, in the subnet."""
    return {"InstanceId": instance_id, "Mode": "Clone", "SubnetId": subnet_id, "KeepClone": True}


def _refused_and_nothing_made(ec2: Any, result: ExecutionResult, field: str) -> str:
    assert (result.status, result.error) == ("FAILED", "InvalidRequest")
    assert result.cause is not None
    assert result.cause.startswith(f"InvalidRequest: {field}: "), result.cause
    assert drill_resources(ec2) == ({}, [])
    assert drill_groups(ec2) == []
    return result.cause


@pytest.mark.parametrize("listed", [(), ("t3.large",)], ids=["nothing-listed", "another-listed"])
def test_drill_on_an_instance_type_the_deployment_does_not_list_is_refused_and_makes_nothing(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    drill_target: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    listed: tuple[str, ...],
) -> None:
    # GIVEN a set of an m5.xlarge server, and a deployment that lists no type or another one
    vss_set("set-1", hours_ago=2)
    monkeypatch.setenv("DRILL_INSTANCE_TYPES", ",".join(listed))
    reload_settings()
    before = InstanceState.capture(ec2, instance_with_volumes)

    # WHEN a drill asks for a large GPU instance
    result = engine.run(
        {"InstanceId": instance_with_volumes, **drill_target, "InstanceType": "p5.48xlarge"}
    )

    # THEN InstanceType is refused, naming the allowed types; no clone, volume or group exists
    cause = _refused_and_nothing_made(ec2, result, "InstanceType")
    allowed = ", ".join(listed) or "none"
    assert f"nor one the deployment allows for drills ({allowed})" in cause
    assert InstanceState.capture(ec2, instance_with_volumes) == before


@pytest.mark.parametrize(
    ("own_table", "route"),
    [
        (True, {"DestinationCidrBlock": "0.0.0.0/0"}),
        (False, {"DestinationIpv6CidrBlock": "::/0"}),
    ],
    ids=["own-table-ipv4", "main-table-ipv6"],
)
def test_drill_into_a_subnet_routed_to_an_internet_gateway_is_refused_and_makes_nothing(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    own_table: bool,
    route: dict[str, str],
) -> None:
    # GIVEN a set, and a public subnet
    vss_set("set-1", hours_ago=2)
    subnet_id = _exposed_subnet(ec2, own_table=own_table, route=route)
    before = InstanceState.capture(ec2, instance_with_volumes)

    # WHEN a drill asks for it
    result = engine.run(
        {"InstanceId": instance_with_volumes, "Mode": "Clone", "SubnetId": subnet_id}
    )

    # THEN SubnetId is refused, naming the route; no clone, volume or group was made
    cause = _refused_and_nothing_made(ec2, result, "SubnetId")
    assert (
        f"{subnet_id} routes to an internet gateway ({next(iter(route.values()))} → igw-" in cause
    )
    assert InstanceState.capture(ec2, instance_with_volumes) == before


def test_drill_into_an_exposed_subnet_the_deployment_allows_launches_no_public_address(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a public subnet that gives its instances public addresses, allowed by the deployment
    vss_set("set-1", hours_ago=2)
    subnet_id = _exposed_subnet(ec2, own_table=True, route={"DestinationCidrBlock": "0.0.0.0/0"})
    ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
    monkeypatch.setenv("CLONE_EXPOSED_SUBNET_IDS", subnet_id)
    reload_settings()

    # WHEN a drill keeps its clone there
    result = engine.run(kept_clone_in(instance_with_volumes, subnet_id))

    # THEN the clone runs there, without a public address all the same
    assert result.status == "SUCCEEDED", result.cause
    clone_id = (result.output or {})["CloneInstanceId"]
    clone = ec2.describe_instances(InstanceIds=[clone_id])["Reservations"][0]["Instances"][0]
    assert clone["SubnetId"] == subnet_id
    assert "PublicIpAddress" not in clone
    assert [i.get("Association", {}).get("PublicIp") for i in clone["NetworkInterfaces"]] == [None]


@pytest.mark.parametrize("allowed", [False, True], ids=["refused", "allowed-by-deployment"])
def test_drill_in_a_security_group_with_an_inbound_rule_runs_only_where_the_deployment_allows_it(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    drill_target: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    allowed: bool,
) -> None:
    # GIVEN a group of the subnet's VPC that lets RDP in from anywhere
    vss_set("set-1", hours_ago=2)
    vpc_id = ec2.describe_subnets(SubnetIds=[drill_target["SubnetId"]])["Subnets"][0]["VpcId"]
    group_id = ec2.create_security_group(GroupName="rdp", Description="rdp", VpcId=vpc_id)[
        "GroupId"
    ]
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 3389,
                "ToPort": 3389,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    if allowed:
        monkeypatch.setenv("CLONE_OPEN_SECURITY_GROUP_IDS", group_id)
        reload_settings()

    # WHEN a drill names it
    result = engine.run(
        {"InstanceId": instance_with_volumes, **drill_target, "SecurityGroupIds": [group_id]}
    )

    # THEN it is refused, naming the rule, and nothing was made; unless the deployment allows it
    if allowed:
        assert result.status == "SUCCEEDED", result.cause
        assert (result.output or {})["SecurityGroups"] == [
            {"GroupId": group_id, "Isolation": False}
        ]
        return
    cause = _refused_and_nothing_made(ec2, result, "SecurityGroupIds")
    assert f"{group_id} allows inbound traffic (tcp 3389 from 0.0.0.0/0)" in cause


def test_drill_runs_a_document_the_deployment_lists(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    drill_target: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a deployment that lists AWS's PowerShell document (refused otherwise)
    vss_set("set-1", hours_ago=2)
    monkeypatch.setenv("VALIDATION_DOCUMENTS", "Ops-Check, AWS-RunPowerShellScript")
    reload_settings()

    # WHEN a drill names it
    result = engine.run(
        {
            "InstanceId": instance_with_volumes,
            **drill_target,
            "ValidationDocument": "AWS-RunPowerShellScript",
            "ValidationParameters": {"commands": ["Get-Disk"]},
        }
    )

    # THEN it runs on the clone
    assert result.status == "SUCCEEDED", result.cause
    validation = (result.output or {})["Validation"]
    assert (validation["Document"], validation["Status"]) == ("AWS-RunPowerShellScript", "Success")


# --- guardrails: what a clone may reach, and with which credentials -----------------------------


@pytest.mark.usefixtures("validation_document")
def test_a_validated_drill_into_a_vpc_without_ssm_endpoints_is_refused_and_makes_nothing(
    engine: LocalEngine, ec2: Any, instance_with_volumes: str, vss_set: VssSetFactory
) -> None:
    # GIVEN a set, and an isolated subnet whose VPC has no Systems Manager endpoints
    vss_set("set-1", hours_ago=2)
    subnet_id, _ = world.isolated_subnet(ec2, ssm_endpoints=False)
    before = InstanceState.capture(ec2, instance_with_volumes)

    # WHEN a drill asks to validate its clone there
    result = engine.run(
        {
            "InstanceId": instance_with_volumes,
            "Mode": "Clone",
            "SubnetId": subnet_id,
            "ValidationDocument": DOCUMENT,
            "ValidationParameters": CHECK,
        }
    )

    # THEN PlanClone refuses it, naming what is missing and how to fix it; nothing was made
    assert (result.status, result.error) == ("FAILED", "CloneNotIsolatable")
    assert result.cause is not None
    assert "no interface endpoint for ssm, ssmmessages, ec2messages" in result.cause
    assert "cloneEgressPrefixListId" in result.cause
    assert "LaunchClone" not in result.state_path()
    assert drill_resources(ec2) == ({}, [])
    assert drill_groups(ec2) == []
    assert InstanceState.capture(ec2, instance_with_volumes) == before


def test_a_drill_without_validation_in_a_vpc_without_ssm_endpoints_runs_with_no_egress(
    engine: LocalEngine, ec2: Any, instance_with_volumes: str, vss_set: VssSetFactory
) -> None:
    # GIVEN a set, and an isolated subnet whose VPC has no Systems Manager endpoints
    vss_set("set-1", hours_ago=2)
    subnet_id, _ = world.isolated_subnet(ec2, ssm_endpoints=False)

    # WHEN a drill without validation keeps its clone there
    result = engine.run(kept_clone_in(instance_with_volumes, subnet_id))

    # THEN the clone's isolation group lets nothing in and nothing out, and the report says so
    assert result.status == "SUCCEEDED", result.cause
    report = result.output or {}
    (group,) = drill_groups(ec2)
    assert (group["IpPermissions"], group["IpPermissionsEgress"]) == ([], [])
    assert any("without any outbound traffic" in w for w in report["Warnings"])


def _profile(name: str) -> tuple[str, str]:
    """An instance profile with a role of the same name: (profile ARN, role ARN)."""
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return profile, role


@pytest.mark.parametrize("listed", [False, True], ids=["unlisted-role", "listed-role"])
def test_a_clone_keeps_its_sources_profile_only_if_the_deployment_lists_its_role(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    drill_target: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    listed: bool,
) -> None:
    # GIVEN a source running with a production role, and a deployment whose clones keep
    # their source's profile if its role is listed
    vss_set("set-1", hours_ago=2)
    profile, role = _profile("web-production")
    ec2.associate_iam_instance_profile(
        IamInstanceProfile={"Arn": profile}, InstanceId=instance_with_volumes
    )
    allowed = (
        "arn:aws:iam::123456789012:role/web-*" if listed else "arn:aws:iam::123456789012:role/sql-*"
    )
    monkeypatch.setenv("CLONE_KEEPS_SOURCE_PROFILE", "true")
    monkeypatch.setenv("DRILL_INSTANCE_ROLE_ARNS", allowed)
    reload_settings()

    # WHEN a drill keeps its clone
    result = engine.run({"InstanceId": instance_with_volumes, **drill_target, "KeepClone": True})

    # THEN an unlisted role is refused before anything is made, naming the role and the setting
    if not listed:
        assert (result.status, result.error) == ("FAILED", "CloneNotIsolatable")
        assert result.cause is not None
        assert f"has role {role}" in result.cause
        assert "drillInstanceRoleArns" in result.cause
        assert drill_resources(ec2) == ({}, [])
        assert drill_groups(ec2) == []
        return
    # ... a listed one is what the clone runs with, and the report warns of it
    assert result.status == "SUCCEEDED", result.cause
    report = result.output or {}
    clone = ec2.describe_instances(InstanceIds=[report["CloneInstanceId"]])["Reservations"][0][
        "Instances"
    ][0]
    assert clone["IamInstanceProfile"]["Arn"] == profile
    assert any("production credentials" in w for w in report["Warnings"])
