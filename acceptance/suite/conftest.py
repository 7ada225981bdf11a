"""The run's world, built once for the session and removed at its end, however it ends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from acceptance.executions import Machines
from acceptance.gate import why_not
from acceptance.guest import SsmGuest
from acceptance.run import (
    AMI_ENV,
    RUN_ID_ENV,
    SUBNET_ENV,
    CdkStack,
    World,
    acceptance_run,
)
from acceptance.sandbox import new_run_id


def pytest_configure(config: pytest.Config) -> None:
    reason = why_not(os.environ)
    if reason is not None:
        pytest.exit(f"skipped, nothing was created or called: {reason}", returncode=0)


@pytest.fixture(scope="session")
def session() -> boto3.Session:
    return boto3.Session()


@pytest.fixture(scope="session")
def world(session: boto3.Session) -> Iterator[World]:
    run_id = os.environ.get(RUN_ID_ENV) or new_run_id()
    with acceptance_run(
        session,
        run_id,
        CdkStack(session, run_id),
        image_id=os.environ.get(AMI_ENV),
        subnet_id=os.environ.get(SUBNET_ENV),
    ) as built:
        yield built


@pytest.fixture(scope="session")
def ec2(session: boto3.Session) -> Any:
    return session.client("ec2")


@pytest.fixture(scope="session")
def machines(session: boto3.Session, world: World) -> Machines:
    return Machines(
        sfn=session.client("stepfunctions"),
        restore_arn=world.stack.state_machine_arn,
        fleet_arn=world.stack.fleet_state_machine_arn,
    )


@pytest.fixture(scope="session")
def guest(session: boto3.Session) -> SsmGuest:
    """Windows on the disks instance, through SSM Run Command."""
    return SsmGuest(session.client("ssm"))
