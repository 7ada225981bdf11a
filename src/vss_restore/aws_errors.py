"""Turning AWS SDK errors into the workflow's named errors."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, ParamSpec, TypeVar

from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

from vss_restore.errors import (
    AwsAccessDenied,
    AwsRequestRefused,
    AwsUnavailable,
    Ec2Throttled,
    IncorrectState,
    TerminalError,
)

THROTTLING_CODES = frozenset(
    {"RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequestsException"}
)
INCORRECT_STATE_CODES = frozenset({"IncorrectState", "IncorrectInstanceState"})
UNAVAILABLE_CODES = frozenset(
    {"InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable"}
)

TRANSIENT_CODES = THROTTLING_CODES | INCORRECT_STATE_CODES | UNAVAILABLE_CODES
# How EC2, and the services of the JSON protocols (DynamoDB, SSM, Step Functions...), say
# that the caller may not do what it asked.
ACCESS_DENIED_CODES = frozenset({"UnauthorizedOperation", "AccessDenied", "AccessDeniedException"})

P = ParamSpec("P")
R = TypeVar("R")


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _status(err: ClientError) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def is_transient(err: ClientError) -> bool:
    """Whether the state machine retries this answer (``named_aws_errors`` names it so)."""
    return error_code(err) in TRANSIENT_CODES or _status(err) >= 500


def refusal(err: ClientError, resource: str | None = None) -> TerminalError:
    """The named error of a permanent refusal that no step names otherwise: ``AwsAccessDenied``
    or ``AwsRequestRefused``, naming the operation, AWS's code and message, and ``resource``
    where the caller knows it (AWS's message often names it too)."""
    code = error_code(err)
    message = err.response.get("Error", {}).get("Message", "")
    on = f" of {resource}" if resource else ""
    if code in ACCESS_DENIED_CODES:
        return AwsAccessDenied(f"{err.operation_name}{on} was denied ({code}): {message}")
    return AwsRequestRefused(f"{err.operation_name}{on} was refused ({code}): {message}")


def refused(err: ClientError, resource: str) -> NoReturn:
    """Raise ``err`` as it is when the state machine retries it, else its ``refusal`` naming
    ``resource``."""
    if is_transient(err):
        raise err
    raise refusal(err, resource) from err


def named_aws_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Raise ``Ec2Throttled``/``IncorrectState``/``AwsUnavailable`` for transient AWS answers,
    and a named terminal error (``refusal``) for any other that reaches it: a task never
    ends with the SDK's own name for an error (``ClientError``, ``AccessDeniedException``...).
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ClientError as err:
            code = error_code(err)
            if code in THROTTLING_CODES:
                raise Ec2Throttled(str(err)) from err
            if code in INCORRECT_STATE_CODES:
                raise IncorrectState(str(err)) from err
            if code in UNAVAILABLE_CODES or _status(err) >= 500:
                raise AwsUnavailable(str(err)) from err
            raise refusal(err) from err
        except (ConnectionError, ReadTimeoutError) as err:
            raise AwsUnavailable(str(err)) from err

    return wrapper


@contextmanager
def failing_as(error: type[TerminalError], what: str) -> Iterator[None]:
    """Re-raise a non-transient AWS refusal as the named terminal ``error``, saying ``what`` failed."""
    try:
        yield
    except ClientError as err:
        if error_code(err) in TRANSIENT_CODES:
            raise
        message = err.response.get("Error", {}).get("Message", "")
        raise error(f"{what} failed: {error_code(err)}: {message}") from err
