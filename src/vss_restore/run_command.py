"""A validation: an SSM Run Command document run on a drill's clone or an online restore's
instance, which documents may be run, and its result."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from vss_restore.aws_errors import error_code, refused
from vss_restore.drill import ValidationResult, validation_result
from vss_restore.errors import DrillValidationFailed, InvalidRequest, ResourceNotReady
from vss_restore.settings import settings
from vss_restore.windows_disks import command_comment, command_sent_before, finished_invocation

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient


# The operator's validation documents are named so (in this account); others run only if the
# deployment lists them (VALIDATION_DOCUMENTS).
VALIDATION_DOCUMENT_PREFIX = "vss-restore-validation-"
_ARN_FIELDS = 6
_VETTED = (
    "a drill or an online restore runs its ValidationDocument as SYSTEM on a copy of the "
    "server or on the production instance itself, and reports its output, so only vetted "
    f"documents run: this account's own named {VALIDATION_DOCUMENT_PREFIX}*, or those the "
    "deployment lists (VALIDATION_DOCUMENTS, context validationDocuments)"
)


def _arn_fields(arn: str) -> list[str]:
    """``arn:partition:service:region:account:resource`` as its six fields ([] if not so)."""
    fields = arn.split(":", 5)
    return fields if len(fields) == _ARN_FIELDS and fields[0] == "arn" else []


def account_of(arn: str) -> str:
    """The account an ARN names ("" for a malformed one)."""
    fields = _arn_fields(arn)
    return fields[4] if fields else ""


def check_validation_document(
    document: str, *, listed: Collection[str], account: str | None
) -> None:
    """``InvalidRequest`` naming ValidationDocument unless ``document`` is vetted (pure).

    Vetted: a name or ARN the deployment ``listed``, or one of this ``account``'s own
    documents named ``vss-restore-validation-*``: a bare name (SSM looks a name up among the
    account's own documents and AWS's, which are never named so) or an ARN in ``account``.
    A shared document is named by an ARN of another account. ``account`` None: not known yet
    (synthesis), an ARN's account is not checked.
    """
    if document in listed:
        return
    name = document
    if document.startswith("arn:"):
        fields = _arn_fields(document)
        if not fields or fields[2] != "ssm" or not fields[5].startswith("document/"):
            raise InvalidRequest("ValidationDocument", f"{document!r} is not an SSM document ARN")
        owner, name = fields[4], fields[5].removeprefix("document/")
        if account is not None and owner != account:
            raise InvalidRequest(
                "ValidationDocument",
                f"{document!r} is a document of account {owner}, not this account's own: {_VETTED}",
            )
    if not name.startswith(VALIDATION_DOCUMENT_PREFIX):
        raise InvalidRequest(
            "ValidationDocument",
            f"{document!r} is not named {VALIDATION_DOCUMENT_PREFIX}* nor listed: {_VETTED}",
        )


def require_vetted_document(document: str, execution: str) -> None:
    """``check_validation_document`` with the deployment's list (``VALIDATION_DOCUMENTS``),
    for an execution (its ARN names the account)."""
    check_validation_document(
        document, listed=settings().validation_documents, account=account_of(execution)
    )


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
    comment = command_comment("drill", execution)
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
        refused(err, f"document {document} on {instance_id}")
    return str(sent["Command"]["CommandId"])


def finished_validation(
    ssm: SSMClient, command_id: str, instance_id: str, document: str, now: datetime
) -> ValidationResult:
    """The command's result once it has finished; ``ResourceNotReady`` before."""
    return validation_result(document, finished_invocation(ssm, command_id, instance_id), now)
