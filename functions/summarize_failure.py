"""SummarizeFailure: the named error and a cause that says what was rolled back."""

from typing import Any

from vss_restore.lambda_task import task
from vss_restore.report import summarize_failure


@task
def handler(event: dict[str, Any]) -> dict[str, str]:
    return summarize_failure(event["Document"])
