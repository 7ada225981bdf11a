"""The fidelity hooks make the emulator refuse what AWS refuses (ClientToken, states, devices)."""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends

from tests.integration.helpers import attached, power_state, volume
from vss_restore.local import Fault, LocalEngine
from vss_restore.local.faults import FaultInjector
from vss_restore.local.lambda_dispatch import LambdaDispatcher
from vss_restore.local.simulation import Simulation

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

REGION = "us-east-1"
AZ = "us-east-1a"


def _running_windows_instance(ec2: EC2Client) -> str:
    """A running instance of a Windows AMI: the emulator puts its root volume on /dev/sda1."""
    image = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "platform", "Values": ["windows"]}]
    )["Images"][0]
    instance_id = ec2.run_instances(
        ImageId=image["ImageId"], MinCount=1, MaxCount=1, Placement={"AvailabilityZone": AZ}
    )["Instances"][0]["InstanceId"]
    assert power_state(ec2, instance_id) == "running"
    assert "/dev/sda1" in attached(ec2, instance_id)
    return str(instance_id)


def _volume_ids(ec2: EC2Client) -> set[str]:
    return {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}


def _data_volume(ec2: EC2Client, instance_id: str, device: str) -> str:
    volume_id = ec2.create_volume(AvailabilityZone=AZ, Size=10)["VolumeId"]
    ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=device)
    return str(volume_id)


# --- CreateVolume: ClientToken ------------------------------------------------------------


