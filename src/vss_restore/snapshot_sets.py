"""Grouping VSS snapshots into sets and choosing the one to restore (pure functions).

A set is identified by the snapshot set id inside the ``AwsVssConfig`` tag. Snapshots
taken by AwsVssComponents older than 2.3.1 carry no such tag; they are grouped by start
time instead: the members of one set start within the I/O freeze window, seconds apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from vss_restore import tags
from vss_restore.devices import restore_order

# VSS freezes I/O for at most 10 s; members of one set start within that window.
START_TIME_WINDOW = timedelta(seconds=10)
_SET_ID_KEY = re.compile(r"set_?id", re.IGNORECASE)
_PAIR_SEPARATORS = re.compile(r"[;,\n]")


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    volume_id: str
    start_time: datetime
    state: str
    volume_size: int
    encrypted: bool
    kms_key_id: str | None
    tags: dict[str, str]

    @property
    def device(self) -> str | None:
        return self.tags.get(tags.VSS_DEVICE) or None

    @property
    def is_vss(self) -> bool:
        """Carries any tag the VSS solution writes (others are manual or AMI snapshots)."""
        return any(
            k in self.tags for k in (tags.VSS_DEVICE, tags.VSS_APP_CONSISTENT, tags.VSS_CONFIG)
        )

    @property
    def app_consistent(self) -> bool:
        return self.tags.get(tags.VSS_APP_CONSISTENT, "").strip().lower() == "true"


@dataclass(frozen=True)
class SnapshotSet:
    set_id: str
    grouped_by: str  # "AwsVssConfig" or "StartTime"
    members: tuple[Snapshot, ...]

    @property
    def created_at(self) -> datetime:
        return min(m.start_time for m in self.members)

    @property
    def devices(self) -> list[str]:
        return [m.device for m in self.members if m.device]

    def member_for(self, device: str) -> Snapshot | None:
        return next((m for m in self.members if m.device == device), None)


@dataclass(frozen=True)
class Verdict:
    snapshot_set: SnapshotSet
    reasons: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.reasons


def parse_set_id(value: str | None) -> str | None:
    """The snapshot set id inside an ``AwsVssConfig`` tag value, or None.

    The format is undocumented, so accept a JSON object (possibly nested) or
    ``key=value`` pairs separated by ``;``, ``,`` or newlines, with any key that
    contains ``SnapshotSetId``/``SetId`` in any case.
    """
    if not value or not value.strip():
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict):
        return _set_id_in_mapping(decoded)
    if isinstance(decoded, str):
        return parse_set_id(decoded)
    if decoded is not None:
        return None  # a JSON array or number holds no key=value pairs
    for pair in _PAIR_SEPARATORS.split(value):
        key, sep, raw = pair.partition("=")
        if not sep:
            key, sep, raw = pair.partition(":")
        if sep and _SET_ID_KEY.search(key.strip()):
            cleaned = raw.strip().strip("\"'{}")
            if cleaned:
                return cleaned
    return None


def _set_id_in_mapping(mapping: dict[object, object]) -> str | None:
    for key, item in mapping.items():
        is_set_id_key = isinstance(key, str) and _SET_ID_KEY.search(key)
        if is_set_id_key and isinstance(item, str | int) and not isinstance(item, bool):
            text = str(item).strip()
            if text:
                return text
    for item in mapping.values():
        if isinstance(item, dict):
            found = _set_id_in_mapping(item)
            if found:
                return found
    return None


def group_into_sets(snapshots: Iterable[Snapshot]) -> list[SnapshotSet]:
    """Group snapshots by set id, and the rest by start-time window; newest first."""
    by_id: dict[str, list[Snapshot]] = {}
    untagged: list[Snapshot] = []
    for snap in snapshots:
        set_id = parse_set_id(snap.tags.get(tags.VSS_CONFIG))
        if set_id:
            by_id.setdefault(set_id, []).append(snap)
        else:
            untagged.append(snap)
    sets = [SnapshotSet(set_id, "AwsVssConfig", tuple(m)) for set_id, m in by_id.items()]
    sets.extend(_group_by_start_time(untagged))
    return sorted(sets, key=lambda s: (s.created_at, s.set_id), reverse=True)


def _group_by_start_time(snapshots: Iterable[Snapshot]) -> list[SnapshotSet]:
    groups: list[list[Snapshot]] = []
    for snap in sorted(snapshots, key=lambda s: (s.start_time, s.snapshot_id)):
        current = groups[-1] if groups else None
        if (
            current is not None
            and snap.start_time - current[0].start_time <= START_TIME_WINDOW
            and snap.volume_id not in {m.volume_id for m in current}
        ):
            current.append(snap)
        else:
            groups.append([snap])
    return [SnapshotSet(time_set_id(g[0].start_time), "StartTime", tuple(g)) for g in groups]


def time_set_id(start: datetime) -> str:
    """The id given to a set without ``AwsVssConfig``: its first start time."""
    return "vss-" + start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def judge(snapshot_set: SnapshotSet, required_devices: Sequence[str]) -> Verdict:
    """Complete only if every member is tagged, AppConsistent, completed, and all devices covered."""
    reasons: list[str] = []
    for member in snapshot_set.members:
        name = member.device or member.snapshot_id
        if not member.device:
            reasons.append(f"{member.snapshot_id} has no Device tag")
        if not member.app_consistent:
            reasons.append(f"{name} ({member.snapshot_id}) is not AppConsistent")
        if member.state != "completed":
            reasons.append(f"{name} ({member.snapshot_id}) is {member.state}")
    seen: set[str] = set()
    for device in snapshot_set.devices:
        if device in seen:
            reasons.append(f"{device} appears twice")
        seen.add(device)
    missing = [d for d in restore_order(required_devices) if d not in seen]
    if missing:
        reasons.append("no snapshot of " + ", ".join(missing))
    return Verdict(snapshot_set, reasons)


@dataclass(frozen=True)
class Selection:
    chosen: Verdict | None
    passed_over: list[Verdict]  # newer (or the requested) sets that were not complete


def select_set(
    sets: Sequence[SnapshotSet],
    required_devices: Sequence[str],
    point_in_time: datetime | None = None,
    set_id: str | None = None,
) -> Selection:
    """The latest complete set at or before ``point_in_time``, or exactly ``set_id``.

    ``sets`` must be newest first (as ``group_into_sets`` returns them).
    """
    if set_id is not None:
        wanted = next((s for s in sets if s.set_id == set_id), None)
        if wanted is None:
            return Selection(None, [])
        verdict = judge(wanted, required_devices)
        return Selection(verdict, []) if verdict.complete else Selection(None, [verdict])
    passed_over: list[Verdict] = []
    for candidate in sets:
        if point_in_time is not None and candidate.created_at > point_in_time:
            continue
        verdict = judge(candidate, required_devices)
        if verdict.complete:
            return Selection(verdict, passed_over)
        passed_over.append(verdict)
    return Selection(None, passed_over)
