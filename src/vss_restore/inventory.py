"""Where an instance's volumes are now, and who holds its lock: what a person needs after a
failure, read from EC2 and the lock table (nothing is changed).

Each device's volume is called what its tags say it is (a volume vss-restore created, or one
it did not); volumes vss-restore created for the instance that are attached nowhere are
listed too. Tags describe; they do not prove (anyone who may tag can write them), so this is
a view for a person, never a list for a machine to act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vss_restore import tags
from vss_restore.devices import restore_order
from vss_restore.instance import describe_instance
from vss_restore.lock import LockNow, read_lock

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client


@dataclass(frozen=True)
class DeviceNow:
    device: str
    volume_id: str
    state: str  # the volume's attachment state: attached, attaching, detaching
    what: str  # e.g. "restored by EXECUTION from snap-..." or "not created by vss-restore"


@dataclass(frozen=True)
class LooseVolume:
    volume_id: str
    state: str
    status: str  # the vss-restore:status tag
    what: str


@dataclass(frozen=True)
class Inventory:
    instance_id: str
    name: str | None
    power_state: str
    devices: list[DeviceNow]
    loose: list[LooseVolume]
    lock: LockNow | None

    def to_json(self) -> dict[str, Any]:
        lock = self.lock
        return {
            "InstanceId": self.instance_id,
            "Name": self.name,
            "State": self.power_state,
            "Lock": None
            if lock is None
            else {
                "Owner": lock.owner,
                "AcquiredAt": lock.acquired_at,
                "ExpiresAt": lock.expires_at.isoformat() if lock.expires_at else None,
            },
            "Devices": [
                {"Device": d.device, "VolumeId": d.volume_id, "State": d.state, "What": d.what}
                for d in self.devices
            ],
            "DetachedVolumes": [
                {"VolumeId": v.volume_id, "State": v.state, "Status": v.status, "What": v.what}
                for v in self.loose
            ],
        }


def _what(volume_tags: dict[str, str]) -> str:
    execution = volume_tags.get(tags.EXECUTION)
    if not execution:
        return "not created by vss-restore"
    made = f"restored by {execution.rsplit(':', 1)[-1]}"
    if volume_tags.get(tags.SNAPSHOT_ID):
        made += f" from {volume_tags[tags.SNAPSHOT_ID]}"
    replaced = volume_tags.get(tags.REPLACED_VOLUME_ID)
    device = volume_tags.get(tags.DEVICE)
    if replaced:
        made += f"; replaces {replaced}" + (f" on {device}" if device else "")
    return made


def inventory(
    ec2: EC2Client, ddb: DynamoDBClient | None, table: str | None, instance_id: str
) -> Inventory:
    """The instance's power state, each device's volume, loose volumes and its lock."""
    raw = describe_instance(ec2, instance_id)
    mappings = {
        m["Ebs"]["VolumeId"]: (m["DeviceName"], m["Ebs"].get("Status", "attached"))
        for m in raw.get("BlockDeviceMappings", [])
        if "Ebs" in m
    }
    attached = ec2.describe_volumes(VolumeIds=list(mappings))["Volumes"] if mappings else []
    devices = [
        DeviceNow(
            device=mappings[v["VolumeId"]][0],
            volume_id=v["VolumeId"],
            state=mappings[v["VolumeId"]][1],
            what=_what(tags.tag_dict(v.get("Tags"))),
        )
        for v in attached
    ]
    ours = ec2.describe_volumes(
        Filters=[{"Name": f"tag:{tags.INSTANCE_ID}", "Values": [instance_id]}]
    )["Volumes"]
    loose = [
        LooseVolume(
            volume_id=v["VolumeId"],
            state=v["State"],
            status=tags.tag_dict(v.get("Tags")).get(tags.STATUS, "—"),
            what=_what(tags.tag_dict(v.get("Tags"))),
        )
        for v in ours
        if v["VolumeId"] not in mappings and v["State"] != "deleting"
    ]
    order = restore_order([d.device for d in devices], raw.get("RootDeviceName", "/dev/sda1"))
    return Inventory(
        instance_id=instance_id,
        name=tags.tag_dict(raw.get("Tags")).get("Name"),
        power_state=raw["State"]["Name"],
        devices=sorted(devices, key=lambda d: order.index(d.device)),
        loose=sorted(loose, key=lambda v: v.volume_id),
        lock=read_lock(ddb, table, instance_id) if ddb is not None and table else None,
    )
