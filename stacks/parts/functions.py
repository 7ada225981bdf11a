"""One Lambda function per task of the state machine, sharing one code asset and one layer."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from stacks.parts.bundle import LambdaAssets, handler_path
from stacks.parts.permissions import TaskRoles
from vss_restore.tasks import (
    FLEET_TASKS,
    POLL_IN_TASK_SECONDS,
    POLLING_TASKS,
    TASKS,
    function_timeout_seconds,
)
from vss_restore.waiting import WAIT_IN_TASK_ENV
from vss_restore.windows_disks import DISKS_DOCUMENT_ENV
from vss_restore.workflow import rollback_tasks


class TaskFunctions(Construct):
    """``vss_restore.functions.<module>.handler`` (``functions/<module>.py``) for every task of
    both machines (``TASKS``, ``FLEET_TASKS``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        assets: LambdaAssets,
        roles: TaskRoles,
        log_group: logs.ILogGroup,
        opt_in_tag: tuple[str, str],
        disks_document: str,
        guardrails: Mapping[str, str],
        rollback_reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        code = lambda_.Code.from_asset(str(assets.code_dir))
        dependencies = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(str(assets.layer_dir), exclude=[".installed"]),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="Powertools and pydantic for the vss-restore tasks (arm64)",
        )
        self.functions: dict[str, lambda_.Function] = {}
        # A rollback half-way must not wait for the account's other functions to free up.
        reserved = set(rollback_tasks()) if rollback_reserved_concurrency else set()
        for task, module in {**TASKS, **FLEET_TASKS}.items():
            self.functions[task] = lambda_.Function(
                self,
                task,
                runtime=lambda_.Runtime.PYTHON_3_12,
                architecture=lambda_.Architecture.ARM_64,
                handler=handler_path(module),
                code=code,
                layers=[dependencies],
                role=roles.role_for(task),
                memory_size=256,
                timeout=Duration.seconds(function_timeout_seconds(task)),
                tracing=lambda_.Tracing.ACTIVE,
                log_group=log_group,
                logging_format=lambda_.LoggingFormat.JSON,
                environment={
                    "POWERTOOLS_SERVICE_NAME": "vss-restore",
                    "POWERTOOLS_LOG_LEVEL": "INFO",
                    # ValidateRequest refuses instances the IAM policies would not let us change.
                    "OPT_IN_TAG_KEY": opt_in_tag[0],
                    "OPT_IN_TAG_VALUE": opt_in_tag[1],
                    DISKS_DOCUMENT_ENV: disks_document,
                    # ValidateRequest's guardrails: what the deployment allows beyond them.
                    **guardrails,
                    **(
                        {WAIT_IN_TASK_ENV: str(POLL_IN_TASK_SECONDS)}
                        if task in POLLING_TASKS
                        else {}
                    ),
                },
                description=f"vss-restore task {task}",
                reserved_concurrent_executions=(
                    rollback_reserved_concurrency if task in reserved else None
                ),
            )
            NagSuppressions.add_resource_suppressions(
                self.functions[task],
                [
                    NagPackSuppression(
                        id="AwsSolutions-L1",
                        reason=(
                            "Pinned to Python 3.12, the runtime the dependency layer is built for "
                            "(stacks/lambda-requirements.txt) and the tests run on; supported by "
                            "Lambda until 2028. Moving on is one line here plus `make bundle`."
                        ),
                    )
                ],
            )
