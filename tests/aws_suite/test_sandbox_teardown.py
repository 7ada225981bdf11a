"""The acceptance run's bookkeeping on the emulator: what it builds, and that teardown leaves
nothing of the run behind, after a failure too, while touching nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from acceptance.run import LeftBehind, World, acceptance_run, remove_all
from acceptance.sandbox import RUN_TAG, Sandbox
from acceptance.stack import OPT_IN_TAG_KEY, StackOutputs, StackRemoval, stack_name
from tests.conftest import REGION
from vss_restore import tags
from vss_restore.local.faults import Fault, FaultInjector
from vss_restore.snapshot_sets import parse_set_id


class DeployFailed(RuntimeError):
    pass


@dataclass
class EmulatedStack:
    """The stack's part of a run, on the emulator (which has no CloudFormation to deploy to).

    Deploying leaves what the real stack keeps after deletion: a log group named after the
    stack and a KMS key with the run tag. Removal is the suite's own ``remove_retained``.
    """

    session: boto3.Session
    run_id: str | None
    fail_deploy: bool = False

    def _removal(self) -> StackRemoval:
        return StackRemoval(
            cloudformation=None,
            tagging=self.session.client("resourcegroupstaggingapi"),
            logs=self.session.client("logs"),
            kms=self.session.client("kms"),
        )

    def deploy(self) -> StackOutputs:
        assert self.run_id is not None
        self.session.client("logs").create_log_group(
            logGroupName=f"{stack_name(self.run_id)}-TaskLogs12AB-XyZ", tags={RUN_TAG: self.run_id}
        )
        self.session.client("kms").create_key(
            Description="topic key", Tags=[{"TagKey": RUN_TAG, "TagValue": self.run_id}]
        )
        if self.fail_deploy:
            raise DeployFailed("cdk deploy failed halfway")
        return StackOutputs("arn:restore", "arn:fleet", "locks")

    def stop_executions(self) -> None:
        """The emulated stack runs no executions."""

    def remove(self) -> list[str]:
        removal = self._removal()
        removal.remove_retained(self.run_id)
        left = [*removal.retained_log_groups(self.run_id), *removal.retained_keys(self.run_id)]
        return [*removal.errors, *left]


@pytest.fixture
def session(aws: None) -> boto3.Session:
    return boto3.Session(region_name=REGION)


@pytest.fixture
def ec2(session: boto3.Session) -> Any:
    return session.client("ec2")


@pytest.fixture
def image_id(ec2: Any) -> str:
    return str(ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"])


@pytest.fixture
def bystander(ec2: Any, image_id: str) -> str:
    """An instance of someone else in the same account, with its root volume."""
    return str(
        ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    )


def _no_sleep(_: float) -> None:
    """Teardown passes follow each other at once (the emulator changes state instantly)."""


def _run(session: boto3.Session, run_id: str, image_id: str, **stack: Any) -> Any:
    return acceptance_run(
        session, run_id, EmulatedStack(session, run_id, **stack), image_id=image_id, sleep=_no_sleep
    )


def _nothing_of(session: boto3.Session, run_id: str | None) -> None:
    """Nothing of the run (of any run if None) is left in the emulator."""
    assert Sandbox(session.client("ec2"), run_id).find().empty
    removal = EmulatedStack(session, run_id)._removal()
    assert removal.retained_log_groups(run_id) == []
    assert removal.retained_keys(run_id) == []


def _live(ec2: Any, instance_ids: list[str]) -> list[str]:
    found = ec2.describe_instances(InstanceIds=instance_ids)["Reservations"]
    return [
        i["InstanceId"]
        for r in found
        for i in r["Instances"]
        if i["State"]["Name"] not in ("shutting-down", "terminated")
    ]


def _detach_data_volume(ec2: Any, instance_id: str) -> str:
    """Detach the instance's xvdf, as a restore leaves a replaced original."""
    raw = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    data = next(m for m in raw["BlockDeviceMappings"] if m["DeviceName"] == "xvdf")
    volume_id = str(data["Ebs"]["VolumeId"])
    ec2.detach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="xvdf")
    return volume_id


