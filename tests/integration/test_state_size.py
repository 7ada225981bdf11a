"""Every state's data stays under Step Functions' 256 KiB at the sizes the workflow accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.helpers import STATE_DATA_LIMIT, largest_state_data
from vss_restore import tags
from vss_restore.devices import WINDOWS_ROOT_DEVICE
from vss_restore.local import LocalEngine, world

# The most devices a restore takes: the root and xvdb..xvdz, each with EC2's 50 tags of the
# longest keys and values.
DEVICES = [WINDOWS_ROOT_DEVICE, *(f"xvd{c}" for c in "bcdefghijklmnopqrstuvwxyz")]


def longest_tags(device: str) -> dict[str, str]:
    return {f"{device}-{n:02d}".ljust(128, "k"): "v" * 256 for n in range(tags.MAX_TAGS)}


@pytest.mark.parametrize("mode", ["InPlace", "Clone"])
def test_restore_of_26_devices_with_50_longest_tags_each_stays_under_the_limit_and_copies_tags(
    engine: LocalEngine, ec2: Any, mode: str
) -> None:
    # GIVEN an instance with 26 devices, each volume with 50 tags of the longest kind
    disks = [world.Disk(d, "gp3", 30, tags=longest_tags(d)) for d in DEVICES]
    instance = world.windows_instance(ec2, disks)
    world.vss_snapshot_set(
        ec2, instance, taken_at=datetime.now(UTC) - timedelta(hours=1), set_id="set-1"
    )
    request: dict[str, Any] = {"InstanceId": instance}
    if mode == "Clone":
        request.update(Mode="Clone", SubnetId=world.isolated_subnet(ec2)[0])

    # WHEN it is restored (the engine fails an execution over the limit, as AWS does)
    result = engine.run(request, timeout=300)

    # THEN it succeeds, no state came near the limit
    assert result.status == "SUCCEEDED", f"{result.error}: {result.cause}"
    assert largest_state_data(result.history) < STATE_DATA_LIMIT // 4
    if mode == "InPlace":
        # AND each new volume has our tags and as many of the original's as EC2 leaves room for
        new = ec2.describe_volumes(
            Filters=[{"Name": f"tag:{tags.INSTANCE_ID}", "Values": [instance]}]
        )["Volumes"]
        assert len(new) == len(DEVICES)
        for volume in new:
            labels = tags.tag_dict(volume["Tags"])
            device = labels[tags.DEVICE]
            assert len(labels) == tags.MAX_TAGS
            copied = labels.keys() & longest_tags(device).keys()
            assert len(copied) == tags.MAX_TAGS - len(
                [k for k in labels if k.startswith(tags.PREFIX)]
            )
