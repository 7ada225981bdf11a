"""Clone drills, pure parts: the clone's launch plan, the request rules, the report's verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.unit.test_planning import CMK, EXECUTION, INSTANCE_ID, chosen, facts, member, original
from vss_restore import tags
from vss_restore.drill import (
    DRILL_TTL,
    OUTPUT_EXCERPT_CHARS,
    ClonePlan,
    LaunchedClone,
    ValidationResult,
    cleanup_pass,
    plan_clone,
    validation_result,
)
from vss_restore.drill_report import build_drill_report
from vss_restore.errors import InvalidRequest
from vss_restore.models import CloneRequest, InPlaceRequest, RestoreRequest

NOW = datetime(2026, 11, 25, 12, 0, 0, 250000, tzinfo=UTC)
SOURCE: dict[str, Any] = {
    "InstanceId": INSTANCE_ID,
    "ImageId": "ami-0123456789abcdef0",
    "InstanceType": "m5.xlarge",
    "SubnetId": "subnet-0f0f0f0f0f0f0f0f0",
    "PrivateIpAddress": "10.0.0.10",
    "SecurityGroups": [{"GroupId": "sg-0e0e0e0e0e0e0e0e0", "GroupName": "prod"}],
    "KeyName": "ops",
    "IamInstanceProfile": {"Arn": "arn:aws:iam::123456789012:instance-profile/web"},
    "EbsOptimized": True,
    "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "State": "applied"},
    "Placement": {"AvailabilityZone": "eu-west-1c", "Tenancy": "default"},
}
ISOLATED: dict[str, Any] = {
    "SubnetId": "subnet-0a0b0c0d0e0f01234",
    "SecurityGroupIds": ["sg-0d0d0d0d0d0d0d0d0"],
}
IMAGE: dict[str, Any] = {
    "ImageId": SOURCE["ImageId"],
    "RootDeviceName": "/dev/sda1",
    "BlockDeviceMappings": [
        {
            "DeviceName": "/dev/sda1",
            "Ebs": {"SnapshotId": "snap-0image0root00000", "VolumeSize": 30},
        }
    ],
}


def subnet(subnet_id: str, az: str = "eu-west-1a") -> dict[str, Any]:
    return {"SubnetId": subnet_id, "AvailabilityZone": az, "VpcId": "vpc-0a0a0a0a0a0a0a0a0"}


def request(**fields: Any) -> CloneRequest:
    parsed = RestoreRequest.parse({"InstanceId": INSTANCE_ID, "Mode": "Clone", **fields})
    assert isinstance(parsed, CloneRequest)
    return parsed


def a_plan(**fields: Any) -> ClonePlan:
    originals = {
        o["VolumeId"]: o
        for o in (
            original("/dev/sda1", size=60),
            original("xvdf", volume_type="io2", iops=8000, throughput=None),
            original("xvdb", iops=6000, throughput=500, encrypted=True, kms_key_id=CMK),
        )
    }
    wanted = {**ISOLATED, **fields}
    return plan_clone(
        request(**wanted),
        SOURCE,
        IMAGE,
        subnet(wanted.get("SubnetId", SOURCE["SubnetId"])),
        facts(),
        chosen(member("xvdf"), member("/dev/sda1", size=60), member("xvdb", encrypted=True)),
        originals,
        EXECUTION,
        NOW,
    )


# --- the launch plan ------------------------------------------------------------------------


def test_clone_maps_the_sets_data_snapshots_at_launch_with_the_originals_settings() -> None:
    plan = a_plan()

    mappings = {m["DeviceName"]: m["Ebs"] for m in plan.launch["BlockDeviceMappings"]}
    # EC2 refuses another snapshot for the AMI's root at launch: the root is not mapped
    assert [m["DeviceName"] for m in plan.launch["BlockDeviceMappings"]] == ["xvdb", "xvdf"]
    assert mappings["xvdf"] == {
        "SnapshotId": "snap-xvdf",
        "VolumeType": "io2",
        "VolumeSize": 30,
        "DeleteOnTermination": True,
        "Iops": 8000,
    }
    assert "Throughput" not in mappings["xvdf"]
    assert (mappings["xvdb"]["Encrypted"], mappings["xvdb"]["KmsKeyId"]) == (True, CMK)
    assert all(ebs["DeleteOnTermination"] for ebs in mappings.values())


def test_clone_root_is_planned_from_the_sets_root_snapshot_in_the_clones_zone() -> None:
    plan = a_plan()

    root = plan.root_volume
    assert root is not None
    assert (root.device, root.snapshot_id) == ("/dev/sda1", "snap-devsda1")
    assert (root.volume_type, root.size, root.iops, root.throughput) == ("gp3", 60, 3000, 125)
    assert root.availability_zone == "eu-west-1a"  # the subnet's, not the source's eu-west-1c
    assert root.delete_on_termination is True
    assert root.tags[tags.DRILL] == INSTANCE_ID
    assert root.client_token != a_plan(InstanceType="t3.large").launch["ClientToken"]
    assert (plan.root_device, plan.image_root_snapshot_id) == ("/dev/sda1", "snap-0image0root00000")
    assert [v.device for v in plan.volumes] == ["/dev/sda1", "xvdb", "xvdf"]


def test_clone_without_a_root_snapshot_in_the_set_keeps_the_amis_root() -> None:
    plan = plan_clone(
        request(**ISOLATED),
        SOURCE,
        IMAGE,
        subnet(ISOLATED["SubnetId"]),
        facts(),
        chosen(member("xvdf")),
        {o["VolumeId"]: o for o in (original("xvdf"),)},
        EXECUTION,
        NOW,
    )

    assert plan.root_volume is None
    assert [m["DeviceName"] for m in plan.launch["BlockDeviceMappings"]] == ["xvdf"]


def test_clone_runs_where_the_request_says_with_the_sources_attributes() -> None:
    plan = a_plan(InstanceType="t3.large")

    launch = plan.launch
    assert (launch["ImageId"], launch["InstanceType"]) == (SOURCE["ImageId"], "t3.large")
    # ... in the subnet and groups asked for, on one interface without a public address
    assert launch["NetworkInterfaces"] == [
        {
            "DeviceIndex": 0,
            "SubnetId": ISOLATED["SubnetId"],
            "Groups": ISOLATED["SecurityGroupIds"],
            "AssociatePublicIpAddress": False,
            "DeleteOnTermination": True,
        }
    ]
    assert "SubnetId" not in launch
    assert "SecurityGroupIds" not in launch
    assert plan.isolate is False
    assert launch["KeyName"] == "ops"
    # ... never with the source's instance profile (production credentials) by itself
    assert "IamInstanceProfile" not in launch
    assert launch["EbsOptimized"] is True
    assert launch["MetadataOptions"] == {"HttpTokens": "required", "HttpEndpoint": "enabled"}
    # ... never the source's network identity
    assert "PrivateIpAddress" not in launch
    assert not {"PrivateIpAddress", "NetworkInterfaceId"} & set(launch["NetworkInterfaces"][0])
    assert len(plan.warnings) == 1
    assert "requested security groups" in plan.warnings[0]


def test_clone_defaults_to_the_sources_subnet_in_an_isolation_group_and_warns() -> None:
    plan = plan_clone(
        request(),
        SOURCE,
        IMAGE,
        subnet(SOURCE["SubnetId"]),
        facts(volumes={"/dev/sda1": "vol-0000000000000root"}),
        chosen(member("/dev/sda1")),
        {"vol-0000000000000root": original("/dev/sda1")},
        EXECUTION,
        NOW,
    )

    (interface,) = plan.launch["NetworkInterfaces"]
    assert (interface["SubnetId"], interface["AssociatePublicIpAddress"]) == (
        SOURCE["SubnetId"],
        False,
    )
    # ... never in the source's groups: the isolation group is made at launch
    assert "Groups" not in interface
    assert (plan.isolate, plan.vpc_id) == (True, "vpc-0a0a0a0a0a0a0a0a0")
    assert plan.launch["InstanceType"] == "m5.xlarge"
    assert len(plan.warnings) == 1
    assert "source's subnet" in plan.warnings[0]


def test_everything_the_clone_creates_is_tagged_as_the_drills() -> None:
    plan = a_plan()

    expected = {
        tags.DRILL: INSTANCE_ID,
        tags.EXECUTION: EXECUTION,
        tags.EXPIRES_AT: "2026-11-26T12:00:00+00:00",
        tags.CREATED_BY: tags.CREATED_BY_VALUE,
    }
    for spec in plan.launch["TagSpecifications"]:
        assert tags.tag_dict(spec["Tags"]).items() >= expected.items()
    assert {s["ResourceType"] for s in plan.launch["TagSpecifications"]} == {"instance", "volume"}
    assert plan.expires_at == (NOW + DRILL_TTL).replace(microsecond=0)


def test_client_token_is_the_same_for_one_execution_and_differs_between_executions() -> None:
    first, again = a_plan(), a_plan()
    other = plan_clone(
        request(**ISOLATED),
        SOURCE,
        IMAGE,
        subnet(ISOLATED["SubnetId"]),
        facts(volumes={"/dev/sda1": "vol-0000000000000root"}),
        chosen(member("/dev/sda1")),
        {"vol-0000000000000root": original("/dev/sda1")},
        EXECUTION + "-2",
        NOW,
    )
    assert first.launch["ClientToken"] == again.launch["ClientToken"]
    assert first.launch["ClientToken"] != other.launch["ClientToken"]
    assert len(first.launch["ClientToken"]) <= 64


# --- request rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"Mode": "InPlace", "SubnetId": "subnet-0123456789abcdef0"}, "SubnetId"),
        (
            {"Mode": "InPlace", "ValidationDocument": "AWS-RunPowerShellScript"},
            "ValidationDocument",
        ),
        ({"PowerOnAfterRestore": True}, "PowerOnAfterRestore"),
        (
            {"SecurityGroupIds": ["sg-0123456789abcdef0", "sg-0123456789abcdef0"]},
            "SecurityGroupIds",
        ),
        ({"SecurityGroupIds": []}, "SecurityGroupIds"),
        ({"SubnetId": "subnet-xyz"}, "SubnetId"),
        ({"ValidationParameters": {"commands": "dir"}}, "ValidationParameters.commands"),
        ({"ValidationDocument": "a b"}, "ValidationDocument"),
        ({"KeepClone": "yes"}, "KeepClone"),
    ],
)
def test_drill_fields_are_validated_and_named(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        request(**fields)
    assert refused.value.field == field


def test_in_place_requests_are_unchanged_by_the_drill_fields() -> None:
    parsed = RestoreRequest.parse({"InstanceId": INSTANCE_ID, "KeepClone": False})
    assert isinstance(parsed, InPlaceRequest)
    assert "KeepClone" not in parsed.model_dump(by_alias=True)


# --- validation results and the verdict ------------------------------------------------------


def invocation(status: str = "Success", **fields: Any) -> dict[str, Any]:
    return {"CommandId": "cmd-1", "Status": status, "ResponseCode": 0, **fields}


def test_validation_output_is_an_excerpt_with_stderr_after_stdout() -> None:
    long = "x" * (OUTPUT_EXCERPT_CHARS + 500)
    result = validation_result("Doc", invocation(StandardOutputContent=long), NOW)
    assert len(result.output) == OUTPUT_EXCERPT_CHARS

    both = validation_result(
        "Doc", invocation("Failed", StandardOutputContent="ok", StandardErrorContent="bad"), NOW
    )
    assert both.output == "ok\n--- stderr ---\nbad"
    assert not both.succeeded
    unknown_code = validation_result("Doc", invocation("TimedOut", ResponseCode=-1), NOW)
    assert unknown_code.response_code is None


def report(**overrides: Any) -> Any:
    started = NOW
    arguments: dict[str, Any] = {
        "source_instance_id": INSTANCE_ID,
        "chosen": chosen(member("/dev/sda1")),
        "plan": a_plan(),
        "clone": LaunchedClone(
            instance_id="i-0aaaaaaaaaaaaaaa1",
            security_group_ids=["sg-0isolation000001", "sg-0named0000000001"],
            isolation_group_id="sg-0isolation000001",
        ),
        "clone_volumes": {"/dev/sda1": "vol-0clone000000001"},
        "validation": None,
        "ready_at": started + timedelta(minutes=6),
        "dry_run": False,
        "kept": False,
        "error": None,
        "cleanup_error": None,
        "started_at": started,
        "finished_at": started + timedelta(minutes=9),
    }
    return build_drill_report(**{**arguments, **overrides})


def passed(status: str = "Success", after: timedelta = timedelta(minutes=7)) -> ValidationResult:
    return validation_result(
        "Check", invocation(status, StandardOutputContent="\nservice down\nmore"), NOW + after
    )


def test_report_lists_the_clones_groups_and_which_is_the_isolation_group() -> None:
    assert [(g.group_id, g.isolation) for g in report().security_groups] == [
        ("sg-0isolation000001", True),
        ("sg-0named0000000001", False),
    ]
    assert report(clone=None, error={"Error": "X", "Cause": ""}).security_groups == []


def test_rto_runs_to_the_status_checks_or_to_a_passed_validation() -> None:
    assert report().rto_seconds == 360.0
    assert report(validation=passed()).rto_seconds == 420.0
    assert (report().status, report().clone, report().error) == ("Succeeded", "removed", None)


def test_a_failed_validation_fails_the_drill_quoting_its_first_line() -> None:
    failed = report(validation=passed("Failed"))
    assert (failed.status, failed.error, failed.rto_seconds) == (
        "Failed",
        "DrillValidationFailed",
        None,
    )
    assert failed.cause is not None
    assert failed.cause.endswith("on the clone: service down")


def test_the_first_error_wins_over_validation_and_cleanup() -> None:
    lambda_cause = '{"errorType": "StartFailed", "errorMessage": "checks impaired"}'
    failed = report(
        error={"Error": "StartFailed", "Cause": lambda_cause},
        validation=passed("Failed"),
        cleanup_error={"Error": "States.Timeout", "Cause": ""},
    )
    assert (failed.error, failed.cause, failed.clone) == (
        "StartFailed",
        "checks impaired",
        "left for cleanup",
    )
    assert failed.expires_at is not None


def test_a_cleanup_failure_fails_an_otherwise_good_drill() -> None:
    failed = report(cleanup_error={"Error": "WaitTimedOut", "Cause": "volume still in-use"})
    assert (failed.status, failed.error) == ("Failed", "DrillCleanupFailed")
    assert failed.cause is not None
    assert "volume still in-use" in failed.cause


def test_kept_and_unlaunched_and_dry_run_clones() -> None:
    assert report(kept=True).clone == "kept"
    assert report(kept=True).expires_at is not None
    assert report(clone=None, error={"Error": "X", "Cause": ""}).clone == ("not launched")
    dry = report(dry_run=True, clone=None, ready_at=None)
    assert (dry.status, dry.clone, dry.rto_seconds) == ("DryRun", "planned", None)
    assert dry.launch is not None
    assert dry.launch["ImageId"] == SOURCE["ImageId"]


def test_cleanup_pass_needs_exactly_one_selection() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        cleanup_pass(None, None, execution=None, now=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one"):
        cleanup_pass(None, None, execution="x", now=NOW)  # type: ignore[arg-type]
