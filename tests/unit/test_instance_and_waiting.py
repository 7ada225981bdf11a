"""Reading an instance's facts, and the bounded-wait rule (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from vss_restore.errors import InstanceNotRestorable, ResourceNotReady, WaitTimedOut
from vss_restore.instance import instance_facts
from vss_restore.waiting import not_ready


def _raw(
    state: str = "running", root_type: str = "ebs", mappings: list[Any] | None = None
) -> dict[str, Any]:
    return {
        "InstanceId": "i-0123456789abcdef0",
        "State": {"Name": state},
        "Placement": {"AvailabilityZone": "eu-west-1b"},
        "RootDeviceName": "/dev/sda1",
        "RootDeviceType": root_type,
        "BlockDeviceMappings": mappings
        if mappings is not None
        else [
            {"DeviceName": "/dev/sda1", "Ebs": {"VolumeId": "vol-1", "DeleteOnTermination": True}},
            {"DeviceName": "xvdf", "Ebs": {"VolumeId": "vol-2", "DeleteOnTermination": False}},
        ],
    }


def test_instance_facts_records_devices_flags_zone_and_state_when_instance_is_running() -> None:
    facts = instance_facts(_raw())
    assert facts.state == "running"
    assert facts.availability_zone == "eu-west-1b"
    assert [(v.device, v.volume_id, v.delete_on_termination) for v in facts.volumes] == [
        ("/dev/sda1", "vol-1", True),
        ("xvdf", "vol-2", False),
    ]


@pytest.mark.parametrize("state", ["pending", "stopping", "shutting-down", "terminated"])
def test_instance_facts_refuses_instance_when_it_is_changing_state_or_gone(state: str) -> None:
    with pytest.raises(InstanceNotRestorable, match=state):
        instance_facts(_raw(state))


def test_instance_facts_refuses_instance_when_root_is_instance_store() -> None:
    with pytest.raises(InstanceNotRestorable, match="instance-store"):
        instance_facts(_raw(root_type="instance-store"))


def test_instance_facts_refuses_instance_when_it_has_no_ebs_volume() -> None:
    with pytest.raises(InstanceNotRestorable, match="no EBS volumes"):
        instance_facts(_raw(mappings=[]))


ENTERED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_not_ready_asks_for_another_poll_when_within_the_limit() -> None:
    with pytest.raises(ResourceNotReady, match="volumes creating"):
        not_ready("volumes creating", ENTERED, 60, ENTERED + timedelta(seconds=59))


def test_not_ready_times_out_when_the_limit_has_passed() -> None:
    with pytest.raises(WaitTimedOut, match=r"after 60 s \(limit 60 s\)"):
        not_ready("volumes creating", ENTERED, 60, ENTERED + timedelta(seconds=60))
