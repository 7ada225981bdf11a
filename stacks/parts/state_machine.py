"""The restore state machine, from statemachines/restore.asl.json with its substitutions."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from vss_restore.definition import Limits, definition_path, substitutions


class RestoreStateMachine(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: dict[str, lambda_.Function],
        lock_table: dynamodb.ITableV2,
        limits: Limits,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "ExecutionLogs",
            retention=log_retention,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.substitutions = substitutions(
            {task: fn.function_arn for task, fn in functions.items()}, lock_table.table_name, limits
        )
        self.state_machine = sfn.StateMachine(
            self,
            "Restore",
            definition_body=sfn.DefinitionBody.from_file(str(definition_path())),
            definition_substitutions=self.substitutions,
            state_machine_type=sfn.StateMachineType.STANDARD,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
        )
        for fn in functions.values():
            fn.grant_invoke(self.state_machine)
        NagSuppressions.add_resource_suppressions(
            self.state_machine.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "lambda:InvokeFunction on '<function ARN>:*' covers the versions and aliases of "
                        "this stack's own task functions only; X-Ray and CloudWatch Logs delivery "
                        "actions support no resource-level permissions."
                    ),
                    applies_to=[
                        "Resource::*",
                        {"regex": "/^Resource::<Tasks[A-Za-z0-9]+\\.Arn>:\\*$/"},
                    ],
                )
            ],
            apply_to_children=True,
        )
