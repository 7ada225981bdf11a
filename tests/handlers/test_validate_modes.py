"""ValidateRequest's ``Modes``: a state machine runs only its capability's modes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.handlers.conftest import CallTask
from vss_restore.errors import InvalidRequest

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:vss-restore:modes"


def validate_event(request: dict[str, Any], modes: list[str] | None) -> dict[str, Any]:
    event = {"Request": request, "Execution": EXECUTION, "StartedAt": datetime.now(UTC).isoformat()}
    return event if modes is None else {**event, "Modes": modes}


def test_validate_request_refuses_naming_mode_when_its_machine_runs_other_modes(
    call_task: CallTask, instance_with_volumes: str
) -> None:
    # GIVEN the drill machine's ValidateRequest (Modes ["Clone"]) and an in-place request
    event = validate_event({"InstanceId": instance_with_volumes}, ["Clone"])

    # WHEN it runs, THEN the request is refused on Mode, naming what this machine runs
    with pytest.raises(InvalidRequest) as refused:
        call_task("ValidateRequest", event)
    assert refused.value.field == "Mode"
    assert '"InPlace" is not run by this state machine' in refused.value.reason
    assert '"Clone"' in refused.value.reason


@pytest.mark.parametrize("modes", [["InPlace", "Online"], None])
def test_validate_request_passes_a_mode_its_machine_runs_or_any_mode_without_modes(
    call_task: CallTask, instance_with_volumes: str, modes: list[str] | None
) -> None:
    event = validate_event({"InstanceId": instance_with_volumes}, modes)

    validated = call_task("ValidateRequest", event)

    assert validated["Request"]["Mode"] == "InPlace"
