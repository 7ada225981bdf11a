"""The state machines, one per capability (restore, drill, mount, fleet), with their
substitutions; each may invoke only the task functions its definition names."""

from __future__ import annotations

from aws_cdk import Fn, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from vss_restore.capabilities import FLEET_CAPABILITY, Capability, FleetMachine, Machine
from vss_restore.definition import (
    Limits,
    definition_path,
    fleet_substitutions,
    placeholders,
    substitutions,
    tasks_of,
)

# CloudWatch Logs keeps one resource policy per account and region, limited in size; a log
# delivery to a group under this prefix is authorized without adding to that policy.
VENDED_LOGS_PREFIX = "/aws/vendedlogs/states/"


def execution_log_group_name(scope: Construct, name: str) -> str:
    """``/aws/vendedlogs/states/<stack>-<name>-<id>``: the id is the first block of the
    stack's own GUID, so a group retained from a deleted stack never blocks a new one."""
    stack = Stack.of(scope)
    stack_guid = Fn.select(2, Fn.split("/", stack.stack_id))
    suffix = Fn.select(0, Fn.split("-", stack_guid))
    return f"{VENDED_LOGS_PREFIX}{stack.stack_name}-{name}-{suffix}"


def logged_state_machine(
    scope: Construct,
    name: Machine,
    values: dict[str, str],
    functions: dict[str, lambda_.Function],
    log_retention: logs.RetentionDays,
    machine_name: str | None = None,
) -> tuple[logs.LogGroup, sfn.StateMachine]:
    """``statemachines/<name>.asl.json`` as a Standard machine: traced, every event logged
    with its data to its own log group (under ``/aws/vendedlogs/states/``), allowed to
    invoke the task functions its definition names (and no other)."""
    functions = {task: functions[task] for task in tasks_of(name)}
    log_group = logs.LogGroup(
        scope,
        "ExecutionLogs",
        log_group_name=execution_log_group_name(scope, name.title()),
        retention=log_retention,
        removal_policy=RemovalPolicy.RETAIN,
    )
    machine = sfn.StateMachine(
        scope,
        name.title(),
        definition_body=sfn.DefinitionBody.from_file(str(definition_path(name))),
        definition_substitutions=values,
        state_machine_name=machine_name,
        state_machine_type=sfn.StateMachineType.STANDARD,
        tracing_enabled=True,
        logs=sfn.LogOptions(
            destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True
        ),
    )
    # One statement for all tasks: one per function would overflow the inline policy. The
    # definitions name each function unqualified, so no version or alias (``:*``) is granted.
    machine.add_to_role_policy(
        iam.PolicyStatement(
            actions=["lambda:InvokeFunction"],
            resources=[fn.function_arn for fn in functions.values()],
        )
    )
    return log_group, machine


class CapabilityStateMachine(Construct):
    """The restore, drill or mount machine: its own role, log group and name, so that IAM
    can let someone start drills without letting them restore."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        capability: Capability,
        functions: dict[str, lambda_.Function],
        lock_table: dynamodb.ITableV2,
        limits: Limits,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.capability = capability
        values = substitutions(
            {task: fn.function_arn for task, fn in functions.items()}, lock_table.table_name, limits
        )
        # Only what its definition names: the restore machine refers to no drill function.
        used = placeholders(definition_path(capability).read_text())
        self.substitutions = {name: value for name, value in values.items() if name in used}
        self.log_group, self.state_machine = logged_state_machine(
            self,
            capability,
            self.substitutions,
            functions,
            log_retention,
            machine_name=None
            if capability == "restore"
            else f"{Stack.of(self).stack_name}-{capability}",
        )
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


class FleetStateMachine(Construct):
    """Many restores (``fleet``) or many drills (``drill-fleet``), wave by wave: RunFleet
    starts child executions of the one machine the fleet's definition names.

    The fleet machine itself only invokes its tasks; RunFleet's role may start restores and
    drills and read them, never stop one (a stopped fleet lets its restores finish or roll
    back). Which of them a fleet starts is fixed by its definition, not by its request.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: dict[str, lambda_.Function],
        fleet: FleetMachine,
        children: sfn.StateMachine,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        values = fleet_substitutions(
            {task: fn.function_arn for task, fn in functions.items()},
            {FLEET_CAPABILITY[fleet]: children.state_machine_arn},
        )
        stack = Stack.of(self)
        self.log_group, self.state_machine = logged_state_machine(
            self,
            fleet,
            values,
            functions,
            log_retention,
            machine_name=f"{stack.stack_name}-{fleet}",
        )
        run_fleet = functions["RunFleet"]
        children.grant_start_execution(run_fleet)
        for reader in (run_fleet, functions["ReportFleet"]):
            children.grant_execution(reader, "states:DescribeExecution")
        NagSuppressions.add_resource_suppressions(
            self.state_machine.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "Fleet: lambda:InvokeFunction on '<function ARN>:*' (versions of its own "
                        "fleet task functions); X-Ray and log delivery actions support no "
                        "resource-level permissions."
                    ),
                    applies_to=[
                        "Resource::*",
                        {"regex": "/^Resource::<Tasks[A-Za-z0-9]+\\.Arn>:\\*$/"},
                    ],
                )
            ],
            apply_to_children=True,
        )
        for reader in (run_fleet, functions["ReportFleet"]):
            assert reader.role is not None  # noqa: S101 - TaskFunctions gives every function one
            NagSuppressions.add_resource_suppressions(
                reader.role,
                [
                    NagPackSuppression(
                        id="AwsSolutions-IAM5",
                        reason=(
                            "RunFleet and ReportFleet follow the restores the fleet starts: "
                            "DescribeExecution on the executions of this stack's restore, drill "
                            "and mount machines only ('execution:<name>:*')."
                        ),
                        applies_to=[
                            {
                                "regex": (
                                    "/^Resource::arn:<AWS::Partition>:states:.*:execution:.*\\*$/"
                                )
                            }
                        ],
                    )
                ],
                apply_to_children=True,
            )
