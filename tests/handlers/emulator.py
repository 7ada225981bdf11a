"""Reading the emulator back, the AWS calls the tasks make, and the views of EC2 they get.

``Emulator`` reads what EC2 and the lock table hold (the test's own clients, which see the
emulator as it is). ``AwsCalls`` records the calls the tasks make. ``Shown`` makes EC2's
answers to the tasks show a state the emulator skips or a read that lags (an instance
``stopping``, a volume ``creating``, status checks ``initializing``), as AWS's would.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from pydantic import ValidationError

from tests.handlers.conftest import CallTask
from tests.handlers.events import REGION, Event, with_field
from vss_restore import tags
from vss_restore.local import LocalEngine
from vss_restore.local.engine import LOCK_TABLE_NAME

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client


@dataclass
class Emulator:
    """What the emulator holds, read with clients of the test's own."""

    ec2: EC2Client

    @classmethod
    def of(cls, ec2: EC2Client) -> Emulator:
        return cls(ec2)

    @functools.cached_property
    def ddb(self) -> DynamoDBClient:
        return boto3.client("dynamodb", region_name=REGION)

    def instance(self, instance_id: str) -> dict[str, Any]:
        described = self.ec2.describe_instances(InstanceIds=[instance_id])
        return dict(described["Reservations"][0]["Instances"][0])

    def power_state(self, instance_id: str) -> str:
        return str(self.instance(instance_id)["State"]["Name"])

    def attached(self, instance_id: str) -> dict[str, str]:
        """Device → the volume it holds."""
        mappings = self.instance(instance_id).get("BlockDeviceMappings", [])
        return {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in mappings}

    def delete_on_termination(self, instance_id: str) -> dict[str, bool]:
        mappings = self.instance(instance_id).get("BlockDeviceMappings", [])
        return {m["DeviceName"]: bool(m["Ebs"]["DeleteOnTermination"]) for m in mappings}

    def volumes(self, **filters: list[str]) -> list[dict[str, Any]]:
        """Every volume, or those matching ``filters`` (``{"tag:Name": ["x"]}`` as keywords)."""
        wanted = [{"Name": name, "Values": values} for name, values in filters.items()]
        pages = self.ec2.get_paginator("describe_volumes").paginate(Filters=wanted)  # type: ignore[arg-type]
        return [dict(v) for page in pages for v in page["Volumes"]]

    def volume(self, volume_id: str) -> dict[str, Any] | None:
        found = self.volumes(**{"volume-id": [volume_id]})
        return found[0] if found else None

    def volume_tags(self, volume_id: str) -> dict[str, str]:
        found = self.volume(volume_id)
        assert found is not None, f"{volume_id} does not exist"
        return tags.tag_dict(found.get("Tags"))

    def volumes_of(self, execution: str) -> list[dict[str, Any]]:
        """The volumes tagged as created by ``execution``."""
        return self.volumes(**{f"tag:{tags.EXECUTION}": [execution]})

    def lock(self, instance_id: str) -> dict[str, str] | None:
        """The instance's lock item (attribute → value), or None when it is free."""
        item = self.ddb.get_item(
            TableName=LOCK_TABLE_NAME, Key={"InstanceId": {"S": instance_id}}, ConsistentRead=True
        ).get("Item")
        return {k: str(next(iter(v.values()))) for k, v in item.items()} if item else None

    def held(self) -> dict[str, Any]:
        """Everything a task could change: instances, volumes and their tags, lock items."""
        instances = {
            i["InstanceId"]: {
                "State": i["State"]["Name"],
                "Devices": {
                    m["DeviceName"]: [m["Ebs"]["VolumeId"], m["Ebs"]["DeleteOnTermination"]]
                    for m in i.get("BlockDeviceMappings", [])
                },
            }
            for r in self.ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
        }
        volumes = {
            v["VolumeId"]: {
                "State": v["State"],
                "Attachments": sorted((a["InstanceId"], a["Device"]) for a in v["Attachments"]),
                "Tags": tags.tag_dict(v.get("Tags")),
            }
            for v in self.volumes()
        }
        locks = self.ddb.scan(TableName=LOCK_TABLE_NAME)["Items"]
        return {"Instances": instances, "Volumes": volumes, "Locks": locks}


class AwsCalls:
    """The AWS calls (``service.Operation``) made while ``recording``, in order."""

    def __init__(self, engine: LocalEngine) -> None:
        self.made: list[str] = []
        self._recording = False
        # Emitted for every call, before any hook may answer it in the emulator's place.
        engine.observe("before-parameter-build", self._seen)

    def _seen(self, model: Any, **_: Any) -> None:
        if self._recording:
            self.made.append(f"{model.service_model.service_name}.{model.name}")

    @contextmanager
    def recording(self) -> Iterator[list[str]]:
        self._recording = True
        try:
            yield self.made
        finally:
            self._recording = False


