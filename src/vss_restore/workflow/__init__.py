"""The state machine definitions, built from named parts: one machine per capability.

``python -m vss_restore.workflow`` writes them to ``statemachines/<name>.asl.json`` (checked
in, read by CDK, the local engine and reviewers); ``--check`` fails when a file differs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from vss_restore.capabilities import Machine
from vss_restore.workflow import drill, fleet, mount, restore

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
