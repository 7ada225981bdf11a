"""Building an emulated world to restore: a Windows instance, its volumes, VSS snapshot sets.

Used by the demo, the tests and anyone experimenting. It talks to the emulator through
boto3, and reaches into the emulator only for what no API can set (a snapshot's start
time or a ``pending`` state).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.moto_api._internal import mock_random

from vss_restore import tags
from vss_restore.devices import WINDOWS_ROOT_DEVICE
from vss_restore.run_command import VALIDATION_DOCUMENT_PREFIX
from vss_restore.windows_disks import SERVICE_LIST_PATTERN

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ssm import SSMClient

DEFAULT_AZ = "us-east-1a"
# The operator's validation document of the demo world (``validation_document``).
VALIDATION_DOCUMENT = f"{VALIDATION_DOCUMENT_PREFIX}services"


@dataclass(frozen=True)
class Disk:
    device: str
    volume_type: str = "gp3"
    size: int = 30
    iops: int | None = None
    throughput: int | None = None
    kms_key_id: str | None = None
    delete_on_termination: bool = False
    tags: dict[str, str] = field(default_factory=dict)


DEMO_DISKS = (
    Disk(WINDOWS_ROOT_DEVICE, "gp3", 60, delete_on_termination=True, tags={"Name": "web01-C"}),
    Disk(
        "xvdf", "gp3", 200, iops=6000, throughput=500, tags={"Name": "web01-D", "Team": "payments"}
    ),
    Disk("xvdg", "io2", 100, iops=8000, tags={"Name": "web01-E-sql"}),
    Disk("xvdh", "gp3", 50, kms_key_id="create", tags={"Name": "web01-F-secure"}),
)


def _backend(region: str) -> Any:
    return ec2_backends[DEFAULT_ACCOUNT_ID][region]


def create_kms_key(region: str = "us-east-1") -> str:
    kms = boto3.client("kms", region_name=region)
    return str(kms.create_key(Description="vss-restore demo customer key")["KeyMetadata"]["Arn"])


_WINDOWS_IMAGES: dict[str, str] = {}  # Region -> image id, looked up once per process


def windows_image(ec2: EC2Client) -> str:
    """The first of the emulator's Windows AMIs: the same in every emulator (moto ships them),
    so looked up once per process and Region. Filtered in the request: describing all of its
    1,300 AMIs takes seconds."""
    region = ec2.meta.region_name
    known = _WINDOWS_IMAGES.get(region)
    # One DescribeImages call either way: each call draws from the emulator's seeded ids, so
    # the ids that follow are the same whether or not the image was known.
    if known is not None:
        return str(ec2.describe_images(ImageIds=[known])["Images"][0]["ImageId"])
    images = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "platform", "Values": ["windows"]}]
    )["Images"]
    _WINDOWS_IMAGES[region] = images[0]["ImageId"]
    return _WINDOWS_IMAGES[region]


def windows_instance(
    ec2: EC2Client,
    disks: tuple[Disk, ...] | list[Disk] = DEMO_DISKS,
    *,
    name: str = "web01",
    running: bool = True,
    az: str = DEFAULT_AZ,
    instance_type: str = "m5.xlarge",
) -> str:
    """An instance whose devices hold volumes with exactly the given settings."""
    region = ec2.meta.region_name
    image_id = windows_image(ec2)
    instance_id = ec2.run_instances(
        ImageId=image_id,
        MinCount=1,
        MaxCount=1,
        InstanceType=instance_type,  # type: ignore[arg-type]
        Placement={"AvailabilityZone": az},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}],
    )["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[instance_id])
    # The emulator gives the instance a default root volume: replace it with ours.
    for mapping in ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"
    ][0].get("BlockDeviceMappings", []):
        volume_id = mapping["Ebs"]["VolumeId"]
        ec2.detach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=mapping["DeviceName"])
        ec2.delete_volume(VolumeId=volume_id)
    for disk in disks:
        kms_key_id = create_kms_key(region) if disk.kms_key_id == "create" else disk.kms_key_id
        kwargs: dict[str, Any] = {
            "AvailabilityZone": az,
            "VolumeType": disk.volume_type,
            "Size": disk.size,
            "TagSpecifications": [{"ResourceType": "volume", "Tags": tags.tag_list(disk.tags)}]
            if disk.tags
            else [],
        }
        if disk.iops:
            kwargs["Iops"] = disk.iops
        if disk.throughput:
            kwargs["Throughput"] = disk.throughput
        if kms_key_id:
            kwargs.update(Encrypted=True, KmsKeyId=kms_key_id)
        volume_id = ec2.create_volume(**kwargs)["VolumeId"]
        ec2.attach_volume(Device=disk.device, InstanceId=instance_id, VolumeId=volume_id)
        if disk.delete_on_termination:
            ec2.modify_instance_attribute(
                InstanceId=instance_id,
                BlockDeviceMappings=[
                    {"DeviceName": disk.device, "Ebs": {"DeleteOnTermination": True}}
                ],
            )
    if running:
        ec2.start_instances(InstanceIds=[instance_id])
    return instance_id


VPC_CIDR = "10.99.0.0/16"


def isolated_subnet(
    ec2: EC2Client, az: str = DEFAULT_AZ, *, ssm_endpoints: bool = True
) -> tuple[str, str]:
    """A subnet with no route out and a security group without rules: (subnet, group).

    Its VPC has Systems Manager's interface endpoints (``ssm_endpoints``), as a drill that
    validates its clone needs: ``ssm_endpoint_group`` finds their security group."""
    vpc_id = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.99.1.0/24", AvailabilityZone=az)[
        "Subnet"
    ]["SubnetId"]
    group_id = ec2.create_security_group(
        GroupName="vss-restore-drill", Description="drill clones: no inbound", VpcId=vpc_id
    )["GroupId"]
    ec2.revoke_security_group_egress(
        GroupId=group_id,
        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    if ssm_endpoints:
        add_ssm_endpoints(ec2, subnet_id)
    return subnet_id, group_id


SSM_ENDPOINTS_GROUP = "ssm-endpoints"


def add_ssm_endpoints(ec2: EC2Client, subnet_id: str) -> str:
    """Interface endpoints for ssm, ssmmessages and ec2messages in the subnet, with private
    DNS, in one security group that admits HTTPS from the VPC; that group's id."""
    subnet = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
    vpc_id = subnet["VpcId"]
    vpc_cidr = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"]
    group_id = ec2.create_security_group(
        GroupName=SSM_ENDPOINTS_GROUP, Description="SSM endpoints: HTTPS from the VPC", VpcId=vpc_id
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": vpc_cidr}],
            }
        ],
    )
    region = ec2.meta.region_name
    for service in ("ssm", "ssmmessages", "ec2messages"):
        ec2.create_vpc_endpoint(
            VpcId=vpc_id,
            ServiceName=f"com.amazonaws.{region}.{service}",
            VpcEndpointType="Interface",
            SubnetIds=[subnet_id],
            SecurityGroupIds=[group_id],
            PrivateDnsEnabled=True,
        )
    return str(group_id)


