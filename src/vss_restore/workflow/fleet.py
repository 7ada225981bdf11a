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
from vss_restore.workflow.asl import (
    States,
    choice,
    fail,
    machine,
    pass_state,
    succeed,
    task,
    wait,
    when,
)


def definition(fleet: FleetMachine = "fleet") -> dict[str, Any]:
    capability = FLEET_CAPABILITY[fleet]
    # The one machine this fleet starts (its requests' Mode is checked by ResolveFleet).
    children = {capability: "${" + MACHINE_ARN_PLACEHOLDERS[capability] + "}"}
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
                "plan the waves, refuse a plan the loop could not follow to its end: nothing "
                "starts on bad input."
            ),
            result_path="$.Fleet",
            on_error="FleetRejected",
            next_state="NothingStartedYet",
        ),
    )
    states.add(
        "NothingStartedYet",
        pass_state(
            "RunFleet",
            parameters={"Done": False, "Progress": "", "IdleCycles": 0, "WaitSeconds": 0},
            result_path="$.Run",
        ),
    )
    states.add(
        "RunFleet",
        task(
            "RunFleet",
            {"Fleet.$": "$.Fleet", "Run.$": "$.Run", "StateMachines": children},
            comment=(
                "One turn of the loop: read the restores once, start what may start (wave by "
                "wave, StartIntervalSeconds apart, at most MaxConcurrency at once, none past the "
                "tolerance), return. Each turn is a new entry of this state, with its own retries; "
                "a stopped fleet starts nothing after the turn under way. Restores are started, "
                "not run .sync: stopping or failing the fleet never stops one mid-swap. Their "
                "names derive from this execution, so a retry finds them again."
            ),
            result_path="$.Run",
            on_error="ReportFleetAfterFailure",
            next_state="FleetEnded",
        ),
    )
    states.add(
        "FleetEnded",
        choice(
            [when("$.Run.Done", "ReportFleet", BooleanEquals=True)],
            default="WaitForFleet",
        ),
    )
    states.add(
        "WaitForFleet",
        wait(
            "$.Run.WaitSeconds",
            "RunFleet",
            comment=(
                "10 s while restores wait only to be started; else longer, so that the "
                "execution's history (25,000 events) outlasts the fleet (vss_restore.fleet."
                "next_wait)."
            ),
        ),
    )
    report = {"Fleet.$": "$.Fleet", "StateMachines": children}
    states.add(
        "ReportFleet",
        task(
            "ReportFleet",
            report,
            comment="Read every restore back, write the report, publish the fleet's outcome.",
            result_path="$.Report",
            on_error="FleetUnreported",
            error_path="$.ReportError",
            next_state="FleetOutcome",
        ),
    )
    states.add(
        "ReportFleetAfterFailure",
        task(
            "ReportFleet",
            {**report, "Error.$": "$.Error"},
            comment=(
                "The loop failed past its retries: report what started, what ended and what "
                "never started, publish it, then fail with the loop's error."
            ),
            result_path="$.Report",
            on_error="FleetFailedUnreported",
            error_path="$.ReportError",
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
                "FleetFailureThresholdExceeded, or the loop's own error; the Cause lists the "
                "failed and the never started instances."
            ),
        ),
    )
    states.add("FleetUnreported", fail("$.ReportError.Error", "$.ReportError.Cause"))
    states.add(
        "FleetFailedUnreported",
        fail("$.Error.Error", "$.Error.Cause", comment="The loop's error; no report was written."),
    )
    states.add("FleetRejected", fail("$.Error.Error", "$.Error.Cause"))
    return machine(
        f"vss-restore {fleet}: one {capability} execution per instance, wave by wave, at most "
        f"MaxConcurrency at a time; past ToleratedFailurePercentage no further {capability} starts, "
        "and the fleet fails once the started ones have ended.",
        "ResolveFleet",
        states,
    )
