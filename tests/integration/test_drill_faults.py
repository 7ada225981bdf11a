"""A drill under AWS faults: one clone at most, nothing left behind, the source untouched."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import VssSetFactory
from tests.integration.test_drill import DOCUMENT, drill_resources
from vss_restore.local import LocalEngine, world
from vss_restore.local.faults import fault_of_kind
from vss_restore.local.invariants import InstanceState

# Every call a drill makes that changes something, or whose answer decides the drill.
DRILL_OPERATIONS = (
    "ec2.RunInstances",
    "ec2.TerminateInstances",
    "ssm.SendCommand",
    "ssm.GetCommandInvocation",
    "cloudwatch.PutMetricData",
    "events.PutEvents",
)
KINDS = ("RequestLimitExceeded", "InternalError", "ResponseLost", "CrashAfterCall")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("operation", DRILL_OPERATIONS)
def test_drill_survives_a_fault_without_leaving_anything_behind(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    operation: str,
    kind: str,
) -> None:
    # GIVEN a set, an isolated subnet, and one failing call
    vss_set("set-1", hours_ago=2)
    subnet, group = world.isolated_subnet(ec2)
    before = InstanceState.capture(ec2, instance_with_volumes)
    injector = engine.inject(fault_of_kind(kind, operation))

    # WHEN a drill with validation runs
    result = engine.run(
        {
            "InstanceId": instance_with_volumes,
            "Mode": "Clone",
            "SubnetId": subnet,
            "SecurityGroupIds": [group],
            "ValidationDocument": DOCUMENT,
        },
        timeout=120,
    )

    # THEN the fault happened, and either the drill succeeded or failed with a named error
    assert injector.injected == 1
    assert result.status in ("SUCCEEDED", "FAILED")
    if result.status == "FAILED":
        assert result.error is not None
        assert not result.error.startswith("States."), (result.error, result.cause)
    # ... exactly one clone was launched, and it and its volumes are gone
    instances, volumes = drill_resources(ec2)
    assert len(instances) == 1, instances
    assert set(instances.values()) == {"terminated"}
    assert volumes == []
    # ... and the source never changed
    assert InstanceState.capture(ec2, instance_with_volumes) == before
