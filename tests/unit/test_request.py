"""The public request contract: defaults, and every bad value rejected naming its field."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vss_restore.errors import InvalidRequest
from vss_restore.models import InPlaceRequest, RestoreRequest

INSTANCE_ID = "i-0123456789abcdef0"
BASE: dict[str, Any] = {"InstanceId": INSTANCE_ID}
FIELDS = [
    "InstanceId",
    "SnapshotSetId",
    "RestorePointInTime",
    "ExcludeBootVolume",
    "Devices",
    "DryRun",
    "PowerOnAfterRestore",
    "DeleteReplacedVolumes",
    "InitializationRate",
    "WaitForInitialization",
]
# The clone drill's fields (Mode "Clone"), tested in tests/unit/test_drill.py.
DRILL_FIELDS = [
    "Mode",
    "SubnetId",
    "SecurityGroupIds",
    "InstanceType",
    "KeepClone",
    "ValidationDocument",
    "ValidationParameters",
]
# Mode "Online" and "Mount" fields, tested in tests/unit/test_request_modes.py.
ONLINE_AND_MOUNT_FIELDS = ["StopServices", "TargetInstanceId", "ExpiresInHours"]
BOOLEAN_FIELDS = [
    "ExcludeBootVolume",
    "DryRun",
    "PowerOnAfterRestore",
    "DeleteReplacedVolumes",
    "WaitForInitialization",
]


def rejection(payload: object) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        RestoreRequest.parse(payload)
    return caught.value


def in_place(payload: dict[str, Any]) -> InPlaceRequest:
    """The request, parsed as Mode "InPlace" (the default when it names none)."""
    request = RestoreRequest.parse(payload)
    assert isinstance(request, InPlaceRequest)
    return request


# --- valid requests --------------------------------------------------------------------------


def test_parse_applies_defaults_when_only_instance_id_given() -> None:
    # GIVEN the smallest valid request
    payload = {"InstanceId": INSTANCE_ID}

    # WHEN
    request = in_place(payload)

    # THEN
    assert request.instance_id == INSTANCE_ID
    assert request.snapshot_set_id is None
    assert request.restore_point_in_time is None
    assert request.exclude_boot_volume is False
    assert request.devices is None
    assert request.dry_run is False
    assert request.power_on_after_restore is True
    assert request.delete_replaced_volumes is False
    assert request.initialization_rate is None
    assert request.wait_for_initialization is False


def test_parse_keeps_every_value_when_all_fields_valid() -> None:
    # GIVEN a request using every field (but RestorePointInTime, which SnapshotSetId excludes)
    payload = {
        "InstanceId": "i-01234567",
        "SnapshotSetId": "set-1",
        "ExcludeBootVolume": True,
        "Devices": ["xvdf", "/dev/sdg"],
        "DryRun": True,
        "PowerOnAfterRestore": False,
        "DeleteReplacedVolumes": True,
        "InitializationRate": 300,
        "WaitForInitialization": True,
    }

    # WHEN
    request = in_place(payload)

    # THEN
    assert request.instance_id == "i-01234567"
    assert request.snapshot_set_id == "set-1"
    assert request.exclude_boot_volume is True
    assert request.devices == ["xvdf", "/dev/sdg"]
    assert request.dry_run is True
    assert request.power_on_after_restore is False
    assert request.delete_replaced_volumes is True
    assert request.initialization_rate == 300
    assert request.wait_for_initialization is True


def test_to_payload_uses_public_names_when_request_is_parsed() -> None:
    # GIVEN
    request = RestoreRequest.parse({"InstanceId": INSTANCE_ID, "Devices": ["xvdf"]})

    # WHEN
    payload = request.to_payload()

    # THEN the state machine reads these PascalCase keys (e.g. $.Request.DryRun)
    assert sorted(payload) == sorted(FIELDS + DRILL_FIELDS + ONLINE_AND_MOUNT_FIELDS)
    assert payload["InstanceId"] == INSTANCE_ID
    assert payload["Devices"] == ["xvdf"]
    assert payload["DryRun"] is False
    assert payload["PowerOnAfterRestore"] is True


def test_parse_accepts_explicit_nulls_when_field_is_optional() -> None:
    # GIVEN nulls for the optional non-boolean fields
    payload = {**BASE, "SnapshotSetId": None, "RestorePointInTime": None, "Devices": None}

    # WHEN
    request = RestoreRequest.parse(payload)

    # THEN
    assert (request.snapshot_set_id, request.restore_point_in_time, request.devices) == (
        None,
        None,
        None,
    )


def test_parse_accepts_root_device_when_boot_volume_not_excluded() -> None:
    # GIVEN
    payload = {**BASE, "ExcludeBootVolume": False, "Devices": ["/dev/sda1", "xvdf"]}

    # WHEN
    request = RestoreRequest.parse(payload)

    # THEN
    assert request.devices == ["/dev/sda1", "xvdf"]


# --- bad values ------------------------------------------------------------------------------


@pytest.mark.parametrize("field", BOOLEAN_FIELDS)
@pytest.mark.parametrize("value", ["true", "false", "True", 1, 0, 1.0, None, [], {}, "yes"])
def test_parse_rejects_boolean_field_when_value_is_not_a_json_boolean(
    field: str, value: object
) -> None:
    # GIVEN a boolean field holding a non-boolean (value)
    payload = {**BASE, field: value}

    # WHEN
    err = rejection(payload)

    # THEN
    assert err.field == field


@pytest.mark.parametrize(
    "value",
    [
        "i-123",
        "i-0123456",
        "i-0123456789abcdef",
        "i-0123456789abcdef01",
        "I-0123456789abcdef0",
        "i-0123456789ABCDEF0",
        "0123456789abcdef0",
        "i-0123456789abcdefg",
        " i-0123456789abcdef0",
        "i-0123456789abcdef0 ",
        "i-0123456789abcdef0\n",
        "",
        123,
        None,
        ["i-0123456789abcdef0"],
        {"Id": "i-0123456789abcdef0"},
    ],
)
def test_parse_rejects_instance_id_when_malformed(value: object) -> None:
    # GIVEN a malformed instance id (value)
    payload = {"InstanceId": value}

    # WHEN
    err = rejection(payload)

    # THEN
    assert err.field == "InstanceId"


def test_parse_says_what_a_valid_instance_id_looks_like_when_malformed() -> None:
    # GIVEN / WHEN an instance id that is not one
    err = rejection({"InstanceId": "i-nothex"})

    # THEN the reason shows the shape of a valid id, not a regular expression
    assert err.field == "InstanceId"
    assert "'i-nothex' is not a valid id" in err.reason
    assert "17" in err.reason
    assert "e.g. i-0123456789abcdef0" in err.reason
    assert "[0-9a-f]" not in err.reason
    assert "pattern" not in err.reason


def test_parse_rejects_point_in_time_when_snapshot_set_id_is_also_given() -> None:
    # GIVEN a request naming a set and a point in time, which contradict each other
    payload = {**BASE, "SnapshotSetId": "set-1", "RestorePointInTime": "2024-05-01T12:00:00Z"}

    # WHEN
    err = rejection(payload)

    # THEN
    assert err.field == "RestorePointInTime"
    assert "SnapshotSetId" in err.reason


def test_parse_rejects_request_when_instance_id_missing() -> None:
    # GIVEN
    payload = {"DryRun": True}

    # WHEN
    err = rejection(payload)

    # THEN
    assert err.field == "InstanceId"


@pytest.mark.parametrize("value", ["", "x" * 257, 5, True, ["set-1"], {"Id": "set-1"}])
def test_parse_rejects_snapshot_set_id_when_empty_too_long_or_not_a_string(value: object) -> None:
    # GIVEN an empty, too long or non-string set id (value)
    payload = {**BASE, "SnapshotSetId": value}

    # WHEN
    err = rejection(payload)

    # THEN
    assert err.field == "SnapshotSetId"


def test_parse_accepts_snapshot_set_id_when_exactly_256_characters() -> None:
    # GIVEN
    payload = {**BASE, "SnapshotSetId": "x" * 256}

    # WHEN
    request = RestoreRequest.parse(payload)

    # THEN
    assert request.snapshot_set_id == "x" * 256


@pytest.mark.parametrize(
    "value",
    ["2024-05-01T12:00:00", "2024-05-01", "2024-05-01 12:00:00"],
)
def test_parse_rejects_restore_point_in_time_when_it_has_no_timezone(value: str) -> None:
    # GIVEN a naive timestamp (value)
    payload = {**BASE, "RestorePointInTime": value}

    # WHEN
    err = rejection(payload)

    # THEN
    assert err.field == "RestorePointInTime"


def test_parse_rejects_restore_point_in_time_when_it_is_in_the_future() -> None:
    # GIVEN a point in time tomorrow
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    payload = {**BASE, "RestorePointInTime": tomorrow}

    # WHEN
    err = rejection(payload)

    # THEN
    assert err.field == "RestorePointInTime"
    assert "future" in err.reason


@pytest.mark.parametrize("value", ["", "yesterday", "now", "2024-13-01T00:00:00Z", True, [], {}])
def test_parse_rejects_restore_point_in_time_when_not_a_timestamp(value: object) -> None:
    # GIVEN something that is no ISO-8601 timestamp (value)
    payload = {**BASE, "RestorePointInTime": value}

    # WHEN
    err = rejection(payload)

    # THEN
    assert err.field == "RestorePointInTime"


def test_rejection_reason_reads_as_a_sentence_about_the_field() -> None:
    err = rejection({**BASE, "RestorePointInTime": "yesterday"})

    assert str(err) == ("RestorePointInTime: must be an ISO-8601 date-time string with a time zone")


@pytest.mark.parametrize("value", [1700000000, 1700000000.5, "1700000000"])
def test_parse_rejects_restore_point_in_time_when_given_as_epoch_number(value: object) -> None:
    # GIVEN a Unix timestamp instead of an ISO-8601 string (value)
    payload = {**BASE, "RestorePointInTime": value}

    # WHEN
    err = rejection(payload)

    # THEN values are not coerced silently: the contract is ISO-8601
    assert err.field == "RestorePointInTime"


def test_parse_rejects_devices_when_list_is_empty() -> None:
    # GIVEN
    payload = {**BASE, "Devices": []}

    # WHEN
    err = rejection(payload)

    # THEN
    assert err.field == "Devices"


def test_parse_rejects_devices_when_a_device_is_listed_twice() -> None:
    # GIVEN
    payload = {**BASE, "Devices": ["xvdf", "xvdg", "xvdf"]}

    # WHEN
    err = rejection(payload)

    # THEN
    assert err.field == "Devices"
    assert "more than once" in err.reason


@pytest.mark.parametrize("bad", ["hda", "/dev/nvme1n1", "xvdf1234", "", "XVDF", 7, None])
def test_parse_rejects_devices_naming_the_element_when_a_device_name_is_bad(bad: object) -> None:
    # GIVEN a bad second device (bad)
    payload = {**BASE, "Devices": ["xvdf", bad]}

    # WHEN
    err = rejection(payload)

    # THEN
    assert err.field == "Devices.1"


@pytest.mark.parametrize("value", ["xvdf", 7, True, {"xvdf": True}])
def test_parse_rejects_devices_when_not_a_list(value: object) -> None:
    # GIVEN Devices that is not a list (value)
    payload = {**BASE, "Devices": value}

    # WHEN
    err = rejection(payload)

    # THEN
    assert err.field == "Devices"


def test_parse_rejects_devices_when_a_name_ends_with_newline() -> None:
    # GIVEN a device name with a trailing line break
    payload = {**BASE, "Devices": ["xvdf\n"]}

    # WHEN
    err = rejection(payload)

    # THEN
    assert err.field == "Devices.0"


def test_parse_names_a_field_when_boot_volume_both_excluded_and_listed() -> None:
    # GIVEN ExcludeBootVolume together with /dev/sda1 in Devices
    payload = {**BASE, "ExcludeBootVolume": True, "Devices": ["xvdf", "/dev/sda1"]}

    # WHEN
    err = rejection(payload)

    # THEN the error names one of the two conflicting fields, not the whole request
    assert "ExcludeBootVolume" in err.reason
    assert err.field in {"Devices", "ExcludeBootVolume"}


@pytest.mark.parametrize("key", ["Foo", "instanceId", "DRYRUN", "Device", "SnapshotSetID"])
def test_parse_rejects_request_when_field_is_unknown(key: str) -> None:
    # GIVEN an unknown field (key)
    payload = {**BASE, key: True}

    # WHEN
    err = rejection(payload)

    # THEN
    assert err.field == key
    assert err.reason == "is not a known field"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("dry_run", True),
        ("devices", ["xvdf"]),
    ],
)
def test_parse_rejects_python_field_name_when_it_is_not_the_public_name(
    key: str, value: object
) -> None:
    # GIVEN the internal snake_case name instead of the public PascalCase one (key)
    payload = {**BASE, key: value}

    # WHEN
    err = rejection(payload)

    # THEN the contract knows only PascalCase fields
    assert err.field == key


@pytest.mark.parametrize("payload", [[], [BASE], "i-0123456789abcdef0", "", None, 42, True, 1.5])
def test_parse_rejects_payload_when_it_is_not_a_json_object(payload: object) -> None:
    # GIVEN a non-object payload (payload)

    # WHEN
    err = rejection(payload)

    # THEN
    assert err.field == "$"


def test_invalid_request_message_names_field_when_raised() -> None:
    # GIVEN / WHEN
    err = rejection({**BASE, "DryRun": "true"})

    # THEN
    assert str(err).startswith("DryRun: ")
    assert err.reason


# --- property: ≥ 200 malformed requests, each rejected naming its field ------------------------

_INSTANCE_ID_RE = r"i-[0-9a-f]{8}([0-9a-f]{9})?"
_DEVICE_RE = r"(/dev/)?(sd[a-z]{1,2}[0-9]{0,2}|xvd[a-z]{1,2}[0-9]{0,2})"

_valid_device = st.one_of(st.just("/dev/sda1"), st.from_regex(r"\A(/dev/)?(sd|xvd)[b-z][a-z]?\Z"))
_past = st.datetimes(
    min_value=datetime(2015, 1, 1), max_value=datetime(2024, 1, 1), timezones=st.just(UTC)
).map(datetime.isoformat)

_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_json_any = st.one_of(
    _json_scalars,
    st.lists(_json_scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), _json_scalars, max_size=2),
)


def _not_bool(value: object) -> bool:
    return not isinstance(value, bool)


WRONG_VALUES: dict[str, st.SearchStrategy[object]] = {
    "InstanceId": st.one_of(
        _json_any.filter(lambda v: not isinstance(v, str)),
        st.text(max_size=25).filter(lambda s: re.fullmatch(_INSTANCE_ID_RE, s) is None),
    ),
    "SnapshotSetId": st.one_of(
        _json_any.filter(lambda v: v is not None and not isinstance(v, str)),
        st.just(""),
        st.text(min_size=257, max_size=300),
    ),
    "RestorePointInTime": st.one_of(
        _json_any.filter(lambda v: v is not None and not isinstance(v, str)),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz :-", max_size=20),
        st.datetimes(min_value=datetime(2000, 1, 1)).map(datetime.isoformat),  # naive
        st.integers(min_value=1, max_value=3650).map(
            lambda days: (datetime.now(UTC) + timedelta(days=days)).isoformat()
        ),
    ),
    "Devices": st.one_of(
        _json_any.filter(lambda v: v is not None and not isinstance(v, list)),
        st.just([]),
        st.lists(_json_scalars.filter(lambda v: not isinstance(v, str)), min_size=1, max_size=3),
        st.lists(
            st.text(max_size=12).filter(lambda s: re.fullmatch(_DEVICE_RE, s) is None),
            min_size=1,
            max_size=3,
        ),
        _valid_device.map(lambda d: [d, d]),
    ),
    "InitializationRate": st.one_of(
        _json_any.filter(
            lambda v: v is not None and (isinstance(v, bool) or not isinstance(v, int))
        ),
        st.integers(max_value=99),
        st.integers(min_value=301),
    ),
    **{name: _json_any.filter(_not_bool) for name in BOOLEAN_FIELDS},
}


@st.composite
def valid_request(draw: st.DrawFn) -> dict[str, Any]:
    payload: dict[str, Any] = {"InstanceId": draw(st.from_regex(rf"\A{_INSTANCE_ID_RE}\Z"))}
    if draw(st.booleans()):
        payload["SnapshotSetId"] = draw(st.text(min_size=1, max_size=256))
    elif draw(st.booleans()):  # a set id and a point in time exclude each other
        payload["RestorePointInTime"] = draw(_past)
    if draw(st.booleans()):
        payload["Devices"] = draw(st.lists(_valid_device, min_size=1, max_size=4, unique=True))
    if draw(st.booleans()):
        payload["InitializationRate"] = draw(st.integers(min_value=100, max_value=300))
    for name in BOOLEAN_FIELDS:
        if draw(st.booleans()):
            payload[name] = draw(st.booleans())
    if payload.get("ExcludeBootVolume") and "/dev/sda1" in payload.get("Devices", []):
        payload["Devices"].remove("/dev/sda1")
        if not payload["Devices"]:
            del payload["Devices"]
    return payload


@st.composite
def malformed_request(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    payload = draw(valid_request())
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        key = draw(
            st.text(min_size=1, max_size=20).filter(lambda k: k not in FIELDS + DRILL_FIELDS)
        )
        payload[key] = draw(_json_any)
        return payload, key
    field = draw(st.sampled_from(FIELDS))
    payload[field] = draw(WRONG_VALUES[field])
    return payload, field


def test_valid_request_strategy_builds_requests_the_parser_accepts() -> None:
    # GIVEN the generator of valid base requests used below
    samples: list[dict[str, Any]] = []

    @settings(max_examples=50, deadline=None)
    @given(valid_request())
    def collect(payload: dict[str, Any]) -> None:
        samples.append(payload)

    # WHEN
    collect()

    # THEN every base is valid, so a rejection below is due to the one mutation
    assert samples
    for payload in samples:
        assert RestoreRequest.parse(payload).instance_id == payload["InstanceId"]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(case=malformed_request())
def test_parse_rejects_naming_the_field_when_one_field_is_malformed(
    case: tuple[dict[str, Any], str],
) -> None:
    # GIVEN a valid request with one field replaced by a bad value, or an unknown key added
    payload, field = case

    # WHEN
    err = rejection(payload)

    # THEN the field is named, alone or with the list index inside it ("Devices.0")
    assert err.field == field or err.field.startswith(f"{field}.")
