"""``--query`` and ``--output text``: the JSON document of a command, as the AWS CLI shapes it.

``--query`` is a JMESPath expression applied to the JSON a command prints
(``--query Status`` prints ``"SUCCEEDED"``); ``--output text`` prints the result as the
AWS CLI's text output does: scalars tab-separated, one line per object, keys in sorted order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult


class BadQuery(ValueError):
    """A ``--query`` that is not a JMESPath expression."""


@dataclass(frozen=True)
class Shape:
    query: ParsedResult | None = None
    text: bool = False


_SHAPE: ContextVar[Shape | None] = ContextVar("structured_output", default=None)


def compile_query(expression: str) -> ParsedResult:
    try:
        return jmespath.compile(expression)
    except JMESPathError as err:
        raise BadQuery(f"{expression!r} is not a JMESPath expression: {err}") from err


@contextmanager
def shaped(query: ParsedResult | None, text: bool) -> Iterator[None]:
    """Every document printed inside the block is queried and, with ``text``, printed as text."""
    token = _SHAPE.set(Shape(query, text))
    try:
        yield
    finally:
        _SHAPE.reset(token)


def shape(document: Any) -> tuple[Any, bool]:
    """The document the command prints (queried), and whether to print it as text."""
    current = _SHAPE.get() or Shape()
    if current.query is not None:
        document = current.query.search(json.loads(json.dumps(document, default=str)))
    return document, current.text


def as_text(document: Any) -> str:
    lines: list[str] = []
    _text(document, lines, None, None)
    return "\n".join(lines)


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _text(item: Any, lines: list[str], identifier: str | None, keys: list[str] | None) -> None:
    if isinstance(item, dict):
        _dict_text(item, lines, identifier, keys)
    elif isinstance(item, list):
        _list_text(item, lines, identifier)
    else:
        lines.append(str(item))


def _list_text(items: list[Any], lines: list[str], identifier: str | None) -> None:
    if any(isinstance(i, dict) for i in items):
        keys = sorted({k for i in items if isinstance(i, dict) for k, v in i.items() if _scalar(v)})
        for i in items:
            _text(i, lines, identifier, keys)
        return
    scalars = [i for i in items if _scalar(i)]
    if scalars:
        if identifier is None:
            lines.append("\t".join(str(i) for i in scalars))
        else:
            lines.extend(f"{identifier.upper()}\t{i}" for i in scalars)
    for nested in (i for i in items if not _scalar(i)):
        _text(nested, lines, identifier, None)


def _dict_text(
    item: dict[str, Any], lines: list[str], identifier: str | None, keys: list[str] | None
) -> None:
    if keys is None:
        keys = sorted(k for k, v in item.items() if _scalar(v))
    scalars = [str(item.get(k)) for k in keys]
    if scalars:
        lines.append("\t".join([identifier.upper(), *scalars] if identifier else scalars))
    for key in sorted(set(item) - set(keys)):
        _text(item[key], lines, key, None)