def test_create_volume_returns_the_same_volume_when_client_token_is_repeated(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a volume created with a ClientToken
    first = ec2.create_volume(AvailabilityZone=AZ, Size=8, VolumeType="gp3", ClientToken="tok-1")

    # WHEN the same request is sent again with the same token (a retried call)
    second = ec2.create_volume(AvailabilityZone=AZ, Size=8, VolumeType="gp3", ClientToken="tok-1")

    # THEN it answers with the first volume, and the emulator holds only that one
    assert second["VolumeId"] == first["VolumeId"]
    assert second["Size"] == 8
    assert second["AvailabilityZone"] == AZ
    assert second["VolumeType"] == "gp3"
    assert _volume_ids(ec2) == {first["VolumeId"]}


def test_create_volume_fails_with_idempotent_parameter_mismatch_when_token_reused_with_other_parameters(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a volume created with a ClientToken
    first = ec2.create_volume(AvailabilityZone=AZ, Size=8, ClientToken="tok-1")

    # WHEN the token is sent again with a different size
    with pytest.raises(ClientError) as raised:
        ec2.create_volume(AvailabilityZone=AZ, Size=9, ClientToken="tok-1")

    # THEN AWS's IdempotentParameterMismatch comes back and no volume was made or changed
    assert raised.value.response["Error"]["Code"] == "IdempotentParameterMismatch"
    assert _volume_ids(ec2) == {first["VolumeId"]}
    assert volume(ec2, first["VolumeId"])["Size"] == 8


def test_create_volume_makes_two_volumes_when_client_tokens_differ(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN nothing but the engine

    # WHEN the same parameters are sent under two different tokens
    first = ec2.create_volume(AvailabilityZone=AZ, Size=8, ClientToken="tok-1")
    second = ec2.create_volume(AvailabilityZone=AZ, Size=8, ClientToken="tok-2")

    # THEN there are two distinct volumes
    assert first["VolumeId"] != second["VolumeId"]
    assert _volume_ids(ec2) == {first["VolumeId"], second["VolumeId"]}


def test_create_volume_returns_the_original_volume_when_token_is_repeated_after_it_was_deleted(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a volume created with a ClientToken, since deleted
    first = ec2.create_volume(AvailabilityZone=AZ, Size=8, ClientToken="tok-1")["VolumeId"]
    ec2.delete_volume(VolumeId=first)

    # WHEN the same request is repeated twice with the same token
    repeats = [
        ec2.create_volume(AvailabilityZone=AZ, Size=8, ClientToken="tok-1")["VolumeId"]
        for _ in range(2)
    ]

    # THEN, as AWS documents ("the result of the original request is returned"), no volume is
    # made: each repeat names the original volume
    assert _volume_ids(ec2) == set()
    assert repeats == [first, first]


def test_plain_moto_creates_two_volumes_when_client_token_is_repeated() -> None:
    # GIVEN the bare emulator, without LocalEngine's fidelity hooks
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)

        # WHEN the same token is sent twice
        first = ec2.create_volume(AvailabilityZone=AZ, Size=8, ClientToken="tok-1")
        second = ec2.create_volume(AvailabilityZone=AZ, Size=8, ClientToken="tok-1")

        # THEN moto ignores the token and makes a second volume: the reason the hooks exist
        assert first["VolumeId"] != second["VolumeId"]
        assert _volume_ids(ec2) == {first["VolumeId"], second["VolumeId"]}


# --- CreateVolume: snapshot state ---------------------------------------------------------


def _snapshot(ec2: EC2Client) -> str:
    source = ec2.create_volume(AvailabilityZone=AZ, Size=8)["VolumeId"]
    return str(ec2.create_snapshot(VolumeId=source)["SnapshotId"])


def test_create_volume_fails_with_incorrect_state_when_snapshot_is_pending(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a snapshot the emulator holds as still pending
    snapshot_id = _snapshot(ec2)
    ec2_backends[DEFAULT_ACCOUNT_ID][REGION].snapshots[snapshot_id].status = "pending"
    volumes_before = _volume_ids(ec2)

    # WHEN a volume is created from it
    with pytest.raises(ClientError) as raised:
        ec2.create_volume(AvailabilityZone=AZ, SnapshotId=snapshot_id)

    # THEN AWS's IncorrectState comes back, naming the snapshot, and no volume was made
    assert raised.value.response["Error"]["Code"] == "IncorrectState"
    assert snapshot_id in raised.value.response["Error"]["Message"]
    assert _volume_ids(ec2) == volumes_before


def test_create_volume_makes_the_volume_when_snapshot_is_completed(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a completed snapshot
    snapshot_id = _snapshot(ec2)
    assert ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["State"] == "completed"

    # WHEN a volume is created from it
    created = ec2.create_volume(AvailabilityZone=AZ, SnapshotId=snapshot_id)

    # THEN the emulator holds a volume made from that snapshot
    assert volume(ec2, created["VolumeId"])["SnapshotId"] == snapshot_id


# --- AttachVolume ---------------------------------------------------------------------------


def test_attach_volume_fails_with_invalid_parameter_value_when_device_is_in_use(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a running instance whose xvdf holds a volume, and a second, free volume
    instance_id = _running_windows_instance(ec2)
    on_xvdf = _data_volume(ec2, instance_id, "xvdf")
    free = ec2.create_volume(AvailabilityZone=AZ, Size=10)["VolumeId"]

    # WHEN the free volume is attached to xvdf
    with pytest.raises(ClientError) as raised:
        ec2.attach_volume(VolumeId=free, InstanceId=instance_id, Device="xvdf")

    # THEN AWS's InvalidParameterValue comes back; xvdf keeps its volume, the other stays free
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert attached(ec2, instance_id)["xvdf"] == on_xvdf
    assert volume(ec2, on_xvdf)["State"] == "in-use"
    assert volume(ec2, free)["State"] == "available"
    assert volume(ec2, free)["Attachments"] == []


def test_attach_volume_fails_with_volume_in_use_when_volume_is_attached_elsewhere(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a volume on xvdf of one instance, and a second instance
    first = _running_windows_instance(ec2)
    busy = _data_volume(ec2, first, "xvdf")
    second = _running_windows_instance(ec2)

    # WHEN that volume is attached to the second instance
    with pytest.raises(ClientError) as raised:
        ec2.attach_volume(VolumeId=busy, InstanceId=second, Device="xvdg")

    # THEN AWS's VolumeInUse comes back and the volume stays where it was
    assert raised.value.response["Error"]["Code"] == "VolumeInUse"
    assert attached(ec2, first)["xvdf"] == busy
    assert "xvdg" not in attached(ec2, second)
    assert [a["InstanceId"] for a in volume(ec2, busy)["Attachments"]] == [first]


# --- DetachVolume ---------------------------------------------------------------------------


def test_detach_volume_fails_with_incorrect_state_when_root_volume_of_running_instance(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a running instance with its root volume on /dev/sda1
    instance_id = _running_windows_instance(ec2)
    root = attached(ec2, instance_id)["/dev/sda1"]

    # WHEN the root volume is detached
    with pytest.raises(ClientError) as raised:
        ec2.detach_volume(VolumeId=root, InstanceId=instance_id)

    # THEN AWS's IncorrectState comes back and the root volume stays attached
    assert raised.value.response["Error"]["Code"] == "IncorrectState"
    assert attached(ec2, instance_id)["/dev/sda1"] == root
    assert volume(ec2, root)["State"] == "in-use"


def test_detach_volume_detaches_root_volume_when_instance_is_stopped(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a stopped instance with its root volume on /dev/sda1
    instance_id = _running_windows_instance(ec2)
    root = attached(ec2, instance_id)["/dev/sda1"]
    ec2.stop_instances(InstanceIds=[instance_id])
    assert power_state(ec2, instance_id) == "stopped"

    # WHEN the root volume is detached
    ec2.detach_volume(VolumeId=root, InstanceId=instance_id)

    # THEN it is detached
    assert "/dev/sda1" not in attached(ec2, instance_id)
    assert volume(ec2, root)["State"] == "available"


def test_detach_volume_detaches_data_volume_when_instance_is_running(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a running instance with a data volume on xvdf
    instance_id = _running_windows_instance(ec2)
    data = _data_volume(ec2, instance_id, "xvdf")
    root = attached(ec2, instance_id)["/dev/sda1"]

    # WHEN the data volume is detached while the instance runs
    ec2.detach_volume(VolumeId=data, InstanceId=instance_id)

    # THEN it is detached and the root volume is untouched
    assert attached(ec2, instance_id) == {"/dev/sda1": root}
    assert volume(ec2, data)["State"] == "available"


def test_sfn_integration_speaks_pascal_case_as_aws_does_and_is_removed_again() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (  # noqa: PLC0415
        state_task_service_sfn as sfn_task,
    )

    from vss_restore.local.fidelity import SfnIntegrationCase  # noqa: PLC0415

    cls = sfn_task.StateTaskServiceSfn
    before = (cls._normalise_parameters, cls._normalise_response)
    case = SfnIntegrationCase()
    case.install()
    try:
        task = cls.__new__(cls)
        task._get_boto_service_action = lambda: "describe_execution"
        parameters = {"StateMachineArn": "arn:sm", "Name": "n", "Input": '{"InstanceId": "i-1"}'}
        cls._normalise_parameters(task, parameters)
        response = {"executionArn": "arn:x", "output": {"keepThis": 1}}
        cls._normalise_response(task, response)
    finally:
        case.uninstall()

    assert parameters == {
        "stateMachineArn": "arn:sm",
        "name": "n",
        "input": '{"InstanceId": "i-1"}',
    }
    assert response == {"ExecutionArn": "arn:x", "Output": {"keepThis": 1}}  # only the top level
    assert (cls._normalise_parameters, cls._normalise_response) == before


# --- RunInstances: volume settings of block device mappings -------------------------------


def _launch_with_io2(ec2: EC2Client) -> str:
    snapshot_id = _snapshot(ec2)
    image_id = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    mappings: list[Any] = [
        {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 30, "VolumeType": "gp3"}},
        {
            "DeviceName": "xvdf",
            "Ebs": {"SnapshotId": snapshot_id, "VolumeType": "io2", "Iops": 8000},
        },
        {
            "DeviceName": "xvdg",
            "Ebs": {"VolumeSize": 10, "VolumeType": "gp3", "Iops": 6000, "Throughput": 500},
        },
    ]
    return str(
        ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, BlockDeviceMappings=mappings)[
            "Instances"
        ][0]["InstanceId"]
    )


def test_run_instances_keeps_iops_and_throughput_of_block_device_mappings(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # WHEN an instance is launched with io2 and tuned gp3 volumes
    instance_id = _launch_with_io2(ec2)

    # THEN its volumes have the IOPS and throughput asked for
    on_device = attached(ec2, instance_id)
    assert volume(ec2, on_device["xvdf"])["Iops"] == 8000
    assert (
        volume(ec2, on_device["xvdg"])["Iops"],
        volume(ec2, on_device["xvdg"])["Throughput"],
    ) == (
        6000,
        500,
    )
    assert volume(ec2, on_device["/dev/sda1"])["Iops"] == 3000  # gp3's baseline


def test_plain_moto_refuses_io2_in_block_device_mappings() -> None:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        with pytest.raises(ClientError, match="Iops"):
            _launch_with_io2(ec2)


# --- RunInstances: the AMI's root device ----------------------------------------------------


def _image(ec2: EC2Client) -> dict[str, Any]:
    return dict(ec2.describe_images(Owners=["amazon"])["Images"][0])


def _launch_with_root_from(ec2: EC2Client, snapshot_id: str) -> str:
    """The earlier drill launch: the AMI's root device mapped to a set's root snapshot."""
    image = _image(ec2)
    mappings: list[Any] = [
        {
            "DeviceName": image["RootDeviceName"],
            "Ebs": {"SnapshotId": snapshot_id, "VolumeType": "gp3", "VolumeSize": 30},
        }
    ]
    return str(
        ec2.run_instances(
            ImageId=image["ImageId"], MinCount=1, MaxCount=1, BlockDeviceMappings=mappings
        )["Instances"][0]["InstanceId"]
    )


def test_run_instances_fails_with_invalid_block_device_mapping_when_root_gets_another_snapshot(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a snapshot that is not the AMI's root snapshot
    snapshot_id = _snapshot(ec2)
    before = _volume_ids(ec2)

    # WHEN an instance is launched with it at the AMI's root device
    with pytest.raises(ClientError) as refused:
        _launch_with_root_from(ec2, snapshot_id)

    # THEN EC2 refuses the launch, and nothing was created
    assert refused.value.response["Error"]["Code"] == "InvalidBlockDeviceMapping"
    assert _volume_ids(ec2) == before


def test_plain_moto_launches_a_root_device_mapped_to_another_snapshot() -> None:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        assert _launch_with_root_from(ec2, _snapshot(ec2)).startswith("i-")


def test_run_instances_creates_the_amis_root_beside_data_mappings(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN an AMI whose root device has a snapshot, and a data snapshot
    image = _image(ec2)
    image_root = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    data = _snapshot(ec2)

    # WHEN an instance is launched with the data snapshot mapped, and the root resized
    instance_id = ec2.run_instances(
        ImageId=image["ImageId"],
        MinCount=1,
        MaxCount=1,
        BlockDeviceMappings=[
            {"DeviceName": image["RootDeviceName"], "Ebs": {"VolumeSize": 40}},
            {"DeviceName": "xvdf", "Ebs": {"SnapshotId": data}},
        ],
    )["Instances"][0]["InstanceId"]

    # THEN its root comes from the AMI's root snapshot, at the size asked for
    on_device = attached(ec2, instance_id)
    root = volume(ec2, on_device[image["RootDeviceName"]])
    assert (root["SnapshotId"], root["Size"]) == (image_root, 40)
    assert volume(ec2, on_device["xvdf"])["SnapshotId"] == data

    # ... and without any root mapping, it still gets the AMI's root
    bare = ec2.run_instances(
        ImageId=image["ImageId"],
        MinCount=1,
        MaxCount=1,
        BlockDeviceMappings=[{"DeviceName": "xvdf", "Ebs": {"SnapshotId": data}}],
    )["Instances"][0]["InstanceId"]
    assert volume(ec2, attached(ec2, bare)[image["RootDeviceName"]])["SnapshotId"] == image_root


def test_plain_moto_gives_no_root_volume_beside_data_mappings() -> None:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        image = _image(ec2)
        instance_id = ec2.run_instances(
            ImageId=image["ImageId"],
            MinCount=1,
            MaxCount=1,
            BlockDeviceMappings=[{"DeviceName": "xvdf", "Ebs": {"SnapshotId": _snapshot(ec2)}}],
        )["Instances"][0]["InstanceId"]
        assert image["RootDeviceName"] not in attached(ec2, instance_id)


def _launch_on_an_interface(ec2: EC2Client) -> tuple[str, str]:
    """An instance whose security group is given on its network interface (as a clone's)."""
    subnet = ec2.describe_subnets()["Subnets"][0]
    group_id = ec2.create_security_group(
        GroupName="on-the-interface", Description="test", VpcId=subnet["VpcId"]
    )["GroupId"]
    instance_id = ec2.run_instances(
        ImageId=_image(ec2)["ImageId"],
        MinCount=1,
        MaxCount=1,
        NetworkInterfaces=[
            {
                "DeviceIndex": 0,
                "SubnetId": subnet["SubnetId"],
                "Groups": [group_id],
                "AssociatePublicIpAddress": False,
            }
        ],
    )["Instances"][0]["InstanceId"]
    return instance_id, group_id


def _groups_of(ec2: EC2Client, instance_id: str) -> list[str]:
    raw = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return [g["GroupId"] for g in raw["SecurityGroups"]]


def test_run_instances_gives_the_instance_its_interfaces_security_groups(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN / WHEN an instance launched with its group on its network interface
    instance_id, group_id = _launch_on_an_interface(ec2)

    # THEN EC2 describes the group as the instance's, and finds the instance by it
    assert _groups_of(ec2, instance_id) == [group_id]
    by_group = ec2.describe_instances(Filters=[{"Name": "instance.group-id", "Values": [group_id]}])
    assert [i["InstanceId"] for r in by_group["Reservations"] for i in r["Instances"]] == [
        instance_id
    ]


def test_plain_moto_lists_no_group_for_an_instance_launched_on_an_interface() -> None:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        instance_id, _ = _launch_on_an_interface(ec2)
        assert _groups_of(ec2, instance_id) == []


# --- SSM Run Command ----------------------------------------------------------------------

DOCUMENT = "AWS-RunPowerShellScript"


def _invocation(ssm: Any, command_id: str, instance_id: str) -> dict[str, Any]:
    return dict(ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id))


def test_send_command_refuses_an_instance_that_is_not_running(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    instance_id = _running_windows_instance(ec2)
    ec2.stop_instances(InstanceIds=[instance_id])
    ssm = boto3.client("ssm", region_name=REGION)

    with pytest.raises(ClientError) as refused:
        ssm.send_command(InstanceIds=[instance_id], DocumentName=DOCUMENT)

    assert refused.value.response["Error"]["Code"] == "InvalidInstanceId"
    assert ssm.list_commands()["Commands"] == []


def test_send_command_refuses_a_document_that_does_not_exist(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    instance_id = _running_windows_instance(ec2)
    ssm = boto3.client("ssm", region_name=REGION)

    with pytest.raises(ClientError) as refused:
        ssm.send_command(InstanceIds=[instance_id], DocumentName="No-Such-Doc")

    assert refused.value.response["Error"]["Code"] == "InvalidDocument"


def test_send_command_reaches_only_the_instances_it_names_when_others_run(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN two running instances
    named = _running_windows_instance(ec2)
    other = _running_windows_instance(ec2)
    ssm = boto3.client("ssm", region_name=REGION)

    # WHEN a command names one of them
    sent = ssm.send_command(
        InstanceIds=[named], DocumentName=DOCUMENT, Parameters={"commands": ["Get-Disk"]}
    )["Command"]

    # THEN it is that instance's command alone (moto would add every instance of the Region)
    assert sent["InstanceIds"] == [named]
    listed = ssm.list_commands(CommandId=sent["CommandId"])["Commands"][0]
    assert listed["InstanceIds"] == [named]
    assert ssm.list_commands(InstanceId=other)["Commands"] == []


# AWS-RunPowerShellScript requires its commands (SSM refuses the command without them).
CHECK_DISKS = {"commands": ["Get-Disk"]}


def test_list_commands_answers_a_page_at_a_time_with_a_token_for_the_rest(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN 52 commands sent to an instance
    instance_id = _running_windows_instance(ec2)
    ssm = boto3.client("ssm", region_name=REGION)
    sent = [
        ssm.send_command(InstanceIds=[instance_id], DocumentName=DOCUMENT, Parameters=CHECK_DISKS)
        for _ in range(52)
    ]

    # WHEN they are listed, in one call, in pages of 20, and by the paginator
    first = ssm.list_commands(InstanceId=instance_id)
    small = ssm.list_commands(InstanceId=instance_id, MaxResults=20)
    pages = ssm.get_paginator("list_commands").paginate(InstanceId=instance_id)

    # THEN one call answers at most 50 (or MaxResults) and a token for the rest; the pages
    # together hold each command once (moto answers all 52 at once, with no token)
    assert (len(first["Commands"]), "NextToken" in first) == (50, True)
    assert (len(small["Commands"]), "NextToken" in small) == (20, True)
    listed = [c["CommandId"] for page in pages for c in page["Commands"]]
    assert sorted(listed) == sorted(s["Command"]["CommandId"] for s in sent)


def test_command_is_in_progress_once_then_lists_the_instances_disks(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    instance_id = _running_windows_instance(ec2)
    root = attached(ec2, instance_id)["/dev/sda1"]
    ssm = boto3.client("ssm", region_name=REGION)
    command_id = ssm.send_command(
        InstanceIds=[instance_id], DocumentName=DOCUMENT, Parameters=CHECK_DISKS
    )["Command"]["CommandId"]

    first = _invocation(ssm, command_id, instance_id)
    second = _invocation(ssm, command_id, instance_id)

    assert first["Status"] == "InProgress"
    assert second["Status"] == "Success"
    assert second["ResponseCode"] == 0
    assert f"/dev/sda1 {root} from" in second["StandardOutputContent"]


def test_command_runs_until_its_pace_says_it_has_ended_when_a_pace_is_given(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a pace (simulation mode's model clock) that holds the command for two looks
    instance_id = _running_windows_instance(ec2)
    ahead = ["Pending", "InProgress", None]
    engine.ssm.pace = lambda _command_id: ahead.pop(0)
    ssm = boto3.client("ssm", region_name=REGION)
    command_id = ssm.send_command(
        InstanceIds=[instance_id], DocumentName=DOCUMENT, Parameters={"commands": ["Get-Disk"]}
    )["Command"]["CommandId"]

    # WHEN the invocation is read three times
    seen = [_invocation(ssm, command_id, instance_id)["Status"] for _ in range(3)]

    # THEN it follows the pace, not the number of looks
    assert seen == ["Pending", "InProgress", "Success"]


def test_a_hung_command_runs_until_cancel_command_then_reads_cancelled(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a guest that never finishes this document's commands (moto: Success at once,
    # and no CancelCommand at all)
    instance_id = _running_windows_instance(ec2)
    engine.ssm.hang(DOCUMENT)
    ssm = boto3.client("ssm", region_name=REGION)
    command_id = ssm.send_command(
        InstanceIds=[instance_id], DocumentName=DOCUMENT, Parameters=CHECK_DISKS
    )["Command"]["CommandId"]

    # WHEN it is looked at, cancelled, and looked at (and listed) again
    before = [_invocation(ssm, command_id, instance_id)["Status"] for _ in range(3)]
    listed_running = _listed_status(ssm, command_id, instance_id)
    ssm.cancel_command(CommandId=command_id, InstanceIds=[instance_id])
    after = [_invocation(ssm, command_id, instance_id)["Status"] for _ in range(2)]
    listed_after = _listed_status(ssm, command_id, instance_id)

    # THEN it was in progress for as long as anyone looked (ListCommands too, where moto
    # says Success), then the agent was stopping it, and it is cancelled now
    assert (before, listed_running) == (["InProgress"] * 3, "InProgress")
    assert (after, listed_after) == (["Cancelling", "Cancelled"], "Cancelled")


def test_a_command_listed_before_it_is_seen_ended_reads_in_progress_then_its_outcome(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a command sent (moto lists it as Success from the moment it is sent)
    instance_id = _running_windows_instance(ec2)
    ssm = boto3.client("ssm", region_name=REGION)
    command_id = ssm.send_command(
        InstanceIds=[instance_id], DocumentName=DOCUMENT, Parameters=CHECK_DISKS
    )["Command"]["CommandId"]

    # WHEN it is listed, then its invocation read until it ends, then listed again
    first = _listed_status(ssm, command_id, instance_id)
    seen = [_invocation(ssm, command_id, instance_id)["Status"] for _ in range(2)]
    last = _listed_status(ssm, command_id, instance_id)

    # THEN the list follows the invocation: in progress, then its outcome
    assert (first, seen, last) == ("InProgress", ["InProgress", "Success"], "Success")


def test_only_the_next_commands_hang_when_a_count_is_given(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a guest that never finishes the next command of a document
    instance_id = _running_windows_instance(ec2)
    engine.ssm.hang(DOCUMENT, commands=1)
    ssm = boto3.client("ssm", region_name=REGION)

    def send() -> str:
        return str(
            ssm.send_command(
                InstanceIds=[instance_id], DocumentName=DOCUMENT, Parameters=CHECK_DISKS
            )["Command"]["CommandId"]
        )

    # WHEN two commands are sent and each is read twice
    first, second = send(), send()
    seen = [[_invocation(ssm, c, instance_id)["Status"] for _ in range(2)] for c in (first, second)]

    # THEN the first runs on, the second ends
    assert seen == [["InProgress", "InProgress"], ["InProgress", "Success"]]


def _listed_status(ssm: Any, command_id: str, instance_id: str) -> str:
    listed = ssm.list_commands(InstanceId=instance_id)["Commands"]
    return str(next(c["Status"] for c in listed if c["CommandId"] == command_id))


def test_command_outcome_can_be_set_per_document(engine: LocalEngine, ec2: EC2Client) -> None:
    from vss_restore.local.fidelity import CommandOutcome  # noqa: PLC0415

    instance_id = _running_windows_instance(ec2)
    engine.ssm.respond(DOCUMENT, CommandOutcome("Failed", "app down", response_code=2))
    ssm = boto3.client("ssm", region_name=REGION)
    command_id = ssm.send_command(
        InstanceIds=[instance_id], DocumentName=DOCUMENT, Parameters=CHECK_DISKS
    )["Command"]["CommandId"]

    _invocation(ssm, command_id, instance_id)
    final = _invocation(ssm, command_id, instance_id)

    assert (final["Status"], final["ResponseCode"], final["StandardOutputContent"]) == (
        "Failed",
        2,
        "app down",
    )


def test_command_output_is_cut_to_its_first_24000_characters_as_ssm_returns_it(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    from vss_restore.local.fidelity import CommandOutcome  # noqa: PLC0415

    # GIVEN a command that prints 30,000 characters, its last line a result
    instance_id = _running_windows_instance(ec2)
    printed = "p" * 29_000 + "\nRESULT last"
    engine.ssm.respond(DOCUMENT, CommandOutcome("Success", printed, response_code=0))
    ssm = boto3.client("ssm", region_name=REGION)
    command_id = ssm.send_command(
        InstanceIds=[instance_id], DocumentName=DOCUMENT, Parameters=CHECK_DISKS
    )["Command"]["CommandId"]

    # WHEN its invocation is read once it has ended
    _invocation(ssm, command_id, instance_id)
    final = _invocation(ssm, command_id, instance_id)

    # THEN only the first 24,000 characters come back: the last line is lost
    assert final["StandardOutputContent"] == printed[:24_000]
    assert "RESULT last" not in final["StandardOutputContent"]


def test_plain_moto_says_success_at_once_for_any_instance() -> None:
    with mock_aws():
        ssm = boto3.client("ssm", region_name=REGION)
        command_id = ssm.send_command(InstanceIds=["i-0123456789abcdef0"], DocumentName=DOCUMENT)[
            "Command"
        ]["CommandId"]
        assert _invocation(ssm, command_id, "i-0123456789abcdef0")["Status"] == "Success"


# --- Step Functions: States.DataLimitExceeded ends the execution ---------------------------

OVER_LIMIT = "x" * 300_000  # more than 262,144 bytes once in JSON
HALF_LIMIT = "x" * 140_000
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:"
CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.Error", "Next": "Caught"}]


def _big_result(_event: dict[str, Any], _context: Any) -> dict[str, str]:
    return {"Data": OVER_LIMIT}


def _run_machine(definition: dict[str, Any]) -> tuple[str, str | None, list[str]]:
    """Status, error and the names of the states entered, of one execution of ``definition``."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(
        name="data-limit",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/test",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name="e1", input="{}")["executionArn"]
    deadline = time.monotonic() + 60
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end"
        time.sleep(0.02)
    events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]
    return described["status"], described.get("error"), entered


def _task_with_big_result() -> dict[str, Any]:
    return {
        "StartAt": "Big",
        "States": {
            "Big": {
                "Type": "Task",
                "Resource": f"{FUNCTION_ARN}big-result",
                "Catch": CATCH_ALL,
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }


def _big_result_function() -> LambdaDispatcher:
    """Answers invocations of the ``big-result`` function."""
    return LambdaDispatcher({"big-result": _big_result}, FUNCTION_ARN)


def test_task_result_over_the_limit_fails_the_execution_when_a_catch_all_would_take_it(
    engine: LocalEngine,
) -> None:
    # GIVEN a task whose function returns more than 256 KiB, and a Catch of States.ALL
    engine.observe("before-call.lambda.Invoke", _big_result_function())

    # WHEN it runs
    status, error, entered = _run_machine(_task_with_big_result())

    # THEN the execution fails with States.DataLimitExceeded and the Catch is not taken
    assert (status, error) == ("FAILED", "States.DataLimitExceeded")
    assert "Caught" not in entered


def test_plain_moto_lets_a_catch_take_data_limit_exceeded() -> None:
    # GIVEN the emulator without the rule
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        events = boto3._get_default_session().events
        function = _big_result_function()
        # botocore-stubs types handlers as returning None; a before-call hook returns a response.
        events.register("before-call.lambda.Invoke", function)  # type: ignore[arg-type]
        try:
            # WHEN / THEN the Catch takes what AWS would not let it take
            status, _, entered = _run_machine(_task_with_big_result())
        finally:
            events.unregister("before-call.lambda.Invoke", function)  # type: ignore[arg-type]
    assert status == "SUCCEEDED"
    assert "Caught" in entered


def test_parallel_branch_over_the_limit_fails_the_execution_with_data_limit_exceeded(
    engine: LocalEngine,
) -> None:
    # GIVEN a branch whose output is over the limit, in a Parallel that catches everything
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Big",
                        "States": {"Big": {"Type": "Pass", "Result": OVER_LIMIT, "End": True}},
                    }
                ],
                "Catch": CATCH_ALL,
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }

    # WHEN / THEN the named error, not moto's States.Runtime, and no Catch
    status, error, entered = _run_machine(definition)
    assert (status, error) == ("FAILED", "States.DataLimitExceeded")
    assert "Caught" not in entered


def test_task_input_over_the_limit_fails_the_execution_when_parameters_build_it(
    engine: LocalEngine,
) -> None:
    # GIVEN 140 KB of state data, and a task whose Parameters take it twice
    engine.observe("before-call.lambda.Invoke", _big_result_function())
    definition = {
        "StartAt": "Half",
        "States": {
            "Half": {"Type": "Pass", "Result": HALF_LIMIT, "ResultPath": "$.Half", "Next": "Twice"},
            "Twice": {
                "Type": "Task",
                "Resource": f"{FUNCTION_ARN}big-result",
                "Parameters": {"A.$": "$.Half", "B.$": "$.Half"},
                "Catch": CATCH_ALL,
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }

    # WHEN / THEN
    status, error, entered = _run_machine(definition)
    assert (status, error) == ("FAILED", "States.DataLimitExceeded")
    assert "Caught" not in entered


# --- Volume initialization: rates, fast snapshot restore, DescribeVolumeStatus -------------


def test_create_volume_keeps_the_initialization_rate_when_given_with_a_snapshot(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a completed snapshot
    snapshot_id = _snapshot(ec2)

    # WHEN a volume is created from it at 175 MiB/s
    created = ec2.create_volume(
        AvailabilityZone=AZ, SnapshotId=snapshot_id, VolumeInitializationRate=175
    )

    # THEN the volume reports its rate, and initializes at a provisioned rate
    assert created["VolumeInitializationRate"] == 175
    assert volume(ec2, created["VolumeId"])["VolumeInitializationRate"] == 175
    (status,) = ec2.describe_volume_status(VolumeIds=[created["VolumeId"]])["VolumeStatuses"]
    assert status["InitializationStatusDetails"]["InitializationType"] == "provisioned-rate"


@pytest.mark.parametrize("rate", [99, 301])
def test_create_volume_fails_with_invalid_parameter_value_when_rate_is_out_of_range(
    engine: LocalEngine, ec2: EC2Client, rate: int
) -> None:
    # GIVEN a completed snapshot
    snapshot_id = _snapshot(ec2)
    volumes_before = _volume_ids(ec2)

    # WHEN a volume is asked for at a rate EBS does not offer
    with pytest.raises(ClientError) as raised:
        ec2.create_volume(
            AvailabilityZone=AZ, SnapshotId=snapshot_id, VolumeInitializationRate=rate
        )

    # THEN it is refused, naming the parameter, and no volume was made
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "volumeInitializationRate" in raised.value.response["Error"]["Message"]
    assert _volume_ids(ec2) == volumes_before


def test_create_volume_fails_with_invalid_parameter_value_when_rate_has_no_snapshot(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN / WHEN an empty volume with a rate (nothing to initialize)
    volumes_before = _volume_ids(ec2)
    with pytest.raises(ClientError) as raised:
        ec2.create_volume(AvailabilityZone=AZ, Size=8, VolumeInitializationRate=200)

    # THEN
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert _volume_ids(ec2) == volumes_before


def test_plain_moto_accepts_any_rate_and_forgets_it() -> None:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        created = ec2.create_volume(AvailabilityZone=AZ, Size=8, VolumeInitializationRate=5)
        assert "VolumeInitializationRate" not in volume(ec2, created["VolumeId"])


def test_volume_is_fast_restored_when_its_snapshot_has_fsr_enabled_in_its_zone(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a snapshot with fast snapshot restore enabled in AZ only
    snapshot_id = _snapshot(ec2)
    ec2.enable_fast_snapshot_restores(AvailabilityZones=[AZ], SourceSnapshotIds=[snapshot_id])

    # WHEN volumes are created from it in AZ and in another zone
    here = ec2.create_volume(AvailabilityZone=AZ, SnapshotId=snapshot_id)["VolumeId"]
    there = ec2.create_volume(AvailabilityZone="us-east-1b", SnapshotId=snapshot_id)["VolumeId"]

    # THEN only the one in AZ is fast restored, and AWS lists FSR for that zone only
    assert volume(ec2, here)["FastRestored"] is True
    assert volume(ec2, there)["FastRestored"] is False
    listed = ec2.describe_fast_snapshot_restores(
        Filters=[{"Name": "snapshot-id", "Values": [snapshot_id]}]
    )["FastSnapshotRestores"]
    assert [(f["AvailabilityZone"], f["State"]) for f in listed] == [(AZ, "enabled")]


def test_volume_initializes_at_the_rate_when_a_rate_is_given_for_an_fsr_snapshot(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a snapshot with fast snapshot restore enabled in AZ
    snapshot_id = _snapshot(ec2)
    ec2.enable_fast_snapshot_restores(AvailabilityZones=[AZ], SourceSnapshotIds=[snapshot_id])

    # WHEN a volume is created from it with a rate (AWS: the rate replaces FSR)
    created = ec2.create_volume(
        AvailabilityZone=AZ, SnapshotId=snapshot_id, VolumeInitializationRate=100
    )

    # THEN it is not fast restored
    assert volume(ec2, created["VolumeId"])["FastRestored"] is False


def test_describe_fast_snapshot_restores_lists_nothing_when_fsr_is_disabled_again(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN FSR enabled, then disabled
    snapshot_id = _snapshot(ec2)
    ec2.enable_fast_snapshot_restores(AvailabilityZones=[AZ], SourceSnapshotIds=[snapshot_id])
    ec2.disable_fast_snapshot_restores(AvailabilityZones=[AZ], SourceSnapshotIds=[snapshot_id])

    # WHEN
    listed = ec2.describe_fast_snapshot_restores()["FastSnapshotRestores"]

    # THEN
    assert listed == []


def test_describe_volume_status_reports_initialization_only_for_volumes_from_snapshots(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN an empty volume and one from a snapshot
    empty = ec2.create_volume(AvailabilityZone=AZ, Size=8)["VolumeId"]
    restored = ec2.create_volume(AvailabilityZone=AZ, SnapshotId=_snapshot(ec2))["VolumeId"]

    # WHEN
    statuses = {
        s["VolumeId"]: s
        for s in ec2.describe_volume_status(VolumeIds=[empty, restored])["VolumeStatuses"]
    }

    # THEN the restored one is initialized at the default rate (instantly, in the emulator)
    assert "InitializationStatusDetails" not in statuses[empty]
    assert statuses[restored]["InitializationStatusDetails"] == {
        "InitializationType": "default",
        "Progress": 100,
    }
    assert statuses[restored]["VolumeStatus"]["Status"] == "ok"


def test_describe_volume_status_fails_with_not_found_when_a_volume_does_not_exist(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN / WHEN
    with pytest.raises(ClientError) as raised:
        ec2.describe_volume_status(VolumeIds=["vol-0123456789abcdef0"])

    # THEN
    assert raised.value.response["Error"]["Code"] == "InvalidVolume.NotFound"


def test_plain_moto_has_no_volume_status_and_no_fast_snapshot_restore() -> None:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        with pytest.raises(NotImplementedError):
            ec2.describe_volume_status()
        with pytest.raises(NotImplementedError):
            ec2.describe_fast_snapshot_restores()


def test_run_instances_keeps_the_rate_of_each_block_device_mapping(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a launch mapping a snapshot at 250 MiB/s
    snapshot_id = _snapshot(ec2)
    mappings: list[Any] = [
        {"DeviceName": "xvdf", "Ebs": {"SnapshotId": snapshot_id, "VolumeInitializationRate": 250}}
    ]

    # WHEN
    instance_id = ec2.run_instances(
        ImageId=_image(ec2)["ImageId"], MinCount=1, MaxCount=1, BlockDeviceMappings=mappings
    )["Instances"][0]["InstanceId"]

    # THEN the launched volume has the rate
    assert volume(ec2, attached(ec2, instance_id)["xvdf"])["VolumeInitializationRate"] == 250


def test_run_instances_fails_with_invalid_parameter_value_when_a_mapping_rate_is_out_of_range(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN a launch mapping a snapshot at 50 MiB/s
    mappings: list[Any] = [
        {
            "DeviceName": "xvdf",
            "Ebs": {"SnapshotId": _snapshot(ec2), "VolumeInitializationRate": 50},
        }
    ]
    volumes_before = _volume_ids(ec2)

    # WHEN
    with pytest.raises(ClientError) as raised:
        ec2.run_instances(
            ImageId=_image(ec2)["ImageId"], MinCount=1, MaxCount=1, BlockDeviceMappings=mappings
        )

    # THEN nothing was launched
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert _volume_ids(ec2) == volumes_before


def test_volume_is_not_fast_restored_when_the_snapshots_credits_are_used_up(
    engine: LocalEngine, ec2: EC2Client
) -> None:
    # GIVEN fast snapshot restore on a 512 GiB snapshot: MAX(1, MIN(10, 1024 / 512)) = 2 credits
    source = ec2.create_volume(AvailabilityZone=AZ, Size=512)["VolumeId"]
    snapshot_id = ec2.create_snapshot(VolumeId=source)["SnapshotId"]
    ec2.enable_fast_snapshot_restores(AvailabilityZones=[AZ], SourceSnapshotIds=[snapshot_id])

    # WHEN three volumes are created from it
    made = [
        ec2.create_volume(AvailabilityZone=AZ, SnapshotId=snapshot_id)["VolumeId"] for _ in range(3)
    ]

    # THEN the first two took a credit each and the third came without fast snapshot restore
    assert [volume(ec2, v)["FastRestored"] for v in made] == [True, True, False]


# --- Step Functions: StopExecution aborts at once --------------------------------------------


def test_stop_execution_aborts_at_once_and_stays_aborted_when_its_task_then_fails(
    engine: LocalEngine,
) -> None:
    # GIVEN an execution whose task is running, and will fail once let go
    entered, release = threading.Event(), threading.Event()

    def slow_failure(_event: dict[str, Any], _context: Any) -> None:
        entered.set()
        release.wait(10)
        raise RuntimeError("the task failed after the stop")

    engine.observe(
        "before-call.lambda.Invoke", LambdaDispatcher({"slow": slow_failure}, FUNCTION_ARN)
    )
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name="stopped",
        definition=json.dumps(
            {
                "StartAt": "Slow",
                "States": {
                    "Slow": {"Type": "Task", "Resource": f"{FUNCTION_ARN}slow", "End": True}
                },
            }
        ),
        roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/test",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name="e1", input="{}")["executionArn"]
    assert entered.wait(10)

    # WHEN it is stopped, then its task fails
    sfn.stop_execution(executionArn=execution, error="Operator", cause="stopped by hand")
    at_once = sfn.describe_execution(executionArn=execution)
    release.set()
    deadline = time.monotonic() + 10
    while not any(
        e["type"] in ("ExecutionAborted", "ExecutionFailed")
        for e in sfn.get_execution_history(executionArn=execution)["events"]
    ):
        assert time.monotonic() < deadline, "the execution's thread did not end"
        time.sleep(0.02)
    later = sfn.describe_execution(executionArn=execution)

    # THEN it is ABORTED from the stop on, with the stop's error and cause
    assert at_once["status"] == "ABORTED"
    assert (later["status"], later.get("error"), later.get("cause")) == (
        "ABORTED",
        "Operator",
        "stopped by hand",
    )


# --- Step Functions: a failed lambda:Invoke is Lambda.<Exception> -------------------------


def _answer(_event: dict[str, Any], _context: Any) -> dict[str, int]:
    return {"Answered": 1}


def _single_task(**state: Any) -> dict[str, Any]:
    """One task of the ``answer`` function, caught into ``Caught`` unless ``state`` says."""
    task = {"Type": "Task", "Resource": f"{FUNCTION_ARN}answer", "End": True}
    return {
        "StartAt": "Task",
        "States": {"Task": {**task, **state}, "Caught": {"Type": "Pass", "End": True}},
    }


def _answer_function() -> LambdaDispatcher:
    return LambdaDispatcher({"answer": _answer}, FUNCTION_ARN)


def _invoke_errors(execution_arn: str) -> list[str]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return [
        e["lambdaFunctionFailedEventDetails"]["error"]
        for e in events
        if e["type"] == "LambdaFunctionFailed"
    ]


def _last_execution() -> str:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    [machine] = sfn.list_state_machines()["stateMachines"]
    return sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"][0][
        "executionArn"
    ]


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("TooManyRequestsException", "Lambda.TooManyRequestsException"),
        ("ServiceException", "Lambda.ServiceException"),
    ],
)
def test_failed_invoke_is_retried_as_lambda_exception_when_a_retrier_names_it(
    engine: LocalEngine, code: str, error: str
) -> None:
    # GIVEN Lambda refusing the first Invoke, and a task that retries the error by its name
    engine.inject(Fault("lambda.Invoke", code=code))
    engine.observe("before-call.lambda.Invoke", _answer_function())
    retry = [{"ErrorEquals": [error], "IntervalSeconds": 1, "MaxAttempts": 2}]

    # WHEN it runs
    status, _, entered = _run_machine(_single_task(Retry=retry, Catch=CATCH_ALL))

    # THEN the refusal is reported by that name, and the retry goes through
    assert status == "SUCCEEDED"
    assert "Caught" not in entered
    assert _invoke_errors(_last_execution()) == [error]


def test_invoke_failing_without_an_answer_is_lambda_sdk_client_exception(
    engine: LocalEngine,
) -> None:
    # GIVEN an Invoke whose answer never comes (the client gives up), and no Retry
    engine.inject(Fault("lambda.Invoke", timeout=True))
    engine.observe("before-call.lambda.Invoke", _answer_function())

    # WHEN it runs
    status, error, _ = _run_machine(_single_task())

    # THEN the execution fails with the SDK's error, as Step Functions names it
    assert (status, error) == ("FAILED", "Lambda.SdkClientException")


def test_function_error_keeps_its_error_type_when_the_invoke_itself_succeeded(
    engine: LocalEngine,
) -> None:
    # GIVEN a function that raises a named error
    def refuse(_event: dict[str, Any], _context: Any) -> None:
        raise VolumeLimitExceeded("no room")

    engine.observe("before-call.lambda.Invoke", LambdaDispatcher({"answer": refuse}, FUNCTION_ARN))

    # WHEN / THEN the function's own error, not a Lambda.* one
    status, error, _ = _run_machine(_single_task())
    assert (status, error) == ("FAILED", "VolumeLimitExceeded")


class VolumeLimitExceeded(Exception):
    """A function's named error (the class name is the error Lambda reports)."""


def test_plain_moto_names_a_throttled_invoke_exception() -> None:
    # GIVEN the emulator without the rule, and Lambda throttling the first Invoke
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        events = boto3._get_default_session().events
        hooks = [
            *FaultInjector(Fault("lambda.Invoke", code="TooManyRequestsException")).hooks(),
            ("before-call.lambda.Invoke", _answer_function()),
        ]
        for name, hook in hooks:
            events.register(name, hook)
        try:
            # WHEN it runs
            status, error, _ = _run_machine(_single_task())
        finally:
            for name, hook in hooks:
                events.unregister(name, hook)
    # THEN moto's name for it, which no retrier of the definitions names
    assert (status, error) == ("FAILED", "Exception")


# --- Step Functions: a path that selects nothing is States.Runtime -------------------------

RETRY_ALL = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 3}]


@pytest.mark.parametrize(
    "bad",
    [
        {"Parameters": {"Id.$": "$.Missing"}},
        {"Parameters": {"Id.$": "States.Format('{}', $.Missing)"}},
        {"Parameters": {"Id.$": "States.ArrayGetItem($.Request, 0)"}},
        {"InputPath": "$.Missing"},
        {"ResultSelector": {"Id.$": "$.Missing"}},
        {"OutputPath": "$.Missing"},
    ],
    ids=["parameters", "intrinsic-path", "intrinsic-type", "input", "selector", "output"],
)
def test_missing_path_fails_the_execution_with_states_runtime_when_catch_and_retry_take_all(
    engine: LocalEngine, bad: dict[str, Any]
) -> None:
    # GIVEN a task reading a path its input (or its result) does not have, which retries
    # and catches States.ALL
    function = _answer_function()
    engine.observe("before-call.lambda.Invoke", function)

    # WHEN it runs
    status, error, entered = _run_machine(_single_task(Retry=RETRY_ALL, Catch=CATCH_ALL, **bad))

    # THEN the execution fails with States.Runtime: neither retried nor caught
    assert (status, error) == ("FAILED", "States.Runtime")
    assert entered == ["Task"]
    assert len(function.invocations) <= 1


def test_choice_on_a_missing_variable_fails_the_execution_with_states_runtime(
    engine: LocalEngine,
) -> None:
    # GIVEN a Choice comparing a variable the input does not have
    definition = {
        "StartAt": "Choose",
        "States": {
            "Choose": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.Missing", "BooleanEquals": True, "Next": "Yes"}],
                "Default": "No",
            },
            "Yes": {"Type": "Pass", "End": True},
            "No": {"Type": "Pass", "End": True},
        },
    }

    # WHEN / THEN States.Runtime, not the Default
    status, error, entered = _run_machine(definition)
    assert (status, error) == ("FAILED", "States.Runtime")
    assert entered == ["Choose"]


def test_choice_is_present_tests_a_missing_variable_without_failing(engine: LocalEngine) -> None:
    # GIVEN a Choice asking whether a missing variable is present
    definition = {
        "StartAt": "Choose",
        "States": {
            "Choose": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.Missing", "IsPresent": True, "Next": "Yes"}],
                "Default": "No",
            },
            "Yes": {"Type": "Pass", "End": True},
            "No": {"Type": "Pass", "End": True},
        },
    }

    # WHEN / THEN it is not present, and the Default runs
    status, _, entered = _run_machine(definition)
    assert status == "SUCCEEDED"
    assert entered == ["Choose", "No"]


def test_plain_moto_lets_a_catch_take_a_missing_parameters_path() -> None:
    # GIVEN the emulator without the rule
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        # WHEN a task's Parameters read a missing path, with a Catch of States.ALL
        status, _, entered = _run_machine(
            _single_task(Parameters={"Id.$": "$.Missing"}, Catch=CATCH_ALL)
        )
    # THEN the Catch takes it
    assert status == "SUCCEEDED"
    assert "Caught" in entered


# --- Lambda and Task time limits, on the modelled clock ---------------------------------


def _simulated_run(engine: LocalEngine, definition: dict[str, Any]) -> Any:
    engine.begin_simulation()
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(
        name="timed",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/test",
    )["stateMachineArn"]
    return engine.wait(
        sfn.start_execution(stateMachineArn=arn, name="e1", input="{}")["executionArn"]
    )


@pytest.mark.parametrize(
    ("seconds", "status", "error"),
    [(59.0, "SUCCEEDED", None), (61.0, "FAILED", "Sandbox.Timedout")],
)
def test_invocation_fails_with_sandbox_timedout_when_it_runs_past_its_function_timeout(
    seconds: float, status: str, error: str | None
) -> None:
    with LocalEngine(region=REGION, simulation=Simulation(seed=1)) as engine:
        # GIVEN a function with a 60 s timeout whose work takes ``seconds`` of modelled time
        assert engine.simulated is not None
        clock = engine.simulated.clock

        def slow(_event: dict[str, Any], _context: Any) -> dict[str, int]:
            clock.sleep(seconds)
            return {"Answered": 1}

        function = LambdaDispatcher({"answer": slow}, FUNCTION_ARN, {"answer": 60})
        function.clock = engine.simulated.now
        engine.observe("before-call.lambda.Invoke", function)

        # WHEN it runs (a Task state limit well above the function's)
        result = _simulated_run(engine, _single_task(TimeoutSeconds=90))

    # THEN past the timeout, Lambda's timeout error; within it, the answer
    assert (result.status, result.error) == (status, error)


def test_task_fails_with_states_timeout_when_it_runs_past_its_timeout_seconds() -> None:
    with LocalEngine(region=REGION, simulation=Simulation(seed=1)) as engine:
        # GIVEN a Task state limited to 5 s whose function takes 10 s of modelled time
        assert engine.simulated is not None
        clock = engine.simulated.clock

        def slow(_event: dict[str, Any], _context: Any) -> dict[str, int]:
            clock.sleep(10.0)
            return {"Answered": 1}

        engine.observe(
            "before-call.lambda.Invoke", LambdaDispatcher({"answer": slow}, FUNCTION_ARN)
        )

        # WHEN it runs
        result = _simulated_run(engine, _single_task(TimeoutSeconds=5))

    # THEN the Task state's own limit: States.Timeout
    assert (result.status, result.error) == ("FAILED", "States.Timeout")


# --- $$.Execution.RedriveCount -----------------------------------------------------------------

READS_REDRIVE_COUNT = {
    "StartAt": "Read",
    "States": {
        "Read": {
            "Type": "Pass",
            "Parameters": {"Count.$": "$$.Execution.RedriveCount"},
            "End": True,
        }
    },
}


def _output_of_last_execution() -> Any:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.list_state_machines()["stateMachines"][-1]["stateMachineArn"]
    execution = sfn.list_executions(stateMachineArn=machine)["executions"][0]["executionArn"]
    return json.loads(sfn.describe_execution(executionArn=execution).get("output") or "null")


def test_context_object_has_redrive_count_zero_when_never_redriven(engine: LocalEngine) -> None:
    # GIVEN / WHEN a state reads the execution's RedriveCount
    status, error, _ = _run_machine(READS_REDRIVE_COUNT)

    # THEN it is 0, as for any execution AWS has not redriven
    assert (status, error) == ("SUCCEEDED", None)
    assert _output_of_last_execution() == {"Count": 0}


def test_context_object_has_the_redrive_count_a_test_gives_the_execution(
    engine: LocalEngine,
) -> None:
    # GIVEN the execution named e1 (the one _run_machine starts) redriven once
    engine.redrives.redrive("e1")

    # WHEN a state reads its RedriveCount / THEN it is 1
    status, _, _ = _run_machine(READS_REDRIVE_COUNT)
    assert status == "SUCCEEDED"
    assert _output_of_last_execution() == {"Count": 1}


def test_plain_moto_has_no_redrive_count_in_the_context_object() -> None:
    # GIVEN the emulator without the rule / WHEN a state reads the RedriveCount
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        status, error, _ = _run_machine(READS_REDRIVE_COUNT)

    # THEN the path does not resolve: every task state of the definitions would fail
    assert status == "FAILED"
    assert error == "States.Runtime"
