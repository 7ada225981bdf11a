"""The opt-in tag check that ValidateRequest makes before anything changes."""

from __future__ import annotations

import pytest

from vss_restore.errors import InstanceNotRestorable
from vss_restore.opt_in import OptInTag
from vss_restore.settings import reload_settings

INSTANCE = {
    "InstanceId": "i-0123456789abcdef0",
    "Tags": [{"Key": "vss-restore:enabled", "Value": "true"}],
}


def test_opt_in_is_not_checked_when_no_tag_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPT_IN_TAG_KEY", raising=False)
    monkeypatch.delenv("OPT_IN_TAG_VALUE", raising=False)
    reload_settings()
    assert OptInTag.configured() is None


def test_opt_in_reads_the_configured_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPT_IN_TAG_KEY", "Backup:Restorable")
    monkeypatch.setenv("OPT_IN_TAG_VALUE", "yes")
    reload_settings()
    assert OptInTag.configured() == OptInTag("Backup:Restorable", "yes")


def test_opt_in_accepts_an_instance_with_the_tag() -> None:
    OptInTag("vss-restore:enabled", "true").require(INSTANCE)


@pytest.mark.parametrize("tags", [[], [{"Key": "vss-restore:enabled", "Value": "false"}]])
def test_opt_in_refuses_an_instance_without_the_tag_or_with_another_value(
    tags: list[dict[str, str]],
) -> None:
    with pytest.raises(InstanceNotRestorable, match="vss-restore:enabled=true"):
        OptInTag("vss-restore:enabled", "true").require({**INSTANCE, "Tags": tags})
