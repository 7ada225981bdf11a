"""Whether the suite may run: opted in, with credentials and a region. Makes no AWS call."""

from __future__ import annotations

from collections.abc import Mapping

import boto3
from botocore.exceptions import BotoCoreError

OPT_IN_ENV = "VSS_RESTORE_AWS_TEST"


def why_not(environ: Mapping[str, str]) -> str | None:
    """Why the suite must not run (one sentence), or None when it may.

    The opt-in is read first, so without it not even the credential chain is consulted.
    Finding credentials reads the environment and the AWS config files (and, on an EC2
    instance or in a container, the local credential endpoint); it sends no request to AWS.
    """
    if environ.get(OPT_IN_ENV) != "1":
        return (
            f"{OPT_IN_ENV} is not 1: the AWS acceptance suite deploys and deletes real "
            f"resources in your account (about an hour, under a dollar); set {OPT_IN_ENV}=1 "
            "to run it (docs/aws-acceptance.md)"
        )
    try:
        session = boto3.Session()
        credentials = session.get_credentials()
    except BotoCoreError as err:
        return f"no usable AWS credentials ({err}); nothing was run"
    if credentials is None:
        return (
            "no AWS credentials found (environment, shared files, SSO or instance role); "
            "nothing was run"
        )
    if not session.region_name:
        return "no AWS region: set AWS_DEFAULT_REGION (or a profile's region); nothing was run"
    return None
