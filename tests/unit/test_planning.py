"""Planning a restore: one replacement volume per device, with the original's settings."""

from __future__ import annotations

from typing import Any

import pytest

from vss_restore import tags
from vss_restore.errors import InvalidRequest
from vss_restore.models import AttachedVolume, ChosenSet, InstanceFacts, SetMember, VolumeSpec
from vss_restore.planning import client_token, plan_restore, volume_spec

INSTANCE_ID = "i-0123456789abcdef0"
AZ = "eu-west-1c"
EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:vss-restore:run-1"
SET_ID = "3f1e2d4c-set"
CMK = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
OTHER_KEY = "arn:aws:kms:eu-west-1:123456789012:key/99999999-8888-7777-6666-555555555555"

VOLUMES = {
    "/dev/sda1": "vol-0000000000000root",
    "xvdb": "vol-00000000000000b0",
    "xvdf": "vol-00000000000000f0",
    "xvdaa": "vol-0000000000000aa0",
}


def facts(
    root: str = "/dev/sda1",
    volumes: dict[str, str] = VOLUMES,
    delete_on_termination: dict[str, bool] | None = None,
) -> InstanceFacts:
    dot = delete_on_termination or {root: True}
    return InstanceFacts(
        instance_id=INSTANCE_ID,
        state="running",
        availability_zone=AZ,
        root_device_name=root,
        volumes=[
            AttachedVolume(device=d, volume_id=v, delete_on_termination=dot.get(d, False))
            for d, v in volumes.items()
        ],
    )


def member(
    device: str,
    *,
    size: int = 30,
    encrypted: bool = False,
    kms_key_id: str | None = None,
) -> SetMember:
    return SetMember(
        device=device,
        snapshot_id=f"snap-{device.replace('/', '')}",
        volume_id=VOLUMES.get(device, "vol-gone"),
        volume_size=size,
        encrypted=encrypted,
        kms_key_id=kms_key_id,
    )


def chosen(*members: SetMember, set_id: str = SET_ID) -> ChosenSet:
    return ChosenSet.model_validate(
        {
            "SnapshotSetId": set_id,
            "CreatedAt": "2024-05-01T12:00:00Z",
            "GroupedBy": "AwsVssConfig",
            "Members": [m.model_dump(by_alias=True) for m in members],
        }
    )


