"""The throwaway EC2 world of one acceptance run, and its removal.

Everything the suite creates carries the tag ``vss-restore-acceptance=<run id>``; the key is
outside the ``vss-restore:`` namespace on purpose, so that a restore copies it, as a user
tag, onto the volumes it creates. Teardown finds resources by that tag, and also by the tags
vss-restore itself writes (``vss-restore:instance-id`` on restored volumes,
``vss-restore:drill`` on a drill's clone and its volumes), so that nothing is left after a
failure or a crash: ``python -m acceptance --cleanup-only`` runs the same teardown for every
run. IAM has no tag filter in its listings: the run's role and instance profile are found by
their path (``/vss-restore-acceptance/``) and their name, which holds the run id; they carry
the run tag too.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, WaiterError

from vss_restore import tags
from vss_restore.aws_errors import error_code
from vss_restore.instance import attached_volumes, describe_instance
from vss_restore.local.world import vss_config

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.literals import InstanceTypeType, ResourceTypeType
    from mypy_boto3_ec2.type_defs import (
        BlockDeviceMappingTypeDef,
        FilterTypeDef,
        TagSpecificationTypeDef,
    )
    from mypy_boto3_ssm import SSMClient

RUN_TAG = "vss-restore-acceptance"
WINDOWS_AMI_PARAMETER = "/aws/service/ami-windows-latest/Windows_Server-2022-English-Full-Base"
INSTANCE_TYPE: InstanceTypeType = "t3.medium"
DATA_DEVICE = "xvdf"
# The disks instance: a basic disk with a marker file, and two dynamic disks striped together.
MARKER_DEVICE = DATA_DEVICE
STRIPE_DEVICES = ("xvdg", "xvdh")
DISK_DEVICES = (MARKER_DEVICE, *STRIPE_DEVICES)
DATA_VOLUME_GIB = 1
IAM_PATH = f"/{RUN_TAG}/"
AGENT_POLICY = "policy/AmazonSSMManagedInstanceCore"  # AWS managed: what the SSM agent needs
_EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
_LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
_GONE_VOLUME_STATES = ("deleting", "deleted")


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique, usable in a stack name: ``20261201T150102-a1b2c3``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


def latest_windows_ami(ssm: SSMClient, parameter: str = WINDOWS_AMI_PARAMETER) -> str:
    """The current Windows Server 2022 AMI of the region (an AWS public SSM parameter)."""
    return str(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])


def device_volumes(ec2: EC2Client, instance_id: str) -> dict[str, str]:
    """Device → id of the EBS volume attached there."""
    attached = attached_volumes(describe_instance(ec2, instance_id))
    return {device: entry["VolumeId"] for device, entry in attached.items()}


def _profile_not_ready(err: ClientError) -> bool:
    """EC2's refusal of an instance profile IAM has created but not yet spread."""
    message = str(err.response.get("Error", {}).get("Message", "")).lower()
    return error_code(err) == "InvalidParameterValue" and (
        "iaminstanceprofile" in message or "instance profile" in message
    )


@dataclass(frozen=True)
class Found:
    """What a run still holds in the account."""

    instances: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    snapshots: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    instance_profiles: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))

    def __str__(self) -> str:
        parts = [
            f"{name}: {', '.join(ids)}"
            for name, ids in (
                ("instances", self.instances),
                ("volumes", self.volumes),
                ("snapshots", self.snapshots),
                ("security groups", self.security_groups),
                ("instance profiles", self.instance_profiles),
                ("roles", self.roles),
            )
            if ids
        ]
        return "; ".join(parts) or "nothing"


