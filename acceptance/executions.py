"""Starting executions of the deployed machines and following them to their end."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vss_restore.executions import TERMINAL_STATUSES, execution_name, fetch_history, fetch_record
from vss_restore.fleet import execution_arn
from vss_restore.local.engine import ExecutionResult


class StillRunning(TimeoutError):
    """An execution did not end within the time the suite gives it."""


@dataclass
class Machines:
    """The run's two state machines; each wait polls within a deadline."""

    sfn: Any
    restore_arn: str
    fleet_arn: str
    poll_seconds: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def start(self, request: dict[str, Any], *, fleet: bool = False) -> str:
        name = f"fleet-{uuid.uuid4().hex[:12]}" if fleet else execution_name(request)
        return str(
            self.sfn.start_execution(
                stateMachineArn=self.fleet_arn if fleet else self.restore_arn,
                name=name,
                input=json.dumps(request),
            )["executionArn"]
        )

    def result(self, execution_arn: str) -> ExecutionResult:
        record = fetch_record(self.sfn, execution_arn)
        return ExecutionResult(
            execution_arn=execution_arn,
            status=record.status,
            output=record.output,
            error=record.error,
            cause=record.cause,
            history=record.history,
        )

    def restore_execution(self, name: str) -> str:
        """The ARN of a restore a fleet started, from the name its report gives."""
        return execution_arn(self.restore_arn, name)

    def wait(self, execution_arn: str, minutes: float) -> ExecutionResult:
        deadline = self.clock() + minutes * 60
        while True:
            status = self.sfn.describe_execution(executionArn=execution_arn)["status"]
            if status in TERMINAL_STATUSES:
                return self.result(execution_arn)
            if self.clock() > deadline:
                raise StillRunning(f"{execution_arn} is still {status} after {minutes} minutes")
            self.sleep(self.poll_seconds)

    def wait_for_state(self, execution_arn: str, state: str, minutes: float) -> None:
        """Return once the execution has entered ``state``; fail if it ends first."""
        deadline = self.clock() + minutes * 60
        while True:
            history = fetch_history(self.sfn, execution_arn)
            entered = {
                e["stateEnteredEventDetails"]["name"]
                for e in history
                if e["type"].endswith("StateEntered")
            }
            if state in entered:
                return
            if any(
                e["type"].startswith("Execution") and e["type"] != "ExecutionStarted"
                for e in history
            ):
                raise AssertionError(f"{execution_arn} ended before entering {state}")
            if self.clock() > deadline:
                raise StillRunning(f"{execution_arn} did not enter {state} in {minutes} minutes")
            self.sleep(self.poll_seconds / 2)

    def run(
        self, request: dict[str, Any], minutes: float, *, fleet: bool = False
    ) -> ExecutionResult:
        return self.wait(self.start(request, fleet=fleet), minutes)
