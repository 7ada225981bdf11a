"""Deciding one request against one identity policy, offline, as IAM does.

The policy is a list of statements (``Effect``, ``Action``/``NotAction``,
``Resource``/``NotResource``, ``Condition``); the request is an action, one resource ARN and
the request context (condition key → value or values). An explicit ``Deny`` wins, then an
``Allow`` whose action, resource and conditions all match; anything else is denied.

Conditions follow AWS's documented rules: operators in a block, and keys under an operator,
are ANDed; the values of one key are ORed (NORed for a negated operator); a key absent from
the context makes a condition false, except for negated operators (true), ``...IfExists``
(true), ``Null``, and ``ForAllValues`` (true). Keys compare case-insensitively, values
case-sensitively (``...IgnoreCase`` aside). An operator not implemented here raises
``UnsupportedCondition``: a policy this evaluator cannot read must not pass by accident.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

ContextValue = str | list[str]
Statement = Mapping[str, Any]


class UnsupportedCondition(ValueError):
    """A condition operator (or qualifier) that this evaluator does not implement."""


@dataclass(frozen=True)
class Request:
    """One authorization: ``ec2:AttachVolume`` on one resource ARN, with its context keys."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # Sid (or position) of the statements that decided: the allowing or denying ones.
    by: tuple[str, ...]
    # Why nothing allowed it: a statement matched action and resource but failed these.
    missing: str = ""


@cache
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's ``*`` (any run of characters) and ``?`` (one character)."""
    return _wildcard(pattern, ignore_case).match(value) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _arn_like(pattern: str, arn: str) -> bool:
    # ARNs compare part by part (six colon-separated parts; the last may hold colons).
    wanted = pattern.split(":", 5)
    found = arn.split(":", 5)
    if len(wanted) != 6 or len(found) != 6:
        return False
    return all(wildcard_match(w, f) for w, f in zip(wanted, found, strict=True))


_MATCHERS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda policy, value: policy == value,
    "StringEqualsIgnoreCase": lambda policy, value: policy.lower() == value.lower(),
    "StringLike": wildcard_match,
    "ArnEquals": _arn_like,
    "ArnLike": _arn_like,
    "Bool": lambda policy, value: policy.lower() == value.lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _context_value(context: Mapping[str, ContextValue], key: str) -> list[str] | None:
    wanted = key.lower()
    for name, value in context.items():
        if name.lower() == wanted:
            return [str(v) for v in _as_list(value)]
    return None


def _condition_holds(
    operator: str, key: str, policy_values: list[str], found: list[str] | None
) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base == "Null":
        absent = found is None or found == []
        return any((v.lower() == "true") == absent for v in policy_values)
    negated = base in _NEGATED
    matcher = _MATCHERS.get(_NEGATED.get(base, base))
    if matcher is None or qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise UnsupportedCondition(f"{operator} on {key}")
    if found is None:
        # Absent key: ForAllValues holds vacuously; negated and IfExists operators hold.
        return if_exists or negated or qualifier == "ForAllValues"

    def matches(value: str) -> bool:
        hit = any(matcher(p, value) for p in policy_values)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(matches(v) for v in found)
    if qualifier == "ForAnyValue":
        return any(matches(v) for v in found)
    return matches(found[0]) if len(found) == 1 else any(matches(v) for v in found)


def failed_conditions(statement: Statement, context: Mapping[str, ContextValue]) -> list[str]:
    """The conditions of ``statement`` that ``context`` does not meet, as readable text."""
    failed = []
    for operator, block in (statement.get("Condition") or {}).items():
        for key, values in block.items():
            policy_values = [str(v) for v in _as_list(values)]
            found = _context_value(context, key)
            if not _condition_holds(operator, key, policy_values, found):
                has = "absent" if found is None else f"is {found if len(found) > 1 else found[0]!r}"
                failed.append(f"{operator} {key} {policy_values} ({has})")
    return failed


def _matches_action(statement: Statement, action: str) -> bool:
    if "NotAction" in statement:
        return not any(
            wildcard_match(p, action, ignore_case=True) for p in _as_list(statement["NotAction"])
        )
    return any(
        wildcard_match(p, action, ignore_case=True) for p in _as_list(statement.get("Action", []))
    )


def _matches_resource(statement: Statement, resource: str) -> bool:
    if "NotResource" in statement:
        return not any(wildcard_match(p, resource) for p in _as_list(statement["NotResource"]))
    return any(wildcard_match(p, resource) for p in _as_list(statement.get("Resource", [])))


def _name(statement: Statement, index: int) -> str:
    return str(statement.get("Sid") or f"statement {index + 1}")


def evaluate(statements: Sequence[Statement], request: Request) -> Decision:
    """Allowed only by an ``Allow`` that fully matches and no ``Deny`` that does."""
    allows: list[str] = []
    near_misses: list[str] = []
    for index, statement in enumerate(statements):
        if not (
            _matches_action(statement, request.action)
            and _matches_resource(statement, request.resource)
        ):
            continue
        failed = failed_conditions(statement, request.context)
        if failed:
            if statement.get("Effect") == "Allow":
                near_misses.append(f"{_name(statement, index)}: {'; '.join(failed)}")
            continue
        if statement.get("Effect") == "Deny":
            return Decision(False, (_name(statement, index),), "explicitly denied")
        allows.append(_name(statement, index))
    if allows:
        return Decision(True, tuple(allows))
    missing = (
        "conditions not met by " + " | ".join(near_misses)
        if near_misses
        else f"no statement allows {request.action} on {request.resource}"
    )
    return Decision(False, (), missing)


def unconditional(statements: Sequence[Statement], names: Sequence[str]) -> bool:
    """Whether every statement named in ``names`` (Sid or position) has no Condition."""
    by_name = {_name(s, i): s for i, s in enumerate(statements)}
    return all(not by_name[n].get("Condition") for n in names)
