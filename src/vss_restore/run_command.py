"""The drill's validation: an SSM Run Command document run on the clone, and its result."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from vss_restore.aws_errors import error_code
from vss_restore.drill import ValidationResult, validation_result
from vss_restore.errors import DrillValidationFailed, InvalidRequest, ResourceNotReady
from vss_restore.windows_disks import command_sent_before, finished_invocation

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient


def command_comment(execution: str) -> str:
    """Marks the command as this execution's (SSM keeps at most 100 characters)."""
    return f"vss-restore drill {execution.rsplit(':', 1)[-1]}"[:100]


def require_document(ssm: SSMClient, name: str) -> None:
    """``InvalidRequest`` naming ValidationDocument if SSM has no such document."""
    try:
        ssm.describe_document(Name=name)
    except ClientError as err:
        if error_code(err) == "InvalidDocument":
            raise InvalidRequest("ValidationDocument", f"SSM has no document {name!r}") from err
        raise


def send_validation(
    ssm: SSMClient,
    instance_id: str,
    document: str,
    parameters: Mapping[str, list[str]],
    execution: str,
) -> str:
    """Run the document on the clone once per execution; its command id.

    A clone that has just passed its status checks may not have registered with SSM yet
    (``InvalidInstanceId``): that is ``ResourceNotReady``, and the caller polls.
    """
    comment = command_comment(execution)
    earlier = command_sent_before(ssm, instance_id, comment, document)
    if earlier is not None:
        return earlier
    try:
        sent = ssm.send_command(
            InstanceIds=[instance_id],
            DocumentName=document,
            Parameters=dict(parameters),
            Comment=comment,
        )
    except ClientError as err:
        code = error_code(err)
        if code == "InvalidInstanceId":
            raise ResourceNotReady(f"{instance_id} is not registered with SSM yet") from err
        if code in ("InvalidDocument", "InvalidParameters"):
            raise DrillValidationFailed(f"SSM refused {document}: {err}") from err
        raise
    return str(sent["Command"]["CommandId"])


def finished_validation(
    ssm: SSMClient, command_id: str, instance_id: str, document: str, now: datetime
) -> ValidationResult:
    """The command's result once it has finished; ``ResourceNotReady`` before."""
    return validation_result(document, finished_invocation(ssm, command_id, instance_id), now)
