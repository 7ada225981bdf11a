"""Reading the instance: does it exist, can it be restored, which volume is on which device."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from vss_restore.aws_errors import error_code
from vss_restore.errors import InstanceNotFound, InstanceNotRestorable
from vss_restore.models import AttachedVolume, InstanceFacts

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

RESTORABLE_STATES = ("running", "stopped")


def describe_instance(ec2: EC2Client, instance_id: str) -> dict[str, Any]:
    """The raw ``DescribeInstances`` entry; ``InstanceNotFound`` if there is none."""
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError as err:
        if error_code(err).startswith("InvalidInstanceID"):
            raise InstanceNotFound(
                f"{instance_id} does not exist in this account and region"
            ) from err
        raise
    instances = [i for r in reservations for i in r.get("Instances", [])]
    if not instances:
        raise InstanceNotFound(f"{instance_id} does not exist in this account and region")
    return dict(instances[0])


def attached_volumes(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Device name → ``Ebs`` entry (``VolumeId``, ``Status``, ``DeleteOnTermination``)."""
    return {m["DeviceName"]: m["Ebs"] for m in raw.get("BlockDeviceMappings", []) if m.get("Ebs")}


def power_state(raw: dict[str, Any]) -> str:
    return str(raw.get("State", {}).get("Name", "unknown"))


def instance_facts(raw: dict[str, Any]) -> InstanceFacts:
    """What a restore needs to know about the instance; refuses ones it cannot restore."""
    instance_id = raw["InstanceId"]
    state = power_state(raw)
    if state not in RESTORABLE_STATES:
        raise InstanceNotRestorable(
            f"{instance_id} is {state}; a restore needs it running or stopped"
        )
    if raw.get("RootDeviceType", "ebs") != "ebs":
        raise InstanceNotRestorable(f"{instance_id} has an instance-store root device")
    volumes = [
        AttachedVolume(
            device=device,
            volume_id=ebs["VolumeId"],
            delete_on_termination=bool(ebs.get("DeleteOnTermination", False)),
        )
        for device, ebs in attached_volumes(raw).items()
    ]
    if not volumes:
        raise InstanceNotRestorable(f"{instance_id} has no EBS volumes attached")
    return InstanceFacts(
        instance_id=instance_id,
        state=state,
        availability_zone=raw["Placement"]["AvailabilityZone"],
        root_device_name=raw.get("RootDeviceName", "/dev/sda1"),
        volumes=volumes,
    )


def instances_tagged(ec2: EC2Client, key: str, values: list[str]) -> list[str]:
    """Running or stopped instances with tag ``key`` set to one of ``values``, sorted."""
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[
            {"Name": f"tag:{key}", "Values": values},
            {"Name": "instance-state-name", "Values": list(RESTORABLE_STATES)},
        ]
    )
    return sorted(
        i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]
    )


def instances_named(ec2: EC2Client, name: str) -> list[dict[str, Any]]:
    """The instances, terminated ones aside, whose ``Name`` tag is ``name``, oldest first."""
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[
            {"Name": "tag:Name", "Values": [name]},
            {
                "Name": "instance-state-name",
                "Values": ["pending", "running", "shutting-down", "stopping", "stopped"],
            },
        ]
    )
    found = [dict(i) for page in pages for r in page["Reservations"] for i in r["Instances"]]
    return sorted(found, key=lambda i: (i["LaunchTime"], i["InstanceId"]))


def instance_name(ec2: EC2Client, instance_id: str) -> str | None:
    """The instance's ``Name`` tag, if it has one (a terminated or unknown instance: None)."""
    described = ec2.describe_tags(
        Filters=[
            {"Name": "resource-id", "Values": [instance_id]},
            {"Name": "key", "Values": ["Name"]},
        ]
    )["Tags"]
    return str(described[0]["Value"]) if described else None
