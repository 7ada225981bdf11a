"""The conformance check's parts: roles from a template, decisions, guards, the call recorder."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from vss_restore import clients
from vss_restore.local.iam_conformance import (
    CallRecorder,
    check,
    facts_now,
    function_policies,
    guard_bypasses,
)
from vss_restore.local.iam_requests import Call, Facts
from vss_restore.local.lambda_dispatch import current_function
from vss_restore.swap import all_at_once

ACCOUNT = "123456789012"
REGION = "us-east-1"
OPT_IN = {"StringEquals": {"aws:ResourceTag/vss-restore:enabled": "true"}}


def ec2_arn(resource: str) -> dict[str, Any]:
    """What CDK writes for ``arn:<partition>:ec2:<region>:<account>:<resource>``."""
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":ec2:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":{resource}",
            ],
        ]
    }


def template(*statements: dict[str, Any]) -> dict[str, Any]:
    """One function (``vss_restore.functions.swap.handler``) whose role has ``statements``."""
    return {
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
            "Policy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyDocument": {"Statement": list(statements)},
                    "Roles": [{"Ref": "Role"}],
                },
            },
            "Table": {"Type": "AWS::DynamoDB::GlobalTable", "Properties": {}},
            "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {}},
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": "vss_restore.functions.swap.handler",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                },
            },
        }
    }


def policies_of(*statements: dict[str, Any]) -> dict[str, list[Any]]:
    return function_policies(
        template(*statements),
        lambda module: f"local-{module}",
        region=REGION,
        names={"AWS::DynamoDB::GlobalTable": "locks"},
    )


def swap_call(operation: str, params: dict[str, Any], facts: Facts) -> Call:
    return Call("local-swap", "ec2", operation, params, REGION, ACCOUNT, facts)


SWAP_ON_OPTED_IN = {
    "Sid": "SwapOnOptedInInstances",
    "Effect": "Allow",
    "Action": ["ec2:DetachVolume", "ec2:ModifyInstanceAttribute"],
    "Resource": ec2_arn("instance/*"),
    "Condition": OPT_IN,
}
VOLUMES = {
    "Sid": "SwapVolumesOfThisAccount",
    "Effect": "Allow",
    "Action": "ec2:DetachVolume",
    "Resource": ec2_arn("volume/*"),
}
OPTED_IN = Facts(
    tags={"i-1": {"vss-restore:enabled": "true"}},
    devices={"i-1": {"xvdf": "vol-1"}},
)


def test_function_policies_resolve_the_template_to_the_emulators_account_and_region() -> None:
    # GIVEN a role with an EC2 statement, the lock table, and a log group
    policies = policies_of(
        VOLUMES,
        {
            "Effect": "Allow",
            "Action": "dynamodb:PutItem",
            "Resource": {"Fn::GetAtt": ["Table", "Arn"]},
        },
        {
            "Effect": "Allow",
            "Action": "logs:PutLogEvents",
            "Resource": {"Fn::GetAtt": ["Logs", "Arn"]},
        },
    )

    # THEN the function's statements hold concrete ARNs, and what the engine has no name
    # for can match nothing
    resources = [s["Resource"] for s in policies["local-swap"]]
    assert resources == [
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/*",
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/locks",
        "unresolved:Logs",
    ]


def test_check_denies_the_volume_side_of_modify_instance_attribute_when_only_instances_are_granted() -> (
    None
):
    # GIVEN a role that may modify opted-in instances only
    policies = policies_of(SWAP_ON_OPTED_IN)
    modify = swap_call(
        "ModifyInstanceAttribute",
        {
            "InstanceId": "i-1",
            "BlockDeviceMappings": [{"DeviceName": "xvdf", "Ebs": {"DeleteOnTermination": True}}],
        },
        OPTED_IN,
    )

    # WHEN the call is checked
    rows = check([modify], policies)

    # THEN the instance passes and the volume is denied, saying why
    assert [(r.resource_type, r.allowed) for r in rows] == [("instance", True), ("volume", False)]
    assert str(rows[1]) == (
        "local-swap: ec2:ModifyInstanceAttribute on volume "
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/vol-1: DENIED: no statement allows "
        f"ec2:ModifyInstanceAttribute on arn:aws:ec2:{REGION}:{ACCOUNT}:volume/vol-1"
    )
    assert rows[0].report_line() == {
        "function": "local-swap",
        "action": "ec2:ModifyInstanceAttribute",
        "resource_type": "instance",
        "resource": f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-1",
        "allowed": True,
    }


def test_check_allows_the_volume_side_once_the_role_grants_modify_on_volumes() -> None:
    # GIVEN the same role, plus ModifyInstanceAttribute on volumes of the account
    on_volumes = {
        "Effect": "Allow",
        "Action": "ec2:ModifyInstanceAttribute",
        "Resource": ec2_arn("volume/*"),
    }
    modify = swap_call(
        "ModifyInstanceAttribute",
        {"InstanceId": "i-1", "BlockDeviceMappings": [{"DeviceName": "xvdf"}]},
        OPTED_IN,
    )

    # THEN both sides pass
    rows = check([modify], policies_of(SWAP_ON_OPTED_IN, on_volumes))
    assert [(r.resource_type, r.allowed) for r in rows] == [("instance", True), ("volume", True)]


def test_check_denies_calls_it_cannot_check() -> None:
    # GIVEN an action missing from the table, and a function without a role
    unknown = swap_call("DeleteSnapshot", {"SnapshotId": "snap-1"}, Facts())
    stranger = Call("other", "ec2", "DescribeVolumes", {}, REGION, ACCOUNT)

    # WHEN they are checked
    rows = check([unknown, stranger], policies_of(VOLUMES))

    # THEN both are denied, each saying why
    assert [(r.function, r.allowed, r.missing) for r in rows] == [
        ("local-swap", False, "this action is not in the check's table (iam_requests.ACTIONS)"),
        ("other", False, "no role found for this function in the template"),
    ]


def test_guard_bypass_found_when_the_only_condition_is_on_detach_volumes_optional_instance() -> (
    None
):
    # GIVEN the opt-in condition on instances, and volumes granted without one
    policies = policies_of(SWAP_ON_OPTED_IN, VOLUMES)
    detach = swap_call("DetachVolume", {"VolumeId": "vol-1", "InstanceId": "i-1"}, OPTED_IN)

    # WHEN the guards are examined
    found = guard_bypasses([detach], policies)

    # THEN the call is reported: without InstanceId it is allowed on any volume
    assert check([detach], policies)[0].allowed
    assert found == [
        "local-swap: ec2:DetachVolume: the condition of SwapOnOptedInInstances applies to the "
        "optional instance; without it the call is allowed on any volume by "
        "SwapVolumesOfThisAccount (no condition)"
    ]


def test_no_guard_bypass_when_the_volume_side_has_its_own_condition() -> None:
    # GIVEN the volume side limited to volumes vss-restore created
    own_volumes = {
        **VOLUMES,
        "Condition": {"StringEquals": {"aws:ResourceTag/vss-restore:created-by": "vss-restore"}},
    }
    facts = Facts(tags={**OPTED_IN.tags, "vol-1": {"vss-restore:created-by": "vss-restore"}})
    detach = swap_call("DetachVolume", {"VolumeId": "vol-1", "InstanceId": "i-1"}, facts)

    # THEN nothing is reported
    assert guard_bypasses([detach], policies_of(SWAP_ON_OPTED_IN, own_volumes)) == []


@pytest.mark.usefixtures("aws")
def test_recorder_keeps_calls_made_inside_a_function_with_the_tags_they_had_then() -> None:
    # GIVEN a tagged volume and the recorder on the default session
    ec2 = boto3.client("ec2", region_name=REGION)
    volume_id = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    ec2.create_tags(Resources=[volume_id], Tags=[{"Key": "stage", "Value": "before"}])
    recorder = CallRecorder()
    session_events = boto3._get_default_session().events
    session_events.register("before-parameter-build", recorder)
    clients.reset()
    try:
        # WHEN a function deletes it, from a worker thread of the swap, and the test then
        # retags it outside any function
        def describe() -> None:
            clients.ec2().describe_volumes()

        def delete() -> None:
            clients.ec2().delete_volume(VolumeId=volume_id)

        running = current_function.set("local-swap")
        try:
            all_at_once([describe, delete])
        finally:
            current_function.reset(running)
        ec2.describe_volumes()
    finally:
        session_events.unregister("before-parameter-build", recorder)
        clients.reset()

    # THEN both of the function's calls are recorded (and no other), with the tag as it was
    assert sorted((c.function, c.operation) for c in recorder.calls) == [
        ("local-swap", "DeleteVolume"),
        ("local-swap", "DescribeVolumes"),
    ]
    deleted = next(c for c in recorder.calls if c.operation == "DeleteVolume")
    assert deleted.facts.tags == {volume_id: {"stage": "before"}}
    assert (deleted.region, deleted.account, deleted.params) == (
        REGION,
        ACCOUNT,
        {"VolumeId": volume_id},
    )


@pytest.mark.usefixtures("aws")
def test_facts_name_the_customer_key_of_volumes_and_snapshots_only() -> None:
    # GIVEN a volume with a customer key, its snapshot, a volume made from that snapshot
    # without naming a key, and a volume encrypted with the AWS managed key (aws/ebs)
    ec2 = boto3.client("ec2", region_name=REGION)
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    zone = "us-east-1a"
    secure = ec2.create_volume(AvailabilityZone=zone, Size=1, Encrypted=True, KmsKeyId=key)[
        "VolumeId"
    ]
    snapshot = ec2.create_snapshot(VolumeId=secure)["SnapshotId"]
    copied = ec2.create_volume(AvailabilityZone=zone, SnapshotId=snapshot)["VolumeId"]
    managed = ec2.create_volume(AvailabilityZone=zone, Size=1, Encrypted=True)["VolumeId"]
    plain = ec2.create_volume(AvailabilityZone=zone, Size=1)["VolumeId"]

    # WHEN a call names them all
    facts = facts_now(ACCOUNT, REGION, {"Ids": [secure, snapshot, copied, managed, plain]})

    # THEN each one under the customer key is known with it, the others are not
    assert facts.kms_keys == {secure: key, snapshot: key, copied: key}
