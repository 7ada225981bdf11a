"""Reading an expiry: any ISO-8601 form, no offset read as UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vss_restore import records, tags

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
def test_a_record_compares_a_naive_expiry_with_an_aware_now(written: str, passed: bool) -> None:
    # GIVEN a resource created with an expiry with or without an offset
    record = records.Record("vol-1", "exec", "drill", records.expiry_of({tags.EXPIRES_AT: written}))

    # WHEN it is compared with an aware now / THEN no TypeError
    assert record.expired(NOW) is passed


@pytest.mark.parametrize(
    ("labels", "purpose"),
    [
        ({tags.DRILL: "i-1", tags.EXPIRES_AT: "2026-12-07"}, "drill"),
        ({tags.MOUNTED_ON: "i-2", tags.MOUNT_EXPIRES_AT: "2026-12-07"}, "mount"),
        ({tags.EXECUTION: "exec"}, "restore"),
    ],
)
def test_what_a_resource_was_created_for_comes_from_the_tags_it_is_created_with(
    labels: dict[str, str], purpose: str
) -> None:
    assert records.purpose_of(labels) == purpose
    # ... and only a restore's has no expiry: its rollback alone may remove it
    assert (records.expiry_of(labels) is None) is (purpose == "restore")
