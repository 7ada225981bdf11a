"""Planning a mount: which devices, which free names on the target, which tags (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.test_planning import AZ, EXECUTION, INSTANCE_ID, chosen, facts, member, original
from vss_restore import tags
from vss_restore.discovery import target_devices
from vss_restore.errors import InvalidRequest, NoFreeDevice
from vss_restore.models import MAX_MOUNT_VOLUMES, CreatedVolume, RestoreRequest
from vss_restore.mounts import (
    MOUNT_DEVICE_NAMES,
    Unmounted,
    build_mount_report,
    free_devices,
    plan_mount,
    planned_mounts,
    unmounted,
)
from vss_restore.windows_disks import DiskCommandResult

TARGET_ID = "i-0fedcba9876543210"
NOW = datetime(2026, 12, 1, 20, 0, 0, tzinfo=UTC)


def target(*devices: str, az: str = "eu-west-1a") -> dict[str, Any]:
    return {
        "InstanceId": TARGET_ID,
        "Placement": {"AvailabilityZone": az},
        "BlockDeviceMappings": [
            {"DeviceName": d, "Ebs": {"VolumeId": f"vol-{i:017x}"}} for i, d in enumerate(devices)
        ],
    }


def test_free_devices_skips_the_targets_names_and_goes_on_to_xvdca_after_xvdz() -> None:
    # GIVEN a target using the root, xvdf (also named as /dev/xvdg) and xvdz
    busy = target("/dev/sda1", "xvdf", "/dev/xvdg", "xvdz")

    # WHEN free names are chosen for 20 volumes
    names = free_devices(busy, 20)

    # THEN the used names are skipped, in the recommended order
    assert names[:3] == ["xvdh", "xvdi", "xvdj"]
    assert "xvdz" not in names
    assert names[-2:] == ["xvdca", "xvdcb"]


def test_free_devices_raises_no_free_device_when_fewer_names_are_free_than_volumes() -> None:
    full = target(*MOUNT_DEVICE_NAMES[:-1])

    assert free_devices(full, 1) == [MOUNT_DEVICE_NAMES[-1]]
    with pytest.raises(NoFreeDevice, match="1 free device name"):
        free_devices(full, 2)


def test_mount_takes_the_data_devices_unless_devices_are_given() -> None:
    source = facts()
    default = RestoreRequest.parse({"InstanceId": INSTANCE_ID, "Mode": "Mount"})
    listed = RestoreRequest.parse(
        {"InstanceId": INSTANCE_ID, "Mode": "Mount", "Devices": ["/dev/sda1"]}
    )

    data = [v.device for v in source.volumes if v.device != source.root_device_name]
    assert data
    assert sorted(target_devices(default, source)) == sorted(data)
    assert target_devices(listed, source) == ["/dev/sda1"]


def test_mount_fails_naming_devices_when_the_source_has_no_data_volume() -> None:
    only_root = facts(volumes={"/dev/sda1": "vol-0000000000000root"})
    request = RestoreRequest.parse({"InstanceId": INSTANCE_ID, "Mode": "Mount"})

    with pytest.raises(InvalidRequest, match=r"Devices: .* has no data volume"):
        target_devices(request, only_root)


def test_a_mount_listing_more_devices_than_windows_has_drive_letters_is_invalid_naming_devices() -> (
    None
):
    # GIVEN 24 devices: one more than D: to Z:
    devices = [f"xvd{c}" for c in "bcdefghijklmnopqrstuvwxy"]
    assert len(devices) == MAX_MOUNT_VOLUMES + 1

    with pytest.raises(InvalidRequest, match=r"Devices: .*24 devices .*D: to Z:"):
        RestoreRequest.parse({"InstanceId": INSTANCE_ID, "Mode": "Mount", "Devices": devices})
    # 23 are accepted
    RestoreRequest.parse({"InstanceId": INSTANCE_ID, "Mode": "Mount", "Devices": devices[:23]})


def test_a_mount_of_every_data_volume_of_a_source_with_more_than_23_fails_naming_devices() -> None:
    # GIVEN a source with the root and 24 data volumes, and a Mount that names no Devices
    data = {f"xvd{c}": f"vol-{i:017x}" for i, c in enumerate("bcdefghijklmnopqrstuvwxy")}
    source = facts(volumes={"/dev/sda1": "vol-0000000000000root", **data})
    request = RestoreRequest.parse({"InstanceId": INSTANCE_ID, "Mode": "Mount"})

    with pytest.raises(InvalidRequest, match=r"Devices: .*24 devices"):
        target_devices(request, source)


def _plan() -> Any:
    originals = {
        o["VolumeId"]: o
        for o in (original(d, volume_tags={tags.LINEAGE: "vol-older"}) for d in ("xvdb", "xvdf"))
    }
    return plan_mount(
        facts(),
        target("/dev/sda1", "xvdf"),
        chosen(member("xvdb"), member("xvdf")),
        originals,
        EXECUTION,
        NOW,
        3,
    )


def test_plan_mount_creates_in_the_targets_zone_at_its_free_devices_with_the_mount_tags() -> None:
    # GIVEN / WHEN a mount of two data devices on a target in another zone is planned
    plan = _plan()

    # THEN the volumes are in the target's zone, each at a free device of the target
    assert {s.availability_zone for s in plan.volumes} == {"eu-west-1a"} != {AZ}
    mounts = planned_mounts(plan)
    assert [(m.device, m.attach_as) for m in mounts] == [("xvdb", "xvdg"), ("xvdf", "xvdh")]
    assert {m.expires_at for m in mounts} == {"2026-12-01T23:00:00+00:00"}
    # ...tagged as a mount, and outside the source's lineage
    labels = plan.volumes[0].tags
    assert labels[tags.MOUNTED_ON] == TARGET_ID
    assert labels[tags.MOUNT_SOURCE_INSTANCE] == INSTANCE_ID
    assert labels[tags.MOUNT_DEVICE] == "xvdg"
    assert labels[tags.STATUS] == tags.STATUS_MOUNTED
    assert labels[tags.DEVICE] == "xvdb"
    assert not {tags.INSTANCE_ID, tags.LINEAGE, tags.REPLACED_VOLUME_ID} & set(labels)
    assert all(not s.delete_on_termination for s in plan.volumes)


def test_mount_report_gives_each_mount_its_volume_and_drive_letter() -> None:
    plan = _plan()
    created = [
        {"Device": "xvdb", "VolumeId": "vol-0000000000000b01"},
        {"Device": "xvdf", "VolumeId": "vol-0000000000000f01"},
    ]
    disks = DiskCommandResult.model_validate(
        {
            "Step": "MountDisks",
            "CommandId": "c-1",
            "Status": "Success",
            "FinishedAt": NOW,
            "Disks": [
                {
                    "VolumeId": "vol-0000000000000b01",
                    "DiskNumber": 3,
                    "Offline": False,
                    "ReadOnly": True,
                    "DriveLetters": ["G"],
                },
                {
                    "VolumeId": "vol-0000000000000f01",
                    "DiskNumber": 4,
                    "Offline": False,
                    "ReadOnly": True,
                    "DriveLetters": [],
                },
            ],
            "OutputExcerpt": "",
        }
    )

    report = build_mount_report(
        plan,
        chosen(member("xvdb"), member("xvdf")),
        [CreatedVolume.model_validate(c) for c in created],
        disks,
        dry_run=False,
        started_at=NOW,
        finished_at=NOW,
        power_state="running",
    ).model_dump(mode="json", by_alias=True)

    assert [(m["AttachedAs"], m["VolumeId"], m["DriveLetter"]) for m in report["Mounts"]] == [
        ("xvdg", "vol-0000000000000b01", "G"),
        ("xvdh", "vol-0000000000000f01", None),
    ]
    assert (report["Mode"], report["Status"], report["DowntimeSeconds"]) == (
        "Mount",
        "Succeeded",
        0.0,
    )


def test_unmounted_counts_every_volume_seen_first_as_deleted_unless_left_behind() -> None:
    last = Unmounted(deleted=["vol-c"], left_behind=["vol-b (VolumeInUse)"])

    whole = unmounted(["vol-a", "vol-b"], last)

    assert (whole.deleted, whole.left_behind) == (["vol-a", "vol-c"], ["vol-b (VolumeInUse)"])
