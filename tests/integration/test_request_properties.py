"""Property: any malformed request ends in InvalidRequest naming its field, and changes nothing."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings

from tests.unit.test_request import malformed_request
from vss_restore.local import LocalEngine

READ_ONLY_PREFIXES = ("Describe", "Get", "List", "Scan", "Query")


class MutatingCalls:
    """Counts every EC2 or DynamoDB call that could change something."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, event_name: str, **_: Any) -> None:
        operation = event_name.split(".")[2]
        if not operation.startswith(READ_ONLY_PREFIXES):
            self.calls[event_name] += 1


def test_malformed_requests_fail_with_invalid_request_and_make_no_changing_call(
    engine: LocalEngine,
) -> None:
    # GIVEN a counter of changing calls on the workflow's clients
    counter = MutatingCalls()
    engine.observe("before-call.ec2", counter)
    engine.observe("before-call.dynamodb", counter)
    seen: list[str] = []

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=malformed_request())
    def run(case: tuple[dict[str, Any], str]) -> None:
        payload, field = case
        # WHEN the state machine gets it
        result = engine.run(payload)
        # THEN it is rejected, naming the field
        assert (result.status, result.error) == ("FAILED", "InvalidRequest")
        assert result.cause is not None
        assert result.cause.startswith(f"InvalidRequest: {field}"), (field, result.cause)
        seen.append(field)

    run()

    # AND across all of them, nothing that changes state was called
    assert len(seen) >= 200
    assert counter.calls == Counter()
