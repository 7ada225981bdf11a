"""Running vss-restore with no AWS account: the real definition on an embedded emulator."""

from vss_restore.local.engine import ExecutionResult, ExecutionTimeout, LocalEngine

__all__ = ["ExecutionResult", "ExecutionTimeout", "LocalEngine"]