@dataclass
class Sandbox:
    """Creates the run's EC2 resources, all tagged, and removes them again.

    ``run_id=None`` addresses every run's resources (``--cleanup-only``).
    """

    ec2: EC2Client
    iam: Any  # the IAM client (the dev requirements carry no IAM type stubs)
    run_id: str | None
    sleep: Callable[[float], None] = time.sleep
    pause_seconds: float = 15.0
    # IAM is eventually consistent: a new instance profile may be refused for a while.
    profile_attempts: int = 12
    errors: list[str] = field(default_factory=list)

    # --- creating ---------------------------------------------------------------------

    def _run_filter(self) -> FilterTypeDef:
        if self.run_id is None:
            return {"Name": "tag-key", "Values": [RUN_TAG]}
        return {"Name": f"tag:{RUN_TAG}", "Values": [self.run_id]}

    def _label(self) -> str:
        return self.run_id or "cleanup"

    def tag_specifications(
        self, *resource_types: ResourceTypeType, extra: dict[str, str] | None = None
    ) -> list[TagSpecificationTypeDef]:
        labels = tags.tag_list({RUN_TAG: self._label(), **(extra or {})})
        return [{"ResourceType": kind, "Tags": labels} for kind in resource_types]

    def security_group(self, vpc_id: str) -> str:
        """A group with no inbound rule, for the instances and the drill's clone."""
        return self.ec2.create_security_group(
            GroupName=f"{RUN_TAG}-{self._label()}",
            Description="vss-restore acceptance run: no inbound traffic",
            VpcId=vpc_id,
            TagSpecifications=self.tag_specifications("security-group"),
        )["GroupId"]

    def _iam_name(self) -> str:
        return f"{RUN_TAG}-{self._label()}"

    def agent_profile(self) -> str:
        """An instance profile whose role lets the SSM agent register; returns its name.

        Role and profile share the run's name and path (how teardown finds them) and carry
        the run tag. The policy's ARN takes the partition from the role's.
        """
        name = self._iam_name()
        labels: list[Any] = [{"Key": RUN_TAG, "Value": self._label()}]
        role_arn = self.iam.create_role(
            RoleName=name,
            Path=IAM_PATH,
            AssumeRolePolicyDocument=json.dumps(_EC2_TRUST),
            Description="vss-restore acceptance run: the SSM agent of the disks instance",
            Tags=labels,
        )["Role"]["Arn"]
        partition = role_arn.split(":")[1]
        self.iam.attach_role_policy(
            RoleName=name, PolicyArn=f"arn:{partition}:iam::aws:{AGENT_POLICY}"
        )
        self.iam.create_instance_profile(InstanceProfileName=name, Path=IAM_PATH, Tags=labels)
        self.iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        return name

    def _root_mapping(self, image_id: str) -> BlockDeviceMappingTypeDef:
        """The AMI's root device as gp3, of the AMI's own size (30 GiB for Windows Server)."""
        image = self.ec2.describe_images(ImageIds=[image_id])["Images"][0]
        root = image["RootDeviceName"]
        size = (
            next(
                (
                    m["Ebs"].get("VolumeSize")
                    for m in image.get("BlockDeviceMappings", [])
                    if m["DeviceName"] == root and "Ebs" in m
                ),
                None,
            )
            or 30
        )
        return {
            "DeviceName": root,
            "Ebs": {"VolumeSize": size, "VolumeType": "gp3", "DeleteOnTermination": True},
        }

    def launch(
        self,
        image_id: str,
        subnet_id: str,
        group_id: str,
        name: str,
        opt_in: tuple[str, str],
        *,
        devices: tuple[str, ...] = (DATA_DEVICE,),
        profile: str | None = None,
    ) -> str:
        """A Windows instance: its gp3 root and one small gp3 volume per data device.

        Given an instance ``profile`` (the disks instance), it also gets a public address:
        the SSM agent's way out to Systems Manager (the group admits nothing in). Without
        one, the instance has no address outside the VPC.
        """
        data: list[BlockDeviceMappingTypeDef] = [
            {
                "DeviceName": device,
                "Ebs": {
                    "VolumeSize": DATA_VOLUME_GIB,
                    "VolumeType": "gp3",
                    "DeleteOnTermination": True,
                },
            }
            for device in devices
        ]
        arguments: dict[str, Any] = {
            "ImageId": image_id,
            "InstanceType": INSTANCE_TYPE,
            "MinCount": 1,
            "MaxCount": 1,
            "BlockDeviceMappings": [self._root_mapping(image_id), *data],
            "NetworkInterfaces": [
                {
                    "DeviceIndex": 0,
                    "SubnetId": subnet_id,
                    "Groups": [group_id],
                    "AssociatePublicIpAddress": profile is not None,
                }
            ],
            "MetadataOptions": {"HttpTokens": "required"},
            "TagSpecifications": [
                *self.tag_specifications("instance", extra={"Name": name, opt_in[0]: opt_in[1]}),
                *self.tag_specifications("volume", extra={"Name": name}),
            ],
        }
        if profile is not None:
            arguments["IamInstanceProfile"] = {"Name": profile}
        return self._run_instance(arguments)

    def _run_instance(self, arguments: dict[str, Any]) -> str:
        """RunInstances, retried while EC2 does not know a new instance profile yet."""
        attempt = 1
        while True:
            try:
                return self.ec2.run_instances(**arguments)["Instances"][0]["InstanceId"]
            except ClientError as err:
                if attempt >= self.profile_attempts or not _profile_not_ready(err):
                    raise
            attempt += 1
            self.sleep(self.pause_seconds)

    def wait_healthy(self, instance_ids: list[str], minutes: int = 20) -> None:
        """Running with both status checks ``ok`` (a Windows boot takes a few minutes)."""
        self.ec2.get_waiter("instance_status_ok").wait(
            InstanceIds=instance_ids,
            IncludeAllInstances=True,
            WaiterConfig={"Delay": 15, "MaxAttempts": minutes * 4},
        )

    def snapshot_set(self, instance_id: str, set_id: str) -> dict[str, str]:
        """One crash-consistent snapshot per volume, tagged as the VSS solution tags its sets.

        ``CreateSnapshots`` takes all the instance's volumes at one point in time; the tags
        ``Device``, ``AppConsistent=true`` and ``AwsVssConfig`` (with ``set_id``) are added
        afterwards, as AwsVssComponents adds them. Returns device → snapshot id.
        """
        by_volume = {v: d for d, v in device_volumes(self.ec2, instance_id).items()}
        created = self.ec2.create_snapshots(
            InstanceSpecification={"InstanceId": instance_id},
            Description=f"vss-restore acceptance set {set_id}",
            TagSpecifications=self.tag_specifications("snapshot"),
        )["Snapshots"]
        members: dict[str, str] = {}
        for snapshot in created:
            device = by_volume[snapshot["VolumeId"]]
            vss_tags = {
                tags.VSS_DEVICE: device,
                tags.VSS_APP_CONSISTENT: "true",
                tags.VSS_CONFIG: vss_config(set_id),
            }
            self.ec2.create_tags(Resources=[snapshot["SnapshotId"]], Tags=tags.tag_list(vss_tags))
            members[device] = snapshot["SnapshotId"]
        return members

    def wait_snapshots(self, snapshot_ids: list[str], minutes: int = 45) -> None:
        """A first snapshot copies every written block: minutes for a Windows root volume."""
        self.ec2.get_waiter("snapshot_completed").wait(
            SnapshotIds=snapshot_ids, WaiterConfig={"Delay": 15, "MaxAttempts": minutes * 4}
        )

    # --- finding ----------------------------------------------------------------------

    def _instances(self, filters: list[FilterTypeDef]) -> list[dict[str, Any]]:
        pages = self.ec2.get_paginator("describe_instances").paginate(Filters=filters)
        return [dict(i) for page in pages for r in page["Reservations"] for i in r["Instances"]]

    def _volumes(self, filters: list[FilterTypeDef]) -> list[dict[str, Any]]:
        pages = self.ec2.get_paginator("describe_volumes").paginate(Filters=filters)
        return [dict(v) for page in pages for v in page["Volumes"]]

    def _related(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Live instances and volumes of the run: tagged by us, or by vss-restore for ours."""
        ours = self._instances([self._run_filter()])
        sources = [i["InstanceId"] for i in ours]
        live: list[FilterTypeDef] = [
            {"Name": "instance-state-name", "Values": _LIVE_INSTANCE_STATES}
        ]
        instances = [i for i in ours if i["State"]["Name"] in _LIVE_INSTANCE_STATES]
        volumes = self._volumes([self._run_filter()])
        if sources:
            instances += self._instances([{"Name": f"tag:{tags.DRILL}", "Values": sources}, *live])
            for key in (tags.INSTANCE_ID, tags.DRILL):
                volumes += self._volumes([{"Name": f"tag:{key}", "Values": sources}])
        unique_instances = {i["InstanceId"]: i for i in instances}
        unique_volumes = {
            v["VolumeId"]: v for v in volumes if v["State"] not in _GONE_VOLUME_STATES
        }
        return list(unique_instances.values()), list(unique_volumes.values())

    def _ours_in_iam(self, name: str, path: str) -> bool:
        """The run's role or profile (any run's if ``run_id`` is None), by path and name."""
        if path != IAM_PATH:
            return False
        return name == self._iam_name() if self.run_id else name.startswith(f"{RUN_TAG}-")

    def _instance_profiles(self) -> tuple[str, ...]:
        pages = self.iam.get_paginator("list_instance_profiles").paginate(PathPrefix=IAM_PATH)
        found = [p for page in pages for p in page["InstanceProfiles"]]
        return tuple(
            sorted(
                p["InstanceProfileName"]
                for p in found
                if self._ours_in_iam(p["InstanceProfileName"], p["Path"])
            )
        )

    def _roles(self) -> tuple[str, ...]:
        pages = self.iam.get_paginator("list_roles").paginate(PathPrefix=IAM_PATH)
        found = [r for page in pages for r in page["Roles"]]
        return tuple(
            sorted(r["RoleName"] for r in found if self._ours_in_iam(r["RoleName"], r["Path"]))
        )

    def find(self) -> Found:
        instances, volumes = self._related()
        snapshots = self.ec2.get_paginator("describe_snapshots").paginate(
            OwnerIds=["self"], Filters=[self._run_filter()]
        )
        groups = self.ec2.describe_security_groups(Filters=[self._run_filter()])
        return Found(
            instances=tuple(sorted(i["InstanceId"] for i in instances)),
            volumes=tuple(sorted(v["VolumeId"] for v in volumes)),
            snapshots=tuple(sorted(s["SnapshotId"] for p in snapshots for s in p["Snapshots"])),
            security_groups=tuple(sorted(g["GroupId"] for g in groups["SecurityGroups"])),
            instance_profiles=self._instance_profiles(),
            roles=self._roles(),
        )

    # --- removing ---------------------------------------------------------------------

    def _attempt(self, what: str, call: Callable[[], object]) -> None:
        """One removal step; a refusal is noted and the next pass tries again."""
        try:
            call()
        except (ClientError, WaiterError) as err:
            self.errors.append(f"{what}: {err}")

    def _mark(self) -> None:
        """Put the run tag on what vss-restore created for our instances (clones, volumes),
        so that a later pass or run still finds it once our instances are gone."""
        instances, volumes = self._related()
        unmarked = [
            r.get("InstanceId") or r["VolumeId"]
            for r in [*instances, *volumes]
            if RUN_TAG not in tags.tag_dict(r.get("Tags"))
        ]
        if unmarked:
            self._attempt(
                f"tagging {', '.join(unmarked)}",
                lambda: self.ec2.create_tags(
                    Resources=unmarked, Tags=[{"Key": RUN_TAG, "Value": self._label()}]
                ),
            )

    def _remove(self, found: Found) -> None:
        if found.instances:
            ids = list(found.instances)
            self._attempt(
                f"terminating {', '.join(ids)}",
                lambda: self.ec2.terminate_instances(InstanceIds=ids),
            )
            self._attempt(
                "waiting for termination",
                lambda: self.ec2.get_waiter("instance_terminated").wait(
                    InstanceIds=ids, WaiterConfig={"Delay": 15, "MaxAttempts": 40}
                ),
            )
        for volume_id in found.volumes:
            self._attempt(
                f"deleting {volume_id}", partial(self.ec2.delete_volume, VolumeId=volume_id)
            )
        for snapshot_id in found.snapshots:
            self._attempt(
                f"deleting {snapshot_id}",
                partial(self.ec2.delete_snapshot, SnapshotId=snapshot_id),
            )
        for group_id in found.security_groups:
            self._attempt(
                f"deleting {group_id}",
                partial(self.ec2.delete_security_group, GroupId=group_id),
            )
        # After the instances: a profile goes once nothing runs with it, a role once no
        # profile holds it.
        for profile in found.instance_profiles:
            self._attempt(
                f"deleting instance profile {profile}", partial(self._delete_profile, profile)
            )
        for role in found.roles:
            self._attempt(f"deleting role {role}", partial(self._delete_role, role))

    def _delete_profile(self, name: str) -> None:
        held = self.iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
        for role in held:
            self.iam.remove_role_from_instance_profile(
                InstanceProfileName=name, RoleName=role["RoleName"]
            )
        self.iam.delete_instance_profile(InstanceProfileName=name)

    def _delete_role(self, name: str) -> None:
        attached = self.iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        for policy in attached:
            self.iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
        self.iam.delete_role(RoleName=name)

    def teardown(self, passes: int = 8) -> Found:
        """Remove everything of the run; returns what is still there (empty when done).

        Each pass removes what it finds and notes refusals (a volume still detaching, a
        group still used by a terminating instance); the next pass tries again.
        """
        for attempt in range(passes):
            if attempt:
                self.sleep(self.pause_seconds)
            self._mark()
            found = self.find()
            if found.empty:
                return found
            self._remove(found)
        return self.find()
