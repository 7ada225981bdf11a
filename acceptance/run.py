"""One acceptance run: the throwaway world and the stack, always removed again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from acceptance.guest import (
    GuestControl,
    SsmGuest,
    prepare_disks_script,
    write_marker_script,
)
from acceptance.sandbox import (
    DISK_DEVICES,
    MARKER_DEVICE,
    STRIPE_DEVICES,
    Sandbox,
    device_volumes,
    latest_windows_ami,
)
from acceptance.stack import (
    OPT_IN_TAG_KEY,
    STACK_PREFIX,
    StackOutputs,
    StackRemoval,
    deploy,
    outputs,
)
from vss_restore.aws_errors import error_code

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_ec2 import EC2Client

# Set by ``python -m acceptance`` for the suite; optional overrides for unusual accounts.
RUN_ID_ENV = "VSS_RESTORE_AWS_TEST_RUN_ID"
SUBNET_ENV = "VSS_RESTORE_AWS_TEST_SUBNET_ID"
AMI_ENV = "VSS_RESTORE_AWS_TEST_AMI"


class LeftBehind(RuntimeError):
    """Teardown could not remove everything; the message lists it."""


@dataclass(frozen=True)
class World:
    """What the tests work on: two instances and the disks instance, one VSS-tagged set
    each, the deployed stack.

    The disks instance's xvdf holds a marker file that read ``before`` when its set was
    taken and ``after`` since; xvdg and xvdh are dynamic disks holding one striped volume.
    """

    run_id: str
    subnet_id: str
    group_id: str
    instances: tuple[str, str]
    disks_instance: str
    sets: dict[str, dict[str, str]]  # instance → device → snapshot id
    stack: StackOutputs


class StackControl(Protocol):
    def deploy(self) -> StackOutputs: ...

    def stop_executions(self) -> None: ...

    def remove(self) -> list[str]:
        """Remove the stack and what it kept; returns what could not be removed."""
        ...


@dataclass
class CdkStack:
    """The run's stack (``run_id=None``: every acceptance stack, for ``--cleanup-only``)."""

    session: boto3.Session
    run_id: str | None

    def _removal(self) -> StackRemoval:
        return StackRemoval(
            cloudformation=self.session.client("cloudformation"),
            tagging=self.session.client("resourcegroupstaggingapi"),
            logs=self.session.client("logs"),
            kms=self.session.client("kms"),
        )

    def deploy(self) -> StackOutputs:
        if self.run_id is None:
            raise ValueError("only a run's own stack is deployed: run_id is None")
        deploy(self.run_id)
        return outputs(self.session.client("cloudformation"), self.run_id)

    def stop_executions(self) -> None:
        """Stop what still runs, so that no execution creates volumes during teardown."""
        sfn = self.session.client("stepfunctions")
        cloudformation = self.session.client("cloudformation")
        for name in self._removal().stacks(self.run_id):
            try:
                found = outputs(cloudformation, name.removeprefix(STACK_PREFIX))
            except (ClientError, KeyError):
                continue  # a stack that never finished deploying has no machines
            for machine in (found.fleet_state_machine_arn, found.state_machine_arn):
                pages = sfn.get_paginator("list_executions").paginate(
                    stateMachineArn=machine, statusFilter="RUNNING"
                )
                for page in pages:
                    for execution in page["executions"]:
                        try:
                            sfn.stop_execution(
                                executionArn=execution["executionArn"],
                                cause="vss-restore acceptance teardown",
                            )
                        except ClientError as err:
                            if error_code(err) != "ExecutionDoesNotExist":
                                raise

    def remove(self) -> list[str]:
        removal = self._removal()
        removal.remove(self.run_id)
        left = removal.left(self.run_id)
        return [f"still in the account: {', '.join(left)}", *removal.errors[-5:]] if left else []


def subnet_for(ec2: EC2Client, subnet_id: str | None) -> tuple[str, str]:
    """(subnet, VPC): the one given, or a default subnet of the default VPC."""
    filters: list[Any] = (
        [{"Name": "subnet-id", "Values": [subnet_id]}]
        if subnet_id
        else [{"Name": "default-for-az", "Values": ["true"]}]
    )
    subnets = sorted(ec2.describe_subnets(Filters=filters)["Subnets"], key=lambda s: s["SubnetId"])
    if not subnets:
        raise LookupError(
            f"subnet {subnet_id} not found"
            if subnet_id
            else f"no default VPC here: set {SUBNET_ENV} to a subnet the suite may use"
        )
    return subnets[0]["SubnetId"], subnets[0]["VpcId"]


