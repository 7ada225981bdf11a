"""Who started an execution, from CloudTrail's StartExecution events."""

from __future__ import annotations

import json
from typing import Any

from vss_restore.starter import starter_in

EXECUTION = (
    "arn:aws:states:eu-west-1:111122223333:execution:VssRestore-abc:i-0123456789abcdef0-5d1c0e9a"
)
MACHINE = "arn:aws:states:eu-west-1:111122223333:stateMachine:VssRestore-abc"
ONCALL = "arn:aws:sts::111122223333:assumed-role/OnCall/jane"


def _event(identity: dict[str, Any], request: dict[str, Any], response: Any) -> dict[str, Any]:
    detail = {
        "eventName": "StartExecution",
        "userIdentity": identity,
        "requestParameters": request,
        "responseElements": response,
    }
    return {"EventName": "StartExecution", "CloudTrailEvent": json.dumps(detail)}


def test_starter_is_the_caller_whose_response_names_the_execution() -> None:
    events = [
        _event({"arn": "arn:aws:iam::111122223333:user/other"}, {}, {"executionArn": "x"}),
        _event({"arn": ONCALL}, {"stateMachineArn": MACHINE}, {"executionArn": EXECUTION}),
    ]

    assert starter_in(events, EXECUTION) == ONCALL


def test_starter_is_found_by_name_and_machine_when_the_response_was_not_logged() -> None:
    request = {"stateMachineArn": MACHINE, "name": "i-0123456789abcdef0-5d1c0e9a"}
    events = [_event({"principalId": "AROAEXAMPLE:jane"}, request, None)]

    assert starter_in(events, EXECUTION) == "AROAEXAMPLE:jane"


def test_starter_is_unknown_when_no_event_is_this_executions() -> None:
    other = {"stateMachineArn": MACHINE, "name": "i-0123456789abcdef0-000000000000"}
    events = [
        _event({"arn": ONCALL}, other, None),
        {"EventName": "StartExecution", "CloudTrailEvent": "not json"},
    ]

    assert starter_in(events, EXECUTION) is None
