"""Grouping VSS snapshots into sets, judging them, and choosing the one to restore."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vss_restore import tags
from vss_restore.snapshot_sets import (
    START_TIME_WINDOW,
    Snapshot,
    SnapshotSet,
    group_into_sets,
    judge,
    parse_set_id,
    select_set,
    time_set_id,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
ROOT = "/dev/sda1"
ALL_DEVICES = [ROOT, "xvdb", "xvdf"]
_ids = itertools.count(1)


def vss_config(set_id: str) -> str:
    return json.dumps({"AwsVssComponentsVersion": "2.3.1", "SnapshotSetId": set_id})


def snap(
    device: str | None,
    *,
    set_id: str | None = "set-a",
    at: datetime = T0,
    volume_id: str | None = None,
    state: str = "completed",
    app_consistent: str | None = "true",
    snapshot_id: str | None = None,
) -> Snapshot:
    """A VSS snapshot as discovery builds it from DescribeSnapshots."""
    snapshot_tags: dict[str, str] = {}
    if device is not None:
        snapshot_tags[tags.VSS_DEVICE] = device
    if app_consistent is not None:
        snapshot_tags[tags.VSS_APP_CONSISTENT] = app_consistent
    if set_id is not None:
        snapshot_tags[tags.VSS_CONFIG] = vss_config(set_id)
    return Snapshot(
        snapshot_id=snapshot_id or f"snap-{next(_ids):017x}",
        volume_id=volume_id or f"vol-{(device or 'none').replace('/', '')}",
        start_time=at,
        state=state,
        volume_size=30,
        encrypted=False,
        kms_key_id=None,
        tags=snapshot_tags,
    )


def full_set(set_id: str | None, at: datetime, devices: list[str] = ALL_DEVICES) -> list[Snapshot]:
    """A complete set: one AppConsistent completed snapshot per device, a second apart."""
    return [snap(d, set_id=set_id, at=at + timedelta(seconds=i)) for i, d in enumerate(devices)]


def one_set(snapshots: list[Snapshot]) -> SnapshotSet:
    sets = group_into_sets(snapshots)
    assert len(sets) == 1, [s.set_id for s in sets]
    return sets[0]


# --- parse_set_id ----------------------------------------------------------------------------


def test_parse_set_id_returns_id_when_json_object_has_snapshot_set_id() -> None:
    # GIVEN the tag value AwsVssComponents 2.3.1+ writes
    value = '{"AwsVssComponentsVersion": "2.3.1", "SnapshotSetId": "3f1e-aa"}'

    # WHEN
    result = parse_set_id(value)

    # THEN
    assert result == "3f1e-aa"


def test_parse_set_id_returns_id_when_json_object_is_nested() -> None:
    # GIVEN the set id two levels down
    value = json.dumps({"Version": "2.4", "Backup": {"Vss": {"SnapshotSetId": "nested-1"}}})

    # WHEN
    result = parse_set_id(value)

    # THEN
    assert result == "nested-1"


def test_parse_set_id_prefers_top_level_key_when_nested_one_also_exists() -> None:
    # GIVEN a nested object listed before the top-level key
    value = '{"Inner": {"SetId": "inner"}, "SnapshotSetId": "outer"}'

    # WHEN
    result = parse_set_id(value)

    # THEN
    assert result == "outer"


def test_parse_set_id_returns_text_when_json_value_is_a_number() -> None:
    # GIVEN a numeric set id
    value = '{"SnapshotSetId": 42}'

    # WHEN
    result = parse_set_id(value)

    # THEN
    assert result == "42"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Version=2.3.1;SnapshotSetId=abc-1", "abc-1"),
        ("Version=2.3.1,SnapshotSetId=abc-2", "abc-2"),
        ("Version=2.3.1\nSnapshotSetId=abc-3", "abc-3"),
        ("SnapshotSetId=abc-4", "abc-4"),
        ("Version=2.3.1; SnapshotSetId = abc-5 ; Other=x", "abc-5"),
        ("SnapshotSetId={6a1b-guid}", "6a1b-guid"),
        ('SnapshotSetId="quoted-7"', "quoted-7"),
    ],
)
def test_parse_set_id_returns_id_when_key_value_pairs(value: str, expected: str) -> None:
    # GIVEN key=value pairs with any of the separators (value)

    # WHEN
    result = parse_set_id(value)

    # THEN
    assert result == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("SnapshotSetId: colon-1", "colon-1"),
        ("Version: 2.3.1\nSnapshotSetId: colon-2", "colon-2"),
        ("Version: 2.3.1; SetId: colon-3", "colon-3"),
    ],
)
def test_parse_set_id_returns_id_when_key_colon_value(value: str, expected: str) -> None:
    # GIVEN "key: value" pairs (value)

    # WHEN
    result = parse_set_id(value)

    # THEN
    assert result == expected


@pytest.mark.parametrize(
    "value",
    [
        "snapshotsetid=case-id",
        "SNAPSHOTSETID=case-id",
        "SetId=case-id",
        "setid=case-id",
        "Snapshot_Set_Id=case-id",
        '{"snapshotsetid": "case-id"}',
        '{"SetId": "case-id"}',
    ],
)
def test_parse_set_id_returns_id_when_key_is_in_any_case(value: str) -> None:
    # GIVEN a set-id key spelled differently (value)

    # WHEN
    result = parse_set_id(value)

    # THEN
    assert result == "case-id"


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "\n",
        "garbage",
        "Version=2.3.1",
        "Version=2.3.1;Writer=SqlServer",
        "SnapshotSetId=",
        'SnapshotSetId=""',
        "SnapshotSetId: {}",
        "{not json",
        '{"Version": "2.3.1"}',
        '{"SnapshotSetId": ""}',
        '{"SnapshotSetId": "   "}',
        '{"SnapshotSetId": null}',
        '{"SnapshotSetId": ["a"]}',
        '{"SnapshotSetId": {"Id": "a"}}',
    ],
)
def test_parse_set_id_returns_none_when_value_has_no_set_id(value: str | None) -> None:
    # GIVEN an empty, unrelated or malformed tag value (value)

    # WHEN
    result = parse_set_id(value)

    # THEN
    assert result is None


@pytest.mark.parametrize("value", ["[1, 2]", '["SnapshotSetId", "x"]', "42", "null", "true"])
def test_parse_set_id_returns_none_when_json_is_not_an_object(value: str) -> None:
    # GIVEN valid JSON that is an array, number, null or boolean (value)

    # WHEN
    result = parse_set_id(value)

    # THEN
    assert result is None


def test_parse_set_id_returns_no_fragment_when_json_array_wraps_an_object() -> None:
    # GIVEN valid JSON that is not an object (an array holding an object)
    value = '[{"SnapshotSetId": "abc"}]'

    # WHEN
    result = parse_set_id(value)

    # THEN it is not an object, so no set id; at the very least no JSON fragment as an id
    assert result is None


def test_parse_set_id_returns_none_when_json_value_is_a_boolean() -> None:
    # GIVEN a boolean where the set id belongs (bool is an int in Python)
    value = '{"SnapshotSetId": true}'

    # WHEN
    result = parse_set_id(value)

    # THEN "True" is not a snapshot set id
    assert result is None


# --- group_into_sets -------------------------------------------------------------------------


def test_group_into_sets_groups_by_set_id_when_aws_vss_config_present() -> None:
    # GIVEN two sets taken an hour apart, members listed interleaved
    old = full_set("set-old", T0)
    new = full_set("set-new", T0 + timedelta(hours=1))
    snapshots = [old[0], new[0], old[1], new[1], old[2], new[2]]

    # WHEN
    sets = group_into_sets(snapshots)

    # THEN
    assert [s.set_id for s in sets] == ["set-new", "set-old"]
    assert all(s.grouped_by == "AwsVssConfig" for s in sets)
    assert {m.snapshot_id for m in sets[0].members} == {m.snapshot_id for m in new}
    assert {m.snapshot_id for m in sets[1].members} == {m.snapshot_id for m in old}


def test_group_into_sets_keeps_set_id_group_together_when_members_start_far_apart() -> None:
    # GIVEN one set id whose members started minutes apart (ids beat time)
    snapshots = [
        snap(ROOT, set_id="slow", at=T0),
        snap("xvdb", set_id="slow", at=T0 + timedelta(minutes=5)),
    ]

    # WHEN
    sets = group_into_sets(snapshots)

    # THEN
    assert [(s.set_id, len(s.members)) for s in sets] == [("slow", 2)]


def test_group_into_sets_groups_by_start_time_when_no_aws_vss_config() -> None:
    # GIVEN two legacy sets (no AwsVssConfig) taken an hour apart
    first = full_set(None, T0)
    second = full_set(None, T0 + timedelta(hours=1))

    # WHEN
    sets = group_into_sets(first + second)

    # THEN
    assert [s.grouped_by for s in sets] == ["StartTime", "StartTime"]
    assert [s.set_id for s in sets] == [
        time_set_id(T0 + timedelta(hours=1)),
        time_set_id(T0),
    ]
    assert [len(s.members) for s in sets] == [3, 3]


def test_group_into_sets_joins_snapshot_when_it_starts_exactly_at_window_edge() -> None:
    # GIVEN a second member starting exactly 10 s after the first
    snapshots = [
        snap(ROOT, set_id=None, at=T0),
        snap("xvdb", set_id=None, at=T0 + START_TIME_WINDOW),
    ]

    # WHEN
    sets = group_into_sets(snapshots)

    # THEN
    assert [len(s.members) for s in sets] == [2]
    assert timedelta(seconds=10) == START_TIME_WINDOW


def test_group_into_sets_splits_when_start_time_is_beyond_window() -> None:
    # GIVEN a second member starting 11 s after the first
    snapshots = [
        snap(ROOT, set_id=None, at=T0),
        snap("xvdb", set_id=None, at=T0 + timedelta(seconds=11)),
    ]

    # WHEN
    sets = group_into_sets(snapshots)

    # THEN
    assert sorted(len(s.members) for s in sets) == [1, 1]


def test_group_into_sets_measures_window_from_first_member_when_chaining() -> None:
    # GIVEN members 0 s, 6 s and 12 s after the first start (each within 10 s of its predecessor)
    snapshots = [
        snap(ROOT, set_id=None, at=T0),
        snap("xvdb", set_id=None, at=T0 + timedelta(seconds=6)),
        snap("xvdf", set_id=None, at=T0 + timedelta(seconds=12)),
    ]

    # WHEN
    sets = group_into_sets(snapshots)

    # THEN the third starts a new group: a window is anchored at the group's first start
    assert [sorted(m.device or "" for m in s.members) for s in sets] == [
        ["xvdf"],
        [ROOT, "xvdb"],
    ]


def test_group_into_sets_never_puts_same_volume_twice_when_grouping_by_time() -> None:
    # GIVEN two snapshots of the same volume a few seconds apart, and one of another volume
    a1 = snap(ROOT, set_id=None, at=T0, volume_id="vol-root")
    a2 = snap(ROOT, set_id=None, at=T0 + timedelta(seconds=3), volume_id="vol-root")
    b = snap("xvdb", set_id=None, at=T0 + timedelta(seconds=1), volume_id="vol-data")

    # WHEN
    sets = group_into_sets([a1, a2, b])

    # THEN no group holds two snapshots of one volume, and nothing is lost
    for s in sets:
        volumes = [m.volume_id for m in s.members]
        assert len(volumes) == len(set(volumes))
    assert sorted(m.snapshot_id for s in sets for m in s.members) == sorted(
        x.snapshot_id for x in (a1, a2, b)
    )
    assert len(sets) == 2


def test_group_into_sets_returns_newest_first_when_input_is_unordered() -> None:
    # GIVEN three sets given oldest, newest, middle
    snapshots = [
        *full_set("s-1", T0),
        *full_set("s-3", T0 + timedelta(days=2)),
        *full_set("s-2", T0 + timedelta(days=1)),
    ]

    # WHEN
    sets = group_into_sets(snapshots)

    # THEN
    assert [s.set_id for s in sets] == ["s-3", "s-2", "s-1"]
    assert [s.created_at for s in sets] == sorted((s.created_at for s in sets), reverse=True)


def test_group_into_sets_orders_both_kinds_together_when_mixed() -> None:
    # GIVEN legacy sets and tagged sets interleaved in time
    snapshots = [
        *full_set(None, T0),
        *full_set("tagged-1", T0 + timedelta(hours=1)),
        *full_set(None, T0 + timedelta(hours=2)),
        *full_set("tagged-2", T0 + timedelta(hours=3)),
    ]

    # WHEN
    sets = group_into_sets(snapshots)

    # THEN
    assert [(s.set_id, s.grouped_by) for s in sets] == [
        ("tagged-2", "AwsVssConfig"),
        (time_set_id(T0 + timedelta(hours=2)), "StartTime"),
        ("tagged-1", "AwsVssConfig"),
        (time_set_id(T0), "StartTime"),
    ]
    assert all(len(s.members) == 3 for s in sets)


def test_group_into_sets_groups_by_time_when_aws_vss_config_has_no_set_id() -> None:
    # GIVEN snapshots whose AwsVssConfig carries only a version
    snapshots = full_set(None, T0)
    snapshots = [replace(s, tags={**s.tags, tags.VSS_CONFIG: "Version=2.3.1"}) for s in snapshots]

    # WHEN
    sets = group_into_sets(snapshots)

    # THEN
    assert [(s.set_id, s.grouped_by, len(s.members)) for s in sets] == [
        (time_set_id(T0), "StartTime", 3)
    ]


def test_group_into_sets_returns_empty_list_when_no_snapshots() -> None:
    # GIVEN nothing
    # WHEN
    sets = group_into_sets([])

    # THEN
    assert sets == []


def test_time_set_id_is_the_same_when_instant_is_given_in_another_timezone() -> None:
    # GIVEN one instant expressed in UTC and in UTC+2
    in_utc = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
    in_plus_two = in_utc.astimezone(timezone(timedelta(hours=2)))

    # WHEN
    ids = (time_set_id(in_utc), time_set_id(in_plus_two))

    # THEN the id says "...Z", so it must be the UTC time whatever the offset
    assert ids == ("vss-20240501T100000Z", "vss-20240501T100000Z")


# --- judge -----------------------------------------------------------------------------------


def test_judge_is_complete_when_every_member_is_tagged_consistent_and_completed() -> None:
    # GIVEN
    snapshot_set = one_set(full_set("set-a", T0))

    # WHEN
    verdict = judge(snapshot_set, ALL_DEVICES)

    # THEN
    assert verdict.reasons == []
    assert verdict.complete is True


def test_judge_is_complete_when_set_has_devices_beyond_the_required_ones() -> None:
    # GIVEN a full set and a partial restore of one data device
    snapshot_set = one_set(full_set("set-a", T0))

    # WHEN
    verdict = judge(snapshot_set, ["xvdf"])

    # THEN
    assert verdict.complete is True


def test_judge_is_incomplete_when_app_consistent_tag_is_missing() -> None:
    # GIVEN a data member whose VSS run failed (no AppConsistent)
    members = full_set("set-a", T0)
    members[1] = snap("xvdb", set_id="set-a", at=T0, app_consistent=None)

    # WHEN
    verdict = judge(one_set(members), ALL_DEVICES)

    # THEN
    assert verdict.complete is False
    assert len(verdict.reasons) == 1
    assert "xvdb" in verdict.reasons[0]
    assert "not AppConsistent" in verdict.reasons[0]


@pytest.mark.parametrize(
    ("value", "complete"), [("TRUE", True), (" True ", True), ("false", False)]
)
def test_judge_reads_app_consistent_case_insensitively_when_value_varies(
    value: str, complete: bool
) -> None:
    # GIVEN AppConsistent written as value on the root member
    members = full_set("set-a", T0)
    members[0] = snap(ROOT, set_id="set-a", at=T0, app_consistent=value)

    # WHEN
    verdict = judge(one_set(members), ALL_DEVICES)

    # THEN
    assert verdict.complete is complete


@pytest.mark.parametrize("value", ["", "yes", "1", "truee"])
def test_judge_is_incomplete_when_app_consistent_is_not_true(value: str) -> None:
    # GIVEN an AppConsistent value other than "true" (value)
    members = full_set("set-a", T0)
    members[2] = snap("xvdf", set_id="set-a", at=T0, app_consistent=value)

    # WHEN
    verdict = judge(one_set(members), ALL_DEVICES)

    # THEN
    assert verdict.complete is False


def test_judge_is_incomplete_when_device_tag_is_missing() -> None:
    # GIVEN a member not (yet) tagged with its Device
    members = full_set("set-a", T0)
    untagged = snap(None, set_id="set-a", at=T0, snapshot_id="snap-untagged")
    members.append(untagged)

    # WHEN
    verdict = judge(one_set(members), ALL_DEVICES)

    # THEN
    assert verdict.complete is False
    assert any("snap-untagged has no Device tag" in r for r in verdict.reasons)


def test_judge_is_incomplete_when_device_tag_is_empty() -> None:
    # GIVEN a member whose Device tag is empty
    members = full_set("set-a", T0)
    members.append(snap("", set_id="set-a", at=T0, snapshot_id="snap-empty"))

    # WHEN
    verdict = judge(one_set(members), ALL_DEVICES)

    # THEN
    assert verdict.complete is False
    assert any("snap-empty has no Device tag" in r for r in verdict.reasons)


@pytest.mark.parametrize("state", ["pending", "error", "recoverable"])
def test_judge_is_incomplete_when_member_is_not_completed(state: str) -> None:
    # GIVEN a member in state (state)
    members = full_set("set-a", T0)
    members[0] = snap(ROOT, set_id="set-a", at=T0, state=state)

    # WHEN
    verdict = judge(one_set(members), ALL_DEVICES)

    # THEN
    assert verdict.complete is False
    assert verdict.reasons == [f"{ROOT} ({members[0].snapshot_id}) is {state}"]


def test_judge_is_incomplete_when_required_device_has_no_snapshot() -> None:
    # GIVEN a set without xvdf
    snapshot_set = one_set(full_set("set-a", T0, [ROOT, "xvdb"]))

    # WHEN
    verdict = judge(snapshot_set, ["xvdf", ROOT, "xvdb", "xvdz"])

    # THEN the missing devices are named in restore order
    assert verdict.complete is False
    assert verdict.reasons == ["no snapshot of xvdf, xvdz"]


def test_judge_is_incomplete_when_device_appears_twice() -> None:
    # GIVEN two members that both claim xvdb
    members = full_set("set-a", T0)
    members.append(snap("xvdb", set_id="set-a", at=T0, volume_id="vol-other"))

    # WHEN
    verdict = judge(one_set(members), ALL_DEVICES)

    # THEN
    assert verdict.complete is False
    assert verdict.reasons == ["xvdb appears twice"]


def test_judge_lists_every_reason_when_several_problems() -> None:
    # GIVEN a pending, inconsistent member and a missing device
    members = [
        snap(ROOT, set_id="set-a", at=T0, state="pending", app_consistent=None),
        snap("xvdb", set_id="set-a", at=T0),
    ]

    # WHEN
    verdict = judge(one_set(members), ALL_DEVICES)

    # THEN
    assert len(verdict.reasons) == 3
    assert verdict.reasons[-1] == "no snapshot of xvdf"


# --- select_set ------------------------------------------------------------------------------


def test_select_set_chooses_latest_complete_set_when_several_complete() -> None:
    # GIVEN three complete sets
    sets = group_into_sets(
        [
            *full_set("s-1", T0),
            *full_set("s-2", T0 + timedelta(hours=1)),
            *full_set("s-3", T0 + timedelta(hours=2)),
        ]
    )

    # WHEN
    selection = select_set(sets, ALL_DEVICES)

    # THEN
    assert selection.chosen is not None
    assert selection.chosen.snapshot_set.set_id == "s-3"
    assert selection.chosen.complete
    assert selection.passed_over == []


def test_select_set_skips_newer_incomplete_sets_when_older_complete_one_exists() -> None:
    # GIVEN a complete set, then a newer one with a pending member, then a newer one missing xvdf
    pending = full_set("s-pending", T0 + timedelta(hours=1))
    pending[1] = snap("xvdb", set_id="s-pending", at=T0 + timedelta(hours=1), state="pending")
    sets = group_into_sets(
        [
            *full_set("s-good", T0),
            *pending,
            *full_set("s-partial", T0 + timedelta(hours=2), [ROOT, "xvdb"]),
        ]
    )

    # WHEN
    selection = select_set(sets, ALL_DEVICES)

    # THEN
    assert selection.chosen is not None
    assert selection.chosen.snapshot_set.set_id == "s-good"
    assert [v.snapshot_set.set_id for v in selection.passed_over] == ["s-partial", "s-pending"]
    assert all(not v.complete for v in selection.passed_over)


def test_select_set_returns_none_when_no_set_is_complete() -> None:
    # GIVEN only incomplete sets
    sets = group_into_sets(
        [
            *full_set("s-1", T0, [ROOT]),
            *full_set("s-2", T0 + timedelta(hours=1), ["xvdb"]),
        ]
    )

    # WHEN
    selection = select_set(sets, ALL_DEVICES)

    # THEN
    assert selection.chosen is None
    assert [v.snapshot_set.set_id for v in selection.passed_over] == ["s-2", "s-1"]


def test_select_set_excludes_newer_sets_when_point_in_time_given() -> None:
    # GIVEN complete sets at T0, T0+1h, T0+2h and a point in time between the last two
    sets = group_into_sets(
        [
            *full_set("s-1", T0),
            *full_set("s-2", T0 + timedelta(hours=1)),
            *full_set("s-3", T0 + timedelta(hours=2)),
        ]
    )

    # WHEN
    selection = select_set(sets, ALL_DEVICES, point_in_time=T0 + timedelta(minutes=90))

    # THEN the newer set is neither chosen nor reported as passed over
    assert selection.chosen is not None
    assert selection.chosen.snapshot_set.set_id == "s-2"
    assert selection.passed_over == []


def test_select_set_includes_set_when_created_exactly_at_point_in_time() -> None:
    # GIVEN a set created exactly at the point in time
    sets = group_into_sets([*full_set("s-1", T0), *full_set("s-2", T0 + timedelta(hours=1))])

    # WHEN
    selection = select_set(sets, ALL_DEVICES, point_in_time=T0 + timedelta(hours=1))

    # THEN
    assert selection.chosen is not None
    assert selection.chosen.snapshot_set.set_id == "s-2"


def test_select_set_returns_none_when_point_in_time_precedes_every_set() -> None:
    # GIVEN sets all after the point in time
    sets = group_into_sets(full_set("s-1", T0))

    # WHEN
    selection = select_set(sets, ALL_DEVICES, point_in_time=T0 - timedelta(seconds=1))

    # THEN
    assert selection.chosen is None
    assert selection.passed_over == []


def test_select_set_returns_requested_set_when_set_id_is_complete() -> None:
    # GIVEN an older complete set asked for by id, and a newer complete one
    sets = group_into_sets([*full_set("s-old", T0), *full_set("s-new", T0 + timedelta(hours=1))])

    # WHEN
    selection = select_set(sets, ALL_DEVICES, set_id="s-old")

    # THEN
    assert selection.chosen is not None
    assert selection.chosen.snapshot_set.set_id == "s-old"
    assert selection.passed_over == []


def test_select_set_reports_requested_set_when_it_is_incomplete() -> None:
    # GIVEN the requested set lacks xvdf, while a newer complete set exists
    sets = group_into_sets(
        [
            *full_set("s-partial", T0, [ROOT, "xvdb"]),
            *full_set("s-new", T0 + timedelta(hours=1)),
        ]
    )

    # WHEN
    selection = select_set(sets, ALL_DEVICES, set_id="s-partial")

    # THEN no fallback to another set
    assert selection.chosen is None
    assert [v.snapshot_set.set_id for v in selection.passed_over] == ["s-partial"]
    assert selection.passed_over[0].reasons == ["no snapshot of xvdf"]


def test_select_set_returns_nothing_when_requested_set_id_is_absent() -> None:
    # GIVEN complete sets, none with the requested id
    sets = group_into_sets(full_set("s-1", T0))

    # WHEN
    selection = select_set(sets, ALL_DEVICES, set_id="s-unknown")

    # THEN
    assert selection.chosen is None
    assert selection.passed_over == []


def test_select_set_finds_time_grouped_set_when_asked_by_its_time_id() -> None:
    # GIVEN a legacy set without AwsVssConfig
    sets = group_into_sets(full_set(None, T0))

    # WHEN
    selection = select_set(sets, ALL_DEVICES, set_id=time_set_id(T0))

    # THEN
    assert selection.chosen is not None
    assert selection.chosen.snapshot_set.grouped_by == "StartTime"


# --- property: select_set never returns an incomplete set, and returns the latest complete one --

DEVICE_POOL = [ROOT, "xvdb", "xvdf"]


@st.composite
def random_snapshot(draw: st.DrawFn) -> Snapshot:
    device = draw(st.sampled_from([*DEVICE_POOL, None]))
    app_consistent = draw(st.sampled_from(["true", None, "false", "TRUE"]))
    state = draw(st.sampled_from(["completed", "completed", "pending"]))
    set_id = draw(st.sampled_from(["set-1", "set-2", "set-3", None, None]))
    offset = draw(st.integers(min_value=0, max_value=120))
    volume = draw(st.sampled_from(["vol-a", "vol-b", "vol-c", "vol-d"]))
    return snap(
        device,
        set_id=set_id,
        at=T0 + timedelta(seconds=offset),
        volume_id=volume,
        state=state,
        app_consistent=app_consistent,
    )


def latest_complete_brute_force(
    sets: list[SnapshotSet], required: list[str], point_in_time: datetime | None
) -> SnapshotSet | None:
    eligible = [s for s in sets if point_in_time is None or s.created_at <= point_in_time]
    complete = [s for s in eligible if judge(s, required).complete]
    if not complete:
        return None
    return max(complete, key=lambda s: (s.created_at, s.set_id))


@settings(max_examples=200, deadline=None)
@given(
    snapshots=st.lists(random_snapshot(), max_size=14),
    required=st.lists(st.sampled_from(DEVICE_POOL), min_size=1, max_size=3, unique=True),
    pit_offset=st.one_of(st.none(), st.integers(min_value=-5, max_value=130)),
)
def test_select_set_returns_latest_complete_set_when_snapshots_are_random(
    snapshots: list[Snapshot], required: list[str], pit_offset: int | None
) -> None:
    # GIVEN random snapshots grouped into sets, and maybe a point in time
    point_in_time = None if pit_offset is None else T0 + timedelta(seconds=pit_offset)
    sets = group_into_sets(snapshots)

    # WHEN
    selection = select_set(sets, required, point_in_time)

    # THEN the chosen set is complete, not after the point in time, and the latest such set
    expected = latest_complete_brute_force(sets, required, point_in_time)
    if expected is None:
        assert selection.chosen is None
    else:
        assert selection.chosen is not None
        chosen = selection.chosen.snapshot_set
        assert judge(chosen, required).complete
        assert point_in_time is None or chosen.created_at <= point_in_time
        assert (chosen.created_at, chosen.set_id) == (expected.created_at, expected.set_id)
    # and everything passed over is incomplete and not after the point in time
    for verdict in selection.passed_over:
        assert not judge(verdict.snapshot_set, required).complete
        assert point_in_time is None or verdict.snapshot_set.created_at <= point_in_time
