"""The live progress of ``restore --wait`` and the tables, on an 80x24 terminal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from vss_restore.cli.fleet_progress import fleet_view
from vss_restore.cli.progress import Estimate, progress_view
from vss_restore.cli.render import fleet_table, sets_table, volumes_table
from vss_restore.executions import ExecutionRecord

T0 = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
INSTANCE = "i-0123456789abcdef0"


def _record(
    states: list[tuple[str, float, float | None]], stopped: float | None = None, status: str = ""
) -> ExecutionRecord:
    """An execution whose history enters each state at ``start`` s and leaves it at ``end`` s
    (None: still running)."""
    history: list[dict[str, Any]] = []
    for name, start, end in states:
        entered = len(history) + 1
        history.append(
            {
                "id": entered,
                "type": "TaskStateEntered",
                "timestamp": T0 + timedelta(seconds=start),
                "stateEnteredEventDetails": {"name": name},
            }
        )
        if end is not None:
            history.append(
                {
                    "id": entered + 1,
                    "previousEventId": entered,
                    "type": "TaskStateExited",
                    "timestamp": T0 + timedelta(seconds=end),
                    "stateExitedEventDetails": {"name": name},
                }
            )
    return ExecutionRecord(
        arn=f"arn:aws:states:us-east-1:123456789012:execution:vss-restore:{INSTANCE}-{len(states)}",
        name=f"{INSTANCE}-{len(states)}",
        status=status or ("RUNNING" if stopped is None else "SUCCEEDED"),
        started_at=T0,
        stopped_at=None if stopped is None else T0 + timedelta(seconds=stopped),
        input={"InstanceId": INSTANCE},
        output=None,
        error=None,
        cause=None,
        history=history,
    )


def _text(renderable: Any, height: int = 24) -> str:
    console = Console(width=80, height=height, record=True, force_terminal=True)
    console.print(renderable)
    return console.export_text()


EARLIER = _record(
    [("FindSnapshotSet", 0, 10), ("StopInstance", 10, 40), ("StartInstance", 40, 60)], stopped=60
)
RUNNING = _record([("FindSnapshotSet", 0, 12), ("StopInstance", 12, None)])


def test_progress_shows_the_running_state_its_elapsed_time_and_the_time_left() -> None:
    # GIVEN one earlier run that took 50 s from entering StopInstance to its end,
    # and a restore that has been in StopInstance for 10 s
    now = T0 + timedelta(seconds=22)

    # WHEN the live view is drawn
    shown = _text(progress_view(RUNNING, now, Estimate([EARLIER]), 24))

    # THEN it names the state and its time in it, and expects 50 - 10 = 40 s more
    assert f"Restore of {INSTANCE}: StopInstance for 10 s" in shown
    assert "Elapsed 22 s, about 40 s left (from 1 earlier run)" in shown
    assert "10.00" in shown  # the running row's seconds so far


def test_progress_expects_the_median_of_earlier_runs_time_from_the_current_state() -> None:
    # GIVEN three earlier runs needing 30, 50 and 200 s from entering StopInstance to the end
    earlier = [
        _record([("FindSnapshotSet", 0, 10), ("StopInstance", 10, 20)], stopped=10 + tail)
        for tail in (30, 50, 200)
    ]
    now = T0 + timedelta(seconds=22)  # 10 s in StopInstance

    shown = _text(progress_view(RUNNING, now, Estimate(earlier), 24))

    # THEN the median (50 s) less the 10 s spent: not pulled up by the slow outlier
    assert "about 40 s left (from 3 earlier runs)" in shown


def test_progress_says_the_run_is_late_when_it_outlasts_earlier_runs() -> None:
    # GIVEN 60 s in StopInstance, where the earlier run needed 50 s from there to its end
    now = T0 + timedelta(seconds=72)

    shown = _text(progress_view(RUNNING, now, Estimate([EARLIER]), 24))

    assert "StopInstance for 1 min 0 s" in shown
    assert "longer than earlier runs took (from 1 earlier run)" in shown


def test_progress_shows_no_time_left_when_the_instance_has_no_earlier_runs() -> None:
    now = T0 + timedelta(seconds=22)

    shown = _text(progress_view(RUNNING, now, Estimate([]), 24))

    assert "StopInstance for 10 s" in shown
    assert "Elapsed 22 s" in shown
    assert "left" not in shown


def test_progress_fits_an_80_by_24_terminal_when_many_states_have_run() -> None:
    # GIVEN a restore in its 32nd state
    states: list[tuple[str, float, float | None]] = [
        (f"State{n:02d}WithALongishName", n, n + 1) for n in range(31)
    ]
    record = _record([*states, ("WaitInstanceRunningAgain", 31, None)])

    # WHEN drawn at 80x24
    lines = _text(progress_view(record, T0 + timedelta(seconds=40), Estimate([]), 24)).splitlines()

    # THEN it takes at most 23 lines (the cursor rests on the 24th), none wider than 80,
    # shows the running state, and counts the states it left out
    assert len(lines) <= 23
    assert all(len(line) <= 80 for line in lines)
    assert "WaitInstanceRunningAgain" in lines[0]
    assert any("WaitInstanceRunningAgain" in line and "9.00" in line for line in lines[2:])
    assert any("earlier ones done" in line for line in lines)


def test_volume_and_fleet_tables_keep_every_id_whole_at_80_columns() -> None:
    # GIVEN 17-digit ids, the longest EC2 gives
    rows = [
        {
            "Device": device,
            "SnapshotId": f"snap-{n:017x}",
            "NewVolumeId": f"vol-{n + 16:017x}",
            "ReplacedVolumeId": f"vol-{n + 32:017x}",
        }
        for n, device in enumerate(["/dev/sda1", "xvdf", "xvdaa"])
    ]
    fleet: list[dict[str, Any]] = [
        {
            "InstanceId": f"i-{n:017x}",
            "Status": "FAILED",
            "Error": "SwapFailed: the volumes could not be attached; originals reattached",
            "DowntimeSeconds": 12.5,
        }
        for n in range(2)
    ]

    # WHEN rendered 80 columns wide
    shown = _text(volumes_table(rows, "Volumes")) + _text(fleet_table(fleet))

    # THEN every id appears whole, and no line is wider than the terminal
    for row in rows:
        for value in row.values():
            assert value in shown
    for entry in fleet:
        assert entry["InstanceId"] in shown
    assert all(len(line) <= 80 for line in shown.splitlines())


def test_fleet_progress_fits_24_lines_hiding_successes_then_pending_instances_first() -> None:
    # GIVEN a fleet of 30: 5 succeeded, 2 running, 1 failed, 22 pending
    statuses = ["SUCCEEDED"] * 5 + ["RUNNING"] * 2 + ["FAILED"] + ["PENDING"] * 22
    rows = [{"InstanceId": f"i-{n:017x}", "Status": s} for n, s in enumerate(statuses)]

    # WHEN drawn at 80x24
    lines = _text(fleet_view(rows, 24)).splitlines()

    # THEN the running and failed instances are shown whole, within 23 lines
    assert len(lines) <= 23
    for row in rows[5:8]:
        assert row["InstanceId"] in "\n".join(lines)
    assert "Fleet (5 succeeded and 6 pending not shown)" in lines[0]


def test_sets_table_keeps_set_ids_and_the_ids_in_its_reasons_whole_at_80_columns() -> None:
    # GIVEN an incomplete set whose reason names a snapshot, and a set grouped by time
    reason = "xvdg (snap-3dcb07612696e73ab) is not AppConsistent"
    sets = [
        {
            "SnapshotSetId": set_id,
            "CreatedAt": "2026-12-01T16:12:58+00:00",
            "Devices": ["/dev/sda1", "xvdf"],
            "Complete": not reasons,
            "Latest": not reasons,
            "Reasons": reasons,
        }
        for set_id, reasons in [
            ("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", [reason]),
            ("vss-20261130T161258Z", []),
        ]
    ]

    # WHEN rendered 80 columns wide
    shown = _text(sets_table(INSTANCE, sets))

    # THEN the set ids and the snapshot id in the reason appear whole
    assert "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d" in shown
    assert "vss-20261130T161258Z" in shown
    assert "(snap-3dcb07612696e73ab)" in shown
    assert all(len(line) <= 80 for line in shown.splitlines())


def test_progress_says_rolling_back_and_stops_estimating_when_the_rollback_runs() -> None:
    # GIVEN a restore whose swap failed and whose first undo state has run for 5 s, and an
    # earlier run that would otherwise give an estimate
    rolling = _record(
        [
            ("FindSnapshotSet", 0, 12),
            ("AttachRestoredVolumes", 12, 14),
            ("ReattachOriginalVolumes", 14, None),
        ]
    )
    now = T0 + timedelta(seconds=19)

    # WHEN the live view is drawn
    shown = _text(progress_view(rolling, now, Estimate([EARLIER]), 24))

    # THEN it says it is rolling back, in which state, and estimates nothing
    assert f"Restore of {INSTANCE}: ROLLING BACK (ReattachOriginalVolumes for 5 s)" in shown
    assert "left" not in shown
