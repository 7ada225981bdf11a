"""The state machine definitions: ``statemachines/<machine>.asl.json`` and their substitutions.

The files are built by ``vss_restore.workflow`` and ship inside the package; CDK and the
local engine both load them through here, so both run the same text.
Placeholders (``${Name}``) sit only inside JSON strings; numbers a task needs (time
limits, the lock's lifetime) reach it as strings and are parsed by its input model.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from vss_restore.capabilities import (
    FLEET_CAPABILITY,
    MACHINE_ARN_PLACEHOLDERS,
    MACHINES,
    Capability,
    Machine,
)
from vss_restore.tasks import FLEET_TASKS, TASKS, function_arn_placeholder

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def repo_root() -> Path:
    """The project checkout (``src/vss_restore`` → two levels up): for development tools only."""
    return Path(__file__).resolve().parents[2]


def definition_path(name: Machine = "restore") -> Traversable:
    """``statemachines/<name>.asl.json``, which ships inside the package as its data."""
    return files("vss_restore.statemachines") / f"{name}.asl.json"


@dataclass(frozen=True)
class Limits:
    """Time limits of the waits and the lock's lifetime, in seconds (the production defaults)."""

    VolumeWaitTimeoutSeconds: int = 900
    StopTimeoutSeconds: int = 900
    SwapWaitTimeoutSeconds: int = 300
    StartTimeoutSeconds: int = 600
    StatusCheckTimeoutSeconds: int = 900
    RollbackWaitTimeoutSeconds: int = 900
    # WaitForInitialization: 1 TiB at the lowest provisioned rate (100 MiB/s) takes ~3 h.
    InitializationTimeoutSeconds: int = 3 * 3600
    # A drill's clone: running, stopped, its root swapped for the set's, started again.
    CloneRootTimeoutSeconds: int = 1800
    # A drill's validation command: until SSM accepts it, then until it finishes.
    ValidationTimeoutSeconds: int = 900
    # Mode "Online": a disk command, until SSM reports it finished: at least its delivery
    # (120 s) and execution (600 s) limits together (windows_disks; a test ties them).
    DiskCommandTimeoutSeconds: int = 900
    # Longer than any execution can last, so it expires only after a crashed execution.
    LockTtlSeconds: int = 6 * 3600

    def as_substitutions(self) -> dict[str, str]:
        return {f.name: str(getattr(self, f.name)) for f in fields(self)}


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def _function_arn_values(
    tasks: Mapping[str, str], function_arns: Mapping[str, str]
) -> dict[str, str]:
    """``${<Task>FunctionArn}`` → ARN for each task; ``ValueError`` naming any without one."""
    missing = sorted(set(tasks) - set(function_arns))
    if missing:
        raise ValueError(f"no function ARN for task(s): {', '.join(missing)}")
    return {function_arn_placeholder(task): function_arns[task] for task in tasks}


def substitutions(
    function_arns: Mapping[str, str], lock_table_name: str, limits: Limits
) -> dict[str, str]:
    """Every value the definition needs: one Lambda ARN per task, the lock table, the limits."""
    return {
        **_function_arn_values(TASKS, function_arns),
        "LockTableName": lock_table_name,
        **limits.as_substitutions(),
    }


def render(text: str, values: Mapping[str, str]) -> str:
    """Replace every ``${Name}``; fail on a placeholder without a value."""
    unknown = sorted(placeholders(text) - set(values))
    if unknown:
        raise ValueError(f"no substitution for: {', '.join(unknown)}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def load(values: Mapping[str, str], name: Machine = "restore") -> dict[str, Any]:
    rendered: dict[str, Any] = json.loads(render(definition_path(name).read_text(), values))
    return rendered


def fleet_substitutions(
    function_arns: Mapping[str, str], machine_arns: Mapping[Capability, str]
) -> dict[str, str]:
    """What the fleet definition needs: its tasks' ARNs and the machines it may start."""
    return {
        **_function_arn_values(FLEET_TASKS, function_arns),
        **{MACHINE_ARN_PLACEHOLDERS[c]: arn for c, arn in machine_arns.items()},
    }


def tasks_of(name: Machine) -> list[str]:
    """The tasks a machine's definition invokes (its role may invoke only their functions)."""
    used = placeholders(definition_path(name).read_text())
    return [task for task in [*TASKS, *FLEET_TASKS] if function_arn_placeholder(task) in used]


def render_for_lint(name: Machine = "restore") -> str:
    """The definition with example values, as a validator sees a deployed one."""
    arns = {
        task: f"arn:aws:lambda:us-east-1:123456789012:function:vss-restore-{task}"
        for task in [*TASKS, *FLEET_TASKS]
    }
    machines: dict[Capability, str] = {
        c: f"arn:aws:states:us-east-1:123456789012:stateMachine:vss-restore-{c}"
        for c in MACHINE_ARN_PLACEHOLDERS
    }
    values = (
        fleet_substitutions(arns, machines)
        if name in FLEET_CAPABILITY
        else substitutions(arns, "vss-restore-locks", Limits())
    )
    return render(definition_path(name).read_text(), values)


if __name__ == "__main__":
    wanted = sys.argv[1] if len(sys.argv) > 1 else "restore"
    machine = next((m for m in MACHINES if m == wanted), None)
    if machine is None:
        sys.exit(f"no state machine {wanted!r}: one of {', '.join(MACHINES)}")
    print(render_for_lint(machine))  # noqa: T201
