"""What an online restore must hold besides I1-I6: no stop or start, no disk detached online."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vss_restore.local import LocalEngine

POWER_CALLS = ("ec2.StopInstances", "ec2.StartInstances")


@dataclass
class OnlineWatch:
    """Power calls the workflow makes, and the Windows events from when the watch began."""

    engine: LocalEngine
    power_calls: list[str] = field(default_factory=list)
    first_event: int = 0

    def start(self) -> OnlineWatch:
        for operation in POWER_CALLS:
            self.engine.observe(f"before-call.{operation}", self._note)
        self.first_event = len(self.engine.guests.events)
        return self

    def _note(self, event_name: str, **_: Any) -> None:
        self.power_calls.append(event_name.removeprefix("before-call."))

    @property
    def events(self) -> list[tuple[str, str, str]]:
        return self.engine.guests.events[self.first_event :]

    def detached_while_online(self) -> list[str]:
        """Volumes detached during the run without their disk taken offline before."""
        offline: set[str] = set()
        found = []
        for what, _, volume_id in self.events:
            # a volume attached to the running instance arrives with its disk offline
            if what in ("offline", "attach"):
                offline.add(volume_id)
            elif what == "online":
                offline.discard(volume_id)
            elif what == "detach" and volume_id not in offline:
                found.append(volume_id)
        return found

    def assert_never_stopped_nor_detached_online(self) -> None:
        assert self.power_calls == []
        assert self.engine.guests.violations == []
        assert self.detached_while_online() == []
