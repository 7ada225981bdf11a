"""check_invariants reports each broken invariant (I1-I6) from what the emulator holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends

from tests.integration.helpers import attached, volumes_of
from vss_restore import tags
from vss_restore.local import Fault, LocalEngine, world
from vss_restore.local.engine import LOCK_TABLE_NAME
from vss_restore.local.invariants import (
    InstanceState,
    check_drill_invariants,
    check_invariants,
    volumes_in_emulator,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

    from vss_restore.local import ExecutionResult

REGION = "us-east-1"


def _violations(
    ec2: EC2Client, before: InstanceState, result: ExecutionResult, request: dict[str, Any]
) -> list[str]:
    return check_invariants(ec2, before, result, request, LOCK_TABLE_NAME)


def _restore(
    engine: LocalEngine, ec2: EC2Client, instance_id: str, vss_set: Any, **fields: Any
) -> tuple[InstanceState, ExecutionResult, dict[str, Any]]:
    vss_set("set-1", hours_ago=1)
    before = InstanceState.capture(ec2, instance_id)
    request = {"InstanceId": instance_id, **fields}
    result = engine.run(request)
    return before, result, request


def _clean_restore(
    engine: LocalEngine, ec2: EC2Client, instance_id: str, vss_set: Any, **fields: Any
) -> tuple[InstanceState, ExecutionResult, dict[str, Any]]:
    """A successful restore after which check_invariants reports nothing."""
    before, result, request = _restore(engine, ec2, instance_id, vss_set, **fields)
    assert result.status == "SUCCEEDED", result.cause
    assert _violations(ec2, before, result, request) == []
    return before, result, request


def _failed_restore(
    engine: LocalEngine, ec2: EC2Client, instance_id: str, vss_set: Any
) -> tuple[InstanceState, ExecutionResult, dict[str, Any]]:
    """A restore whose second AttachVolume is refused: it rolls back and fails."""
    engine.inject(Fault("ec2.AttachVolume", code="InvalidParameterValue", occurrence=2))
    before, result, request = _restore(engine, ec2, instance_id, vss_set)
    assert result.status == "FAILED"
    assert result.error == "SwapFailed"
    return before, result, request


def test_check_invariants_reports_i1_when_restored_device_holds_its_original_again(
    engine: LocalEngine, ec2: EC2Client, instance_with_volumes: str, vss_set: Any
) -> None:
    # GIVEN a successful restore, with nothing to report
    before, result, request = _restore(engine, ec2, instance_with_volumes, vss_set)

    # WHEN xvdf's restored volume is swapped back for its original behind the workflow's back
    restored = attached(ec2, instance_with_volumes)["xvdf"]
    original = before.volumes["xvdf"]
    ec2.detach_volume(VolumeId=restored, InstanceId=instance_with_volumes)
    ec2.attach_volume(VolumeId=original, InstanceId=instance_with_volumes, Device="xvdf")

    # THEN I1 names the device and what it holds
    assert _violations(ec2, before, result, request) == [
        f"I1: xvdf holds {original}, not the volume restored for it"
    ]


def test_check_invariants_reports_i1_when_device_holds_no_volume(
    engine: LocalEngine, ec2: EC2Client, instance_with_volumes: str, vss_set: Any
) -> None:
    # GIVEN a successful restore, with nothing to report
    before, result, request = _clean_restore(engine, ec2, instance_with_volumes, vss_set)

    # WHEN xvdg's volume is detached and nothing takes its place
    ec2.detach_volume(
        VolumeId=attached(ec2, instance_with_volumes)["xvdg"], InstanceId=instance_with_volumes
    )

    # THEN I1 says the device is empty
    assert _violations(ec2, before, result, request) == ["I1: xvdg holds no volume"]


def test_check_invariants_reports_i2_when_an_original_volume_was_deleted(
    engine: LocalEngine, ec2: EC2Client, instance_with_volumes: str, vss_set: Any
) -> None:
    # GIVEN a successful restore told to keep the replaced volumes
    before, result, request = _clean_restore(
        engine, ec2, instance_with_volumes, vss_set, DeleteReplacedVolumes=False
    )

    # WHEN the original of xvdg is deleted anyway
    ec2.delete_volume(VolumeId=before.volumes["xvdg"])

    # THEN I2 names it
    assert _violations(ec2, before, result, request) == [
        f"I2: original {before.volumes['xvdg']} of xvdg was deleted"
    ]


def test_check_invariants_reports_i3_when_a_second_volume_is_tagged_for_a_device(
    engine: LocalEngine, ec2: EC2Client, instance_with_volumes: str, vss_set: Any
) -> None:
    # GIVEN a successful restore, with nothing to report
    before, result, request = _clean_restore(engine, ec2, instance_with_volumes, vss_set)

    # WHEN another volume carries the execution's tags for xvdf (as a duplicate CreateVolume would)
    restored = attached(ec2, instance_with_volumes)["xvdf"]
    extra = ec2.create_volume(
        AvailabilityZone="us-east-1a",
        Size=200,
        TagSpecifications=[
            {
                "ResourceType": "volume",
                "Tags": tags.tag_list(
                    {
                        tags.EXECUTION: result.execution_arn,
                        tags.DEVICE: "xvdf",
                        tags.SNAPSHOT_SET_ID: "set-1",
                    }
                ),
            }
        ],
    )["VolumeId"]

    # THEN I3 names the device and both volumes (and I6 the one missing from the report)
    i3, i6 = _violations(ec2, before, result, request)
    assert i3.startswith("I3: 2 volumes created for xvdf: ")
    assert restored in i3
    assert extra in i3
    assert i6 == f"I6: {extra} was created during the run but is not in the report"


def test_check_invariants_reports_i4_only_when_the_lock_is_owned_by_the_execution(
    engine: LocalEngine, ec2: EC2Client, instance_with_volumes: str, vss_set: Any
) -> None:
    # GIVEN a successful restore, and the instance's lock now held by another execution
    before, result, request = _restore(engine, ec2, instance_with_volumes, vss_set)
    assert result.status == "SUCCEEDED", result.cause
    ddb = boto3.client("dynamodb", region_name=REGION)

    def lock(owner: str) -> None:
        ddb.put_item(
            TableName=LOCK_TABLE_NAME,
            Item={"InstanceId": {"S": instance_with_volumes}, "Owner": {"S": owner}},
        )

    lock(f"{result.execution_arn}-someone-else")
    assert _violations(ec2, before, result, request) == []

    # WHEN the lock item names this execution as its owner
    lock(result.execution_arn)

    # THEN I4 says the execution left its lock behind
    assert _violations(ec2, before, result, request) == ["I4: the execution left its lock behind"]


def test_check_invariants_reports_i5_when_failed_restore_leaves_instance_in_another_power_state(
    engine: LocalEngine, ec2: EC2Client, instance_with_volumes: str, vss_set: Any
) -> None:
    # GIVEN a failed restore that rolled back, with nothing to report
    before, result, request = _failed_restore(engine, ec2, instance_with_volumes, vss_set)
    assert before.power_state == "running"
    assert _violations(ec2, before, result, request) == []

    # WHEN the instance is stopped afterwards
    ec2.stop_instances(InstanceIds=[instance_with_volumes])

    # THEN I5 says it is not in the state it was in
    assert _violations(ec2, before, result, request) == ["I5: instance is stopped, was running"]


def test_check_invariants_reports_i6_when_failed_restore_leaves_a_volume_without_cleanup_tag(
    engine: LocalEngine, ec2: EC2Client, instance_with_volumes: str, vss_set: Any
) -> None:
    # GIVEN a failed restore that rolled back and deleted what it created
    before, result, request = _failed_restore(engine, ec2, instance_with_volumes, vss_set)
    assert volumes_of(ec2, result) == []
    assert _violations(ec2, before, result, request) == []

    # WHEN a volume tagged with the execution is left behind, with no cleanup-required status
    leftover = ec2.create_volume(
        AvailabilityZone="us-east-1a",
        Size=200,
        TagSpecifications=[
            {
                "ResourceType": "volume",
                "Tags": tags.tag_list({tags.EXECUTION: result.execution_arn, tags.DEVICE: "xvdf"}),
            }
        ],
    )["VolumeId"]

    # THEN I6 names it: neither tagged for cleanup nor named in the cause
    assert _violations(ec2, before, result, request) == [
        f"I6: {leftover} left behind without a cleanup tag",
        f"I6: {leftover} left behind but not named in the cause",
    ]

    # AND WHEN it is marked for cleanup, THEN only the account of it is missing
    ec2.create_tags(
        Resources=[leftover], Tags=tags.tag_list({tags.STATUS: tags.STATUS_CLEANUP_REQUIRED})
    )
    assert _violations(ec2, before, result, request) == [
        f"I6: {leftover} left behind but not named in the cause"
    ]


def _emulator_attaches(volume_id: str, instance_id: str, device: str) -> None:
    """Attach as the emulator lets a careless caller (AWS would refuse): no checks at all."""
    ec2_backends[DEFAULT_ACCOUNT_ID][REGION].attach_volume(volume_id, instance_id, device)


def test_check_invariants_reports_i3_when_a_volume_is_attached_at_two_devices(
    engine: LocalEngine, ec2: EC2Client, instance_with_volumes: str, vss_set: Any
) -> None:
    # GIVEN a successful restore, with nothing to report
    before, result, request = _clean_restore(engine, ec2, instance_with_volumes, vss_set)

    # WHEN xvdg's volume is attached again, at xvdz
    volume_id = attached(ec2, instance_with_volumes)["xvdg"]
    _emulator_attaches(volume_id, instance_with_volumes, "xvdz")

    # THEN I3 says the volume is attached twice, and where
    assert _violations(ec2, before, result, request) == [
        f"I3: {volume_id} is attached 2 times: ['xvdg', 'xvdz']"
    ]


def test_check_invariants_reports_i3_when_a_device_is_given_two_volumes(
    engine: LocalEngine, ec2: EC2Client, instance_with_volumes: str, vss_set: Any
) -> None:
    # GIVEN a failed restore that rolled back, with nothing to report
    before, result, request = _failed_restore(engine, ec2, instance_with_volumes, vss_set)
    assert _violations(ec2, before, result, request) == []

    # WHEN another volume is attached at xvdf while its original is still attached there
    other = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    _emulator_attaches(other, instance_with_volumes, "xvdf")

    # THEN I3 says the device was given two volumes (and I1 what xvdf now holds)
    violations = _violations(ec2, before, result, request)
    assert (
        f"I3: xvdf of {instance_with_volumes} is given 2 volumes: "
        f"{sorted([other, before.volumes['xvdf']])}"
    ) in violations


def test_check_invariants_reports_i6_when_a_volume_made_during_the_run_has_no_tag_at_all(
    engine: LocalEngine, ec2: EC2Client, instance_with_volumes: str, vss_set: Any
) -> None:
    # GIVEN a failed restore that rolled back and deleted what it created
    before, result, request = _failed_restore(engine, ec2, instance_with_volumes, vss_set)
    assert _violations(ec2, before, result, request) == []

    # WHEN a volume without any tag appears (no tag search could find it)
    untagged = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]

    # THEN I6 finds it in the emulator's own record of volumes
    assert untagged in volumes_in_emulator(REGION) - (before.volumes_in_emulator or frozenset())
    assert _violations(ec2, before, result, request) == [
        f"I6: {untagged} was created during the run without its tags",
        f"I6: {untagged} left behind without a cleanup tag",
        f"I6: {untagged} left behind but not named in the cause",
    ]


def test_check_invariants_accepts_a_stopped_instance_and_a_kept_lock_when_rollback_failed_says_so(
    engine: LocalEngine, ec2: EC2Client, instance_with_volumes: str, vss_set: Any
) -> None:
    # GIVEN StartInstances refused once after the swap, then for good during the rollback
    engine.inject(Fault("ec2.StartInstances", code="InsufficientInstanceCapacity", permanent=True))

    # WHEN the restore runs
    before, result, request = _restore(engine, ec2, instance_with_volumes, vss_set)

    # THEN it fails with RollbackFailed, leaving the instance stopped and locked: the cause
    # says so, so nothing is reported
    assert result.error == "RollbackFailed"
    assert InstanceState.capture(ec2, instance_with_volumes).power_state == "stopped"
    assert f"{instance_with_volumes} is stopped" in (result.cause or "")
    assert _violations(ec2, before, result, request) == []


def test_check_drill_invariants_reports_what_a_drill_left_behind_when_not_cleaned_up(
    engine: LocalEngine, ec2: EC2Client, instance_with_volumes: str, vss_set: Any
) -> None:
    # GIVEN a drill that succeeded, with nothing to report
    vss_set("set-1", hours_ago=1)
    subnet, group = world.isolated_subnet(ec2)
    before = InstanceState.capture(ec2, instance_with_volumes)
    result = engine.run(
        {
            "InstanceId": instance_with_volumes,
            "Mode": "Clone",
            "SubnetId": subnet,
            "SecurityGroupIds": [group],
        }
    )
    assert result.status == "SUCCEEDED", result.cause
    assert check_drill_invariants(ec2, before, result) == []

    # WHEN a volume tagged for the drill, and one with no tag, are left in the account
    tagged = ec2.create_volume(
        AvailabilityZone="us-east-1a",
        Size=8,
        TagSpecifications=[
            {"ResourceType": "volume", "Tags": tags.tag_list({tags.DRILL: instance_with_volumes})}
        ],
    )["VolumeId"]
    untagged = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]

    # THEN both are reported
    assert check_drill_invariants(ec2, before, result) == [
        f"D2: {tagged} of the drill left behind",
        f"D2: {untagged} created during the drill without its tags",
    ]


def test_check_invariants_reports_i5_when_an_online_restore_ends_with_the_instance_stopped(
    engine: LocalEngine, ec2: EC2Client, instance_with_volumes: str, vss_set: Any
) -> None:
    # GIVEN a successful online restore, with nothing to report
    before, result, request = _clean_restore(
        engine, ec2, instance_with_volumes, vss_set, Mode="Online"
    )

    # WHEN the instance is found stopped afterwards (an online restore never stops it)
    ec2.stop_instances(InstanceIds=[instance_with_volumes])

    # THEN I5 says so, although the restore succeeded (an in-place one may leave it stopped)
    assert _violations(ec2, before, result, request) == [
        "I5: an online restore left the instance stopped, was running"
    ]
    assert _violations(ec2, before, result, {"InstanceId": instance_with_volumes}) == []
