"""Reading an expiry tag: any ISO-8601 form; an unreadable one is named, never raised."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vss_restore import tags

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("2026-12-31", datetime(2026, 12, 31, tzinfo=UTC)),
        ("2026-12-31T08:30", datetime(2026, 12, 31, 8, 30, tzinfo=UTC)),
        ("2026-12-31T08:30:00Z", datetime(2026, 12, 31, 8, 30, tzinfo=UTC)),
        ("2026-12-31T10:30:00+02:00", datetime(2026, 12, 31, 8, 30, tzinfo=UTC)),
        ("20261231T083000", datetime(2026, 12, 31, 8, 30, tzinfo=UTC)),
    ],
)
def test_expiry_reads_any_iso_form_with_utc_when_no_offset_is_written(
    written: str, meant: datetime
) -> None:
    # GIVEN / WHEN an expiry written one way or another / THEN the same moment, aware
    assert tags.expiry(written) == meant
    assert tags.expiry(written).tzinfo is not None


@pytest.mark.parametrize(
    ("written", "passed"),
    [
        ("2026-12-06T12:00:00+00:00", True),
        ("2026-12-06", True),
        ("2026-12-06T11:59", True),
        ("2026-12-06T12:01", False),
        ("2026-12-07", False),
    ],
)
def test_expired_compares_a_naive_expiry_with_an_aware_now_without_a_warning(
    written: str, passed: bool
) -> None:
    # GIVEN an expiry with or without an offset
    warnings: list[str] = []

    # WHEN it is compared with an aware now / THEN no TypeError, and no warning
    assert tags.expired("vol-1", {tags.EXPIRES_AT: written}, tags.EXPIRES_AT, NOW, warnings) is (
        passed
    )
    assert warnings == []


@pytest.mark.parametrize("labels", [{tags.EXPIRES_AT: "garbage"}, {tags.EXPIRES_AT: ""}, {}])
def test_expired_names_an_unreadable_or_missing_expiry_and_keeps_the_resource(
    labels: dict[str, str],
) -> None:
    # GIVEN an expiry that is no date, or none
    warnings: list[str] = []

    # WHEN it is read / THEN the resource has not expired, and the warning names it
    assert not tags.expired("sg-1", labels, tags.EXPIRES_AT, NOW, warnings)
    [warning] = warnings
    assert warning.startswith(f"sg-1 skipped: {tags.EXPIRES_AT}")
