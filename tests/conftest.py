"""Fixtures that build the world: an emulator, a Windows instance, VSS snapshot sets."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from hypothesis import settings
from moto import mock_aws

from vss_restore import clients
from vss_restore.local import LocalEngine, world
from vss_restore.local.engine import RECORDS_TABLE_NAME, default_amis_file
from vss_restore.records import TABLE_SCHEMA, Records
from vss_restore.settings import (
    DRILL_INSTANCE_TYPES_ENV,
    RECOVERY_HOST_TAG_KEY_ENV,
    RECOVERY_HOST_TAG_VALUE_ENV,
    forget_settings,
    reload_settings,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

REGION = "us-east-1"

# CI explores the same examples every run (a red CI is then reproducible); locally each run
# explores new ones.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def _fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real AWS account."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "ERROR")


@pytest.fixture(autouse=True)
def _settings_read_afresh() -> Iterator[None]:
    """Settings a test read (after changing the environment) do not outlive it."""
    yield
    forget_settings()


@pytest.fixture(autouse=True)
def _default_amis_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare emulator (``aws``, ``mock_aws``) offers the same AMIs as the engine's: moto's
    default ones only (see ``default_amis_file``)."""
    monkeypatch.setenv("MOTO_AMIS_PATH", str(default_amis_file()))


@pytest.fixture
def aws() -> Iterator[None]:
    """A bare emulator, for domain functions tested without the state machine."""
    with mock_aws():
        clients.reset()
        yield
    clients.reset()


@pytest.fixture
def bare_records(aws: None) -> Records:
    """A records table in the bare emulator, as the stack creates it."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(TableName=RECORDS_TABLE_NAME, **TABLE_SCHEMA)  # type: ignore[arg-type]
    return Records(ddb, RECORDS_TABLE_NAME)


@pytest.fixture
def engine() -> Iterator[LocalEngine]:
    with LocalEngine(region=REGION) as local:
        yield local


@pytest.fixture
def ec2(engine: LocalEngine) -> EC2Client:
    return boto3.client("ec2", region_name=REGION)


@pytest.fixture
def records(engine: LocalEngine) -> Records:
    """The engine's table of what vss-restore created (as the stack's, which cleanups read)."""
    return Records(boto3.client("dynamodb", region_name=engine.region), RECORDS_TABLE_NAME)


@pytest.fixture
def instance_with_volumes(ec2: EC2Client) -> str:
    """A running Windows instance with the demo's four volumes (root gp3, gp3+IOPS, io2, CMK)."""
    return world.windows_instance(ec2)


@pytest.fixture
def validation_document(engine: LocalEngine) -> str:
    """The operator's validation document of the demo world (a name a drill may run)."""
    return world.validation_document(boto3.client("ssm", region_name=REGION))


# The instance type a deployment lets drills use besides the source's own (DRILL_INSTANCE_TYPES).
DRILL_INSTANCE_TYPE = "t3.large"


@pytest.fixture
def drill_instance_types(monkeypatch: pytest.MonkeyPatch) -> str:
    """A deployment whose drills may also use ``DRILL_INSTANCE_TYPE``; returns it."""
    monkeypatch.setenv(DRILL_INSTANCE_TYPES_ENV, DRILL_INSTANCE_TYPE)
    reload_settings()  # an engine that has started read the environment then
    return DRILL_INSTANCE_TYPE


# The tag a deployment with recovery hosts gives them (RECOVERY_HOST_TAG_KEY/_VALUE).
RECOVERY_HOST_TAG = ("vss-restore:recovery-host", "true")
RecoveryHosts = Callable[[str], None]


@pytest.fixture
def recovery_hosts(monkeypatch: pytest.MonkeyPatch) -> RecoveryHosts:
    """A deployment whose mounts may go to recovery hosts; call it to make an instance one."""
    key, value = RECOVERY_HOST_TAG
    monkeypatch.setenv(RECOVERY_HOST_TAG_KEY_ENV, key)
    monkeypatch.setenv(RECOVERY_HOST_TAG_VALUE_ENV, value)
    reload_settings()  # an engine that has started read the environment then

    def make(instance_id: str) -> None:
        boto3.client("ec2", region_name=REGION).create_tags(
            Resources=[instance_id], Tags=[{"Key": key, "Value": value}]
        )

    return make


NOW = datetime.now(UTC).replace(microsecond=0)

VssSetFactory = Callable[..., dict[str, str]]


@pytest.fixture
def vss_set(ec2: EC2Client, instance_with_volumes: str) -> VssSetFactory:
    """Take a VSS snapshot set of the instance ``hours_ago``; returns device → snapshot id."""

    def take(set_id: str | None, hours_ago: float, **kwargs: Any) -> dict[str, str]:
        return world.vss_snapshot_set(
            ec2,
            instance_with_volumes,
            taken_at=NOW - timedelta(hours=hours_ago),
            set_id=set_id,
            **kwargs,
        )

    return take
