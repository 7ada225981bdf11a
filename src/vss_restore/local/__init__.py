"""Running vss-restore with no AWS account: the real definition on an embedded emulator."""

from vss_restore.local.engine import ExecutionResult, ExecutionTimeout, LocalEngine
from vss_restore.local.faults import Fault, FaultInjector

__all__ = ["ExecutionResult", "ExecutionTimeout", "Fault", "FaultInjector", "LocalEngine"]
