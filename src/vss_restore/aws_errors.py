"""Turning AWS SDK errors into the workflow's named errors."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

from vss_restore.errors import AwsUnavailable, Ec2Throttled, IncorrectState, TerminalError

THROTTLING_CODES = frozenset(
    {"RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequestsException"}
)
INCORRECT_STATE_CODES = frozenset({"IncorrectState", "IncorrectInstanceState"})
UNAVAILABLE_CODES = frozenset(
    {"InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable"}
)

TRANSIENT_CODES = THROTTLING_CODES | INCORRECT_STATE_CODES | UNAVAILABLE_CODES

P = ParamSpec("P")
R = TypeVar("R")


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def named_aws_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Raise ``Ec2Throttled``/``IncorrectState``/``AwsUnavailable`` for transient AWS answers.

    Anything else propagates unchanged, so the state machine treats it as terminal.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ClientError as err:
            code = error_code(err)
            status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code in THROTTLING_CODES:
                raise Ec2Throttled(str(err)) from err
            if code in INCORRECT_STATE_CODES:
                raise IncorrectState(str(err)) from err
            if code in UNAVAILABLE_CODES or status >= 500:
                raise AwsUnavailable(str(err)) from err
            raise
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