def prepare_disks(ec2: EC2Client, guest: GuestControl, instance_id: str) -> dict[str, str]:
    """Once its agent is online: the marker volume and the striped pair, in Windows.

    Returns device → volume id of the instance's data disks.
    """
    volumes = device_volumes(ec2, instance_id)
    guest.wait_online(instance_id)
    stripe = tuple(volumes[d] for d in STRIPE_DEVICES)
    guest.run(instance_id, prepare_disks_script(volumes[MARKER_DEVICE], (stripe[0], stripe[1])))
    return volumes


def _build(
    session: boto3.Session,
    sandbox: Sandbox,
    guest: GuestControl,
    run_id: str,
    stack: StackControl,
    image_id: str | None,
    subnet_id: str | None,
) -> World:
    image = image_id or latest_windows_ami(session.client("ssm"))
    subnet, vpc = subnet_for(sandbox.ec2, subnet_id)
    group = sandbox.security_group(vpc)
    profile = sandbox.agent_profile()
    opt_in = (OPT_IN_TAG_KEY, run_id)
    name = f"vss-restore-acceptance-{run_id}"
    instances = (
        sandbox.launch(image, subnet, group, f"{name}-a", opt_in),
        sandbox.launch(image, subnet, group, f"{name}-b", opt_in),
    )
    disks = sandbox.launch(
        image, subnet, group, f"{name}-disks", opt_in, devices=DISK_DEVICES, profile=profile
    )
    deployed = stack.deploy()  # Windows boots meanwhile
    sandbox.wait_healthy([*instances, disks])
    sets = {
        i: sandbox.snapshot_set(i, f"{run_id}-{n}") for n, i in zip("ab", instances, strict=True)
    }
    volumes = prepare_disks(sandbox.ec2, guest, disks)
    sets[disks] = sandbox.snapshot_set(disks, f"{run_id}-disks")
    # Changed after the set was taken: reading "before" proves a copy of the set is there.
    guest.run(disks, write_marker_script(volumes[MARKER_DEVICE], "after"))
    sandbox.wait_snapshots([s for members in sets.values() for s in members.values()])
    return World(run_id, subnet, group, instances, disks, sets, deployed)


def remove_all(sandbox: Sandbox, stack: StackControl) -> list[str]:
    """Stop executions, remove the EC2 resources, then the stack; returns what is left.

    A step that fails outright (no network, no permission) is reported and the next
    step still runs.
    """
    problems: list[str] = []
    try:
        stack.stop_executions()
    except (ClientError, BotoCoreError) as err:
        problems.append(f"stopping executions: {err}")
    try:
        found = sandbox.teardown()
        if not found.empty:
            problems += [f"still in the account: {found}", *sandbox.errors[-5:]]
    except (ClientError, BotoCoreError) as err:
        problems.append(f"removing the EC2 resources: {err}")
    try:
        problems += stack.remove()
    except (ClientError, BotoCoreError) as err:
        problems.append(f"removing the stack: {err}")
    return problems


@contextmanager
def acceptance_run(
    session: boto3.Session,
    run_id: str,
    stack: StackControl,
    *,
    image_id: str | None = None,
    subnet_id: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    guest: GuestControl | None = None,
) -> Iterator[World]:
    """Build the run's world, hand it over, and remove everything however the run ends.

    ``guest`` reaches into Windows (default: through SSM Run Command). Raises
    ``LeftBehind`` if teardown could not remove everything (after a failure of the run too:
    the run's own error is then its ``__context__``).
    """
    sandbox = Sandbox(session.client("ec2"), session.client("iam"), run_id, sleep=sleep)
    reach = guest or SsmGuest(session.client("ssm"), sleep=sleep)
    try:
        yield _build(session, sandbox, reach, run_id, stack, image_id, subnet_id)
    finally:
        problems = remove_all(sandbox, stack)
        if problems:
            raise LeftBehind(
                "; ".join(problems) + " (run `python -m acceptance --cleanup-only` to retry)"
            )
