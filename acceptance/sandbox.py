"""The throwaway EC2 world of one acceptance run, and its removal.

Everything the suite creates carries the tag ``vss-restore-acceptance=<run id>``; the key is
outside the ``vss-restore:`` namespace on purpose, so that a restore copies it, as a user
tag, onto the volumes it creates. Teardown finds resources by that tag, and also by the tags
vss-restore itself writes (``vss-restore:instance-id`` on restored volumes,
``vss-restore:drill`` on a drill's clone and its volumes), so that nothing is left after a
failure or a crash: ``python -m acceptance --cleanup-only`` runs the same teardown for every
run.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, WaiterError

from vss_restore import tags
from vss_restore.instance import attached_volumes, describe_instance
from vss_restore.local.world import vss_config

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.literals import InstanceTypeType, ResourceTypeType
    from mypy_boto3_ec2.type_defs import FilterTypeDef, TagSpecificationTypeDef
    from mypy_boto3_ssm import SSMClient

RUN_TAG = "vss-restore-acceptance"
WINDOWS_AMI_PARAMETER = "/aws/service/ami-windows-latest/Windows_Server-2022-English-Full-Base"
INSTANCE_TYPE: InstanceTypeType = "t3.medium"
DATA_DEVICE = "xvdf"
DATA_VOLUME_GIB = 1
_LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
_GONE_VOLUME_STATES = ("deleting", "deleted")


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique, usable in a stack name: ``20261201T150102-a1b2c3``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


def latest_windows_ami(ssm: SSMClient, parameter: str = WINDOWS_AMI_PARAMETER) -> str:
    """The current Windows Server 2022 AMI of the region (an AWS public SSM parameter)."""
    return str(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])


@dataclass(frozen=True)
class Found:
    """What a run still holds in the account."""

    instances: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    snapshots: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.instances or self.volumes or self.snapshots or self.security_groups)

    def __str__(self) -> str:
        parts = [
            f"{name}: {', '.join(ids)}"
            for name, ids in (
                ("instances", self.instances),
                ("volumes", self.volumes),
                ("snapshots", self.snapshots),
                ("security groups", self.security_groups),
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
    run_id: str | None
    sleep: Callable[[float], None] = time.sleep
    pause_seconds: float = 15.0
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

    def launch(
        self, image_id: str, subnet_id: str, group_id: str, name: str, opt_in: tuple[str, str]
    ) -> str:
        """A Windows instance: its gp3 root and one small gp3 data volume, no public address."""
        image = self.ec2.describe_images(ImageIds=[image_id])["Images"][0]
        root = image["RootDeviceName"]
        # The AMI's own size (30 GiB for Windows Server); only the type changes, to gp3.
        root_size = (
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
        return self.ec2.run_instances(
            ImageId=image_id,
            InstanceType=INSTANCE_TYPE,
            MinCount=1,
            MaxCount=1,
            BlockDeviceMappings=[
                {
                    "DeviceName": root,
                    "Ebs": {
                        "VolumeSize": root_size,
                        "VolumeType": "gp3",
                        "DeleteOnTermination": True,
                    },
                },
                {
                    "DeviceName": DATA_DEVICE,
                    "Ebs": {
                        "VolumeSize": DATA_VOLUME_GIB,
                        "VolumeType": "gp3",
                        "DeleteOnTermination": True,
                    },
                },
            ],
            NetworkInterfaces=[
                {
                    "DeviceIndex": 0,
                    "SubnetId": subnet_id,
                    "Groups": [group_id],
                    "AssociatePublicIpAddress": False,
                }
            ],
            MetadataOptions={"HttpTokens": "required"},
            TagSpecifications=[
                *self.tag_specifications("instance", extra={"Name": name, opt_in[0]: opt_in[1]}),
                *self.tag_specifications("volume", extra={"Name": name}),
            ],
        )["Instances"][0]["InstanceId"]

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
        by_volume = {
            entry["VolumeId"]: device
            for device, entry in attached_volumes(describe_instance(self.ec2, instance_id)).items()
        }
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
