"""A drill under AWS faults: one clone at most, nothing left behind, the source untouched."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.conftest import VssSetFactory
from tests.integration.test_drill import CHECK, drill_groups, drill_resources
from vss_restore import tags
from vss_restore.definition import Limits
from vss_restore.local import LocalEngine, world
from vss_restore.local.engine import ExecutionTimeout
from vss_restore.local.faults import Fault, fault_of_kind
from vss_restore.local.invariants import InstanceState, check_drill_invariants

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
# The isolation group's creation and removal, and the clone's root swap.
GROUP_AND_ROOT_OPERATIONS = (
    "ec2.CreateSecurityGroup",
    "ec2.RevokeSecurityGroupEgress",
    "ec2.AuthorizeSecurityGroupEgress",
    "ec2.CreateVolume",
    "ec2.StopInstances",
    "ec2.DetachVolume",
    "ec2.AttachVolume",
    "ec2.ModifyInstanceAttribute",
    "ec2.DeleteVolume",
    "ec2.StartInstances",
    "ec2.DeleteSecurityGroup",
)
# A lost answer, or a task that dies after its call: both make the call happen twice.
REPEATING_KINDS = ("ResponseLost", "CrashAfterCall")
# Refused for good: the drill fails, and still removes what it made. (Removal calls are
# left out: refusing those for good leaves the resources, tagged, for `cleanup`.)
REFUSED_FOR_GOOD = tuple(
    op
    for op in GROUP_AND_ROOT_OPERATIONS
    if op not in ("ec2.DeleteVolume", "ec2.DeleteSecurityGroup")
)


def run_drill_under(
    engine: LocalEngine, ec2: Any, instance_id: str, fault: Fault
) -> tuple[Any, int]:
    """A drill with validation, in the isolation group, while ``fault`` strikes."""
    subnet, _ = world.isolated_subnet(ec2)
    document = world.validation_document(boto3.client("ssm", region_name=engine.region))
    injector = engine.inject(fault)
    result = engine.run(
        {
            "InstanceId": instance_id,
            "Mode": "Clone",
            "SubnetId": subnet,
            "ValidationDocument": document,
            "ValidationParameters": CHECK,
        },
        timeout=120,
    )
    return result, injector.injected


def assert_nothing_left_and_source_untouched(
    ec2: Any, instance_id: str, before: InstanceState, result: Any
) -> None:
    assert result.status in ("SUCCEEDED", "FAILED")
    if result.status == "FAILED":
        assert result.error is not None
        assert not result.error.startswith("States."), (result.error, result.cause)
    # ... exactly one clone was launched, and it, its volumes and its group are gone
    instances, volumes = drill_resources(ec2)
    assert len(instances) <= 1, instances
    assert set(instances.values()) <= {"terminated"}
    assert volumes == []
    assert drill_groups(ec2) == []
    # ... and the source never changed
    assert InstanceState.capture(ec2, instance_id) == before


# (operation, fault kind, whether the drill must still succeed): every kind at the calls
# that launch, check and publish; a repeated call at each call of the group and the root swap.
FAULT_CASES = [
    *((operation, kind, False) for operation in DRILL_OPERATIONS for kind in KINDS),
    *(
        (operation, kind, True)
        for operation in GROUP_AND_ROOT_OPERATIONS
        for kind in REPEATING_KINDS
    ),
]


@pytest.mark.parametrize(("operation", "kind", "must_succeed"), FAULT_CASES)
def test_drill_survives_a_fault_without_leaving_anything_behind(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    operation: str,
    kind: str,
    must_succeed: bool,
) -> None:
    # GIVEN a set, an isolated subnet, and one failing call
    vss_set("set-1", hours_ago=2)
    before = InstanceState.capture(ec2, instance_with_volumes)

    # WHEN a drill with validation runs
    result, injected = run_drill_under(
        engine, ec2, instance_with_volumes, fault_of_kind(kind, operation)
    )

    # THEN the fault happened, the drill succeeded (or failed with a named error where a
    # fault may end it), one clone was launched, and nothing is left behind
    assert injected == 1
    if must_succeed:
        assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert_nothing_left_and_source_untouched(ec2, instance_with_volumes, before, result)
    assert len(drill_resources(ec2)[0]) == 1


@pytest.mark.parametrize("operation", REFUSED_FOR_GOOD)
def test_drill_refused_for_good_in_the_group_or_root_swap_fails_and_leaves_nothing(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    operation: str,
) -> None:
    # GIVEN a set, and a call that EC2 refuses every time
    vss_set("set-1", hours_ago=2)
    before = InstanceState.capture(ec2, instance_with_volumes)
    refusal = Fault(operation, code="UnauthorizedOperation", times=1000)

    # WHEN a drill runs
    result, injected = run_drill_under(engine, ec2, instance_with_volumes, refusal)

    # THEN it fails with a named error that names the refusal, and leaves nothing behind
    assert injected >= 1
    assert result.status == "FAILED"
    assert result.cause is not None
    assert "UnauthorizedOperation" in result.cause, result.cause
    assert_nothing_left_and_source_untouched(ec2, instance_with_volumes, before, result)


def test_drill_whose_isolation_group_stays_in_use_ends_drill_cleanup_failed_in_bounded_time(
    engine: LocalEngine, ec2: Any, instance_with_volumes: str, vss_set: VssSetFactory
) -> None:
    # GIVEN a set, and an isolation group EC2 says is in use at every attempt to delete it
    vss_set("set-1", hours_ago=2)
    before = InstanceState.capture(ec2, instance_with_volumes)
    in_use = Fault("ec2.DeleteSecurityGroup", code="DependencyViolation", permanent=True)

    # WHEN a drill runs
    try:
        result, injected = run_drill_under(engine, ec2, instance_with_volumes, in_use)
    except ExecutionTimeout as err:
        pytest.fail(f"the drill never ended: {err}")

    # THEN it ends DrillCleanupFailed, its cause naming the group, within the cleanup's own
    # limit on the engine's clock (the retry intervals and polls it waited)
    assert injected >= 1
    assert (result.status, result.error) == ("FAILED", "DrillCleanupFailed"), result.cause
    [group] = drill_groups(ec2)
    assert group["GroupId"] in (result.cause or "")
    assert sum(engine.clock.slept) < Limits().RollbackWaitTimeoutSeconds
    # ... the clone is gone, and the group keeps the drill's tags for the scheduled cleanup
    assert set(drill_resources(ec2)[0].values()) == {"terminated"}
    labels = tags.tag_dict(group.get("Tags"))
    assert labels[tags.DRILL] == instance_with_volumes
    assert tags.EXPIRES_AT in labels
    assert check_drill_invariants(ec2, before, result) == []
