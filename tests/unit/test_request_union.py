"""The request as one model per Mode: each mode's fields, the default, the modes a machine runs."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from vss_restore.errors import InvalidRequest
from vss_restore.models import (
    CarriedRequest,
    CloneRequest,
    InPlaceRequest,
    MountRequest,
    OnlineRequest,
    RestoreRequest,
)

INSTANCE_ID = "i-0123456789abcdef0"
SHARED = {
    "Mode",
    "InstanceId",
    "SnapshotSetId",
    "RestorePointInTime",
    "Devices",
    "DryRun",
    "InitializationRate",
}
# Each mode's own fields, beside the shared ones.
OWN_FIELDS: dict[type[RestoreRequest], set[str]] = {
    InPlaceRequest: {
        "ExcludeBootVolume",
        "PowerOnAfterRestore",
        "DeleteReplacedVolumes",
        "WaitForInitialization",
    },
    CloneRequest: {
        "ExcludeBootVolume",
        "SubnetId",
        "SecurityGroupIds",
        "InstanceType",
        "KeepClone",
        "ValidationDocument",
        "ValidationParameters",
    },
    OnlineRequest: {
        "DeleteReplacedVolumes",
        "WaitForInitialization",
        "ValidationDocument",
        "ValidationParameters",
        "StopServices",
    },
    MountRequest: {"TargetInstanceId", "ExpiresInHours"},
}
MODE_MODELS: list[tuple[str, type[RestoreRequest]]] = [
    ("InPlace", InPlaceRequest),
    ("Clone", CloneRequest),
    ("Online", OnlineRequest),
    ("Mount", MountRequest),
]


def refusal(payload: dict[str, Any], modes: tuple[str, ...] | None = None) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as refused:
        RestoreRequest.parse({"InstanceId": INSTANCE_ID, **payload}, modes=modes)
    return refused.value


@pytest.mark.parametrize(("mode", "model"), MODE_MODELS)
def test_parse_returns_the_model_of_the_mode_when_mode_is_given(
    mode: str, model: type[RestoreRequest]
) -> None:
    request = RestoreRequest.parse({"InstanceId": INSTANCE_ID, "Mode": mode})
    assert type(request) is model
    assert request.mode == mode


@pytest.mark.parametrize(("model", "own"), OWN_FIELDS.items())
def test_each_mode_model_has_exactly_the_shared_fields_and_its_own(
    model: type[RestoreRequest], own: set[str]
) -> None:
    assert {f.alias for f in model.model_fields.values()} == SHARED | own


def test_parse_reads_a_request_without_mode_as_in_place() -> None:
    request = RestoreRequest.parse({"InstanceId": INSTANCE_ID, "PowerOnAfterRestore": False})
    assert isinstance(request, InPlaceRequest)
    assert (request.mode, request.power_on_after_restore) == ("InPlace", False)


@pytest.mark.parametrize("mode", [None, "Offline", "inplace", 3])
def test_parse_refuses_naming_mode_when_mode_is_not_one(mode: object) -> None:
    refused = refusal({"Mode": mode})
    assert refused.field == "Mode"
    assert "'InPlace', 'Clone', 'Online' or 'Mount'" in refused.reason


@pytest.mark.parametrize(
    ("payload", "field", "modes"),
    [
        ({"Mode": "Mount", "KeepClone": True}, "KeepClone", '"Clone"'),
        ({"Mode": "Clone", "StopServices": ["MSSQLSERVER"]}, "StopServices", '"Online"'),
        (
            {"Mode": "Online", "ExcludeBootVolume": True},
            "ExcludeBootVolume",
            '"InPlace" or "Clone"',
        ),
        (
            {"Mode": "Mount", "ValidationDocument": "X-Check"},
            "ValidationDocument",
            '"Clone" or "Online"',
        ),
    ],
)
def test_parse_refuses_another_modes_field_naming_the_modes_it_applies_to(
    payload: dict[str, Any], field: str, modes: str
) -> None:
    refused = refusal(payload)
    assert (refused.field, refused.reason) == (field, f"applies only when Mode is {modes}")


def test_parse_ignores_another_modes_field_when_it_is_null_or_false() -> None:
    request = RestoreRequest.parse(
        {"InstanceId": INSTANCE_ID, "Mode": "Mount", "KeepClone": False, "StopServices": None}
    )
    assert isinstance(request, MountRequest)


def test_parse_refuses_an_in_place_option_in_a_drill_even_when_false() -> None:
    refused = refusal({"Mode": "Clone", "PowerOnAfterRestore": False})
    assert (refused.field, refused.reason) == (
        "PowerOnAfterRestore",
        'applies only when Mode is "InPlace"',
    )


@pytest.mark.parametrize(
    ("mode", "modes"),
    [("Clone", ("InPlace", "Online")), ("InPlace", ("Clone",)), ("Online", ("Mount",))],
)
def test_parse_refuses_naming_mode_when_the_machine_does_not_run_it(
    mode: str, modes: tuple[str, ...]
) -> None:
    # GIVEN / WHEN a request of a mode this state machine does not run
    refused = refusal({"Mode": mode}, modes=modes)

    # THEN it is refused on Mode, saying which modes this machine runs
    assert refused.field == "Mode"
    assert refused.reason.startswith(f'"{mode}" is not run by this state machine')
    assert all(f'"{m}"' in refused.reason for m in modes)


def test_parse_accepts_a_mode_the_machine_runs_and_any_mode_without_modes() -> None:
    online = {"InstanceId": INSTANCE_ID, "Mode": "Online"}
    assert isinstance(RestoreRequest.parse(online, modes=("InPlace", "Online")), OnlineRequest)
    assert isinstance(RestoreRequest.parse(online), OnlineRequest)
    # The mode is checked before its fields: the machine's refusal comes first.
    assert refusal({"Mode": "Mount", "ExpiresInHours": 0}, modes=("Clone",)).field == "Mode"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"Mode": "Clone", "KeepClone": True, "SubnetId": "subnet-0123456789abcdef0"},
        {"Mode": "Online", "StopServices": ["MSSQLSERVER"], "DeleteReplacedVolumes": True},
        {"Mode": "Mount", "ExpiresInHours": 3},
    ],
)
def test_carried_request_reads_back_the_same_model_when_it_holds_every_modes_fields(
    payload: dict[str, Any],
) -> None:
    # GIVEN a request as the workflow carries it: every mode's field, others' at defaults
    request = RestoreRequest.parse({"InstanceId": INSTANCE_ID, **payload})
    carried = request.to_payload()
    assert set(carried) == set().union(SHARED, *OWN_FIELDS.values())

    # WHEN a task reads it
    read = TypeAdapter(CarriedRequest).validate_python(carried)

    # THEN it is the same request, of the same mode's model
    assert type(read) is type(request)
    assert read == request
