"""The ``vss-restore`` command line: list restore points, plan, restore, follow and report.

One module per group of commands, each registering its commands on ``commands.app``:
``commands`` (global options, sets, plan, restore, completion), ``reports`` (status, watch,
history, report, demo), ``mounts``, ``drills``, ``fleets`` and ``recovery`` (inspect,
unlock).
"""

from vss_restore.cli import drills as _drill_commands  # noqa: F401 - drill, cleanup
from vss_restore.cli import fleets as _fleet_commands  # noqa: F401 - fleet-restore
from vss_restore.cli import mounts as _mount_commands  # noqa: F401 - mount, unmount
from vss_restore.cli import recovery as _recovery_commands  # noqa: F401 - inspect, unlock
from vss_restore.cli import reports as _report_commands  # noqa: F401 - status, watch, ...
from vss_restore.cli.commands import PANELS, app, main

# Help lists the groups in this order, each group's commands in the order they were added.
app.registered_commands.sort(key=lambda command: PANELS.index(command.rich_help_panel or ""))

__all__ = ["app", "main"]
