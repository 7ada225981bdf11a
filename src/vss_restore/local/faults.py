"""Fault injection on the emulator: make one AWS call fail, as AWS sometimes does.

A ``Fault`` names an operation (``"ec2.AttachVolume"``, ``"dynamodb.PutItem"``), which of
its calls fail (``occurrence``, counting from 1, for ``times`` calls) and how: refused
before anything happened, or ``applied`` — the change is made but the caller gets the
error, as when a response is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from vss_restore.local.responses import HookAnswer, error_answer

_STATUS = {
    "RequestLimitExceeded": 503,
    "Unavailable": 503,
    "ServiceUnavailable": 503,
    "InternalError": 500,
}


@dataclass(frozen=True)
class Fault:
    operation: str
    code: str = "InternalError"
    occurrence: int = 1
    times: int = 1
    applied: bool = False

    def __post_init__(self) -> None:
        service, _, name = self.operation.partition(".")
        if not service or not name:
            raise ValueError(f"operation {self.operation!r} must look like 'ec2.AttachVolume'")
        if self.occurrence < 1 or self.times < 1:
            raise ValueError("occurrence and times count from 1")

    @property
    def status(self) -> int:
        return _STATUS.get(self.code, 400)

    @property
    def message(self) -> str:
        return f"injected fault: {self.code} on {self.operation} call {self.occurrence}"


class FaultInjector:
    """The botocore hooks that carry out one ``Fault``, and what they saw."""

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.calls = 0
        self.injected = 0

    def hooks(self) -> list[tuple[str, Any]]:
        service, _, name = self.fault.operation.partition(".")
        when = "after-call" if self.fault.applied else "before-call"
        return [(f"{when}.{service}.{name}", self)]

    def _due(self) -> bool:
        self.calls += 1
        first, last = self.fault.occurrence, self.fault.occurrence + self.fault.times - 1
        due = first <= self.calls <= last
        self.injected += due
        return due

    def __call__(self, **kwargs: Any) -> HookAnswer | None:
        if not self._due():
            return None
        if self.fault.applied:
            # after-call: the emulator has made the change; the caller only sees an error.
            _, parsed = error_answer(self.fault.code, self.fault.message, self.fault.status)
            raise ClientError(parsed, self.fault.operation.partition(".")[2])  # type: ignore[arg-type]
        return error_answer(self.fault.code, self.fault.message, self.fault.status)
