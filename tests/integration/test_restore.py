"""In-place restores through the real state machine: which set, which devices, which settings."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from tests.conftest import NOW, VssSetFactory
from tests.integration.conftest import RestoreRunner
from tests.integration.helpers import attached, power_state, snapshot_of_volume, volume, volume_tags
from vss_restore import tags
from vss_restore.local.invariants import InstanceState

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


def test_restore_preserves_every_volume_attribute_and_keeps_originals(
    ec2: EC2Client, instance_with_volumes: str, vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN a running instance with four differently configured volumes and one VSS set
    snapshots = vss_set("set-1", hours_ago=1)
    originals = {d: volume(ec2, v) for d, v in attached(ec2, instance_with_volumes).items()}

    # WHEN it is restored
    done = restore()

    # THEN every device holds a new volume made from the set's snapshot with the original's settings
    report = done.report
    assert report["Status"] == "Succeeded"
    assert report["SnapshotSetId"] == "set-1"
    assert [v["Device"] for v in report["Volumes"]] == ["/dev/sda1", "xvdf", "xvdg", "xvdh"]
    now_attached = attached(ec2, instance_with_volumes)
    for device, original in originals.items():
        new = volume(ec2, now_attached[device])
        assert new["VolumeId"] != original["VolumeId"]
        assert new["SnapshotId"] == snapshots[device]
        assert new["AvailabilityZone"] == original["AvailabilityZone"]
        for attribute in ("VolumeType", "Size", "Iops", "Throughput", "Encrypted", "KmsKeyId"):
            assert new.get(attribute) == original.get(attribute), (device, attribute)
        new_tags = tags.tag_dict(new.get("Tags"))
        assert new_tags["Name"] == tags.tag_dict(original.get("Tags"))["Name"]
        assert new_tags[tags.REPLACED_VOLUME_ID] == original["VolumeId"]
        assert new_tags[tags.INSTANCE_ID] == instance_with_volumes
        assert new_tags[tags.SNAPSHOT_SET_ID] == "set-1"
        assert new_tags[tags.STATUS] == tags.STATUS_RESTORED
        # originals are kept, detached, and say what replaced them
        kept = volume(ec2, original["VolumeId"])
        assert kept["State"] == "available"
        assert tags.tag_dict(kept.get("Tags"))[tags.REPLACED_BY] == new["VolumeId"]
    assert volume(ec2, now_attached["xvdf"])["Iops"] == 6000
    assert volume(ec2, now_attached["xvdf"])["Throughput"] == 500
    assert volume(ec2, now_attached["xvdg"])["VolumeType"] == "io2"
    assert volume(ec2, now_attached["xvdh"])["KmsKeyId"] == originals["xvdh"]["KmsKeyId"]
    after = InstanceState.capture(ec2, instance_with_volumes)
    assert after.delete_on_termination == done.before.delete_on_termination
    assert power_state(ec2, instance_with_volumes) == "running"
    assert report["PowerState"] == "running"
    assert report["DowntimeSeconds"] >= 0


def test_restore_takes_older_set_when_newest_is_not_app_consistent(
    ec2: EC2Client, instance_with_volumes: str, vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN an older complete set and a newer one where xvdg's snapshot is not AppConsistent
    older = vss_set("set-old", hours_ago=24)
    vss_set("set-new", hours_ago=1, not_app_consistent=("xvdg",))

    # WHEN the instance is restored without naming a set
    report = restore().report

    # THEN the older set is used and the report says why the newer one was passed over
    assert report["SnapshotSetId"] == "set-old"
    assert snapshot_of_volume(ec2, attached(ec2, instance_with_volumes)["xvdg"]) == older["xvdg"]
    skipped = report["SkippedSets"]
    assert [s["SnapshotSetId"] for s in skipped] == ["set-new"]
    assert any("xvdg" in reason and "AppConsistent" in reason for reason in skipped[0]["Reasons"])


def test_restore_takes_older_set_when_newest_has_a_pending_snapshot(
    vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN a newest set whose xvdf snapshot is still pending
    vss_set("set-old", hours_ago=24)
    vss_set("set-new", hours_ago=1, pending=("xvdf",))

    # WHEN restoring
    report = restore().report

    # THEN the older complete set is used
    assert report["SnapshotSetId"] == "set-old"
    assert any("pending" in r for r in report["SkippedSets"][0]["Reasons"])


def test_restore_takes_set_missing_a_device_only_when_that_device_is_not_restored(
    vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN the newest set lacks xvdh entirely
    vss_set("set-old", hours_ago=24)
    vss_set("set-new", hours_ago=1, devices=["/dev/sda1", "xvdf", "xvdg"])

    # WHEN restoring everything, and then only the covered devices
    everything = restore().report
    covered = restore(Devices=["xvdf", "xvdg"]).report

    # THEN a full restore skips the partial set, a restore of covered devices may use it
    assert everything["SnapshotSetId"] == "set-old"
    assert "no snapshot of xvdh" in everything["SkippedSets"][0]["Reasons"]
    assert covered["SnapshotSetId"] == "set-new"


def test_restore_point_in_time_selects_latest_complete_set_at_or_before_it(
    vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN sets taken 48, 24 and 1 hours ago
    vss_set("set-48h", hours_ago=48)
    vss_set("set-24h", hours_ago=24)
    vss_set("set-1h", hours_ago=1)

    # WHEN restoring to 12 hours ago
    report = restore(RestorePointInTime=(NOW - timedelta(hours=12)).isoformat()).report

    # THEN the 24-hour-old set is the one used
    assert report["SnapshotSetId"] == "set-24h"


def test_restore_of_named_snapshot_set_uses_exactly_that_set(
    ec2: EC2Client, instance_with_volumes: str, vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN three complete sets
    vss_set("set-a", hours_ago=48)
    wanted = vss_set("set-b", hours_ago=24)
    vss_set("set-c", hours_ago=1)

    # WHEN restoring set-b by id
    assert restore(SnapshotSetId="set-b").report["SnapshotSetId"] == "set-b"

    # THEN set-b's snapshots back every device
    now_attached = attached(ec2, instance_with_volumes)
    assert {d: snapshot_of_volume(ec2, v) for d, v in now_attached.items()} == wanted


def test_restore_groups_sets_without_vss_config_by_start_time(
    ec2: EC2Client, instance_with_volumes: str, vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN sets from AwsVssComponents older than 2.3.1 (no AwsVssConfig tag)
    vss_set(None, hours_ago=24)
    newest = vss_set(None, hours_ago=2)

    # WHEN restoring
    report = restore().report

    # THEN the newest time-grouped set is used, named after its start time
    assert report["SnapshotSetId"].startswith("vss-")
    assert snapshot_of_volume(ec2, attached(ec2, instance_with_volumes)["xvdf"]) == newest["xvdf"]


def test_exclude_boot_volume_leaves_root_untouched(
    ec2: EC2Client, instance_with_volumes: str, vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN a set taken without the boot volume, as VSS can be told to
    vss_set("set-data", hours_ago=1, devices=["xvdf", "xvdg", "xvdh"])

    # WHEN restoring with ExcludeBootVolume
    done = restore(ExcludeBootVolume=True)

    # THEN the root device keeps its volume and the data devices are restored
    now_attached = attached(ec2, instance_with_volumes)
    changed = {d for d in done.before.volumes if now_attached[d] != done.before.volumes[d]}
    assert changed == {"xvdf", "xvdg", "xvdh"}
    assert [v["Device"] for v in done.report["Volumes"]] == ["xvdf", "xvdg", "xvdh"]


def test_devices_subset_restores_only_those_and_leaves_others_untouched(
    ec2: EC2Client, instance_with_volumes: str, vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN a complete set
    vss_set("set-1", hours_ago=1)

    # WHEN only xvdf and xvdg are restored (asked for out of order)
    done = restore(Devices=["xvdg", "xvdf"])

    # THEN exactly those two changed, in natural order; no other volume was even detached
    now_attached = attached(ec2, instance_with_volumes)
    changed = {d for d in done.before.volumes if now_attached[d] != done.before.volumes[d]}
    assert changed == {"xvdf", "xvdg"}
    assert [v["Device"] for v in done.report["Volumes"]] == ["xvdf", "xvdg"]


def test_dry_run_reports_the_plan_and_changes_nothing(
    ec2: EC2Client, instance_with_volumes: str, vss_set: VssSetFactory, restore: RestoreRunner
) -> None:
    # GIVEN a complete set and a record of every volume in the account
    vss_set("set-1", hours_ago=1)
    volumes_before = sorted(v["VolumeId"] for v in ec2.describe_volumes()["Volumes"])

    # WHEN a DryRun is executed
    done = restore(DryRun=True)

    # THEN the report is the plan, and no volume, attachment or power state changed
    assert done.report["Status"] == "DryRun"
    assert done.report["SnapshotSetId"] == "set-1"
    assert all(v["NewVolumeId"] is None for v in done.report["Volumes"])
    assert sorted(v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]) == volumes_before
    assert InstanceState.capture(ec2, instance_with_volumes) == done.before
    assert "PrepareVolumesAndStop" not in done.result.state_path()
    assert volume_tags(ec2, done.before.volumes["xvdf"]).get(tags.REPLACED_BY) is None
