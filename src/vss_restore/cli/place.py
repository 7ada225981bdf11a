"""Where a command acts: the account (and its alias), the Region and the credentials' profile.

Staging and production usually share instance names: every question, every ``--yes`` line
and every "no such instance" names the account, so that nobody restores the wrong one. And
when there are no usable credentials, the message says how to get some.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)

from vss_restore.aws_errors import error_code

# What the session's credentials method is called in a sentence (botocore's names).
CREDENTIAL_SOURCES = {
    "env": "credentials from environment variables",
    "assume-role": "an assumed role",
    "sso": "AWS IAM Identity Center (SSO)",
    "iam-role": "the instance profile",
    "container-role": "the container's role",
}
EXPIRED_CODES = ("ExpiredToken", "ExpiredTokenException", "RequestExpired")
INVALID_CODES = ("InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch")


@dataclass(frozen=True)
class Place:
    region: str
    account: str | None = None
    alias: str | None = None
    credentials: str | None = None  # "profile prod", or where they came from
    local: bool = False

    def __str__(self) -> str:
        if self.local:
            return f"the local emulator (account {self.account}, Region {self.region}; not AWS)"
        account = self.account or "unknown account"
        if self.alias:
            account += f" ({self.alias})"
        words = [f"account {account}", f"Region {self.region}"]
        if self.credentials:
            words.append(self.credentials)
        return ", ".join(words)


def credentials_text(session: boto3.Session, profile: str | None) -> str:
    """``profile NAME``, or where the credentials come from when no profile is named."""
    named = profile or os.environ.get("AWS_PROFILE")
    if named:
        return f"profile {named}"
    credentials = session.get_credentials()
    method = credentials.method if credentials is not None else None
    if method in ("shared-credentials-file", "config-file"):
        return "profile default"
    return CREDENTIAL_SOURCES.get(str(method), str(method or "no credentials"))


def aws_place(session: boto3.Session, profile: str | None, endpoint_url: str | None) -> Place:
    """The account (STS), its alias (IAM, if readable), the Region and the credentials."""
    account = alias = None
    try:
        sts = session.client("sts", endpoint_url=endpoint_url)
        account = str(sts.get_caller_identity()["Account"])
        iam = session.client("iam", endpoint_url=endpoint_url)
        aliases = iam.list_account_aliases().get("AccountAliases", [])
        alias = str(aliases[0]) if aliases else None
    except ClientError as err:
        if error_code(err) in EXPIRED_CODES + INVALID_CODES:
            raise
        # No permission to read the alias (or the account): say what is known.
    return Place(
        region=str(session.region_name),
        account=account,
        alias=alias,
        credentials=credentials_text(session, profile),
    )


# The place of the command that is running, for messages raised far from the target.
CURRENT_PLACE: ContextVar[Callable[[], Place] | None] = ContextVar("place", default=None)


def remembered(find: Callable[[], Place]) -> Callable[[], Place]:
    """``find``, called at most once, and made the running command's place."""
    once = cache(find)
    CURRENT_PLACE.set(once)
    return once


def current_place_text() -> str | None:
    """The running command's place as words, or None when it is not known (or unreadable)."""
    find = CURRENT_PLACE.get()
    if find is None:
        return None
    try:
        return str(find())
    except (BotoCoreError, ClientError):
        return None


def credentials_problem(failure: Exception) -> str | None:
    """A sentence that says how to fix missing, expired or invalid credentials (or None)."""
    fixes = (
        "run `aws configure` (access keys) or `aws sso login --profile NAME` (IAM Identity "
        "Center), then pass --profile NAME or set AWS_PROFILE; or try it without AWS: --local"
    )
    if isinstance(failure, NoCredentialsError):
        return f"no AWS credentials found: {fixes}"
    if isinstance(failure, TokenRetrievalError | UnauthorizedSSOTokenError):
        return f"your SSO session has expired or was never started ({failure}): {fixes}"
    if isinstance(failure, NoRegionError):
        return "no AWS Region: pass --region, or set AWS_REGION or your profile's region"
    if isinstance(failure, ClientError) and error_code(failure) in EXPIRED_CODES:
        return f"your AWS credentials have expired ({error_code(failure)}): {fixes}"
    if isinstance(failure, ClientError) and error_code(failure) in INVALID_CODES:
        return f"AWS does not accept these credentials ({error_code(failure)}): {fixes}"
    return None
