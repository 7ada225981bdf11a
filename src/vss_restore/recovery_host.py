"""Where a mount may go: the instance whose set it is, or a recovery host.

A mount hands a server's data (its volumes as they were) to the instance it is attached to.
``TargetInstanceId`` may therefore name another instance only if the deployment marks it as
a recovery host with a tag (``RECOVERY_HOST_TAG_KEY``/``RECOVERY_HOST_TAG_VALUE``); without
that setting a set is mounted only on its own instance. ``ValidateRequest`` checks it before
anything is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vss_restore import tags
from vss_restore.errors import InvalidRequest
from vss_restore.models import MountRequest
from vss_restore.settings import RECOVERY_HOST_TAG_KEY_ENV, settings


@dataclass(frozen=True)
class RecoveryHostTag:
    key: str
    value: str

    @classmethod
    def configured(cls) -> RecoveryHostTag | None:
        """The tag as the stack sets it; None if unset (a mount goes only to its source)."""
        read = settings()
        if read.recovery_host_tag_key is None:
            return None
        return cls(read.recovery_host_tag_key, read.recovery_host_tag_value)


def check_mount_target(
    request: MountRequest, target: Mapping[str, Any], recovery_host: RecoveryHostTag | None
) -> None:
    """``InvalidRequest`` naming TargetInstanceId unless the mount goes to its own instance or
    to a recovery host (pure); ``target``: the mount target, as described."""
    if request.target_instance_id is None:
        return
    if recovery_host is None:
        raise InvalidRequest(
            "TargetInstanceId",
            "this deployment mounts a set only on its own instance (leave TargetInstanceId "
            "out): a mount hands the set's data to the instance it goes to, and no other "
            f"instance is a recovery host here ({RECOVERY_HOST_TAG_KEY_ENV} is not set; "
            "context recoveryHostTagKey)",
        )
    found = tags.tag_dict(target.get("Tags")).get(recovery_host.key)
    if found != recovery_host.value:
        raise InvalidRequest(
            "TargetInstanceId",
            f"{request.target_instance_id} is not a recovery host: a mount hands the set's "
            "data to the instance it goes to, so that is the source itself or an instance "
            f"tagged {recovery_host.key}={recovery_host.value} (found {found!r})",
        )
