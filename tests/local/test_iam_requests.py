"""From a call to its authorizations, in the terms of AWS's Service Authorization Reference."""

from __future__ import annotations

from typing import Any

import pytest

from vss_restore.local.iam_requests import (
    ACTIONS,
    BY_ID,
    ONE_OF,
    Call,
    Facts,
    UnknownAction,
    authorizations,
    missing_required,
    reference_resource_types,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"
ARN = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd"


def call(service: str, operation: str, params: dict[str, Any], facts: Facts | None = None) -> Call:
    return Call("fn", service, operation, params, REGION, ACCOUNT, facts or Facts())


def pairs(found: list[Any]) -> list[tuple[str, str, str, bool]]:
    return [(a.action, a.resource_type, a.resource, a.required) for a in found]


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_action_table_uses_the_reference_names_and_every_required_resource_type(
    action: str,
) -> None:
    # GIVEN the reference's resource types of an action the tasks call
    reference = reference_resource_types(action)

    # THEN the table names only types the reference lists, and each one it requires
    named = {kind for kind, _ in ACTIONS[action] if kind != BY_ID}
    assert named <= set(reference)
    if not any(kind == BY_ID for kind, _ in ACTIONS[action]):
        alternatives = ONE_OF.get(action, frozenset())
        if named & alternatives:
            named |= alternatives  # the reference requires one of them
        assert {t for t, required in reference.items() if required} <= named


def test_detach_volume_is_decided_on_the_volume_and_optionally_the_instance() -> None:
    found = authorizations(
        call("ec2", "DetachVolume", {"VolumeId": "vol-1", "InstanceId": "i-1", "Device": "xvdf"})
    )

    assert pairs(found) == [
        ("ec2:DetachVolume", "volume", f"{ARN}:volume/vol-1", True),
        ("ec2:DetachVolume", "instance", f"{ARN}:instance/i-1", False),
    ]


def test_modify_instance_attribute_is_decided_on_the_volumes_at_the_named_devices() -> None:
    # GIVEN the instance holds vol-9 at xvdf when DeleteOnTermination is set by device name
    facts = Facts(devices={"i-1": {"xvdf": "vol-9", "/dev/sda1": "vol-8"}})
    params = {
        "InstanceId": "i-1",
        "BlockDeviceMappings": [{"DeviceName": "xvdf", "Ebs": {"DeleteOnTermination": True}}],
    }

    # WHEN its authorizations are listed
    found = authorizations(call("ec2", "ModifyInstanceAttribute", params, facts))

    # THEN the instance and that volume (only) are authorized
    assert pairs(found) == [
        ("ec2:ModifyInstanceAttribute", "instance", f"{ARN}:instance/i-1", True),
        ("ec2:ModifyInstanceAttribute", "volume", f"{ARN}:volume/vol-9", False),
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"UserData": {"Value": "c2NyaXB0"}},
        {"Attribute": "userData", "Value": "c2NyaXB0"},
    ],
)
def test_modify_instance_attribute_names_the_attribute_it_sets_on_the_instance(
    params: dict[str, Any],
) -> None:
    # GIVEN a call that sets the user data, in either of the API's two forms
    (found,) = authorizations(
        call("ec2", "ModifyInstanceAttribute", {"InstanceId": "i-1", **params})
    )

    # THEN the instance's authorization carries ec2:Attribute/<name> (key names compare
    # case-insensitively), with the value set
    assert {k.lower(): v for k, v in found.context.items()} == {
        "ec2:attribute/userdata": "c2NyaXB0"
    }


def test_block_device_mappings_set_no_attribute_key() -> None:
    # GIVEN the tasks' own call: DeleteOnTermination through block device mappings
    found = authorizations(
        call(
            "ec2",
            "ModifyInstanceAttribute",
            {"InstanceId": "i-1", "BlockDeviceMappings": [{"DeviceName": "xvdf"}]},
            Facts(devices={"i-1": {"xvdf": "vol-1"}}),
        )
    )

    # THEN no ec2:Attribute key reaches the instance or the volume
    assert [dict(a.context) for a in found] == [{}, {}]


def test_create_volume_with_tags_also_needs_create_tags_at_creation() -> None:
    # GIVEN a volume created from a snapshot with our tags and a customer key
    params = {
        "SnapshotId": "snap-1",
        "AvailabilityZone": "us-east-1a",
        "KmsKeyId": KEY,
        "Encrypted": True,
        "TagSpecifications": [
            {"ResourceType": "volume", "Tags": [{"Key": "vss-restore:created-by", "Value": "x"}]}
        ],
    }

    # WHEN its authorizations are listed
    found = authorizations(call("ec2", "CreateVolume", params))

    # THEN: the new volume (with the request tags), the snapshot, CreateTags with the
    # create action, and the key, used through EC2
    by_action = {(a.action, a.resource_type): a for a in found}
    volume = by_action["ec2:CreateVolume", "volume"]
    assert volume.resource == f"{ARN}:volume/*"
    assert volume.context == {
        "aws:RequestTag/vss-restore:created-by": "x",
        "aws:TagKeys": ["vss-restore:created-by"],
    }
    assert by_action["ec2:CreateVolume", "snapshot"].resource == (
        f"arn:aws:ec2:{REGION}::snapshot/snap-1"
    )
    assert by_action["ec2:CreateTags", "volume"].context["ec2:CreateAction"] == "CreateVolume"
    grant = by_action["kms:CreateGrant", "key"]
    assert (grant.resource, dict(grant.context)) == (
        KEY,
        {"kms:ViaService": "ec2.us-east-1.amazonaws.com", "kms:GrantIsForAWSResource": "true"},
    )
    assert by_action["kms:Decrypt", "key"].context == {
        "kms:ViaService": "ec2.us-east-1.amazonaws.com"
    }


