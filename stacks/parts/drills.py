"""Game-day drills on a schedule (opt-in), and the daily removal of expired drill resources."""

from __future__ import annotations

import json

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from stacks.config import DrillSchedule

# A scheduled start that fails (throttling, a deployment in progress) is tried again.
_RETRY = scheduler.CfnSchedule.RetryPolicyProperty(
    maximum_event_age_in_seconds=3600, maximum_retry_attempts=5
)
# The game days start the drill fleet through Scheduler's universal target, which, unlike
# its Step Functions template, lets the schedule name the execution.
START_EXECUTION_TARGET = "arn:aws:scheduler:::aws-sdk:sfn:startExecution"
# One name per scheduled start: Scheduler's id of the invocation, the same on each attempt
# of it (the attempt number counts them). A retry after a lost answer then finds the fleet
# already started (Step Functions: the same answer while it runs, ExecutionAlreadyExists
# once it has ended) instead of starting a second one. The scheduled time would read
# better, but its colons are not allowed in an execution name.
GAME_DAY_EXECUTION_NAME = f"game-day-{scheduler.ContextAttribute.execution_id}"


class DrillSchedules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        fleet: sfn.StateMachine,
        cleanup: lambda_.Function,
        unmount: lambda_.Function,
        schedule: DrillSchedule | None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # The stack's own schedule group: the role trusts Scheduler only for schedules in it,
        # not for any schedule of the account (confused-deputy guard, as AWS's setup guide).
        self.group = scheduler.CfnScheduleGroup(
            self, "Group", name=f"{stack.stack_name}-vss-restore"
        )
        role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnEquals": {"aws:SourceArn": self.group.attr_arn},
                },
            ),
            description="EventBridge Scheduler: vss-restore drills and their cleanup",
        )
        cleanup.grant_invoke(role)
        unmount.grant_invoke(role)
        NagSuppressions.add_resource_suppressions(
            role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "lambda:InvokeFunction on '<CleanupDrill ARN>:*' and '<UnmountVolumes "
                        "ARN>:*' covers the versions and aliases of this stack's own cleanup "
                        "functions only."
                    ),
                    applies_to=[
                        {"regex": "/^Resource::<TasksCleanupDrill[A-Za-z0-9]*\\.Arn>:\\*$/"},
                        {"regex": "/^Resource::<TasksUnmountVolumes[A-Za-z0-9]*\\.Arn>:\\*$/"},
                    ],
                )
            ],
            apply_to_children=True,
        )
        # Anything a drill could not remove (or was asked to keep) goes once it has expired.
        self.cleanup = scheduler.CfnSchedule(
            self,
            "CleanupExpiredDrills",
            description="vss-restore: remove drill clones and volumes past vss-restore:expires-at",
            group_name=self.group.name,
            schedule_expression="rate(1 day)",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(
                mode="FLEXIBLE", maximum_window_in_minutes=60
            ),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=cleanup.function_arn,
                role_arn=role.role_arn,
                input=json.dumps({"Expired": True}),
                retry_policy=_RETRY,
            ),
        )
        # Mounts go once expired too: disks offline through SSM, then detached and deleted.
        self.unmount = scheduler.CfnSchedule(
            self,
            "UnmountExpiredMounts",
            description="vss-restore: unmount volumes past vss-restore:mount-expires-at",
            group_name=self.group.name,
            schedule_expression="rate(1 hour)",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(
                mode="FLEXIBLE", maximum_window_in_minutes=15
            ),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=unmount.function_arn,
                role_arn=role.role_arn,
                input=json.dumps({"Expired": True}),
                retry_policy=_RETRY,
            ),
        )
        self.drills: scheduler.CfnSchedule | None = None
        if schedule is None:
            return
        fleet.grant_start_execution(role)
        self.drills = scheduler.CfnSchedule(
            self,
            "GameDayDrills",
            description="vss-restore: clone drills of the tagged instances (drill fleet machine)",
            group_name=self.group.name,
            schedule_expression=schedule.expression,
            schedule_expression_timezone=schedule.timezone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=START_EXECUTION_TARGET,
                role_arn=role.role_arn,
                input=stack.to_json_string(
                    {  # StartExecution's request, as its API reference spells it
                        "stateMachineArn": fleet.state_machine_arn,
                        "name": GAME_DAY_EXECUTION_NAME,
                        "input": json.dumps(schedule.fleet_request),
                    }
                ),
                retry_policy=_RETRY,
            ),
        )