def ssm_endpoint_group(ec2: EC2Client, subnet_id: str) -> str:
    """The security group of the subnet's VPC's SSM endpoints (``add_ssm_endpoints``)."""
    vpc_id = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["VpcId"]
    return str(
        ec2.describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "group-name", "Values": [SSM_ENDPOINTS_GROUP]},
            ]
        )["SecurityGroups"][0]["GroupId"]
    )


def domain_dns(ec2: EC2Client, subnet_id: str, servers: list[str]) -> str:
    """Give the subnet's VPC a DHCP options set whose DNS servers are ``servers`` (as a VPC
    whose instances resolve through domain controllers has); its id."""
    vpc_id = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["VpcId"]
    options_id = ec2.create_dhcp_options(
        DhcpConfigurations=[
            {"Key": "domain-name-servers", "Values": servers},
            {"Key": "domain-name", "Values": ["corp.example.com"]},
        ]
    )["DhcpOptions"]["DhcpOptionsId"]
    ec2.associate_dhcp_options(DhcpOptionsId=options_id, VpcId=vpc_id)
    return str(options_id)


def validation_document(ssm: SSMClient) -> str:
    """An operator's validation document, under a name a drill or an online restore runs:
    it lists the disks, and fails if one is offline or a service of ``Services`` is not
    running. Its one parameter is a list of service names (``allowedPattern``), so a
    request chooses what it checks, never what it runs. Created once; its name."""
    script = [
        "$services = @('{{ Services }}'.Split(',') | Where-Object { $_ })",
        "Get-Disk | Format-Table -AutoSize Number, SerialNumber, OperationalStatus, IsReadOnly"
        " | Out-String -Width 200",
        "$offline = @(Get-Disk | Where-Object IsOffline)",
        "$stopped = @($services | Where-Object {"
        " (Get-Service -Name $_ -ErrorAction SilentlyContinue).Status -ne 'Running' })",
        "if ($offline -or $stopped) {",
        "  \"offline disks: $($offline.Number -join ', '); not running: $($stopped -join ', ')\"",
        "  exit 1",
        "}",
    ]
    content = {
        "schemaVersion": "2.2",
        "description": "vss-restore validation: disks online, these services running",
        "parameters": {
            "Services": {
                "type": "String",
                "default": "",
                "description": "Comma-separated Windows service names that must be running",
                "allowedPattern": SERVICE_LIST_PATTERN,
            }
        },
        "mainSteps": [
            {
                "action": "aws:runPowerShellScript",
                "name": "check",
                "precondition": {"StringEquals": ["platformType", "Windows"]},
                "inputs": {"runCommand": script},
            }
        ],
    }
    with contextlib.suppress(ssm.exceptions.DocumentAlreadyExists):
        ssm.create_document(
            Name=VALIDATION_DOCUMENT, Content=json.dumps(content), DocumentType="Command"
        )
    return VALIDATION_DOCUMENT