def test_resource_tags_become_keys_only_where_the_reference_provides_them() -> None:
    # GIVEN a drill clone with its tag, sent a command with an AWS document
    facts = Facts(tags={"i-1": {"vss-restore:drill": "i-0"}})
    params = {"InstanceIds": ["i-1"], "DocumentName": "AWS-RunPowerShellScript"}

    # WHEN SendCommand's authorizations are listed
    found = {a.resource_type: a for a in authorizations(call("ssm", "SendCommand", params, facts))}

    # THEN the instance carries SSM's tag key (and the global one); the document its own
    # ARN, which for a document AWS owns has no account
    assert found["instance"].context == {
        "aws:ResourceTag/vss-restore:drill": "i-0",
        "ssm:ResourceTag/vss-restore:drill": "i-0",
    }
    assert found["document"].resource == (f"arn:aws:ssm:{REGION}::document/AWS-RunPowerShellScript")
    assert found["document"].context == {}


def test_start_of_an_instance_with_a_customer_key_volume_needs_the_key() -> None:
    facts = Facts(devices={"i-1": {"/dev/sda1": "vol-1", "xvdf": "vol-2"}}, kms_keys={"vol-2": KEY})

    found = authorizations(call("ec2", "StartInstances", {"InstanceIds": ["i-1"]}, facts))

    assert [(a.action, a.resource) for a in found] == [
        ("ec2:StartInstances", f"{ARN}:instance/i-1"),
        ("kms:CreateGrant", KEY),
        ("kms:Decrypt", KEY),
    ]


def test_attaching_a_customer_key_volume_needs_the_key() -> None:
    # GIVEN vol-2 is encrypted with a customer key, vol-1 is not
    facts = Facts(kms_keys={"vol-2": KEY})

    # WHEN each is attached
    def attach(volume: str) -> list[tuple[str, str]]:
        params = {"VolumeId": volume, "InstanceId": "i-1", "Device": "xvdf"}
        return [
            (a.action, a.resource)
            for a in authorizations(call("ec2", "AttachVolume", params, facts))
        ]

    # THEN only the encrypted one also needs the grant and the decrypt, on its key, via EC2
    assert attach("vol-1") == [
        ("ec2:AttachVolume", f"{ARN}:instance/i-1"),
        ("ec2:AttachVolume", f"{ARN}:volume/vol-1"),
    ]
    assert attach("vol-2") == [
        ("ec2:AttachVolume", f"{ARN}:instance/i-1"),
        ("ec2:AttachVolume", f"{ARN}:volume/vol-2"),
        ("kms:CreateGrant", KEY),
        ("kms:Decrypt", KEY),
    ]


def test_a_volume_from_a_customer_key_snapshot_needs_the_snapshots_key() -> None:
    # GIVEN a snapshot encrypted with a customer key, and a volume made from it without KmsKeyId
    facts = Facts(kms_keys={"snap-1": KEY})
    params = {"SnapshotId": "snap-1", "AvailabilityZone": "us-east-1a"}

    # WHEN its authorizations are listed
    found = authorizations(call("ec2", "CreateVolume", params, facts))

    # THEN EBS creates it with the snapshot's key, which the caller must let it use
    assert sorted(a.action for a in found if a.resource == KEY) == [
        "kms:CreateGrant",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:GenerateDataKeyWithoutPlaintext",
    ]


def test_a_lambda_invoke_is_decided_as_invoke_function_on_the_function() -> None:
    # GIVEN a schedule's call on its target function (boto3's operation: Invoke)
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:vss-restore-cleanup_drill"
    found = authorizations(call("lambda", "Invoke", {"FunctionName": arn}))

    # THEN IAM's name for it is lambda:InvokeFunction, on that function
    assert pairs(found) == [("lambda:InvokeFunction", "function", arn, True)]


def test_describe_calls_are_decided_on_everything() -> None:
    found = authorizations(call("ec2", "DescribeVolumes", {"VolumeIds": ["vol-1"]}))

    assert pairs(found) == [("ec2:DescribeVolumes", "*", "*", True)]


def test_a_call_the_table_does_not_know_cannot_be_checked() -> None:
    with pytest.raises(UnknownAction, match="ec2:DeleteSnapshot"):
        authorizations(call("ec2", "DeleteSnapshot", {"SnapshotId": "snap-1"}))


def test_missing_required_names_a_resource_type_the_request_did_not_give() -> None:
    # GIVEN a launch without security groups (the default group is used)
    launch = call("ec2", "RunInstances", {"ImageId": "ami-1", "SubnetId": "subnet-1"})

    # THEN the reference's required security-group is reported missing
    assert missing_required(launch, authorizations(launch)) == ["security-group"]


def test_a_launch_on_a_network_interface_is_decided_on_the_interfaces_subnet_and_groups() -> None:
    # GIVEN a launch whose subnet and groups are on its network interface (a drill's clone)
    interface = {"DeviceIndex": 0, "SubnetId": "subnet-1", "Groups": ["sg-1"]}
    launch = call("ec2", "RunInstances", {"ImageId": "ami-1", "NetworkInterfaces": [interface]})

    # THEN IAM decides it on that subnet and those groups, as for a launch that names them
    found = authorizations(launch)
    assert [
        (kind, resource)
        for action, kind, resource, _ in pairs(found)
        if action == "ec2:RunInstances" and kind in ("subnet", "security-group")
    ] == [("subnet", f"{ARN}:subnet/subnet-1"), ("security-group", f"{ARN}:security-group/sg-1")]
    assert missing_required(launch, found) == []
