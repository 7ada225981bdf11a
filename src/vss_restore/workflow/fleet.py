"""The fleet state machines: one restore (or, on the drill fleet, one drill) execution per
instance, wave by wave. Each starts only its capability's machine, so that whoever may run
scheduled drills may not restore."""

from __future__ import annotations

from typing import Any

from vss_restore.capabilities import (
    CAPABILITY_MODES,
    FLEET_CAPABILITY,
    MACHINE_ARN_PLACEHOLDERS,
    FleetMachine,
)
from vss_restore.workflow.asl import POLL_FLEET, States, choice, fail, machine, succeed, task, when


def definition(fleet: FleetMachine = "fleet") -> dict[str, Any]:
    capability = FLEET_CAPABILITY[fleet]
    states = States()
    states.add(
        "ResolveFleet",
        task(
            "ResolveFleet",
            {
                "Request.$": "$",
                "Execution.$": "$$.Execution.Id",
                "Modes": list(CAPABILITY_MODES[capability]),
            },
            comment=(
                "Validate the request (its Mode must be one this fleet runs), resolve TagFilter, "
                "plan the waves: nothing starts on bad input."
            ),
            result_path="$.Fleet",
            on_error="FleetRejected",
            next_state="RunFleet",
        ),
    )
    states.add(
        "RunFleet",
        task(
            "RunFleet",
            {
                "Fleet.$": "$.Fleet",
                # The one machine this fleet starts (its requests' Mode is checked above).
                "StateMachines": {capability: "${" + MACHINE_ARN_PLACEHOLDERS[capability] + "}"},
            },
            comment=(
                "Start each instance's restore (wave by wave, StartIntervalSeconds apart, at most "
                "MaxConcurrency at once, none past the tolerance) and follow them until all have "
                "ended. Restores are started, not run .sync: stopping or failing the fleet never "
                "stops one mid-swap. Their names derive from this execution, so a retry finds "
                "them again."
            ),
            result_path="$.Report",
            on_error=None,
            poll_retry=POLL_FLEET,
            next_state="FleetOutcome",
        ),
    )
    states.add(
        "FleetOutcome",
        choice(
            [when("$.Report.Status", "FleetRestored", StringEquals="Succeeded")],
            default="FleetFailed",
        ),
    )
    states.add("FleetRestored", succeed("$.Report"))
    states.add(
        "FleetFailed",
        fail(
            "$.Report.Error",
            "$.Report.Cause",
            comment=(
                "FleetFailureThresholdExceeded; the Cause lists the failed and the never started "
                "instances."
            ),
        ),
    )
    states.add("FleetRejected", fail("$.Error.Error", "$.Error.Cause"))
    return machine(
        f"vss-restore {fleet}: one {capability} execution per instance, wave by wave, at most "
        f"MaxConcurrency at a time; past ToleratedFailurePercentage no further {capability} starts, "
        "and the fleet fails once the started ones have ended.",
        "ResolveFleet",
        states,
    )