def original(
    device: str,
    *,
    volume_type: str = "gp3",
    size: int = 30,
    iops: int | None = 3000,
    throughput: int | None = 125,
    encrypted: bool = False,
    kms_key_id: str | None = None,
    multi_attach: bool = False,
    volume_tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A volume as EC2 DescribeVolumes returns it."""
    volume: dict[str, Any] = {
        "VolumeId": VOLUMES[device],
        "AvailabilityZone": AZ,
        "Size": size,
        "SnapshotId": "",
        "State": "in-use",
        "VolumeType": volume_type,
        "Encrypted": encrypted,
        "MultiAttachEnabled": multi_attach,
        "Attachments": [
            {
                "Device": device,
                "InstanceId": INSTANCE_ID,
                "State": "attached",
                "VolumeId": VOLUMES[device],
                "DeleteOnTermination": False,
            }
        ],
    }
    if iops is not None:
        volume["Iops"] = iops
    if throughput is not None:
        volume["Throughput"] = throughput
    if kms_key_id is not None:
        volume["KmsKeyId"] = kms_key_id
    if volume_tags is not None:
        volume["Tags"] = [{"Key": k, "Value": v} for k, v in volume_tags.items()]
    return volume


def spec_for(
    device: str,
    orig: dict[str, Any],
    snapshot: SetMember | None = None,
    *,
    delete_on_termination: bool = False,
    set_id: str = SET_ID,
    execution: str = EXECUTION,
) -> VolumeSpec:
    return volume_spec(
        facts(), snapshot or member(device), orig, delete_on_termination, set_id, execution
    )


# --- volume_spec -----------------------------------------------------------------------------


def test_volume_spec_uses_instance_availability_zone_when_planning() -> None:
    # GIVEN / WHEN
    spec = spec_for("xvdf", original("xvdf"))

    # THEN
    assert spec.availability_zone == AZ


@pytest.mark.parametrize("volume_type", ["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"])
def test_volume_spec_copies_volume_type_when_original_has_it(volume_type: str) -> None:
    # GIVEN an original of (volume_type)
    orig = original("xvdf", volume_type=volume_type)

    # WHEN
    spec = spec_for("xvdf", orig)

    # THEN
    assert spec.volume_type == volume_type


@pytest.mark.parametrize(
    ("original_size", "snapshot_size", "expected"),
    [(100, 80, 100), (50, 80, 80), (64, 64, 64)],
)
def test_volume_spec_takes_larger_size_when_original_and_snapshot_differ(
    original_size: int, snapshot_size: int, expected: int
) -> None:
    # GIVEN an original grown (or not) since the snapshot
    orig = original("xvdf", size=original_size)

    # WHEN
    spec = spec_for("xvdf", orig, member("xvdf", size=snapshot_size))

    # THEN
    assert spec.size == expected


@pytest.mark.parametrize(
    ("volume_type", "expected_iops", "expected_throughput"),
    [
        ("io1", 5000, None),
        ("io2", 5000, None),
        ("gp3", 5000, 500),
        ("gp2", None, None),
        ("st1", None, None),
        ("sc1", None, None),
        ("standard", None, None),
    ],
)
def test_volume_spec_copies_iops_and_throughput_only_when_type_takes_them(
    volume_type: str, expected_iops: int | None, expected_throughput: int | None
) -> None:
    # GIVEN an original reporting Iops and Throughput (as DescribeVolumes may, e.g. gp2 baseline)
    orig = original("xvdf", volume_type=volume_type, iops=5000, throughput=500)

    # WHEN
    spec = spec_for("xvdf", orig)

    # THEN
    assert (spec.iops, spec.throughput) == (expected_iops, expected_throughput)


def test_volume_spec_keeps_key_of_original_when_snapshot_reports_no_kms_key() -> None:
    # GIVEN a CMK-encrypted original whose snapshot does not report its key
    orig = original("xvdf", encrypted=True, kms_key_id=CMK)
    snapshot = member("xvdf", encrypted=True, kms_key_id=None)

    # WHEN
    spec = spec_for("xvdf", orig, snapshot)

    # THEN
    assert spec.encrypted is True
    assert spec.kms_key_id == CMK


def test_volume_spec_prefers_key_of_original_when_snapshot_reports_another_key() -> None:
    # GIVEN
    orig = original("xvdf", encrypted=True, kms_key_id=CMK)
    snapshot = member("xvdf", encrypted=True, kms_key_id=OTHER_KEY)

    # WHEN
    spec = spec_for("xvdf", orig, snapshot)

    # THEN
    assert spec.kms_key_id == CMK


def test_volume_spec_encrypts_with_snapshot_key_when_only_snapshot_is_encrypted() -> None:
    # GIVEN an unencrypted original but an encrypted snapshot
    orig = original("xvdf", encrypted=False)
    snapshot = member("xvdf", encrypted=True, kms_key_id=OTHER_KEY)

    # WHEN
    spec = spec_for("xvdf", orig, snapshot)

    # THEN
    assert spec.encrypted is True
    assert spec.kms_key_id == OTHER_KEY


def test_volume_spec_is_unencrypted_without_key_when_neither_is_encrypted() -> None:
    # GIVEN
    orig = original("xvdf", encrypted=False)

    # WHEN
    spec = spec_for("xvdf", orig, member("xvdf", encrypted=False, kms_key_id=None))

    # THEN
    assert (spec.encrypted, spec.kms_key_id) == (False, None)


@pytest.mark.parametrize(
    ("volume_type", "flag", "expected"),
    [("io2", True, True), ("io1", True, True), ("io2", False, False), ("gp3", True, False)],
)
def test_volume_spec_enables_multi_attach_only_when_original_io_volume_had_it(
    volume_type: str, flag: bool, expected: bool
) -> None:
    # GIVEN
    orig = original("xvdf", volume_type=volume_type, multi_attach=flag)

    # WHEN
    spec = spec_for("xvdf", orig)

    # THEN
    assert spec.multi_attach_enabled is expected


def test_volume_spec_carries_only_its_own_tags_when_original_is_tagged() -> None:
    # GIVEN an original with user tags, AWS tags and tags of an earlier restore
    orig = original(
        "xvdf",
        volume_tags={
            "Name": "data-f",
            "CostCenter": "42",
            "aws:cloudformation:stack-name": "stack",
            f"{tags.PREFIX}replaced-by": "vol-zzz",
        },
    )

    # WHEN
    spec = spec_for("xvdf", orig)

    # THEN the plan stays small: CreateVolumes copies the user tags when it creates the volume
    assert all(k.startswith(tags.PREFIX) for k in spec.tags)
    assert tags.REPLACED_BY not in spec.tags
    assert spec.tags[tags.STATUS] == tags.STATUS_RESTORING


def test_volume_spec_writes_lineage_tags_when_planning() -> None:
    # GIVEN an original that was itself restored earlier (it has a lineage)
    orig = original("xvdf", volume_tags={tags.LINEAGE: "vol-00000000000000a1 vol-00000000000000a2"})

    # WHEN
    spec = spec_for("xvdf", orig)

    # THEN
    assert spec.tags[tags.INSTANCE_ID] == INSTANCE_ID
    assert spec.tags[tags.DEVICE] == "xvdf"
    assert spec.tags[tags.REPLACED_VOLUME_ID] == VOLUMES["xvdf"]
    assert spec.tags[tags.LINEAGE] == (
        f"{VOLUMES['xvdf']} vol-00000000000000a1 vol-00000000000000a2"
    )
    assert spec.tags[tags.SNAPSHOT_SET_ID] == SET_ID
    assert spec.tags[tags.SNAPSHOT_ID] == "snap-xvdf"
    assert spec.tags[tags.EXECUTION] == EXECUTION
    assert spec.tags[tags.CREATED_BY] == tags.CREATED_BY_VALUE == "vss-restore"


def test_volume_spec_starts_lineage_with_replaced_volume_when_original_has_none() -> None:
    # GIVEN an untagged original (DescribeVolumes omits Tags)
    orig = original("xvdf")

    # WHEN
    spec = spec_for("xvdf", orig)

    # THEN
    assert spec.tags[tags.LINEAGE] == VOLUMES["xvdf"]
    assert spec.replaced_volume_id == VOLUMES["xvdf"]


def test_volume_spec_trims_tag_values_when_execution_and_set_id_are_long() -> None:
    # GIVEN values longer than EC2's 256-character tag value limit
    long_execution = EXECUTION + "-" + "e" * 400
    long_set_id = "s" * 300

    # WHEN
    spec = spec_for("xvdf", original("xvdf"), execution=long_execution, set_id=long_set_id)

    # THEN
    assert all(len(v) <= tags.MAX_TAG_VALUE for v in spec.tags.values())
    assert spec.tags[tags.EXECUTION] == long_execution[:256]
    assert spec.client_token == client_token(long_execution, "xvdf")


def test_volume_spec_takes_delete_on_termination_from_argument_when_attachment_differs() -> None:
    # GIVEN an original whose Attachments say False, but the instance's mapping says True
    orig = original("/dev/sda1")

    # WHEN
    spec = spec_for("/dev/sda1", orig, delete_on_termination=True)

    # THEN
    assert spec.delete_on_termination is True


def test_volume_spec_defaults_to_gp3_when_original_has_no_volume_type() -> None:
    # GIVEN
    orig = original("xvdf")
    del orig["VolumeType"]

    # WHEN
    spec = spec_for("xvdf", orig)

    # THEN
    assert spec.volume_type == "gp3"


# --- plan_restore ----------------------------------------------------------------------------


def all_originals(**overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    by_device = {d: original(d) for d in VOLUMES}
    by_device.update(overrides)
    return {v["VolumeId"]: v for v in by_device.values()}


def test_plan_restore_orders_volumes_root_first_naturally_when_members_unordered() -> None:
    # GIVEN set members in a scrambled order
    chosen_set = chosen(member("xvdaa"), member("xvdf"), member("/dev/sda1"), member("xvdb"))

    # WHEN
    plan = plan_restore(facts(), chosen_set, all_originals(), EXECUTION)

    # THEN
    assert [s.device for s in plan.volumes] == ["/dev/sda1", "xvdb", "xvdf", "xvdaa"]
    assert plan.untouched_devices == []


def test_plan_restore_orders_custom_root_first_when_instance_root_differs() -> None:
    # GIVEN an instance whose root is /dev/xvda
    volumes = {"xvdc": "vol-00000000000000c0", "/dev/xvda": "vol-00000000000000a0"}
    instance = facts(root="/dev/xvda", volumes=volumes)
    members = [
        SetMember(device=d, snapshot_id=f"snap-{i}", volume_id=v, volume_size=8, encrypted=False)
        for i, (d, v) in enumerate(volumes.items())
    ]
    originals = {v: {"VolumeId": v, "Size": 8, "VolumeType": "gp3"} for v in volumes.values()}

    # WHEN
    plan = plan_restore(instance, chosen(*members), originals, EXECUTION)

    # THEN
    assert [s.device for s in plan.volumes] == ["/dev/xvda", "xvdc"]


def test_plan_restore_lists_untouched_devices_when_set_covers_only_some() -> None:
    # GIVEN a partial restore of xvdf and /dev/sda1
    chosen_set = chosen(member("xvdf"), member("/dev/sda1"))

    # WHEN
    plan = plan_restore(facts(), chosen_set, all_originals(), EXECUTION)

    # THEN
    assert [s.device for s in plan.volumes] == ["/dev/sda1", "xvdf"]
    assert plan.untouched_devices == ["xvdb", "xvdaa"]


def test_plan_restore_lists_root_first_in_untouched_when_boot_volume_excluded() -> None:
    # GIVEN a data-only restore
    chosen_set = chosen(member("xvdb"))

    # WHEN
    plan = plan_restore(facts(), chosen_set, all_originals(), EXECUTION)

    # THEN
    assert plan.untouched_devices == ["/dev/sda1", "xvdf", "xvdaa"]


def test_plan_restore_takes_delete_on_termination_from_instance_when_planning() -> None:
    # GIVEN an instance whose root and xvdb are DeleteOnTermination
    instance = facts(delete_on_termination={"/dev/sda1": True, "xvdb": True})
    chosen_set = chosen(member("/dev/sda1"), member("xvdb"), member("xvdf"))

    # WHEN
    plan = plan_restore(instance, chosen_set, all_originals(), EXECUTION)

    # THEN
    assert {s.device: s.delete_on_termination for s in plan.volumes} == {
        "/dev/sda1": True,
        "xvdb": True,
        "xvdf": False,
    }


def test_plan_restore_fills_plan_fields_when_planning() -> None:
    # GIVEN
    chosen_set = chosen(member("xvdf"))

    # WHEN
    plan = plan_restore(facts(), chosen_set, all_originals(), EXECUTION)

    # THEN
    assert plan.instance_id == INSTANCE_ID
    assert plan.snapshot_set_id == SET_ID
    assert plan.execution == EXECUTION
    spec = plan.volumes[0]
    assert spec.replaced_volume_id == VOLUMES["xvdf"]
    assert spec.snapshot_id == "snap-xvdf"
    assert spec.client_token == client_token(EXECUTION, "xvdf")


def test_plan_restore_maps_each_device_to_its_own_original_when_types_differ() -> None:
    # GIVEN originals of different types per device
    originals = all_originals(
        xvdb=original("xvdb", volume_type="io2", iops=8000, size=200),
        xvdf=original("xvdf", volume_type="gp2", size=10),
    )
    chosen_set = chosen(member("xvdf", size=20), member("xvdb", size=100))

    # WHEN
    plan = plan_restore(facts(), chosen_set, originals, EXECUTION)

    # THEN
    by_device = {s.device: s for s in plan.volumes}
    assert (by_device["xvdb"].volume_type, by_device["xvdb"].iops, by_device["xvdb"].size) == (
        "io2",
        8000,
        200,
    )
    assert (by_device["xvdf"].volume_type, by_device["xvdf"].iops, by_device["xvdf"].size) == (
        "gp2",
        None,
        20,
    )


def test_plan_restore_raises_invalid_request_when_device_is_not_attached() -> None:
    # GIVEN a set member for a device the instance no longer has
    chosen_set = chosen(member("xvdf"), member("xvdq"))

    # WHEN
    with pytest.raises(InvalidRequest) as caught:
        plan_restore(facts(), chosen_set, all_originals(), EXECUTION)

    # THEN
    assert caught.value.field == "Devices"
    assert "xvdq" in caught.value.reason


def test_plan_restore_gives_distinct_client_tokens_when_several_devices() -> None:
    # GIVEN
    chosen_set = chosen(*(member(d) for d in VOLUMES))

    # WHEN
    plan = plan_restore(facts(), chosen_set, all_originals(), EXECUTION)

    # THEN
    tokens = [s.client_token for s in plan.volumes]
    assert len(set(tokens)) == len(tokens) == 4


# --- client_token ----------------------------------------------------------------------------


def test_client_token_is_deterministic_when_execution_and_device_repeat() -> None:
    # GIVEN / WHEN
    first = client_token(EXECUTION, "xvdf")
    again = client_token(EXECUTION, "xvdf")

    # THEN
    assert first == again


def test_client_token_differs_when_device_differs() -> None:
    # GIVEN / WHEN
    tokens = {client_token(EXECUTION, d) for d in ["/dev/sda1", "xvdb", "xvdf", "xvdaa"]}

    # THEN
    assert len(tokens) == 4


def test_client_token_differs_when_execution_differs() -> None:
    # GIVEN / WHEN
    a = client_token(EXECUTION, "xvdf")
    b = client_token(EXECUTION.replace("run-1", "run-2"), "xvdf")

    # THEN
    assert a != b


def test_client_token_does_not_collide_when_separator_shifts_between_parts() -> None:
    # GIVEN two (execution, device) pairs whose plain concatenation is equal
    a = client_token("exec-1x", "vdf")
    b = client_token("exec-1", "xvdf")

    # THEN
    assert a != b


@pytest.mark.parametrize("execution", ["", "e", EXECUTION, "x" * 5000])
def test_client_token_fits_ec2_limit_when_execution_has_any_length(execution: str) -> None:
    # GIVEN an execution of any length (execution)

    # WHEN
    token = client_token(execution, "xvdf")

    # THEN EC2 accepts at most 64 ASCII characters
    assert 0 < len(token) <= 64
    assert token.isascii()
    assert token.isprintable()
