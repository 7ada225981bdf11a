"""Simulation mode's volume initialization: progress over modelled time, per volume.

The plain emulator reports every volume initialized at once. In simulation mode a volume
created from a snapshot loads its blocks from the moment it is available, at the rate the
restore's own estimate assumes (``vss_restore.initialization.estimate_seconds``): fast
snapshot restore at once, a provisioned rate at that rate, the default at the assumed
default rate. ``DescribeVolumeStatus`` shows the progress (and, for a provisioned rate, the
time left) at the model clock's now, so ``WaitForInitialization`` waits as long as the model
says. A benchmark reads ``initialized_at`` (modelled time each restored volume is fully
initialized) or ``seconds_to_initialize`` for the same figure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends

from vss_restore.initialization import (
    DEFAULT,
    FAST_SNAPSHOT_RESTORE,
    PROVISIONED_RATE,
    InitializationMode,
    estimate_seconds,
)


def seconds_to_initialize(size_gib: int, rate_mibps: int | None, fast_restored: bool) -> float:
    """The modelled time from available to fully initialized (the restore's estimate)."""
    mode: InitializationMode = (
        FAST_SNAPSHOT_RESTORE if fast_restored else PROVISIONED_RATE if rate_mibps else DEFAULT
    )
    return estimate_seconds(size_gib, mode, rate_mibps)


def progress_at(elapsed: float, duration: float) -> tuple[int, int]:
    """(percent initialized, whole seconds left) ``elapsed`` seconds into ``duration``."""
    if duration <= 0 or elapsed >= duration:
        return 100, 0
    done = max(elapsed, 0.0) / duration
    return min(99, int(done * 100)), max(1, round(duration - max(elapsed, 0.0)))


class SimulatedInitialization:
    """The ``after-call.ec2.DescribeVolumeStatus`` view of simulation mode.

    ``now``: modelled seconds; ``available_at``: when a volume became available in the
    model (None for one the simulation did not create: it starts when first described).
    """

    def __init__(
        self, now: Callable[[], float], available_at: Callable[[str], float | None]
    ) -> None:
        self._now = now
        self._available_at = available_at
        self._first_seen: dict[str, float] = {}

    def hooks(self) -> list[tuple[str, Any]]:
        return [("after-call.ec2.DescribeVolumeStatus", self.view_volume_status)]

    def initialized_at(self, region: str, volume_id: str) -> float | None:
        """The modelled time the volume is fully initialized (None: not created here)."""
        volume = ec2_backends[DEFAULT_ACCOUNT_ID][region].volumes.get(volume_id)
        started = self._available_at(volume_id)
        if volume is None or started is None:
            return None
        return started + _duration(volume)

    def view_volume_status(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        now = self._now()
        backend = ec2_backends[DEFAULT_ACCOUNT_ID][context["client_region"]]
        for item in parsed.get("VolumeStatuses", []):
            details = item.get("InitializationStatusDetails")
            volume = backend.volumes.get(item.get("VolumeId"))
            if details is None or volume is None:
                continue
            rate = getattr(volume, "volume_initialization_rate", None)
            started = self._available_at(volume.id)
            if started is None:
                started = self._first_seen.setdefault(volume.id, now)
            progress, left = progress_at(now - started, _duration(volume))
            details["Progress"] = progress
            if rate:
                details["EstimatedTimeToCompleteInSeconds"] = left


def _duration(volume: Any) -> float:
    """``seconds_to_initialize`` of one of moto's volumes, with what the emulator recorded."""
    return seconds_to_initialize(
        int(volume.size),
        getattr(volume, "volume_initialization_rate", None),
        bool(getattr(volume, "fast_restored", False)),
    )
