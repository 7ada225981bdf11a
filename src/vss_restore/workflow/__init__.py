"""The state machine definitions, built from named parts: one machine per capability.

``python -m vss_restore.workflow`` writes them to ``statemachines/<name>.asl.json`` (checked
in, read by CDK, the local engine and reviewers); ``--check`` fails when a file differs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from vss_restore.capabilities import Machine
from vss_restore.tasks import FLEET_TASKS, POLLING_TASKS, TASKS, function_arn_placeholder
from vss_restore.workflow import drill, fleet, mount, restore
from vss_restore.workflow.asl import ROLLBACK_LAMBDA_THROTTLED, State

# Machine name → its definition; each is its own state machine, so IAM grants it separately.
MACHINES: dict[Machine, Callable[[], dict[str, Any]]] = {
    "restore": restore.definition,
    "drill": drill.definition,
    "mount": mount.definition,
    "fleet": fleet.definition,
    "drill-fleet": lambda: fleet.definition("drill-fleet"),
}


def text(name: Machine) -> str:
    """The definition as checked in: two-space JSON, one trailing newline."""
    return json.dumps(MACHINES[name](), indent=2, ensure_ascii=False) + "\n"


def _task_states() -> list[State]:
    """Every Task state of every machine, in branches too."""
    found: list[State] = []

    def scope(states: dict[str, State]) -> None:
        for state in states.values():
            if state["Type"] == "Task":
                found.append(state)
            for branch in state.get("Branches", []):
                scope(branch["States"])

    for build in MACHINES.values():
        scope(build()["States"])
    return found


def _runs(state: State) -> str | None:
    return next(
        (
            t
            for t in [*TASKS, *FLEET_TASKS]
            if state["Resource"] == f"${{{function_arn_placeholder(t)}}}"
        ),
        None,
    )


def rollback_tasks() -> list[str]:
    """The functions a failure's undo and bookkeeping run (their states retry Lambda's
    throttling with ROLLBACK_LAMBDA_THROTTLED first), which get reserved concurrency.

    A reservation is also a cap: a polling function the normal path also runs (the disk
    commands) would hold it for minutes per restore, so it is left out."""
    rollback: set[str | None] = set()
    normal: set[str | None] = set()
    for state in _task_states():
        runs = _runs(state)
        first = state.get("Retry", [None])[0]
        (rollback if first == ROLLBACK_LAMBDA_THROTTLED.asl() else normal).add(runs)
    shared_polling = {t for t in rollback & normal if t in POLLING_TASKS}
    return [t for t in TASKS if t in rollback and t not in shared_polling]
