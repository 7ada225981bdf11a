"""What the drill, mount, online and fleet handler tests read back from the emulator."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3

from tests.handlers.events import REGION
from vss_restore import tags
from vss_restore.drill import EVENT_SOURCE, METRIC_NAMESPACE
from vss_restore.local import world

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ssm.type_defs import CommandTypeDef


# A Windows server with a root and one data volume: the least a drill, a mount or an online
# restore needs (every volume more costs each test its volume, snapshot and clone volume).
SERVER_DISKS = world.DEMO_DISKS[:2]


def windows_server(
    ec2: EC2Client,
    *,
    name: str = "app01",
    az: str = world.DEFAULT_AZ,
    disks: tuple[world.Disk, ...] = SERVER_DISKS,
) -> str:
    """A running Windows instance (managed by SSM: the emulator's guests are)."""
    return world.windows_instance(ec2, disks, name=name, az=az)


def vss_set(ec2: EC2Client, instance_id: str, set_id: str = "set-1") -> dict[str, str]:
    """A VSS snapshot set of every volume of the instance, an hour ago: device → snapshot."""
    taken_at = datetime.now(UTC) - timedelta(hours=1)
    return world.vss_snapshot_set(ec2, instance_id, taken_at=taken_at, set_id=set_id)


@dataclass(frozen=True)
class Inventory:
    """Everything a task could change: instances, volumes, groups, Run Command commands."""

    instances: dict[str, tuple[object, ...]]  # state, (device, volume) pairs
    volumes: dict[str, tuple[object, ...]]  # state, attachments, tags
    groups: frozenset[str]
    commands: frozenset[str]

    @classmethod
    def capture(cls, ec2: EC2Client) -> Inventory:
        instances: dict[str, tuple[object, ...]] = {
            i["InstanceId"]: (
                i["State"]["Name"],
                tuple(
                    sorted(
                        (m["DeviceName"], m["Ebs"]["VolumeId"]) for m in i["BlockDeviceMappings"]
                    )
                ),
            )
            for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
        }
        volumes: dict[str, tuple[object, ...]] = {
            v["VolumeId"]: (
                v["State"],
                tuple(sorted((a["InstanceId"], a["Device"], a["State"]) for a in v["Attachments"])),
                tuple(sorted(tags.tag_dict(v.get("Tags")).items())),
            )
            for v in ec2.describe_volumes()["Volumes"]
        }
        groups = frozenset(g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"])
        return cls(instances, volumes, groups, frozenset(c["CommandId"] for c in commands()))


def commands(instance_id: str | None = None) -> list[CommandTypeDef]:
    """The Run Command commands sent (to ``instance_id``, if given)."""
    pages = boto3.client("ssm", region_name=REGION).get_paginator("list_commands")
    asked = pages.paginate(InstanceId=instance_id) if instance_id else pages.paginate()
    return [command for page in asked for command in page["Commands"]]


def instance(ec2: EC2Client, instance_id: str) -> dict[str, Any]:
    return dict(
        ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    )


def volume(ec2: EC2Client, volume_id: str) -> dict[str, Any]:
    return dict(ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0])


def volume_ids(ec2: EC2Client) -> set[str]:
    return {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}


def drill_tagged(ec2: EC2Client, execution: str) -> tuple[dict[str, str], set[str], set[str]]:
    """One drill's instances (id → state), volumes and security groups, found by its tags."""
    by_drill: Any = [
        {"Name": "tag-key", "Values": [tags.DRILL]},
        {"Name": f"tag:{tags.EXECUTION}", "Values": [execution]},
    ]
    instances = {
        i["InstanceId"]: str(i["State"]["Name"])
        for r in ec2.describe_instances(Filters=by_drill)["Reservations"]
        for i in r["Instances"]
    }
    volumes = {v["VolumeId"] for v in ec2.describe_volumes(Filters=by_drill)["Volumes"]}
    groups = {
        g["GroupId"] for g in ec2.describe_security_groups(Filters=by_drill)["SecurityGroups"]
    }
    return instances, volumes, groups


def retag(ec2: EC2Client, key: str, value: str, execution: str) -> None:
    """Set tag ``key`` on every resource an execution tagged as its own (an expiry, say)."""
    mine: Any = [{"Name": f"tag:{tags.EXECUTION}", "Values": [execution]}]
    ids = [
        *(
            i["InstanceId"]
            for r in ec2.describe_instances(Filters=mine)["Reservations"]
            for i in r["Instances"]
        ),
        *(v["VolumeId"] for v in ec2.describe_volumes(Filters=mine)["Volumes"]),
        *(g["GroupId"] for g in ec2.describe_security_groups(Filters=mine)["SecurityGroups"]),
    ]
    ec2.create_tags(Resources=ids, Tags=[{"Key": key, "Value": value}])


class DrillEvents:
    """An SQS queue behind an EventBridge rule for the drills' events, as a subscriber sees them."""

    def __init__(self) -> None:
        self.sqs = boto3.client("sqs", region_name=REGION)
        events = boto3.client("events", region_name=REGION)
        self.url = self.sqs.create_queue(QueueName="drill-outcomes")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])
        events.put_rule(Name="drill-outcomes", EventPattern=json.dumps({"source": [EVENT_SOURCE]}))
        events.put_targets(
            Rule="drill-outcomes", Targets=[{"Id": "queue", "Arn": arn["Attributes"]["QueueArn"]}]
        )

    def received(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def forge_cleanup_tags(ec2: EC2Client, resource_ids: list[str], execution: str) -> None:
    """What anyone allowed ``ec2:CreateTags`` can do: give resources every tag a drill's and a
    mount's resources carry, for ``execution``, with expiries long past."""
    past = "2020-01-01T00:00:00+00:00"
    forged = {
        tags.CREATED_BY: tags.CREATED_BY_VALUE,
        tags.DRILL: "i-0123456789abcdef0",
        tags.EXPIRES_AT: past,
        tags.MOUNTED_ON: "i-0123456789abcdef0",
        tags.MOUNT_EXPIRES_AT: past,
        tags.EXECUTION: execution,
    }
    ec2.create_tags(Resources=resource_ids, Tags=tags.tag_list(forged))


def metric_dimensions(name: str) -> list[dict[str, str]]:
    """The dimension sets a vss-restore metric was put with."""
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    found = cloudwatch.list_metrics(Namespace=METRIC_NAMESPACE, MetricName=name)["Metrics"]
    return [{d["Name"]: d["Value"] for d in m.get("Dimensions", [])} for m in found]


def metric_values(name: str, dimensions: dict[str, str]) -> list[float]:
    """Every value put to a vss-restore metric with these dimensions, in the last hour."""
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    now = datetime.now(UTC)
    stats = cloudwatch.get_metric_statistics(
        Namespace=METRIC_NAMESPACE,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
        Period=60,
        Statistics=["Sum"],
    )
    return [point["Sum"] for point in stats["Datapoints"]]
