"""Device names: normalising and the natural, root-first order of a restore."""

from __future__ import annotations

import re
from collections.abc import Iterable

WINDOWS_ROOT_DEVICE = "/dev/sda1"
_DEVICE = re.compile(r"^(/dev/)?(sd[a-z]{1,2}[0-9]{0,2}|xvd[a-z]{1,2}[0-9]{0,2})$")
_NATURAL = re.compile(r"(\d+)")


def is_valid_device(name: str) -> bool:
    """True for the EBS device names EC2 accepts on Windows and Linux instances."""
    return bool(_DEVICE.fullmatch(name))


def device_key(name: str) -> str:
    """The device without ``/dev/``, so ``/dev/sdf`` and ``sdf`` compare equal."""
    return name.removeprefix("/dev/")


def _natural_key(name: str) -> tuple[int, str, int]:
    # Strip the family prefix so that "xvdb" < "xvdz" < "xvdaa": shorter suffixes first.
    stem = device_key(name)
    letters = stem[3:] if stem.startswith("xvd") else stem[2:]
    letters_part = _NATURAL.split(letters)[0]
    digits = letters[len(letters_part) :]
    return (len(letters_part), letters_part, int(digits) if digits else -1)


def restore_order(devices: Iterable[str], root_device: str = WINDOWS_ROOT_DEVICE) -> list[str]:
    """Root device first, then the others in natural order (``xvdb`` < ``xvdz`` < ``xvdaa``)."""
    root = device_key(root_device)
    return sorted(
        dict.fromkeys(devices),
        key=lambda d: (device_key(d) != root, _natural_key(d), d),
    )