def attached(ec2: EC2Client, instance_id: str) -> dict[str, str]:
    """Device → volume id, as the instance holds them now."""
    raw = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in raw.get("BlockDeviceMappings", [])}


def vss_config(set_id: str, version: str = "2.3.1") -> str:
    return json.dumps({"AwsVssComponentsVersion": version, "SnapshotSetId": set_id})


def vss_snapshot_set(
    ec2: EC2Client,
    instance_id: str,
    *,
    taken_at: datetime,
    set_id: str | None,
    devices: list[str] | None = None,
    not_app_consistent: tuple[str, ...] = (),
    pending: tuple[str, ...] = (),
    extra_tags: dict[str, str] | None = None,
) -> dict[str, str]:
    """Snapshot the instance's volumes as AWS VSS does; returns device → snapshot id.

    ``set_id=None`` writes no ``AwsVssConfig`` (AwsVssComponents before 2.3.1).
    """
    backend = _backend(ec2.meta.region_name)
    snapshots: dict[str, str] = {}
    for offset, (device, volume_id) in enumerate(sorted(attached(ec2, instance_id).items())):
        if devices is not None and device not in devices:
            continue
        snapshot_id = ec2.create_snapshot(VolumeId=volume_id, Description=f"VSS {device}")[
            "SnapshotId"
        ]
        vss_tags = {tags.VSS_DEVICE: device, **(extra_tags or {})}
        if device not in not_app_consistent:
            vss_tags[tags.VSS_APP_CONSISTENT] = "true"
        if set_id is not None:
            vss_tags[tags.VSS_CONFIG] = vss_config(set_id)
        ec2.create_tags(Resources=[snapshot_id], Tags=tags.tag_list(vss_tags))
        snapshot = backend.snapshots[snapshot_id]
        # The emulator stamps "now"; members of a real set start a second or so apart.
        snapshot.start_time = taken_at.astimezone(UTC).replace(
            tzinfo=None, microsecond=0
        ) + timedelta(seconds=offset)
        if device in pending:
            snapshot.status = "pending"
        snapshots[device] = snapshot_id
    return snapshots


def fix_ids(seed: int, region: str = "us-east-1") -> None:
    """Make the emulator's resource ids repeat from run to run (same calls, same ids).

    Building the region's EC2 backend (moto's AMIs and their snapshots) draws ids too, so
    it is built anew right after seeding: whether an earlier emulator in this process had
    built it already must not change the ids that follow. Call it before creating anything.
    """
    built = region in dict.keys(ec2_backends[DEFAULT_ACCOUNT_ID])  # `in` alone: known regions
    mock_random.seed(seed)
    backend = ec2_backends[DEFAULT_ACCOUNT_ID][region]  # built now, after the seed, if not yet
    if built:  # built earlier, before the seed: build it again (moto's 1,300 AMIs: ~0.5 s)
        backend.reset()
