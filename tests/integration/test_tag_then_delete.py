"""Replaced volumes are deleted even while their fresh ``replaced`` tag is not yet visible to IAM."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import RestoreRunner
from tests.integration.helpers import volume_exists
from vss_restore.local import LocalEngine
from vss_restore.local.faults import Fault
from vss_restore.volumes import TAG_VISIBILITY_DELAYS


def test_replaced_volumes_are_deleted_when_the_tag_condition_sees_the_mark_late(
    engine: LocalEngine, ec2: Any, vss_set: Any, restore: RestoreRunner
) -> None:
    # GIVEN the first two DeleteVolume calls refused, as IAM refuses while the tag is not visible
    vss_set("set-1", hours_ago=1)
    refusals = engine.inject(Fault("ec2.DeleteVolume", code="UnauthorizedOperation", times=2))

    # WHEN the restore deletes the volumes it replaced
    done = restore(DeleteReplacedVolumes=True)

    # THEN it tried again and deleted every one of them, without a warning
    assert refusals.injected == 2
    assert done.report["ReplacedVolumes"] == "deleted"
    assert done.report["Warnings"] == []
    assert not any(volume_exists(ec2, v) for v in done.before.volumes.values())


def test_replaced_volume_is_kept_with_a_warning_when_delete_is_refused_for_good(
    engine: LocalEngine, ec2: Any, vss_set: Any, restore: RestoreRunner
) -> None:
    # GIVEN every DeleteVolume refused (a policy that really does not allow it)
    vss_set("set-1", hours_ago=1)
    refusals = engine.inject(Fault("ec2.DeleteVolume", code="UnauthorizedOperation", times=1000))

    # WHEN
    done = restore(DeleteReplacedVolumes=True)

    # THEN the restore succeeds, keeps the originals and says so; it tried again only as
    # often as the shared delays allow, not for every volume
    assert all(volume_exists(ec2, v) for v in done.before.volumes.values())
    assert len([w for w in done.report["Warnings"] if "UnauthorizedOperation" in w]) == len(
        done.before.volumes
    )
    assert refusals.calls == len(done.before.volumes) + len(TAG_VISIBILITY_DELAYS)
