"""CreateVolumes copies the original volume's user tags beside the workflow's own."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3

from vss_restore import tags
from vss_restore.models import RestorePlan, VolumeSpec
from vss_restore.planning import client_token
from vss_restore.records import Records
from vss_restore.volumes import create_volumes

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

AZ = "us-east-1a"
OURS = {tags.DEVICE: "xvdf", tags.CREATED_BY: tags.CREATED_BY_VALUE, tags.STATUS: "restoring"}


def _plan(ec2: EC2Client, original_tags: dict[str, str]) -> RestorePlan:
    original = ec2.create_volume(
        AvailabilityZone=AZ,
        Size=10,
        TagSpecifications=[{"ResourceType": "volume", "Tags": tags.tag_list(original_tags)}],
    )["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=original)["SnapshotId"]
    spec = VolumeSpec(
        device="xvdf",
        snapshot_id=snapshot,
        replaced_volume_id=original,
        availability_zone=AZ,
        volume_type="gp3",
        size=10,
        encrypted=False,
        delete_on_termination=False,
        tags=OURS,
        client_token=client_token("exec-1", "xvdf"),
    )
    return RestorePlan(
        instance_id="i-0123456789abcdef0",
        snapshot_set_id="set-1",
        execution="exec-1",
        volumes=[spec],
        untouched_devices=[],
    )


def _tags_of(ec2: EC2Client, volume_id: str) -> dict[str, str]:
    return tags.tag_dict(ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0].get("Tags"))


def test_create_volumes_copies_user_tags_but_not_reserved_ones_when_original_is_tagged(
    bare_records: Records,
) -> None:
    # GIVEN an original with user tags, tags of an earlier restore, and a plan of our own tags
    ec2 = boto3.client("ec2", region_name="us-east-1")
    plan = _plan(
        ec2, {"Name": "data-f", "CostCenter": "42", f"{tags.PREFIX}replaced-by": "vol-zzz"}
    )

    # WHEN
    created = create_volumes(ec2, plan, bare_records)

    # THEN the new volume has the user tags and ours, not the earlier restore's
    assert _tags_of(ec2, created[0].volume_id) == {"Name": "data-f", "CostCenter": "42", **OURS}


def test_create_volumes_stays_within_ec2_tag_limit_when_original_has_fifty_long_tags(
    bare_records: Records,
) -> None:
    # GIVEN an original with EC2's maximum: 50 tags of 128-character keys, 256-character values
    ec2 = boto3.client("ec2", region_name="us-east-1")
    many = {f"{n:02d}".ljust(128, "k"): "v" * 256 for n in range(50)}
    plan = _plan(ec2, many)

    # WHEN
    created = create_volumes(ec2, plan, bare_records)

    # THEN all our tags, and as many of the user's as leave room: 50 in all
    labels = _tags_of(ec2, created[0].volume_id)
    assert len(labels) == tags.MAX_TAGS
    assert labels.items() >= OURS.items()
    assert len(labels.keys() & many.keys()) == tags.MAX_TAGS - len(OURS)
