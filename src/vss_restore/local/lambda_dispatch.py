"""Runs ``lambda.Invoke`` calls in-process: the emulator's Lambda would need Docker.

A ``before-call`` hook on the boto3 session answers each Invoke by calling the task's
handler from ``vss_restore.functions``. A raised exception comes back as a ``FunctionError``
payload (``errorType`` = the class name), exactly as Lambda reports it, so the state
machine's Retry and Catch see the named error. Where the engine models time (simulation
mode), an invocation that took longer than its function's timeout is answered as Lambda
answers a timed-out one (``Sandbox.Timedout``).
"""

from __future__ import annotations

import importlib
import io
import json
import traceback
import uuid
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

from botocore.response import StreamingBody

from vss_restore.local.faults import TaskCrashed, timed_out_answer
from vss_restore.local.responses import HookAnswer, answer

Handler = Callable[[dict[str, Any], Any], Any]
# The function whose handler is running (None outside any): which role makes each AWS call.
current_function: ContextVar[str | None] = ContextVar("current_function", default=None)


class TaskObserver(Protocol):
    """Told when an invocation starts and ends (simulation mode keeps its clock by it)."""

    def task_started(self, function: str) -> None: ...

    def task_finished(self, function: str) -> None: ...


@dataclass(frozen=True)
class FakeLambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def load_handlers(function_names: Mapping[str, str]) -> dict[str, Handler]:
    """Function name → ``vss_restore.functions.<module>.handler`` (``functions/`` ships in
    the package, so an installed vss-restore runs the same handlers as a checkout)."""
    return {
        name: importlib.import_module(f"vss_restore.functions.{module}").handler
        for name, module in function_names.items()
    }


def _function_name(url_path: str) -> str:
    # /2015-03-31/functions/<name or ARN>/invocations
    target = unquote(url_path.split("/functions/", 1)[1].split("/", 1)[0])
    return target.rsplit(":function:", 1)[-1].split(":", 1)[0]


def invoke_response(payload: Any, function_error: str | None = None) -> HookAnswer:
    body = json.dumps(payload).encode()
    parsed: dict[str, Any] = {
        "StatusCode": 200,
        "ExecutedVersion": "$LATEST",
        "Payload": StreamingBody(io.BytesIO(body), len(body)),
    }
    if function_error:
        parsed["FunctionError"] = function_error
    return answer(200, parsed)


class LambdaDispatcher:
    """The ``before-call.lambda.Invoke`` hook; records every invocation it serves."""

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        arn_prefix: str,
        timeouts: Mapping[str, float] | None = None,
    ) -> None:
        self._handlers = dict(handlers)
        self._arn_prefix = arn_prefix
        self._timeouts = dict(timeouts or {})  # function name -> its timeout in seconds
        self.invocations: list[str] = []
        self.observer: TaskObserver | None = None
        # Modelled seconds (simulation mode): the timeouts are enforced on this clock only,
        # never on how fast this machine runs the handlers.
        self.clock: Callable[[], float] | None = None

    def __call__(self, params: dict[str, Any], **_: Any) -> HookAnswer | None:
        name = _function_name(params.get("url_path", ""))
        handler = self._handlers.get(name)
        if handler is None:
            return None  # not ours: let the emulator answer
        self.invocations.append(name)
        body = params.get("body") or b"{}"
        event = json.loads(body.decode() if isinstance(body, bytes) else body)
        context = FakeLambdaContext(name, f"{self._arn_prefix}{name}", str(uuid.uuid4()))
        if self.observer is not None:
            self.observer.task_started(name)
        running = current_function.set(name)
        started = self.clock() if self.clock is not None else None
        try:
            response = self._invoke(handler, event, context)
            return self._timed_out(name, context, started) or response
        finally:
            current_function.reset(running)
            if self.observer is not None:
                self.observer.task_finished(name)

    def _timed_out(
        self, name: str, context: FakeLambdaContext, started: float | None
    ) -> HookAnswer | None:
        """Lambda's answer when the invocation ran past its function's timeout (else None).

        The handler ran to its end, so what it changed after the timeout stays changed,
        where Lambda would have stopped it: a rare path, tested for its error, not its effects.
        """
        limit = self._timeouts.get(name)
        if started is None or limit is None or self.clock is None:
            return None
        if self.clock() - started <= limit:
            return None
        message = (
            f"RequestId: {context.aws_request_id} Error: Task timed out after {limit:.2f} seconds"
        )
        parsed = timed_out_answer(message)
        return answer(200, {"StatusCode": 200, "ExecutedVersion": "$LATEST", **parsed})

    @staticmethod
    def _invoke(handler: Handler, event: dict[str, Any], context: FakeLambdaContext) -> HookAnswer:
        try:
            result = handler(event, context)
        except TaskCrashed as crash:
            # What Lambda answers when the runtime process exits mid-invocation.
            return invoke_response(
                {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {context.aws_request_id} {crash}",
                },
                function_error="Unhandled",
            )
        except Exception as err:
            return invoke_response(
                {
                    "errorType": type(err).__name__,
                    "errorMessage": str(err),
                    "stackTrace": traceback.format_exception(err)[-3:],
                },
                function_error="Unhandled",
            )
        return invoke_response(result)
