"""Fault injection on the emulator: make one AWS call fail, as AWS sometimes does.

A ``Fault`` names an operation (``"ec2.AttachVolume"``, ``"dynamodb.PutItem"``), which of
its calls fail (``occurrence``, counting from 1, for ``times`` calls) and how:

- refused with an error ``code`` before anything happened (the default);
- ``timeout``: the call hangs and the client gives up (a read time-out), nothing happened;
- ``applied``: the change is made but the caller gets the error, as when a response is lost;
- ``crash``: the change is made, then the Lambda task dies (``Runtime.ExitError``) and
  the state machine runs it again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError

from vss_restore.local.responses import HookAnswer, error_answer

_STATUS = {
    "RequestLimitExceeded": 503,
    "Unavailable": 503,
    "ServiceUnavailable": 503,
    "InternalError": 500,
}


class TaskCrashed(BaseException):
    """The Lambda process died after its AWS call (Lambda reports ``Runtime.ExitError``).

    A ``BaseException`` so that no ``except Exception`` in a task can swallow it.
    """


@dataclass(frozen=True)
class Fault:
    operation: str
    code: str = "InternalError"
    occurrence: int = 1
    times: int = 1
    applied: bool = False
    timeout: bool = False
    crash: bool = False

    def __post_init__(self) -> None:
        service, _, name = self.operation.partition(".")
        if not service or not name:
            raise ValueError(f"operation {self.operation!r} must look like 'ec2.AttachVolume'")
        if self.occurrence < 1 or self.times < 1:
            raise ValueError("occurrence and times count from 1")
        if sum((self.applied, self.timeout, self.crash)) > 1:
            raise ValueError("a fault is at most one of applied, timeout, crash")

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
        self._lock = threading.Lock()  # the swap's calls go out from several threads

    def hooks(self) -> list[tuple[str, Any]]:
        service, _, name = self.fault.operation.partition(".")
        when = "after-call" if self.fault.applied or self.fault.crash else "before-call"
        return [(f"{when}.{service}.{name}", self)]

    def _due(self) -> bool:
        with self._lock:
            self.calls += 1
            first, last = self.fault.occurrence, self.fault.occurrence + self.fault.times - 1
            due = first <= self.calls <= last
            self.injected += due
            return due

    def __call__(self, **kwargs: Any) -> HookAnswer | None:
        if not self._due():
            return None
        if self.fault.crash:
            raise TaskCrashed(self.fault.message)
        if self.fault.timeout:
            raise ReadTimeoutError(
                endpoint_url=f"https://{self.fault.operation.partition('.')[0]}.local"
            )
        if self.fault.applied:
            # after-call: the emulator has made the change; the caller only sees an error.
            _, parsed = error_answer(self.fault.code, self.fault.message, self.fault.status)
            raise ClientError(parsed, self.fault.operation.partition(".")[2])  # type: ignore[arg-type]
        return error_answer(self.fault.code, self.fault.message, self.fault.status)


# The fault kinds of the reliability matrix (operation and occurrence filled in per case).
FAULT_KINDS: dict[str, Fault] = {
    "RequestLimitExceeded": Fault("any.Operation", code="RequestLimitExceeded"),
    "InternalError": Fault("any.Operation", code="InternalError"),
    "IncorrectState": Fault("any.Operation", code="IncorrectState"),
    "HangThenTimeout": Fault("any.Operation", timeout=True),
    "ResponseLost": Fault("any.Operation", code="InternalError", applied=True),
    "CrashAfterCall": Fault("any.Operation", crash=True),
}


def fault_of_kind(kind: str, operation: str, occurrence: int = 1) -> Fault:
    return replace(FAULT_KINDS[kind], operation=operation, occurrence=occurrence)
