"""The handler tier: each task's handler called directly with its event, no state machine.

The emulator's services (with the local fidelity rules) answer the handler's AWS calls, so a
test costs milliseconds; the paths that need a whole execution stay in ``tests/integration``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from vss_restore.local import LocalEngine
from vss_restore.local.lambda_dispatch import FakeLambdaContext, load_handlers
from vss_restore.tasks import FLEET_TASKS, TASKS

CallTask = Callable[[str, dict[str, Any]], Any]


@pytest.fixture
def call_task(engine: LocalEngine) -> CallTask:
    """``call_task("StopInstance", event)``: the task's handler, as Lambda would call it.

    The handler comes from ``vss_restore.functions`` (the modules Lambda and the local engine
    run); a named error it raises reaches the test as that exception.
    """
    del engine  # the fixture only needs the emulator (and its fidelity rules) to be running

    def call(task: str, event: dict[str, Any]) -> Any:
        module = {**TASKS, **FLEET_TASKS}[task]
        handler = load_handlers({task: module})[task]
        context = FakeLambdaContext(
            task, f"arn:aws:lambda:us-east-1:123456789012:function:{task}", str(uuid.uuid4())
        )
        return handler(event, context)

    return call
