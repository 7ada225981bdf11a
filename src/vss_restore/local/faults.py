"""Fault injection on the emulator: make one AWS call fail, as AWS sometimes does.

A ``Fault`` names an operation (``"ec2.AttachVolume"``, ``"dynamodb.PutItem"``), which of
its calls fail (``occurrence``, counting from 1, for ``times`` calls, or every call from
there on when ``permanent``) and how:

- refused with an error ``code`` before anything happened (the default);
- ``timeout``: the call hangs and the client gives up (a read time-out), nothing happened;
- ``applied``: the change is made but the caller gets the error, as when a response is lost;
- ``crash``: the change is made, then the Lambda task dies (``Runtime.ExitError``) and
  the state machine runs it again;
- ``timed_out`` (``lambda.Invoke`` only): the function runs, then Lambda reports it timed
  out (``Sandbox.Timedout``), as when its work took longer than the function's timeout.
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.response import StreamingBody

from vss_restore.local.responses import HookAnswer, error_answer

_STATUS = {
    "RequestLimitExceeded": 503,
    "Unavailable": 503,
    "ServiceUnavailable": 503,
    "InternalError": 500,
    # EC2 lists these among its server errors (HTTP 500).
    "InsufficientInstanceCapacity": 500,
    "InsufficientVolumeCapacity": 500,
    # Lambda's Invoke: throttled, or Lambda itself failed.
    "TooManyRequestsException": 429,
    "ServiceException": 500,
}
INVOKE = "lambda.Invoke"


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
    permanent: bool = False
    applied: bool = False
    timeout: bool = False
    crash: bool = False
    timed_out: bool = False
    # ``lambda.Invoke`` only: count and fail only the invocations of this function.
    function: str | None = None

    def __post_init__(self) -> None:
        service, _, name = self.operation.partition(".")
        if not service or not name:
            raise ValueError(f"operation {self.operation!r} must look like 'ec2.AttachVolume'")
        if self.occurrence < 1 or self.times < 1:
            raise ValueError("occurrence and times count from 1")
        if sum((self.applied, self.timeout, self.crash, self.timed_out)) > 1:
            raise ValueError("a fault is at most one of applied, timeout, crash, timed_out")
        if (self.timed_out or self.function) and self.operation != INVOKE:
            raise ValueError(f"only {INVOKE} can time out as a function or name one")

    @property
    def status(self) -> int:
        return _STATUS.get(self.code, 400)

    @property
    def message(self) -> str:
        calls = f"calls {self.occurrence}+" if self.permanent else f"call {self.occurrence}"
        return f"injected fault: {self.code} on {self.operation} {calls}"

    def covers(self, call: int) -> bool:
        """Whether the ``call``-th call of the operation (from 1) fails."""
        if self.permanent:
            return call >= self.occurrence
        return self.occurrence <= call < self.occurrence + self.times


class FaultInjector:
    """The botocore hooks that carry out one ``Fault``, and what they saw.

    Calls are counted when botocore builds their parameters, an event every handler
    sees, so several faults on one operation count the same calls (a refusal by one
    fault answers the call before the others' ``before-call`` hooks would run). The
    ``before-call``/``after-call`` hook then acts on the calls that were marked due.
    """

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.calls = 0
        self.injected = 0
        self._lock = threading.Lock()  # the swap's calls go out from several threads
        self._mark = f"vss_restore_fault_{id(self)}"

    def hooks(self) -> list[tuple[str, Any]]:
        service, _, name = self.fault.operation.partition(".")
        after = self.fault.applied or self.fault.crash or self.fault.timed_out
        when = "after-call" if after else "before-call"
        return [
            (f"before-parameter-build.{service}.{name}", self.count),
            (f"{when}.{service}.{name}", self),
        ]

    def count(
        self,
        params: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        if self.fault.function is not None and _function_of(params) != self.fault.function:
            return  # another function's invocation: neither counted nor failed
        with self._lock:
            self.calls += 1
            due = self.fault.covers(self.calls)
            self.injected += due
        if context is not None:
            context[self._mark] = due

    def __call__(self, context: dict[str, Any] | None = None, **kwargs: Any) -> HookAnswer | None:
        if not (context or {}).get(self._mark):
            return None
        if self.fault.crash:
            raise TaskCrashed(self.fault.message)
        if self.fault.timed_out:
            # after-call: the function ran; Lambda answers with its timeout error instead.
            kwargs["parsed"].update(timed_out_answer(f"Task timed out ({self.fault.message})"))
            return None
        if self.fault.timeout:
            raise ReadTimeoutError(
                endpoint_url=f"https://{self.fault.operation.partition('.')[0]}.local"
            )
        if self.fault.applied:
            # after-call: the emulator has made the change; the caller only sees an error.
            _, parsed = error_answer(self.fault.code, self.fault.message, self.fault.status)
            raise ClientError(parsed, self.fault.operation.partition(".")[2])  # type: ignore[arg-type]
        return error_answer(self.fault.code, self.fault.message, self.fault.status)


def timed_out_answer(message: str) -> dict[str, Any]:
    """The parts of an Invoke response that report a function timeout (Lambda's words)."""
    body = json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode()
    return {"FunctionError": "Unhandled", "Payload": StreamingBody(io.BytesIO(body), len(body))}


# The fault kinds of the reliability matrix (operation and occurrence filled in per case).
FAULT_KINDS: dict[str, Fault] = {
    "RequestLimitExceeded": Fault("any.Operation", code="RequestLimitExceeded"),
    "InternalError": Fault("any.Operation", code="InternalError"),
    "IncorrectState": Fault("any.Operation", code="IncorrectState"),
    "HangThenTimeout": Fault("any.Operation", timeout=True),
    "ResponseLost": Fault("any.Operation", code="InternalError", applied=True),
    "CrashAfterCall": Fault("any.Operation", crash=True),
}


# What can go wrong around a Task state's invocation, whatever the task calls: Lambda
# throttles it, Lambda fails, or the function runs past its timeout.
INVOKE_FAULT_KINDS: dict[str, Fault] = {
    "InvokeThrottled": Fault(INVOKE, code="TooManyRequestsException"),
    "InvokeServiceError": Fault(INVOKE, code="ServiceException"),
    "FunctionTimedOut": Fault(INVOKE, timed_out=True),
}


def _function_of(params: dict[str, Any] | None) -> str:
    """The function an Invoke names (by name or ARN, maybe with a qualifier)."""
    named = str((params or {}).get("FunctionName", ""))
    return named.rsplit(":function:", 1)[-1].split(":", 1)[0]


def fault_of_kind(kind: str, operation: str, occurrence: int = 1) -> Fault:
    """A kind of ``FAULT_KINDS`` on ``operation``, or of ``INVOKE_FAULT_KINDS`` on the
    invocations of one function (``operation`` is ``lambda.Invoke:<function name>``)."""
    if kind in INVOKE_FAULT_KINDS:
        function = operation.partition(":")[2] or None
        return replace(INVOKE_FAULT_KINDS[kind], occurrence=occurrence, function=function)
    return replace(FAULT_KINDS[kind], operation=operation, occurrence=occurrence)


# What AWS answers when it refuses an operation for good: a missing permission (an IAM
# policy or a service control policy), a quota, a capacity shortage, a resource stuck in
# a state, a volume in another Availability Zone. Each code is one AWS documents for the
# operation (EC2 API error codes; DynamoDB, SSM and SNS API references).
REFUSALS: dict[str, tuple[str, ...]] = {
    "ec2.CreateVolume": ("VolumeLimitExceeded", "InsufficientVolumeCapacity"),
    "ec2.CreateTags": ("UnauthorizedOperation", "TagLimitExceeded"),
    "ec2.StopInstances": ("UnauthorizedOperation", "OperationNotPermitted"),
    "ec2.DetachVolume": ("UnauthorizedOperation", "IncorrectState"),
    "ec2.AttachVolume": ("InvalidVolume.ZoneMismatch", "AttachmentLimitExceeded", "IncorrectState"),
    "ec2.ModifyInstanceAttribute": ("UnauthorizedOperation",),
    "ec2.StartInstances": ("InsufficientInstanceCapacity", "UnauthorizedOperation"),
    "ec2.DeleteVolume": ("UnauthorizedOperation", "VolumeInUse"),
    "ec2.RunInstances": ("InsufficientInstanceCapacity", "UnauthorizedOperation"),
    "ec2.TerminateInstances": ("UnauthorizedOperation", "OperationNotPermitted"),
    "ec2.CreateSecurityGroup": ("UnauthorizedOperation", "SecurityGroupLimitExceeded"),
    "ec2.DeleteSecurityGroup": ("UnauthorizedOperation", "DependencyViolation"),
    "dynamodb.PutItem": ("AccessDeniedException", "ResourceNotFoundException"),
    "dynamodb.DeleteItem": ("AccessDeniedException", "ResourceNotFoundException"),
    "ssm.SendCommand": ("AccessDeniedException", "InvalidInstanceId"),
    "sns.Publish": ("AuthorizationError", "NotFound"),
}
# Any other operation: refused as an IAM policy would (each service's own spelling).
_DENIED = {"ec2": "UnauthorizedOperation", "sns": "AuthorizationError"}
PERMANENT = "Permanent:"
ONCE = "Once:"


def refusals(operation: str) -> tuple[str, ...]:
    """The codes AWS refuses ``operation`` with for good (an access denial for any other)."""
    service = operation.partition(".")[0]
    return REFUSALS.get(operation, (_DENIED.get(service, "AccessDeniedException"),))


def fault_named(name: str, operation: str, occurrence: int = 1) -> Fault:
    """A fault kind (``FAULT_KINDS``), ``Permanent:<code>`` (every call from ``occurrence``
    on refused with ``code``) or ``Once:<code>`` (that call alone refused with ``code``)."""
    if name.startswith(PERMANENT):
        return Fault(operation, code=name[len(PERMANENT) :], occurrence=occurrence, permanent=True)
    if name.startswith(ONCE):
        return Fault(operation, code=name[len(ONCE) :], occurrence=occurrence)
    return fault_of_kind(name, operation, occurrence)
