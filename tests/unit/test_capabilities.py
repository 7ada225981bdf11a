"""Which machine runs which request, and the refusal that names the right one."""

from __future__ import annotations

import pytest

from vss_restore.capabilities import capability_of, fleet_machine_of
from vss_restore.errors import InvalidRequest
from vss_restore.models import require_mode


@pytest.mark.parametrize(
    ("request_", "capability", "fleet"),
    [
        ({}, "restore", "fleet"),
        ({"Mode": "InPlace"}, "restore", "fleet"),
        ({"Mode": "Online"}, "restore", "fleet"),
        ({"Mode": "Clone"}, "drill", "drill-fleet"),
        ({"Mode": "Mount"}, "mount", "fleet"),
        ({"Mode": "Nonsense"}, "restore", "fleet"),  # the restore machine names the field
        ("not a request", "restore", "fleet"),
    ],
)
def test_a_request_goes_to_its_mode_s_machine(
    request_: object, capability: str, fleet: str
) -> None:
    assert capability_of(request_) == capability
    assert fleet_machine_of(request_) == fleet


def test_require_mode_lets_the_machine_s_modes_through_and_any_mode_when_unrestricted() -> None:
    require_mode("Online", ("InPlace", "Online"))
    require_mode("Clone", None)


@pytest.mark.parametrize(
    ("mode", "modes", "fleet", "ends"),
    [
        ("Clone", ("InPlace", "Online"), False, "start the drill state machine"),
        ("InPlace", ("Clone",), False, "start the restore state machine"),
        ("Clone", ("InPlace", "Online"), True, "start the drill-fleet state machine"),
        ("InPlace", ("Clone",), True, "start the fleet state machine"),
        ("Mount", ("InPlace", "Online"), True, "run by no fleet machine: one instance at a time"),
    ],
)
def test_require_mode_refuses_on_mode_naming_the_machine_that_runs_it(
    mode: str, modes: tuple[str, ...], fleet: bool, ends: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        require_mode(mode, modes, fleet=fleet)
    assert refused.value.field == "Mode"
    assert str(refused.value).endswith(ends)
