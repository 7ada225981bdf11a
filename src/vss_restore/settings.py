"""The tasks' configuration: environment variables, read once per process and checked at once.

Every task handler's module reads them when it is imported (``lambda_task.task``), so a bad
value fails the function's init (a Lambda cold start) with an error that names the variable
and says why, instead of falling back to a default half-way through a restore.

``settings()`` is read once; ``reload_settings()`` reads the environment again: the local
engine calls it on start (it runs the handlers in-process, in a process whose environment
it sets) and so does a test that changes a variable.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from vss_restore.identifiers import (
    DOCUMENT_NAME_OR_ARN,
    INSTANCE_TYPE,
    check_security_group_id,
    check_subnet_id,
)

OPT_IN_TAG_KEY_ENV = "OPT_IN_TAG_KEY"
OPT_IN_TAG_VALUE_ENV = "OPT_IN_TAG_VALUE"
DISKS_DOCUMENT_ENV = "DISKS_DOCUMENT_NAME"
WAIT_IN_TASK_ENV = "VSS_RESTORE_WAIT_IN_TASK_SECONDS"
VALIDATION_DOCUMENTS_ENV = "VALIDATION_DOCUMENTS"
CLONE_EXPOSED_SUBNETS_ENV = "CLONE_EXPOSED_SUBNET_IDS"
CLONE_OPEN_GROUPS_ENV = "CLONE_OPEN_SECURITY_GROUP_IDS"
CLONE_EGRESS_PREFIX_LIST_ENV = "CLONE_EGRESS_PREFIX_LIST_ID"
CLONE_EGRESS_ANYWHERE_ENV = "CLONE_EGRESS_ANYWHERE"
CLONE_INSTANCE_PROFILE_ENV = "CLONE_INSTANCE_PROFILE_ARN"
CLONE_KEEPS_SOURCE_PROFILE_ENV = "CLONE_KEEPS_SOURCE_PROFILE"
DRILL_INSTANCE_ROLES_ENV = "DRILL_INSTANCE_ROLE_ARNS"
RECOVERY_HOST_TAG_KEY_ENV = "RECOVERY_HOST_TAG_KEY"
RECORDS_TABLE_ENV = "RECORDS_TABLE_NAME"
RECOVERY_HOST_TAG_VALUE_ENV = "RECOVERY_HOST_TAG_VALUE"
DRILL_INSTANCE_TYPES_ENV = "DRILL_INSTANCE_TYPES"
DEFAULT_OPT_IN_TAG_VALUE = "true"
DEFAULT_RECOVERY_HOST_TAG_VALUE = "true"
DEFAULT_DISKS_DOCUMENT = "vss-restore-windows-disks"
# A polling function's timeout is its budget plus a minute, within Lambda's 900 seconds.
MAX_WAIT_IN_TASK_SECONDS = 840
# EC2's limits on tags: keys of 1 to 128 characters, not starting with the reserved "aws:".
_TAG_KEY_MAX, _TAG_VALUE_MAX = 128, 256
_DOCUMENT_NAME = re.compile(r"[a-zA-Z0-9_.-]{3,128}")
_PREFIX_LIST_ID = re.compile(r"pl-[0-9a-f]{8,17}")
_INSTANCE_PROFILE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:instance-profile/[\w+=,.@/-]+")
# An IAM role ARN in any partition; the role name may hold * or ? (a pattern of roles).
ROLE_ARN_PATTERN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/*?-]+")
# A tag value set without its key: the pair's check would silently not happen.
_TAG_PAIRS = (
    (OPT_IN_TAG_KEY_ENV, OPT_IN_TAG_VALUE_ENV, "no opt-in tag would be checked"),
    (
        RECOVERY_HOST_TAG_KEY_ENV,
        RECOVERY_HOST_TAG_VALUE_ENV,
        "no instance would be a recovery host",
    ),
)


# A value check, as pydantic calls it: the value, or ValueError saying why not.
Check = Callable[[str], str]


class InvalidSettings(ValueError):
    """The environment holds a bad value: each line names the variable and says why."""


def _tag_key(key: str) -> str:
    if not key:
        raise ValueError("is empty: leave it unset instead")
    if key != key.strip():
        raise ValueError("has spaces at an end: tags are matched exactly")
    if len(key) > _TAG_KEY_MAX:
        raise ValueError(f"is longer than EC2's {_TAG_KEY_MAX} characters for a tag key")
    if key.lower().startswith("aws:"):
        raise ValueError('starts with "aws:", which EC2 reserves for its own tags')
    return key


def _tag_value(value: str) -> str:
    if len(value) > _TAG_VALUE_MAX:
        raise ValueError(f"is longer than EC2's {_TAG_VALUE_MAX} characters for a tag value")
    return value


def _matching(pattern: str | re.Pattern[str], what: str, *, quoted: bool = False) -> Check:
    """A check that the whole value matches ``pattern``: else it "is not ``what``" (the
    value itself named first when ``quoted``)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}" if quoted else f"is not {what}")
        return value

    return check


