"""What an EC2 id and an SSM document name look like: the checks the request models and the
deployment settings share (the settings cannot import the models, which read them)."""

from __future__ import annotations

import re
from collections.abc import Callable

# SSM document names: letters, digits, _ - . (AWS-owned names included), or a document ARN.
DOCUMENT_NAME_OR_ARN = r"^(arn:[\w+=/,.@:-]+|[a-zA-Z0-9_.-]{3,128})$"
# An EC2 instance type: family, a dot, size (m5.large, u-6tb1.metal).
INSTANCE_TYPE = r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$"


def resource_id(prefix: str, lengths: str, example: str) -> Callable[[str], str]:
    """A check of an EC2 id whose error says what a valid id looks like, not a regex."""
    hex_digits = "[0-9a-f]{8}([0-9a-f]{9})?" if lengths == "8 or 17" else "[0-9a-f]{8,17}"
    pattern = re.compile(rf"{prefix}-{hex_digits}")

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a valid id: expected {prefix}- followed by {lengths} "
                f"lowercase hexadecimal characters, e.g. {example}"
            )
        return value

    return check


check_subnet_id = resource_id("subnet", "8 to 17", "subnet-0123456789abcdef0")
check_security_group_id = resource_id("sg", "8 to 17", "sg-0123456789abcdef0")
