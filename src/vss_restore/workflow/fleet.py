"""The fleet state machine: one restore (or drill) execution per instance, wave by wave."""

from __future__ import annotations

from typing import Any

from vss_restore.capabilities import MACHINE_ARN_PLACEHOLDERS
from vss_restore.workflow.asl import POLL_FLEET, States, choice, fail, machine, succeed, task, when


def definition() -> dict[str, Any]:
    states = States()
    states.add(
        "ResolveFleet",
        task(
            "ResolveFleet",
            {"Request.$": "$", "Execution.$": "$$.Execution.Id"},
            comment="Validate the request, resolve TagFilter, plan the waves: nothing starts on bad input.",
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
                # The machine of each capability a fleet may start (its request's Mode decides).
                "StateMachines": {
                    capability: "${" + placeholder + "}"
                    for capability, placeholder in MACHINE_ARN_PLACEHOLDERS.items()
                },
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
        "vss-restore fleet: one restore execution per instance, wave by wave, at most "
        "MaxConcurrency at a time; past ToleratedFailurePercentage no further restore starts, "
        "and the fleet fails once the started ones have ended.",
        "ResolveFleet",
        states,
    )