def _workflow_leftovers(ec2: Any, image_id: str, source: str) -> dict[str, str]:
    """What vss-restore can leave for ``source``: a replaced original, a restored volume that
    carries only vss-restore's tags, a drill clone and a clone volume."""

    def volume(key: str) -> str:
        return str(
            ec2.create_volume(
                AvailabilityZone=f"{REGION}a",
                Size=1,
                TagSpecifications=[
                    {"ResourceType": "volume", "Tags": [{"Key": key, "Value": source}]}
                ],
            )["VolumeId"]
        )

    clone = ec2.run_instances(
        ImageId=image_id,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": tags.DRILL, "Value": source}]}
        ],
    )["Instances"][0]["InstanceId"]
    return {
        "source": source,
        "replaced": _detach_data_volume(ec2, source),
        "restored": volume(tags.INSTANCE_ID),
        "clone": clone,
        "clone_volume": volume(tags.DRILL),
    }


def test_acceptance_run_hands_over_two_opted_in_instances_with_a_vss_set_each_when_built(
    session: boto3.Session, ec2: Any, image_id: str
) -> None:
    # GIVEN / WHEN a run builds its world
    with _run(session, "run-1", image_id) as world:
        # THEN two tagged, opted-in instances with a root and a data volume, one set each
        assert isinstance(world, World)
        for letter, instance_id in zip("ab", world.instances, strict=True):
            raw = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][
                0
            ]
            labels = tags.tag_dict(raw["Tags"])
            assert labels[RUN_TAG] == "run-1"
            assert labels[OPT_IN_TAG_KEY] == "run-1"
            devices = {m["DeviceName"] for m in raw["BlockDeviceMappings"]}
            assert devices == {raw["RootDeviceName"], "xvdf"}
            members = world.sets[instance_id]
            assert set(members) == devices
            described = ec2.describe_snapshots(SnapshotIds=list(members.values()))["Snapshots"]
            for snapshot in described:
                snap_tags = tags.tag_dict(snapshot["Tags"])
                assert members[snap_tags[tags.VSS_DEVICE]] == snapshot["SnapshotId"]
                assert snap_tags[tags.VSS_APP_CONSISTENT] == "true"
                assert parse_set_id(snap_tags[tags.VSS_CONFIG]) == f"run-1-{letter}"
                assert snap_tags[RUN_TAG] == "run-1"
    _nothing_of(session, "run-1")


def test_acceptance_run_removes_everything_when_the_deploy_fails_midway(
    session: boto3.Session, ec2: Any, image_id: str, bystander: str
) -> None:
    # GIVEN a run whose instances are launched and whose stack deploy fails halfway
    # WHEN the run ends with that failure
    with pytest.raises(DeployFailed), _run(session, "run-2", image_id, fail_deploy=True):
        pytest.fail("the world is not handed over when the deploy fails")

    # THEN nothing of the run is left, and someone else's instance still runs
    _nothing_of(session, "run-2")
    assert _live(ec2, [bystander]) == [bystander]


def test_acceptance_run_removes_what_the_workflow_made_when_a_test_fails(
    session: boto3.Session, ec2: Any, image_id: str, bystander: str
) -> None:
    # GIVEN a run in which vss-restore left a replaced original, a restored volume that
    # carries only vss-restore's tags, and a drill clone with its volume
    made: dict[str, str] = {}

    def failing_test(world: World) -> None:
        made.update(_workflow_leftovers(ec2, image_id, world.instances[0]))
        # WHEN a test fails
        raise AssertionError("a test failed")

    with (
        pytest.raises(AssertionError, match="a test failed"),
        _run(session, "run-3", image_id) as world,
    ):
        failing_test(world)

    # THEN the run's instances, the clone, every volume, snapshot and group are gone
    _nothing_of(session, "run-3")
    assert _live(ec2, [*world.instances, made["clone"]]) == []
    volume_ids = [made[k] for k in ("replaced", "restored", "clone_volume")]
    left = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": volume_ids}])["Volumes"]
    assert left == []
    assert _live(ec2, [bystander]) == [bystander]


