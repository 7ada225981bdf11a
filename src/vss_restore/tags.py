"""Tag keys the workflow reads and writes.

VSS writes ``Device``, ``AppConsistent`` and ``AwsVssConfig`` on each snapshot. vss-restore
writes the ``vss-restore:*`` keys on every volume it creates, so that snapshot sets taken
before an earlier restore are still found (lineage) and so that anything a failed
execution leaves behind can be found and cleaned up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import TagTypeDef

# Written by the AWS VSS solution on snapshots.
VSS_DEVICE = "Device"
VSS_APP_CONSISTENT = "AppConsistent"
VSS_CONFIG = "AwsVssConfig"

PREFIX = "vss-restore:"
# On volumes we create (and optionally, set by the user, on snapshots).
INSTANCE_ID = f"{PREFIX}instance-id"
DEVICE = f"{PREFIX}device"
REPLACED_VOLUME_ID = f"{PREFIX}replaced-volume-id"
LINEAGE = f"{PREFIX}lineage"
SNAPSHOT_SET_ID = f"{PREFIX}snapshot-set-id"
SNAPSHOT_ID = f"{PREFIX}snapshot-id"
EXECUTION = f"{PREFIX}execution"
CREATED_BY = f"{PREFIX}created-by"
STATUS = f"{PREFIX}status"
# On the volumes a successful restore replaced.
REPLACED_BY = f"{PREFIX}replaced-by"
REPLACED_BY_EXECUTION = f"{PREFIX}replaced-by-execution"

# On everything a clone drill creates (instance and volumes): the source instance it
# clones, and when the cleanup may remove it if the drill itself could not.
DRILL = f"{PREFIX}drill"
EXPIRES_AT = f"{PREFIX}expires-at"

# On the volumes a mount (Mode "Mount") creates, besides the restore keys that apply
# (device and snapshot of the source, set, execution, created-by, status). They carry no
# instance-id or lineage key: a mount's volume is not in the source instance's lineage.
MOUNTED_ON = f"{PREFIX}mounted-on"
MOUNT_DEVICE = f"{PREFIX}mount-device"
MOUNT_SOURCE_INSTANCE = f"{PREFIX}mount-source-instance"
MOUNT_EXPIRES_AT = f"{PREFIX}mount-expires-at"

CREATED_BY_VALUE = "vss-restore"
STATUS_RESTORING = "restoring"
STATUS_RESTORED = "restored"
STATUS_REPLACED = "replaced"
STATUS_CLEANUP_REQUIRED = "cleanup-required"
STATUS_MOUNTED = "mounted"

MAX_TAG_VALUE = 256
MAX_TAGS = 50  # per EC2 resource


def tag_dict(tags: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """EC2's ``[{"Key": k, "Value": v}]`` as a plain dict."""
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags or ()}


def tag_list(tags: Mapping[str, str]) -> list[TagTypeDef]:
    """A plain dict as EC2's ``[{"Key": k, "Value": v}]``, in key order."""
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags worth copying to a replacement volume: not AWS-reserved, not ours."""
    return {k: v for k, v in tags.items() if not k.startswith(("aws:", PREFIX))}


def copyable_user_tags(tags: Mapping[str, str], room: int) -> dict[str, str]:
    """User tags for a replacement volume, at most ``room`` of them (``Name`` first, then by key)."""
    candidates = user_tags(tags)
    keys = sorted(candidates, key=lambda k: (k != "Name", k))[: max(room, 0)]
    return {k: candidates[k] for k in keys}


def lineage_value(replaced_volume_id: str, replaced_volume_lineage: str) -> str:
    """Ancestors of a new volume, newest first, trimmed to fit one tag value."""
    ids = [replaced_volume_id, *replaced_volume_lineage.split()]
    value = ""
    for volume_id in dict.fromkeys(ids):
        candidate = f"{value} {volume_id}".strip()
        if len(candidate) > MAX_TAG_VALUE:
            break
        value = candidate
    return value


def expiry(value: str) -> datetime:
    """An expiry tag's moment: any ISO-8601 form, no offset read as UTC, a date alone as its
    midnight UTC (people write these tags by hand). ``ValueError`` when it is none."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
