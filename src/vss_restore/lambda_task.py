"""What every task handler shares: structured logging, named AWS errors, JSON output.

Tracing is Lambda's and Step Functions' own (active tracing): each invocation is a segment
of the execution's trace. The X-Ray SDK, which would add a subsegment per AWS call, is left
out: importing it creates its sampling client and costs about 170 ms of every cold start.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from vss_restore.aws_errors import named_aws_errors
from vss_restore.errors import RestoreError
from vss_restore.settings import settings

logger = Logger(service="vss-restore")

# What the workflow sends to warm a function up before it is needed (see the definition).
WARM_UP_EVENT = {"WarmUp": True}

TaskResult = BaseModel | list[BaseModel] | dict[str, Any] | list[Any] | str | None
Handler = Callable[[dict[str, Any], LambdaContext], Any]


def _to_json(result: TaskResult) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json", by_alias=True)
    if isinstance(result, list):
        return [_to_json(item) for item in result]
    return result


def task(func: Callable[[dict[str, Any]], TaskResult]) -> Handler:
    """Wrap a task body ``func(event) -> result`` as a Lambda handler.

    Runs when the handler's module is imported: a bad setting fails the function's init
    (``InvalidSettings`` naming the variable), never an invocation half-way through.
    """
    settings()
    body = named_aws_errors(func)

    @logger.inject_lambda_context(clear_state=True)
    @functools.wraps(func)
    def handler(event: dict[str, Any], context: LambdaContext) -> Any:
        if event == WARM_UP_EVENT:
            return {"WarmedUp": True}  # the code is loaded: nothing else to do
        try:
            return _to_json(body(event))
        except RestoreError as err:
            # Named errors are the workflow's contract, not bugs: one line, no trace.
            logger.warning("task raised %s: %s", type(err).__name__, err)
            raise
        except Exception:
            logger.exception("task failed unexpectedly")
            raise

    return handler
