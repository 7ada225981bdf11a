"""``restore``: run one restore of the instance and check the invariants I1-I6 afterwards."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.helpers import assert_invariants
from vss_restore.local import ExecutionResult, LocalEngine, world
from vss_restore.local.invariants import InstanceState


@dataclass(frozen=True)
class Restore:
    request: dict[str, Any]
    before: InstanceState
    result: ExecutionResult

    @property
    def report(self) -> dict[str, Any]:
        assert self.result.status == "SUCCEEDED", f"{self.result.error}: {self.result.cause}"
        assert self.result.output is not None
        return self.result.output


RestoreRunner = Callable[..., Restore]


@pytest.fixture
def restore(engine: LocalEngine, ec2: Any, instance_with_volumes: str) -> RestoreRunner:
    """Restore ``instance_with_volumes`` with the given request fields; I1-I6 must hold after."""

    def run(**fields: Any) -> Restore:
        request = {"InstanceId": instance_with_volumes, **fields}
        before = InstanceState.capture(ec2, instance_with_volumes)
        result = engine.run(request)
        assert_invariants(ec2, before, result, request)
        return Restore(request, before, result)

    return run


@pytest.fixture
def drill_target(ec2: Any) -> dict[str, Any]:
    """A drill into an isolated subnet, in the isolation group the drill makes itself."""
    subnet_id, _ = world.isolated_subnet(ec2)
    return {"Mode": "Clone", "SubnetId": subnet_id}
