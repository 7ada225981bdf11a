"""Executions run on the embedded emulator, kept on disk so later commands can read them.

Each ``--local`` command starts a fresh emulator; ``status``, ``history`` and ``report``
find the executions earlier commands ran here (one JSON file per execution, about half a
megabyte each). The newest ``KEEP`` are kept; older ones are removed as new ones arrive.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from vss_restore.executions import ExecutionRecord

ARCHIVE_DIR_ENV = "VSS_RESTORE_LOCAL_DIR"
KEEP = 100
FLEET_PREFIX = "fleet-"  # how fleet-restore names its executions


def default_archive_dir() -> Path:
    configured = os.environ.get(ARCHIVE_DIR_ENV)
    return Path(configured) if configured else Path.home() / ".vss-restore" / "local"


class LocalArchive:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, execution_arn: str) -> Path:
        # Execution names are [A-Za-z0-9_-]: safe as file names.
        return self.directory / f"{execution_arn.rsplit(':', 1)[-1]}.json"

    def save(self, record: ExecutionRecord) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(record.arn)
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(record.to_json()))
        partial.replace(path)
        self._prune()

    def _prune(self) -> None:
        """Remove all but the ``KEEP`` newest executions (by when they were saved)."""
        stored = sorted(self.directory.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        for old in stored[:-KEEP]:
            old.unlink(missing_ok=True)

    @staticmethod
    def _read(path: Path) -> ExecutionRecord | None:
        """A stored execution; None for a file that is not one (half-written, edited)."""
        try:
            return ExecutionRecord.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def load(self, execution_arn: str) -> ExecutionRecord | None:
        record = self._read(self._path(execution_arn))
        return record if record is not None and record.arn == execution_arn else None

    def by_name(self, name: str) -> ExecutionRecord | None:
        """A stored execution by its name, whichever machine ran it."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name):
            return None  # not an execution name (and never a path)
        record = self._read(self.directory / f"{name}.json")
        return record if record is not None and record.name == name else None

    def of_instance(self, instance_id: str) -> list[ExecutionRecord]:
        if not self.directory.is_dir():
            return []
        records = (self._read(p) for p in self.directory.glob(f"{instance_id}-*.json"))
        return [r for r in records if r is not None and r.instance_id == instance_id]

    def fleets(self) -> list[ExecutionRecord]:
        """The stored fleet executions (``fleet-restore`` names them ``fleet-...``)."""
        if not self.directory.is_dir():
            return []
        records = (self._read(p) for p in self.directory.glob(f"{FLEET_PREFIX}*.json"))
        return [r for r in records if r is not None and r.name.startswith(FLEET_PREFIX)]