def test_teardown_retries_until_nothing_is_left_when_ec2_refuses_a_deletion(
    session: boto3.Session, image_id: str
) -> None:
    # GIVEN a run whose teardown will be refused its first DeleteVolume and DeleteSnapshot
    refusals = [
        FaultInjector(Fault("ec2.DeleteVolume", code="VolumeInUse")),
        FaultInjector(Fault("ec2.DeleteSnapshot", code="InvalidSnapshot.InUse")),
    ]
    for injector in refusals:
        for event_name, hook in injector.hooks():
            session.events.register(event_name, hook)

    # WHEN the run ends (its replaced data volume is detached, so it survives termination)
    with _run(session, "run-4", image_id) as world:
        _detach_data_volume(session.client("ec2"), world.instances[0])

    # THEN both refusals happened, and a later pass removed everything anyway
    assert [i.injected for i in refusals] == [1, 1]
    _nothing_of(session, "run-4")


def test_acceptance_run_names_what_is_left_when_teardown_cannot_finish(
    session: boto3.Session, image_id: str
) -> None:
    # GIVEN a run whose snapshots EC2 refuses to delete, every time
    refusal = FaultInjector(Fault("ec2.DeleteSnapshot", code="InvalidSnapshot.InUse", times=99))
    for event_name, hook in refusal.hooks():
        session.events.register(event_name, hook)

    # WHEN the run ends
    with pytest.raises(LeftBehind) as raised, _run(session, "run-5", image_id) as world:
        snapshots = [s for members in world.sets.values() for s in members.values()]

    # THEN the error names each snapshot left and how to retry; the rest is gone
    for snapshot_id in snapshots:
        assert snapshot_id in str(raised.value)
    assert "--cleanup-only" in str(raised.value)
    left = Sandbox(session.client("ec2"), "run-5").find()
    assert sorted(left.snapshots) == sorted(snapshots)
    assert (left.instances, left.volumes, left.security_groups) == ((), (), ())


def test_cleanup_only_removes_the_leftovers_of_every_run_and_nothing_else(
    session: boto3.Session, ec2: Any, image_id: str, bystander: str
) -> None:
    # GIVEN two runs that crashed after launching and snapshotting (no teardown ran)
    for run_id in ("crashed-1", "crashed-2"):
        sandbox = Sandbox(ec2, run_id)
        subnet = ec2.describe_subnets()["Subnets"][0]
        group = sandbox.security_group(subnet["VpcId"])
        instance = sandbox.launch(image_id, subnet["SubnetId"], group, run_id, ("k", "v"))
        sandbox.snapshot_set(instance, run_id)
        EmulatedStack(session, run_id).deploy()
    bystander_snapshot = ec2.create_snapshot(
        VolumeId=ec2.describe_volumes(
            Filters=[{"Name": "attachment.instance-id", "Values": [bystander]}]
        )["Volumes"][0]["VolumeId"]
    )["SnapshotId"]

    # WHEN --cleanup-only's removal runs for every run
    problems = remove_all(Sandbox(ec2, None, sleep=_no_sleep), EmulatedStack(session, None))

    # THEN nothing of any run is left, and the bystander and its snapshot are untouched
    assert problems == []
    _nothing_of(session, None)
    assert _live(ec2, [bystander]) == [bystander]
    assert ec2.describe_snapshots(SnapshotIds=[bystander_snapshot])["Snapshots"]


@dataclass
class StackWithoutExecutions(EmulatedStack):
    """A stack whose execution listing the emulator refuses (as AWS would without access)."""

    def stop_executions(self) -> None:
        self.session.client("stepfunctions").stop_execution(
            executionArn=f"arn:aws:states:{REGION}:123456789012:execution:gone:gone"
        )


def test_remove_all_still_removes_the_run_when_stopping_its_executions_is_refused(
    session: boto3.Session, ec2: Any, image_id: str
) -> None:
    # GIVEN a run's instances, set and group, and a stack whose executions cannot be stopped
    sandbox = Sandbox(ec2, "run-6", sleep=_no_sleep)
    subnet = ec2.describe_subnets()["Subnets"][0]
    group = sandbox.security_group(subnet["VpcId"])
    instance = sandbox.launch(image_id, subnet["SubnetId"], group, "run-6", ("k", "v"))
    sandbox.snapshot_set(instance, "run-6")
    stack = StackWithoutExecutions(session, "run-6")
    stack.deploy()

    # WHEN everything is removed
    problems = remove_all(sandbox, stack)

    # THEN the refusal is reported, and the EC2 resources and the stack's leftovers are gone
    assert len(problems) == 1
    assert problems[0].startswith("stopping executions:")
    _nothing_of(session, "run-6")