@dataclass(frozen=True)
class Malformed:
    """A field of a task's event as the workflow never sends it, and where the task's
    ``ValidationError`` must point (its first problem's ``loc``)."""

    task: str
    path: str  # in the event, e.g. "Plan.Volumes.0.SnapshotId"
    value: Any  # ``events.REMOVED``: left out
    loc: tuple[int | str, ...]


def misplaced_refusals(
    engine: LocalEngine,
    call: CallTask,
    event_of: Callable[[str], Event],
    cases: Iterable[Malformed],
) -> list[tuple[Malformed, tuple[int | str, ...]]]:
    """Call each task with its event (``event_of(task)``) made malformed as ``case`` says.
    Each must refuse it with a ``ValidationError`` before any AWS call (asserted); returns
    the cases whose error pointed elsewhere, with where it pointed."""
    calls = AwsCalls(engine)
    misplaced = []
    for case in cases:
        event = with_field(event_of(case.task), case.path, case.value)
        with calls.recording(), pytest.raises(ValidationError) as refused:
            call(case.task, event)
        assert calls.made == [], f"{case.task} called AWS before refusing: {calls.made}"
        loc = tuple(refused.value.errors()[0]["loc"])
        if loc != case.loc:
            misplaced.append((case, loc))
    return misplaced


# DescribeInstances' state codes
_STATE_CODES = {
    "pending": 0,
    "running": 16,
    "shutting-down": 32,
    "terminated": 48,
    "stopping": 64,
    "stopped": 80,
}


@dataclass
class Shown:
    """What EC2's answers to the tasks show instead of what the emulator holds (nothing
    while every mapping is empty); set a field to change the view, clear it to end it."""

    # instance → its state (DescribeInstances, DescribeInstanceStatus)
    instance_states: dict[str, str] = field(default_factory=dict)
    # instance → (system status, instance status) of its status checks
    status_checks: dict[str, tuple[str, str]] = field(default_factory=dict)
    # volume → the state of its attachment (DescribeInstances' devices, DescribeVolumes)
    attachments: dict[str, str] = field(default_factory=dict)
    # volume → its state (DescribeVolumes)
    volume_states: dict[str, str] = field(default_factory=dict)
    # volume → its initialization progress in percent (None: not reported yet)
    initialization: dict[str, int | None] = field(default_factory=dict)

    @classmethod
    def on(cls, engine: LocalEngine) -> Shown:
        shown = cls()
        engine.observe("after-call.ec2.DescribeInstances", shown._instances)
        engine.observe("after-call.ec2.DescribeInstanceStatus", shown._statuses)
        engine.observe("after-call.ec2.DescribeVolumes", shown._volumes)
        engine.observe("after-call.ec2.DescribeVolumeStatus", shown._volume_statuses)
        return shown

    def _instances(self, parsed: dict[str, Any], **_: Any) -> None:
        for reservation in parsed.get("Reservations", []):
            for instance in reservation["Instances"]:
                state = self.instance_states.get(instance["InstanceId"])
                if state:
                    instance["State"] = {"Code": _STATE_CODES[state], "Name": state}
                for mapping in instance.get("BlockDeviceMappings", []):
                    status = self.attachments.get(mapping["Ebs"]["VolumeId"])
                    if status:
                        mapping["Ebs"]["Status"] = status

    def _statuses(self, parsed: dict[str, Any], **_: Any) -> None:
        for status in parsed.get("InstanceStatuses", []):
            state = self.instance_states.get(status["InstanceId"])
            if state:
                status["InstanceState"] = {"Code": _STATE_CODES[state], "Name": state}
            checks = self.status_checks.get(status["InstanceId"])
            if checks:
                status["SystemStatus"] = {"Status": checks[0]}
                status["InstanceStatus"] = {"Status": checks[1]}

    def _volumes(self, parsed: dict[str, Any], **_: Any) -> None:
        for volume in parsed.get("Volumes", []):
            state = self.volume_states.get(volume["VolumeId"])
            if state:
                volume["State"] = state
            for attachment in volume.get("Attachments", []):
                status = self.attachments.get(volume["VolumeId"])
                if status:
                    attachment["State"] = status

    def _volume_statuses(self, parsed: dict[str, Any], **_: Any) -> None:
        for status in parsed.get("VolumeStatuses", []):
            if status["VolumeId"] not in self.initialization:
                continue
            progress = self.initialization[status["VolumeId"]]
            if progress is None:
                status.pop("InitializationStatusDetails", None)
            else:
                status["InitializationStatusDetails"] = {
                    "InitializationType": "default",
                    "Progress": progress,
                }
