"""Which state machine runs which request: one machine per capability, granted separately.

An operator allowed to start drills is not thereby allowed to restore: each capability is
its own state machine, and each machine's ValidateRequest refuses the modes it does not run.
"""

from __future__ import annotations

from typing import Literal

Capability = Literal["restore", "drill", "mount"]
Machine = Literal["restore", "drill", "mount", "fleet", "drill-fleet"]
# The fleet machines: many restores, or many drills (scheduled game days), granted apart.
FleetMachine = Literal["fleet", "drill-fleet"]

# The request modes each capability's machine runs (a fleet starts restores or drills).
CAPABILITY_MODES: dict[Capability, tuple[str, ...]] = {
    "restore": ("InPlace", "Online"),
    "drill": ("Clone",),
    "mount": ("Mount",),
}
MACHINES: tuple[Machine, ...] = ("restore", "drill", "mount", "fleet", "drill-fleet")
# The capability whose executions each fleet machine starts.
FLEET_CAPABILITY: dict[str, Capability] = {"fleet": "restore", "drill-fleet": "drill"}
# The ``${...}`` placeholder by which a definition (a fleet's) names another machine.
MACHINE_ARN_PLACEHOLDERS: dict[Capability, str] = {
    "restore": "RestoreStateMachineArn",
    "drill": "DrillStateMachineArn",
    "mount": "MountStateMachineArn",
}


def capability_of(request: object) -> Capability:
    """The machine a request goes to, by its ``Mode`` ("InPlace" when absent).

    A mode no machine runs goes to the restore machine, whose ValidateRequest names the
    field and the modes there are; this only routes, it does not validate."""
    mode = request.get("Mode", "InPlace") if isinstance(request, dict) else "InPlace"
    for capability, modes in CAPABILITY_MODES.items():
        if mode in modes:
            return capability
    return "restore"


def fleet_machine_of(request: object) -> FleetMachine:
    """The fleet machine for a fleet request: drills (Mode "Clone") have their own."""
    return "drill-fleet" if capability_of(request) == "drill" else "fleet"
