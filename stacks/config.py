"""Deployment settings, read from CDK context (``cdk.json`` or ``-c key=value``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import aws_logs as logs
from constructs import Construct, Node

from vss_restore.definition import Limits
from vss_restore.errors import InvalidRequest
from vss_restore.fleet import parse_fleet_request
from vss_restore.run_command import check_validation_document
from vss_restore.settings import (
    CLONE_EGRESS_ANYWHERE_ENV,
    CLONE_EGRESS_PREFIX_LIST_ENV,
    CLONE_EXPOSED_SUBNETS_ENV,
    CLONE_KEEPS_SOURCE_PROFILE_ENV,
    CLONE_OPEN_GROUPS_ENV,
    DRILL_INSTANCE_ROLES_ENV,
    DRILL_INSTANCE_TYPES_ENV,
    RECOVERY_HOST_TAG_KEY_ENV,
    RECOVERY_HOST_TAG_VALUE_ENV,
    ROLE_ARN_PATTERN,
    VALIDATION_DOCUMENTS_ENV,
    InvalidSettings,
    Settings,
)
from vss_restore.workflow import rollback_tasks

# The retention periods CloudWatch Logs accepts, in days.
RETENTION_DAYS: dict[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


class InvalidContext(ValueError):
    """A context value has the wrong form; the message names the key."""


# Lambda keeps this much of the account's concurrency unreserved: a reservation that would
# leave less is refused (InvalidParameterValueException) and the deployment fails.
LAMBDA_UNRESERVED_MINIMUM = 100


def _whole_number(node: Node, key: str, default: int | None) -> int | None:
    value = node.try_get_context(key)
    if value is None or value == "":
        return default
    if value in ("none", "None"):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError) as err:
        raise InvalidContext(f"{key}: {value!r} is not a whole number") from err
    if number < 0 or str(number) != str(value).strip():
        raise InvalidContext(f"{key}: {value!r} is not a whole number")
    return number


def rollback_reservation(node: Node) -> int | None:
    """``rollbackReservedConcurrency`` for each rollback function (``rollback_tasks``): None
    (0 or ``none``) reserves nothing; in all it must leave Lambda's unreserved minimum of the
    account's concurrency (``lambdaAccountConcurrency``, 1000 unless the account's quota
    differs) free, or the deployment would fail."""
    per_function = _whole_number(node, "rollbackReservedConcurrency", 10)
    account = _whole_number(node, "lambdaAccountConcurrency", 1000) or 0
    if not per_function:
        return None
    functions = len(rollback_tasks())
    reservable = max(account - LAMBDA_UNRESERVED_MINIMUM, 0)
    if per_function * functions > reservable:
        raise InvalidContext(
            f"rollbackReservedConcurrency: {per_function} for each of {functions} rollback "
            f"functions reserves {per_function * functions}, more than the {reservable} an "
            f"account with lambdaAccountConcurrency {account} can reserve (Lambda keeps "
            f"{LAMBDA_UNRESERVED_MINIMUM} unreserved, and other functions' reservations count "
            "too): lower it, set it to 0 to reserve nothing, or raise the account's quota and "
            "lambdaAccountConcurrency"
        )
    return per_function


def _string_list(value: object) -> list[str]:
    """A context list: a JSON list, or a comma-separated string (as ``-c key=a,b`` gives)."""
    if not value:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


@dataclass(frozen=True)
class DrillSchedule:
    """Opt-in game days: clone drills of every instance with a tag, on a schedule.

    Context ``drillSchedule`` (JSON object): ``expression`` (EventBridge Scheduler ``cron(...)``
    or ``rate(...)``), optional ``timezone``, ``tagKey`` and ``tagValues`` (the instances),
    and the fleet request's drill options in its own names (``SubnetId``, ``SecurityGroupIds``,
    ``InstanceType``, ``ValidationDocument``, ``ValidationParameters``, ``MaxConcurrency``,
    ``ToleratedFailurePercentage``; defaults: 5 at a time, every failure tolerated so each
    instance is drilled and reported).
    """

    expression: str
    timezone: str
    fleet_request: dict[str, Any]

    @classmethod
    def from_context(cls, value: object) -> DrillSchedule:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as err:
                raise InvalidContext("drillSchedule: is not a JSON object") from err
        if not isinstance(value, dict):
            raise InvalidContext("drillSchedule: is not a JSON object")
        settings = dict(value)
        expression = str(settings.pop("expression", ""))
        if not expression.startswith(("cron(", "rate(", "at(")):
            raise InvalidContext(
                "drillSchedule.expression: must be cron(...), rate(...) or at(...)"
            )
        timezone = str(settings.pop("timezone", "UTC"))
        key, values = settings.pop("tagKey", None), settings.pop("tagValues", None)
        if not key or not isinstance(values, list) or not values:
            raise InvalidContext("drillSchedule: needs tagKey and a non-empty tagValues list")
        request = {
            "TagFilter": {"Key": key, "Values": values},
            "MaxConcurrency": 5,
            "ToleratedFailurePercentage": 100,
            **settings,
            "Mode": "Clone",
        }
        try:
            parse_fleet_request(request)
        except InvalidRequest as err:
            raise InvalidContext(f"drillSchedule.{err.field}: {err.reason}") from err
        return cls(expression=expression, timezone=timezone, fleet_request=request)

    def check_document(self, listed: tuple[str, ...]) -> None:
        """Its ValidationDocument is one ValidateRequest will run (the account's own
        ``vss-restore-validation-*`` or a ``validationDocuments`` one), or synthesis fails:
        every scheduled drill would be refused."""
        document = self.fleet_request.get("ValidationDocument")
        if not isinstance(document, str):
            return
        try:
            check_validation_document(document, listed=listed, account=None)
        except InvalidRequest as err:
            raise InvalidContext(f"drillSchedule.{err.field}: {err.reason}") from err

    def check_instance_type(self, listed: tuple[str, ...]) -> None:
        """Its InstanceType, if any, is one ``drillInstanceTypes`` lists, or synthesis fails:
        the drill of every server of another type would be refused."""
        wanted = self.fleet_request.get("InstanceType")
        if wanted is not None and wanted not in listed:
            raise InvalidContext(
                f"drillSchedule.InstanceType: {wanted} is not in drillInstanceTypes "
                f"({', '.join(listed) or 'none'}), so the drill of every server of another type "
                "would be refused: add it there, or leave InstanceType out (each clone then has "
                "its source's type)"
            )


# The guardrails' exceptions (docs/deploying.md): context key → the functions' variable.
GUARDRAIL_CONTEXT = {
    "validationDocuments": VALIDATION_DOCUMENTS_ENV,
    "cloneExposedSubnetIds": CLONE_EXPOSED_SUBNETS_ENV,
    "cloneOpenSecurityGroupIds": CLONE_OPEN_GROUPS_ENV,
    "recoveryHostTagKey": RECOVERY_HOST_TAG_KEY_ENV,
    "recoveryHostTagValue": RECOVERY_HOST_TAG_VALUE_ENV,
    "drillInstanceTypes": DRILL_INSTANCE_TYPES_ENV,
    # A drill's isolation: wider egress than the VPC's SSM endpoints, the source's profile.
    "cloneEgressPrefixListId": CLONE_EGRESS_PREFIX_LIST_ENV,
    "cloneEgressAnywhere": CLONE_EGRESS_ANYWHERE_ENV,
    "cloneKeepsSourceProfile": CLONE_KEEPS_SOURCE_PROFILE_ENV,
    "drillInstanceRoleArns": DRILL_INSTANCE_ROLES_ENV,
}
_LIST_KEYS = (
    "validationDocuments",
    "cloneExposedSubnetIds",
    "cloneOpenSecurityGroupIds",
    "drillInstanceTypes",
    "drillInstanceRoleArns",
)


@dataclass(frozen=True)
class Guardrails:
    """What ValidateRequest lets a request do beyond its rules, as the deployment says: the
    documents a drill or an online restore may run besides this account's
    ``vss-restore-validation-*`` ones, the subnets routing to an internet gateway and the
    security groups with inbound rules a clone may use, the instance types a clone may have
    besides its source's, the tag of recovery hosts (instances a mount may go to besides its
    source). Checked at synthesis as a cold start checks them.
    """

    environment: dict[str, str] = field(default_factory=dict)  # the functions' variables
    validation_documents: tuple[str, ...] = ()
    drill_instance_types: tuple[str, ...] = ()
    # A clone may keep its source's instance profile (its role listed in drillInstanceRoleArns).
    clone_keeps_source_profile: bool = False

    @classmethod
    def from_context(cls, node: Node) -> Guardrails:
        environment: dict[str, str] = {}
        for key, variable in GUARDRAIL_CONTEXT.items():
            value = node.try_get_context(key)
            if value is None or value == "":
                continue
            if isinstance(value, bool):
                value = str(value).lower()
            environment[variable] = (
                ",".join(_string_list(value)) if key in _LIST_KEYS else str(value)
            )
        try:
            read = Settings.from_environ(environment)
        except InvalidSettings as err:
            message = str(err)
            for key, variable in GUARDRAIL_CONTEXT.items():
                message = message.replace(variable, key)
            raise InvalidContext(message) from err
        if read.drill_instance_role_arns and not read.clone_keeps_source_profile:
            raise InvalidContext(
                "drillInstanceRoleArns: given without cloneKeepsSourceProfile=true, so no clone "
                "would run with these roles (clones run with the stack's own Systems Manager "
                "profile)"
            )
        return cls(
            environment=environment,
            validation_documents=read.validation_documents,
            drill_instance_types=read.drill_instance_types,
            clone_keeps_source_profile=read.clone_keeps_source_profile,
        )


@dataclass(frozen=True)
class DeploymentConfig:
    opt_in_tag_key: str = "vss-restore:enabled"
    opt_in_tag_value: str = "true"
    kms_key_arns: tuple[str, ...] = ()
    # Instance-profile roles a drill's clone may be launched with (iam:PassRole).
    drill_instance_role_arns: tuple[str, ...] = ()
    notification_email: str | None = None
    log_retention_days: int = 90
    limits: Limits = field(default_factory=Limits)
    drill_schedule: DrillSchedule | None = None
    guardrails: Guardrails = field(default_factory=Guardrails)
    # Reserved concurrency of each rollback function; None: none (rollback_reservation).
    rollback_reserved_concurrency: int | None = 10

    @property
    def log_retention(self) -> logs.RetentionDays:
        return RETENTION_DAYS[self.log_retention_days]

    @classmethod
    def from_context(cls, scope: Construct) -> DeploymentConfig:
        node = scope.node
        keys = _string_list(node.try_get_context("kmsKeyArns"))
        for key in keys:
            if not key.startswith("arn:") or ":key/" not in key:
                raise InvalidContext(f"kmsKeyArns: {key!r} is not a KMS key ARN")
        roles = _string_list(node.try_get_context("drillInstanceRoleArns"))
        for role in roles:
            if not ROLE_ARN_PATTERN.fullmatch(role):
                raise InvalidContext(
                    f"drillInstanceRoleArns: {role!r} is not an IAM role ARN "
                    "(arn:aws:iam::111122223333:role/NAME)"
                )
        retention = node.try_get_context("logRetentionDays") or cls.log_retention_days
        try:
            retention = int(retention)
        except (TypeError, ValueError) as err:
            raise InvalidContext(
                f"logRetentionDays: {retention!r} is not a number of days"
            ) from err
        if retention not in RETENTION_DAYS:
            raise InvalidContext(
                f"logRetentionDays: {retention} is not one of {sorted(RETENTION_DAYS)}"
            )
        schedule = node.try_get_context("drillSchedule")
        email = node.try_get_context("notificationEmail") or None
        if email is not None and "@" not in str(email):
            raise InvalidContext(f"notificationEmail: {email!r} is not an e-mail address")
        guardrails = Guardrails.from_context(node)
        drill_schedule = DrillSchedule.from_context(schedule) if schedule else None
        if drill_schedule is not None:
            drill_schedule.check_document(guardrails.validation_documents)
            drill_schedule.check_instance_type(guardrails.drill_instance_types)
        return cls(
            opt_in_tag_key=str(node.try_get_context("optInTagKey") or cls.opt_in_tag_key),
            opt_in_tag_value=str(node.try_get_context("optInTagValue") or cls.opt_in_tag_value),
            kms_key_arns=tuple(keys),
            drill_instance_role_arns=tuple(roles),
            notification_email=str(email) if email else None,
            log_retention_days=retention,
            drill_schedule=drill_schedule,
            guardrails=guardrails,
            rollback_reserved_concurrency=rollback_reservation(node),
        )
