"""The request fields of Mode "Online" and "Mount": defaults, and each bad value named."""

from __future__ import annotations

from typing import Any

import pytest

from vss_restore.errors import InvalidRequest
from vss_restore.models import DEFAULT_MOUNT_HOURS, MountRequest, OnlineRequest, RestoreRequest

INSTANCE_ID = "i-0123456789abcdef0"
TARGET_ID = "i-0fedcba9876543210"


def rejection(payload: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        RestoreRequest.parse({"InstanceId": INSTANCE_ID, **payload})
    return caught.value


def test_online_keeps_its_services_and_validation() -> None:
    request = RestoreRequest.parse(
        {
            "InstanceId": INSTANCE_ID,
            "Mode": "Online",
            "Devices": ["xvdf"],
            "StopServices": ["MSSQLSERVER", "MSSQL$REPORTS"],
            "ValidationDocument": "vss-restore-validation-sql",
            "DeleteReplacedVolumes": True,
        }
    )
    assert isinstance(request, OnlineRequest)
    assert request.stop_services == ["MSSQLSERVER", "MSSQL$REPORTS"]


def test_online_leaves_which_validation_documents_may_run_to_validate_request() -> None:
    # GIVEN / WHEN an online restore names any document (the deployment may list it)
    request = RestoreRequest.parse(
        {"InstanceId": INSTANCE_ID, "Mode": "Online", "ValidationDocument": "Ops-SqlCheck"}
    )

    # THEN the request is well formed: which documents run is ValidateRequest's guardrail,
    # with the deployment's settings (see test_guardrails)
    assert isinstance(request, OnlineRequest)
    assert request.validation_document == "Ops-SqlCheck"


def test_mount_defaults_to_the_instance_itself_for_a_day() -> None:
    request = RestoreRequest.parse({"InstanceId": INSTANCE_ID, "Mode": "Mount"})
    assert isinstance(request, MountRequest)
    assert (request.mount_target, request.mount_hours) == (INSTANCE_ID, DEFAULT_MOUNT_HOURS)
    other = RestoreRequest.parse(
        {
            "InstanceId": INSTANCE_ID,
            "Mode": "Mount",
            "TargetInstanceId": TARGET_ID,
            "ExpiresInHours": 2,
        }
    )
    assert isinstance(other, MountRequest)
    assert (other.mount_target, other.mount_hours) == (TARGET_ID, 2)


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        ({"Mode": "Online", "Devices": ["/dev/sda1", "xvdf"]}, "Devices", "root device"),
        ({"Mode": "Online", "PowerOnAfterRestore": True}, "PowerOnAfterRestore", '"InPlace"'),
        ({"Mode": "Online", "StopServices": []}, "StopServices", "at least 1"),
        ({"Mode": "Online", "StopServices": ["SQL'; Stop-Computer"]}, "StopServices.0", "pattern"),
        ({"Mode": "Online", "StopServices": ["a", "A"]}, "StopServices", "more than once"),
        ({"Mode": "Online", "TargetInstanceId": TARGET_ID}, "TargetInstanceId", '"Mount"'),
        ({"StopServices": ["MSSQLSERVER"]}, "StopServices", '"Online"'),
        ({"Mode": "Mount", "ExpiresInHours": 0}, "ExpiresInHours", "from 1 to 720"),
        ({"Mode": "Mount", "ExpiresInHours": 721}, "ExpiresInHours", "from 1 to 720"),
        ({"Mode": "Mount", "ExpiresInHours": "24"}, "ExpiresInHours", "integer"),
        ({"Mode": "Mount", "TargetInstanceId": "i-12"}, "TargetInstanceId", "not a valid id"),
        ({"Mode": "Mount", "TargetInstanceId": INSTANCE_ID}, "TargetInstanceId", "itself"),
        ({"Mode": "Mount", "DeleteReplacedVolumes": True}, "DeleteReplacedVolumes", '"Online"'),
        ({"Mode": "Mount", "ValidationDocument": "Check"}, "ValidationDocument", '"Online"'),
        ({"Mode": "Mount", "StopServices": ["MSSQLSERVER"]}, "StopServices", '"Online"'),
        ({"ExpiresInHours": 4}, "ExpiresInHours", '"Mount"'),
        ({"Mode": "Offline"}, "Mode", "Input should be"),
    ],
)
def test_each_bad_value_is_refused_naming_its_field(
    payload: dict[str, Any], field: str, reason: str
) -> None:
    refused = rejection(payload)
    assert refused.field == field
    assert reason in refused.reason