_document_name = _matching(
    _DOCUMENT_NAME, "an SSM document name (3 to 128 letters, digits, '_', '-' or '.')"
)
_table_name = _matching(
    r"[a-zA-Z0-9_.-]{3,255}", "a DynamoDB table name (3 to 255 letters, digits, '_', '-' or '.')"
)
_validation_document = _matching(DOCUMENT_NAME_OR_ARN, "an SSM document name or ARN", quoted=True)
_instance_type = _matching(INSTANCE_TYPE, "an EC2 instance type (such as m5.large)", quoted=True)
_prefix_list_id = _matching(
    _PREFIX_LIST_ID, "a managed prefix list id (pl- and 8 to 17 hex digits)"
)
_instance_profile_arn = _matching(
    _INSTANCE_PROFILE_ARN,
    "an instance profile ARN (arn:aws:iam::111122223333:instance-profile/NAME)",
)
_role_arn = _matching(
    ROLE_ARN_PATTERN, "an IAM role ARN (arn:aws:iam::111122223333:role/NAME)", quoted=True
)


def _flag(value: object) -> object:
    """A true/false variable ("" or unset: false)."""
    if isinstance(value, str):
        if value.strip().lower() not in ("true", "false", ""):
            raise ValueError('is neither "true" nor "false"')
        return value.strip().lower() == "true"
    return value


