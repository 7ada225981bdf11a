"""The acceptance run's bookkeeping on the emulator: what it builds, and that teardown leaves
nothing of the run behind, after a failure too, while touching nothing else.

The emulator's instances have no SSM agent: the run reaches Windows through ``EmulatedGuest``
instead, which records what it was asked to run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from acceptance.run import LeftBehind, World, acceptance_run, remove_all
from acceptance.sandbox import DISK_DEVICES, IAM_PATH, RUN_TAG, Sandbox
from acceptance.stack import OPT_IN_TAG_KEY, StackOutputs, StackRemoval, stack_name
from tests.conftest import REGION
from vss_restore import clients, tags
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
        return StackOutputs("arn:restore", "arn:fleet", "locks", "records", "disks")

    def stop_executions(self) -> None:
        """The emulated stack runs no executions."""

    def remove(self) -> list[str]:
        removal = self._removal()
        removal.remove_retained(self.run_id)
        left = [*removal.retained_log_groups(self.run_id), *removal.retained_keys(self.run_id)]
        return [*removal.errors, *left]


@dataclass
class EmulatedGuest:
    """Windows on the emulator's instances, which run no SSM agent: the agent is online at
    once and every script succeeds, printing nothing. Each script is recorded with how many
    snapshots of runs the account held when it ran (to tell what ran before and after a set)."""

    ec2: Any
    online: list[str] = field(default_factory=list)
    scripts: list[tuple[str, str, int]] = field(default_factory=list)

    def wait_online(self, instance_id: str, minutes: float = 20) -> None:
        self.online.append(instance_id)

    def run(self, instance_id: str, script: str, minutes: float = 15) -> str:
        runs = [{"Name": "tag-key", "Values": [RUN_TAG]}]
        held = len(self.ec2.describe_snapshots(OwnerIds=["self"], Filters=runs)["Snapshots"])
        self.scripts.append((instance_id, script, held))
        return ""


@pytest.fixture
def aws() -> Iterator[None]:
    """The bare emulator, with the AWS managed policies the disks instance's role attaches
    (the emulator leaves them out unless asked)."""
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
        clients.reset()
        yield
    clients.reset()


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


def _run(
    session: boto3.Session,
    run_id: str,
    image_id: str,
    guest: EmulatedGuest | None = None,
    **stack: Any,
) -> Any:
    return acceptance_run(
        session,
        run_id,
        EmulatedStack(session, run_id, **stack),
        image_id=image_id,
        sleep=_no_sleep,
        guest=guest or EmulatedGuest(session.client("ec2")),
    )


def _sandbox(session: boto3.Session, run_id: str | None) -> Sandbox:
    return Sandbox(session.client("ec2"), session.client("iam"), run_id, sleep=_no_sleep)


def _crashed_run(session: boto3.Session, image_id: str, run_id: str) -> dict[str, str]:
    """A run that launched, snapshotted and deployed, then died before its teardown: its
    group, role and profile, an instance and a disks instance with the profile."""
    sandbox = _sandbox(session, run_id)
    subnet = session.client("ec2").describe_subnets()["Subnets"][0]
    group = sandbox.security_group(subnet["VpcId"])
    profile = sandbox.agent_profile()
    instance = sandbox.launch(image_id, subnet["SubnetId"], group, run_id, ("k", "v"))
    disks = sandbox.launch(
        image_id,
        subnet["SubnetId"],
        group,
        run_id,
        ("k", "v"),
        devices=DISK_DEVICES,
        profile=profile,
    )
    sandbox.snapshot_set(instance, run_id)
    EmulatedStack(session, run_id).deploy()
    return {"instance": instance, "disks": disks, "profile": profile}


def _others_role_and_profile(session: boto3.Session) -> dict[str, str]:
    """Someone else's role in its instance profile, and a role under the suite's path whose
    name is not a run's: neither is the suite's to remove."""
    iam = session.client("iam")
    trust = '{"Version": "2012-10-17", "Statement": []}'
    iam.create_role(RoleName="someone-else", AssumeRolePolicyDocument=trust)
    iam.create_instance_profile(InstanceProfileName="someone-else")
    iam.add_role_to_instance_profile(InstanceProfileName="someone-else", RoleName="someone-else")
    iam.create_role(RoleName="not-a-run", Path=IAM_PATH, AssumeRolePolicyDocument=trust)
    return {"profile": "someone-else", "roles": "someone-else,not-a-run"}


def _assert_still_there(session: boto3.Session, others: dict[str, str]) -> None:
    iam = session.client("iam")
    assert iam.get_instance_profile(InstanceProfileName=others["profile"])["InstanceProfile"]
    for role in others["roles"].split(","):
        assert iam.get_role(RoleName=role)["Role"]


def _nothing_of(session: boto3.Session, run_id: str | None) -> None:
    """Nothing of the run (of any run if None) is left in the emulator."""
    assert _sandbox(session, run_id).find().empty
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


def _instance(ec2: Any, instance_id: str) -> dict[str, Any]:
    return dict(
        ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    )


def test_acceptance_run_hands_over_a_disks_instance_prepared_through_its_agent_when_built(
    session: boto3.Session, ec2: Any, image_id: str
) -> None:
    # GIVEN / WHEN a run builds its world, reaching Windows through the emulated guest
    guest = EmulatedGuest(ec2)
    with _run(session, "run-7", image_id, guest) as world:
        # THEN the disks instance is opted in, tagged, with three data volumes, the run's
        # instance profile and a public address (the SSM agent's way out)
        raw = _instance(ec2, world.disks_instance)
        labels = tags.tag_dict(raw["Tags"])
        assert (labels[RUN_TAG], labels[OPT_IN_TAG_KEY]) == ("run-7", "run-7")
        on_device = {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in raw["BlockDeviceMappings"]}
        assert set(on_device) == {raw["RootDeviceName"], *DISK_DEVICES}
        assert raw["IamInstanceProfile"]["Arn"].endswith(f"{IAM_PATH}{RUN_TAG}-run-7")
        assert raw.get("PublicIpAddress")
        assert not _instance(ec2, world.instances[0]).get("PublicIpAddress")
        # ...its role, tagged with the run, lets the SSM agent in
        iam = session.client("iam")
        role = iam.get_role(RoleName=f"{RUN_TAG}-run-7")["Role"]
        assert (role["Path"], tags.tag_dict(role["Tags"])[RUN_TAG]) == (IAM_PATH, "run-7")
        assert "ec2.amazonaws.com" in str(role["AssumeRolePolicyDocument"])
        policies = iam.list_attached_role_policies(RoleName=role["RoleName"])
        assert [p["PolicyName"] for p in policies["AttachedPolicies"]] == [
            "AmazonSSMManagedInstanceCore"
        ]
        # ...the disks were prepared once the agent was online, by volume id; the marker
        # was rewritten after the disks instance's set was taken, which covers every device
        assert guest.online == [world.disks_instance]
        (_, prepare, _), (_, rewrite, held) = guest.scripts
        for device in DISK_DEVICES:
            assert on_device[device] in prepare
        assert "convert dynamic" in prepare
        assert "create volume stripe" in prepare
        assert on_device["xvdf"] in rewrite
        assert "'after'" in rewrite
        members = world.sets[world.disks_instance]
        assert set(members) == set(on_device)
        assert held == sum(len(m) for m in world.sets.values())
    _nothing_of(session, "run-7")


def test_teardown_removes_the_runs_role_and_profile_and_nothing_of_another_run_or_anyone(
    session: boto3.Session, image_id: str
) -> None:
    # GIVEN another run that crashed, and someone else's role and instance profile
    other = _crashed_run(session, image_id, "other-run")
    others = _others_role_and_profile(session)

    # WHEN a run is built and ends
    with _run(session, "run-8", image_id):
        pass

    # THEN the run's role and profile are gone; the other run and the others are untouched
    _nothing_of(session, "run-8")
    left = _sandbox(session, "other-run").find()
    assert (left.instance_profiles, left.roles) == ((other["profile"],), (other["profile"],))
    assert other["disks"] in left.instances
    _assert_still_there(session, others)


def test_run_launches_the_disks_instance_once_iam_has_spread_its_new_instance_profile(
    session: boto3.Session, image_id: str
) -> None:
    # GIVEN EC2 that does not know the new instance profile for its first two launches
    refused: list[str] = []

    def not_yet(params: dict[str, Any], **_: Any) -> None:
        if "IamInstanceProfile" in params and len(refused) < 2:
            refused.append(params["IamInstanceProfile"]["Name"])
            message = "Value (x) for parameter iamInstanceProfile.name is invalid."
            raise ClientError(
                {"Error": {"Code": "InvalidParameterValue", "Message": message}}, "RunInstances"
            )

    session.events.register("provide-client-params.ec2.RunInstances", not_yet)

    # WHEN a run is built THEN the third attempt launched the disks instance
    with _run(session, "run-9", image_id) as world:
        assert refused == [f"{RUN_TAG}-run-9"] * 2
        assert _instance(session.client("ec2"), world.disks_instance)["IamInstanceProfile"]
    _nothing_of(session, "run-9")


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
    left = _sandbox(session, "run-5").find()
    assert sorted(left.snapshots) == sorted(snapshots)
    assert (left.instances, left.volumes, left.security_groups) == ((), (), ())
    assert (left.instance_profiles, left.roles) == ((), ())


def test_cleanup_only_removes_the_leftovers_of_every_run_and_nothing_else(
    session: boto3.Session, ec2: Any, image_id: str, bystander: str
) -> None:
    # GIVEN two runs that crashed after launching and snapshotting (no teardown ran), and
    # someone else's role and instance profile
    crashed = [_crashed_run(session, image_id, run_id) for run_id in ("crashed-1", "crashed-2")]
    others = _others_role_and_profile(session)
    bystander_snapshot = ec2.create_snapshot(
        VolumeId=ec2.describe_volumes(
            Filters=[{"Name": "attachment.instance-id", "Values": [bystander]}]
        )["Volumes"][0]["VolumeId"]
    )["SnapshotId"]

    # WHEN --cleanup-only's removal runs for every run
    problems = remove_all(_sandbox(session, None), EmulatedStack(session, None))

    # THEN nothing of any run is left, and the bystander, its snapshot, the other role and
    # profile are untouched
    assert problems == []
    _nothing_of(session, None)
    assert _live(ec2, [c[k] for c in crashed for k in ("instance", "disks")]) == []
    assert _live(ec2, [bystander]) == [bystander]
    assert ec2.describe_snapshots(SnapshotIds=[bystander_snapshot])["Snapshots"]
    _assert_still_there(session, others)


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
    sandbox = _sandbox(session, "run-6")
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
