"""CloudTrail's event history in the emulator: who started each execution.

AWS records every ``StartExecution`` call in CloudTrail's event history (90 days), with the
caller's identity, the request's state machine and name, and the response's execution ARN;
``LookupEvents`` reads it back. moto records nothing and does not implement
``LookupEvents``, so a report could never say who started an execution. This rule records
each ``StartExecution`` the emulator answers and answers ``LookupEvents`` (by event name or
user name, within ``StartTime``/``EndTime``) from that record. The caller is the identity
moto's STS gives every request (``arn:aws:sts::ACCOUNT:user/moto``).

Only the local engine installs it; product code never sees it.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

_ABSENT = object()  # an attribute the class did not have


class CloudTrailEventHistory:
    """Records StartExecution calls and answers CloudTrail ``LookupEvents`` from them."""

    events: ClassVar[list[dict[str, Any]]] = []
    _lock: ClassVar[threading.Lock] = threading.Lock()
    _installed: ClassVar[int] = 0  # engines inside one another install it once each

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def install(self) -> None:
        from moto.cloudtrail.responses import CloudTrailResponse  # noqa: PLC0415
        from moto.stepfunctions.responses import StepFunctionResponse  # noqa: PLC0415

        original_start = StepFunctionResponse.start_execution
        history = type(self)

        def start_execution(response: Any) -> Any:
            result = original_start(response)
            started = getattr(result, "result", {}) or {}
            history.record(
                account=response.current_account,
                region=response.region,
                request={
                    "stateMachineArn": response._get_param("stateMachineArn"),
                    "name": response._get_param("name"),
                },
                response={"executionArn": started.get("executionArn")},
            )
            return result

        def lookup_events(response: Any) -> str:
            return json.dumps({"Events": history.lookup(response)})

        self._patch(StepFunctionResponse, "start_execution", start_execution)
        self._patch(CloudTrailResponse, "lookup_events", lookup_events)
        type(self)._installed += 1

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        """Replace ``owner.name``, keeping what was there (moto has no ``lookup_events``, an
        engine already running has its own) to put back on uninstall."""
        self._saved.append((owner, name, owner.__dict__.get(name, _ABSENT)))
        setattr(owner, name, replacement)

    def uninstall(self) -> None:
        if not self._saved:
            return
        for owner, name, original in reversed(self._saved):
            if original is _ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self._saved = []
        history = type(self)
        history._installed -= 1
        if history._installed == 0:  # the outermost engine: its emulator's events go with it
            with self._lock:
                self.events.clear()

    @classmethod
    def record(
        cls, account: str, region: str, request: dict[str, Any], response: dict[str, Any]
    ) -> None:
        now = datetime.now(UTC)
        detail = {
            "eventVersion": "1.09",
            "eventTime": now.isoformat(timespec="seconds"),
            "eventSource": "states.amazonaws.com",
            "eventName": "StartExecution",
            "awsRegion": region,
            "userIdentity": {
                "type": "IAMUser",
                "principalId": "AKIAIOSFODNN7EXAMPLE",
                "arn": f"arn:aws:sts::{account}:user/moto",
                "accountId": account,
            },
            "requestParameters": request,
            "responseElements": response,
        }
        with cls._lock:
            cls.events.append(
                {
                    "EventId": str(uuid.uuid4()),
                    "EventName": "StartExecution",
                    "EventTime": now.timestamp(),
                    "EventSource": "states.amazonaws.com",
                    "Username": "moto",
                    "Region": region,
                    "CloudTrailEvent": json.dumps(detail),
                }
            )

    @classmethod
    def lookup(cls, response: Any) -> list[dict[str, Any]]:
        """The recorded events of the response's Region matching its lookup attributes."""
        wanted = {
            a["AttributeKey"]: a["AttributeValue"]
            for a in response._get_param("LookupAttributes") or []
        }
        start = response._get_param("StartTime") or 0
        end = response._get_param("EndTime") or float("inf")
        with cls._lock:
            found = [
                {k: v for k, v in e.items() if k != "Region"}
                for e in cls.events
                if e["Region"] == response.region
                and start <= e["EventTime"] <= end
                and wanted.get("EventName", e["EventName"]) == e["EventName"]
                and wanted.get("Username", e["Username"]) == e["Username"]
            ]
        return list(reversed(found))  # newest first, as CloudTrail lists them
