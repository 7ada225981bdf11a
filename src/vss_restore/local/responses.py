"""Answers that botocore hooks give in place of the emulator's."""

from __future__ import annotations

from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

HookAnswer = tuple[AWSResponse, dict[str, Any]]


def answer(status: int, parsed: dict[str, Any]) -> HookAnswer:
    """A parsed response as a ``before-call`` hook returns it (botocore raises for >= 300)."""
    metadata = {"HTTPStatusCode": status, "HTTPHeaders": {}}
    return AWSResponse("https://local.invalid", status, HTTPHeaders(), None), {
        **parsed,
        "ResponseMetadata": metadata,
    }


def error_answer(code: str, message: str, status: int = 400) -> HookAnswer:
    return answer(status, {"Error": {"Code": code, "Message": message}})
