"""How the acceptance suite reaches Windows through SSM: its waits and the scripts it sends.

Run Command's answers are stubbed (the emulator runs no agent), in the order SSM gives them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from acceptance.guest import (
    POWERSHELL_DOCUMENT,
    AgentNotOnline,
    GuestCommandFailed,
    SsmGuest,
    read_marker_script,
    service_status_script,
    write_marker_script,
)
from tests.conftest import REGION

INSTANCE = "i-0123456789abcdef0"
COMMAND = "11111111-2222-3333-4444-555555555555"


class Clock:
    """Time that passes only when the guest sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ssm() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("ssm", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _guest(client: Any) -> SsmGuest:
    clock = Clock()
    return SsmGuest(client, poll_seconds=10, sleep=clock.sleep, clock=clock)


def _sent(stubber: Stubber) -> None:
    stubber.add_response(
        "send_command",
        {"Command": {"CommandId": COMMAND}},
        {
            "InstanceIds": [INSTANCE],
            "DocumentName": POWERSHELL_DOCUMENT,
            "Parameters": {"commands": ANY},
            "TimeoutSeconds": ANY,
        },
    )


def _invocation(stubber: Stubber, status: str, output: str = "", errors: str = "") -> None:
    stubber.add_response(
        "get_command_invocation",
        {"Status": status, "StandardOutputContent": output, "StandardErrorContent": errors},
        {"CommandId": COMMAND, "InstanceId": INSTANCE},
    )


def test_run_returns_the_output_once_the_command_succeeded(ssm: tuple[Any, Stubber]) -> None:
    # GIVEN a command SSM does not know at first, then runs, then reports done
    client, stubber = ssm
    _sent(stubber)
    stubber.add_client_error("get_command_invocation", service_error_code="InvocationDoesNotExist")
    _invocation(stubber, "InProgress")
    _invocation(stubber, "Success", "before")

    # WHEN a script is run THEN its output comes back
    assert _guest(client).run(INSTANCE, read_marker_script("vol-0123456789abcdef0")) == "before"


def test_run_fails_with_the_commands_output_when_it_failed(ssm: tuple[Any, Stubber]) -> None:
    # GIVEN a command that fails
    client, stubber = ssm
    _sent(stubber)
    _invocation(stubber, "Failed", "diskpart says", "no such disk")

    # WHEN it is run THEN the failure carries its status and both outputs
    with pytest.raises(GuestCommandFailed, match="Failed") as raised:
        _guest(client).run(INSTANCE, service_status_script("W32Time"))
    assert "diskpart says" in str(raised.value)
    assert "no such disk" in str(raised.value)


def test_run_gives_up_when_the_command_runs_past_its_time(ssm: tuple[Any, Stubber]) -> None:
    # GIVEN a command that stays in progress for more than its minute
    client, stubber = ssm
    _sent(stubber)
    for _ in range(13):
        _invocation(stubber, "InProgress")

    # WHEN it is run with one minute THEN it fails saying it still runs
    with pytest.raises(GuestCommandFailed, match="still InProgress"):
        _guest(client).run(INSTANCE, service_status_script("W32Time"), minutes=1)


def test_wait_online_returns_once_the_agent_is_online_and_gives_up_in_time(
    ssm: tuple[Any, Stubber],
) -> None:
    # GIVEN an agent that registers late, then one that never does
    client, stubber = ssm
    expected = {"Filters": [{"Key": "InstanceIds", "Values": [INSTANCE]}]}
    stubber.add_response("describe_instance_information", {"InstanceInformationList": []}, expected)
    online = {"InstanceId": INSTANCE, "PingStatus": "Online"}
    stubber.add_response(
        "describe_instance_information", {"InstanceInformationList": [online]}, expected
    )
    for _ in range(8):
        stubber.add_response(
            "describe_instance_information", {"InstanceInformationList": []}, expected
        )

    # WHEN the suite waits THEN the first wait returns, the second fails after its minute
    _guest(client).wait_online(INSTANCE, minutes=1)
    with pytest.raises(AgentNotOnline):
        _guest(client).wait_online(INSTANCE, minutes=1)


def test_scripts_take_volume_ids_and_one_word_markers_only() -> None:
    # GIVEN / WHEN something else than a volume id or a word is put in a script THEN refused
    with pytest.raises(ValueError, match="not an EBS volume id"):
        read_marker_script("vol-1'; Remove-Item C:\\")
    with pytest.raises(ValueError, match="one word"):
        write_marker_script("vol-0123456789abcdef0", "a'b")
    with pytest.raises(ValueError, match="not a service name"):
        service_status_script("W32Time'")
