"""The opt-in tag: the deployed IAM lets vss-restore change only instances that carry it.

``ValidateRequest`` checks it first, so a restore of an instance that has not opted in
is refused before anything changes, instead of failing at ``StopInstances`` later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vss_restore import tags
from vss_restore.errors import InstanceNotRestorable
from vss_restore.settings import settings


@dataclass(frozen=True)
class OptInTag:
    key: str
    value: str

    @classmethod
    def configured(cls) -> OptInTag | None:
        """``OPT_IN_TAG_KEY``/``OPT_IN_TAG_VALUE`` as the stack sets them; None if unset (no check)."""
        read = settings()
        return cls(read.opt_in_tag_key, read.opt_in_tag_value) if read.opt_in_tag_key else None

    def require(self, raw_instance: dict[str, Any]) -> None:
        found = tags.tag_dict(raw_instance.get("Tags")).get(self.key)
        if found != self.value:
            raise InstanceNotRestorable(
                f"{raw_instance['InstanceId']} has not opted in: it needs the tag "
                f"{self.key}={self.value} (found {found!r}); nothing was changed"
            )
