"""Who started an execution: Step Functions does not record it, CloudTrail does.

CloudTrail's event history keeps every ``StartExecution`` call for 90 days, with the
caller's identity. An event is matched to the execution by the ARN in its response, or by
the execution's name and state machine in its request (either is enough). Events reach the
history some minutes after the call, so a very new execution may not be found yet.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_cloudtrail import CloudTrailClient

# StartExecution is logged when it is called: a little before the execution's start date.
WINDOW = timedelta(minutes=5)


def _machine_of(execution_arn: str) -> str:
    """``arn:aws:states:R:A:execution:MACHINE:NAME`` → ``arn:aws:states:R:A:stateMachine:MACHINE``."""
    parts = execution_arn.split(":")
    return ":".join([*parts[:5], "stateMachine", parts[6]]) if len(parts) > 7 else ""


def starter_in(events: Iterable[Mapping[str, Any]], execution_arn: str) -> str | None:
    """The identity (ARN, else principal id) that started ``execution_arn``, among CloudTrail
    ``LookupEvents`` entries, if one of them is its ``StartExecution``."""
    name = execution_arn.rsplit(":", 1)[-1]
    machine = _machine_of(execution_arn)
    for event in events:
        try:
            detail = json.loads(event.get("CloudTrailEvent") or "{}")
        except ValueError:
            continue
        request = detail.get("requestParameters") or {}
        response = detail.get("responseElements") or {}
        same = response.get("executionArn") == execution_arn or (
            request.get("name") == name and request.get("stateMachineArn") == machine
        )
        if not same:
            continue
        identity = detail.get("userIdentity") or {}
        found = identity.get("arn") or identity.get("principalId") or event.get("Username")
        return str(found) if found else None
    return None


def started_by(
    cloudtrail: CloudTrailClient, execution_arn: str, started_at: datetime
) -> str | None:
    """Who called StartExecution for the execution (None when CloudTrail has no such event)."""
    pages = cloudtrail.get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "StartExecution"}],
        StartTime=started_at - WINDOW,
        EndTime=started_at + WINDOW,
    )
    return starter_in((e for page in pages for e in page.get("Events", [])), execution_arn)
