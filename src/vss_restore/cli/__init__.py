"""The ``vss-restore`` command line: list restore points, plan, restore, follow and report."""

from vss_restore.cli import mounts as _mount_commands  # noqa: F401 - registers mount, unmount
from vss_restore.cli import recovery as _recovery_commands  # noqa: F401 - inspect, unlock
from vss_restore.cli.commands import app, main

__all__ = ["app", "main"]
