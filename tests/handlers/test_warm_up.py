"""The warm-up event: every task answers it without touching AWS."""

from __future__ import annotations

from tests.handlers.conftest import CallTask
from tests.handlers.emulator import AwsCalls
from vss_restore.lambda_task import WARM_UP_EVENT
from vss_restore.local import LocalEngine
from vss_restore.tasks import FLEET_TASKS, TASKS


def test_every_task_answers_the_warm_up_event_without_any_aws_call(
    engine: LocalEngine, call_task: CallTask
) -> None:
    # GIVEN the event the workflow sends to load a function before it is needed
    calls = AwsCalls(engine)

    # WHEN each task's handler gets it
    with calls.recording():
        answers = {task: call_task(task, dict(WARM_UP_EVENT)) for task in {**TASKS, **FLEET_TASKS}}

    # THEN each says it is warm, and none made a call
    assert answers == {task: {"WarmedUp": True} for task in {**TASKS, **FLEET_TASKS}}
    assert calls.made == []
