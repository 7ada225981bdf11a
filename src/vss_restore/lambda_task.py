"""What every task handler shares: structured logging, named AWS errors, JSON output.

Every log line of an invocation carries what identifies its run: ``execution`` (the
execution's name) where the event carries it, and ``instance_id`` where it names one.
Handlers log one ``info`` line, with structured fields, at each decision their task makes.

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
from vss_restore.errors import ExecutionRedriven, RestoreError
from vss_restore.models import RestorePlan
from vss_restore.settings import settings
from vss_restore.task_events import WaitEvent
from vss_restore.waiting import utcnow

logger = Logger(service="vss-restore")

# What the workflow sends to warm a function up before it is needed (see the definition).
WARM_UP_EVENT = {"WarmUp": True}
# The execution's $$.Execution.RedriveCount, which every task state passes (workflow/asl.py).
REDRIVE_COUNT = "RedriveCount"

TaskResult = BaseModel | list[BaseModel] | dict[str, Any] | list[Any] | str | None
Handler = Callable[[dict[str, Any], LambdaContext], Any]


def _to_json(result: TaskResult) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json", by_alias=True)
    if isinstance(result, list):
        return [_to_json(item) for item in result]
    return result


def _first(places: list[dict[str, Any]], key: str) -> str | None:
    return next((p[key] for p in places if isinstance(p.get(key), str)), None)


def run_keys(event: dict[str, Any]) -> dict[str, str]:
    """What identifies the run in a task's event: the execution's name (its ARN's last part)
    and the instance, from the event or one level down (``Plan``, ``Document``, ``Request``...)."""
    places = [event, *(v for v in event.values() if isinstance(v, dict))]
    keys = {}
    execution = _first(places, "Execution")
    if execution:
        keys["execution"] = execution.rsplit(":", 1)[-1]
    instance_id = _first(places, "InstanceId")
    if instance_id:
        keys["instance_id"] = instance_id
    return keys


def plan_fields(plan: RestorePlan) -> dict[str, Any]:
    """What a log line says of a plan: each device's snapshot, the volume it replaces and how
    the new one initializes, and the devices left alone."""
    return {
        "snapshot_set_id": plan.snapshot_set_id,
        "volumes": [
            {
                "device": v.device,
                "snapshot_id": v.snapshot_id,
                "replaces": v.replaced_volume_id,
                "initialization": v.initialization,
            }
            for v in plan.volumes
        ],
        "untouched_devices": plan.untouched_devices,
    }


def log_wait_done(what: str, wait: WaitEvent, **fields: Any) -> None:
    """The info line of a wait that is over: how long since its state was entered."""
    waited = (utcnow() - wait.entered_at).total_seconds()
    logger.info(
        "wait done", extra={"waited_for": what, "waited_seconds": round(waited, 1), **fields}
    )


def refuse_redrive(event: dict[str, Any], task_name: str) -> dict[str, Any]:
    """The event without its RedriveCount; ExecutionRedriven if the execution was redriven
    (the body, and so every AWS call, never runs)."""
    body = dict(event)
    count = body.pop(REDRIVE_COUNT, 0)
    if count:
        raise ExecutionRedriven(task_name, int(count))
    return body


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
        # Thread-safe keys: the local engine runs invocations side by side in one process.
        logger.thread_safe_clear_keys()
        logger.thread_safe_append_keys(**run_keys(event))
        try:
            return _to_json(body(refuse_redrive(event, func.__module__.rsplit(".", 1)[-1])))
        except RestoreError as err:
            # Named errors are the workflow's contract, not bugs: one line, no trace.
            logger.warning("task raised %s: %s", type(err).__name__, err)
            raise
        except Exception:
            logger.exception("task failed unexpectedly")
            raise
        finally:
            logger.thread_safe_clear_keys()

    return handler