def _comma_separated(value: object) -> object:
    """A list variable: items separated by commas, spaces around them ignored ("": none)."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        return ()
    items = tuple(item.strip() for item in value.split(","))
    if "" in items:
        raise ValueError("has an empty item between commas")
    return items


def _whole_seconds(value: object) -> object:
    if isinstance(value, str) and not re.fullmatch(r"[0-9]+", value):
        raise ValueError("not a whole number of seconds")
    return value


def _budget_in_range(seconds: int) -> int:
    if seconds > MAX_WAIT_IN_TASK_SECONDS:
        raise ValueError(
            f"more than {MAX_WAIT_IN_TASK_SECONDS} seconds, which leaves a polling function "
            "no time to hand over within Lambda's 900"
        )
    return seconds


class Settings(BaseModel):
    """The variables the stack sets on the task functions (``stacks/parts/functions.py``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # ValidateRequest refuses instances without this tag (None: no tag is checked).
    opt_in_tag_key: Annotated[str, AfterValidator(_tag_key)] | None = Field(
        default=None, alias=OPT_IN_TAG_KEY_ENV
    )
    opt_in_tag_value: Annotated[str, AfterValidator(_tag_value)] = Field(
        default=DEFAULT_OPT_IN_TAG_VALUE, alias=OPT_IN_TAG_VALUE_ENV
    )
    # The Run Command document that takes Windows disks offline and online.
    disks_document: Annotated[str, AfterValidator(_document_name)] = Field(
        default=DEFAULT_DISKS_DOCUMENT, alias=DISKS_DOCUMENT_ENV
    )
    # Guardrails (ValidateRequest). The documents a drill or an online restore may run besides
    # this account's own vss-restore-validation-* ones.
    validation_documents: Annotated[
        tuple[Annotated[str, AfterValidator(_validation_document)], ...],
        BeforeValidator(_comma_separated),
    ] = Field(default=(), alias=VALIDATION_DOCUMENTS_ENV)
    # Subnets a clone may go into although they route to an internet gateway.
    clone_exposed_subnet_ids: Annotated[
        tuple[Annotated[str, AfterValidator(check_subnet_id)], ...],
        BeforeValidator(_comma_separated),
    ] = Field(default=(), alias=CLONE_EXPOSED_SUBNETS_ENV)
    # Security groups a request may give a clone although they have inbound rules.
    clone_open_security_group_ids: Annotated[
        tuple[Annotated[str, AfterValidator(check_security_group_id)], ...],
        BeforeValidator(_comma_separated),
    ] = Field(default=(), alias=CLONE_OPEN_GROUPS_ENV)
    # Instance types a drill's clone may have besides its source's own (none: only that).
    drill_instance_types: Annotated[
        tuple[Annotated[str, AfterValidator(_instance_type)], ...],
        BeforeValidator(_comma_separated),
    ] = Field(default=(), alias=DRILL_INSTANCE_TYPES_ENV)
    # A drill's isolation group sends TCP 443 to this prefix list instead of the VPC's SSM
    # endpoints' groups, or anywhere (the deployment's explicit choice).
    clone_egress_prefix_list_id: Annotated[str, AfterValidator(_prefix_list_id)] | None = Field(
        default=None, alias=CLONE_EGRESS_PREFIX_LIST_ENV
    )
    clone_egress_anywhere: Annotated[bool, BeforeValidator(_flag)] = Field(
        default=False, alias=CLONE_EGRESS_ANYWHERE_ENV
    )
    # The stack's own instance profile for clones (Systems Manager core only).
    clone_instance_profile_arn: Annotated[str, AfterValidator(_instance_profile_arn)] | None = (
        Field(default=None, alias=CLONE_INSTANCE_PROFILE_ENV)
    )
    # A clone keeps its source's instance profile if its role is one of these (patterns).
    clone_keeps_source_profile: Annotated[bool, BeforeValidator(_flag)] = Field(
        default=False, alias=CLONE_KEEPS_SOURCE_PROFILE_ENV
    )
    drill_instance_role_arns: Annotated[
        tuple[Annotated[str, AfterValidator(_role_arn)], ...],
        BeforeValidator(_comma_separated),
    ] = Field(default=(), alias=DRILL_INSTANCE_ROLES_ENV)
    # A mount goes to another instance than its source only if that one has this tag
    # (None: a mount goes only to its source).
    recovery_host_tag_key: Annotated[str, AfterValidator(_tag_key)] | None = Field(
        default=None, alias=RECOVERY_HOST_TAG_KEY_ENV
    )
    recovery_host_tag_value: Annotated[str, AfterValidator(_tag_value)] = Field(
        default=DEFAULT_RECOVERY_HOST_TAG_VALUE, alias=RECOVERY_HOST_TAG_VALUE_ENV
    )
    # The table of what vss-restore created: cleanups remove only what it records.
    records_table: Annotated[str, AfterValidator(_table_name)] | None = Field(
        default=None, alias=RECORDS_TABLE_ENV
    )
    # How long a polling task waits in one invocation (0: it checks once).
    wait_in_task_seconds: Annotated[
        int, BeforeValidator(_whole_seconds), AfterValidator(_budget_in_range)
    ] = Field(default=0, alias=WAIT_IN_TASK_ENV)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """The settings in ``environ``; ``InvalidSettings`` naming every bad variable."""
        names = [field.alias for field in cls.model_fields.values() if field.alias]
        given = {name: environ[name] for name in names if name in environ}
        try:
            read = cls.model_validate(given)
        except ValidationError as err:
            raise InvalidSettings(
                "\n".join(_problem(error["loc"], error["msg"], given) for error in err.errors())
            ) from err
        if read.clone_egress_anywhere and read.clone_egress_prefix_list_id:
            raise InvalidSettings(
                f"{CLONE_EGRESS_ANYWHERE_ENV}=true and {CLONE_EGRESS_PREFIX_LIST_ENV}: set "
                "only one (HTTPS anywhere already reaches the prefix list)"
            )
        if read.clone_keeps_source_profile and not read.drill_instance_role_arns:
            raise InvalidSettings(
                f"{CLONE_KEEPS_SOURCE_PROFILE_ENV}=true without {DRILL_INSTANCE_ROLES_ENV}: "
                "no source's role could be kept, so every drill of an instance with a profile "
                "would be refused"
            )
        for key, value, consequence in _TAG_PAIRS:
            if key not in given and value in given:
                raise InvalidSettings(
                    f"{value}={json.dumps(given[value])}: set without {key}, so {consequence}"
                )
        return read


def _problem(loc: tuple[int | str, ...], message: str, given: Mapping[str, str]) -> str:
    name = str(loc[0])
    return f"{name}={json.dumps(given.get(name))}: {message.removeprefix('Value error, ')}"


@functools.cache
def settings() -> Settings:
    """The process's settings, read from the environment the first time they are asked for."""
    return Settings.from_environ(os.environ)


def reload_settings() -> Settings:
    """Read the environment again (the local engine on start; a test that changes it)."""
    settings.cache_clear()
    return settings()


def forget_settings() -> None:
    """Read the environment again when the settings are next asked for (an engine on exit)."""
    settings.cache_clear()
