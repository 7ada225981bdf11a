"""The handler tier: each task's handler called directly with its event, no state machine.

The emulator's services (with the local fidelity rules) answer the handler's AWS calls, so a
test costs milliseconds; the paths that need a whole execution stay in ``tests/integration``.
"""

from __future__ import annotations

import functools
import gc
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest

from vss_restore.local import LocalEngine
from vss_restore.local.lambda_dispatch import FakeLambdaContext, load_handlers
from vss_restore.tasks import FLEET_TASKS, TASKS
from vss_restore.waiting import WAIT_IN_TASK_ENV

CallTask = Callable[[str, dict[str, Any]], Any]


@pytest.fixture(scope="package", autouse=True)
def _cheaper_emulator_starts() -> Iterator[None]:
    """What every test's emulator start costs, paid less often (measured on the in-place
    tasks' tests: a third less CPU in all); undone when this tier's tests are done, so no
    other test runs with it:

    - one botocore loader for the run: each start makes a new default boto3 session, which
      would read the AWS service models from disk again (about 0.3 s of CPU a test);
    - a young generation of 10,000 objects: each start builds the emulator's EC2 catalogue
      (its 1,300 AMIs) anew, and at Python's default of 700 the full collections that
      follow take a quarter of the tests' CPU.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(10_000, *thresholds[1:])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            botocore.session, "create_loader", functools.cache(botocore.session.create_loader)
        )
        try:
            yield
        finally:
            gc.set_threshold(*thresholds)


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


@pytest.fixture
def immediate_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Polling tasks check once: they return if ready, else raise their not-ready error at
    once (an in-task budget of 0 s; the state machine's Retry would call them again).

    It must come before the engine, which keeps a budget already set and would otherwise set
    the stack's: ``pytest.mark.usefixtures("immediate_waits")`` puts it first.
    """
    if WAIT_IN_TASK_ENV in os.environ:
        pytest.fail(f"{WAIT_IN_TASK_ENV} is set already (by the engine: request this first)")
    monkeypatch.setenv(WAIT_IN_TASK_ENV, "0")
