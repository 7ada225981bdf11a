"""VssRestoreStack: the state machines (restore, drill, mount, fleet), their tasks, lock,
permissions, operator policies and monitoring."""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.config import DeploymentConfig
from stacks.parts.bundle import LambdaAssets
from stacks.parts.drills import DrillSchedules
from stacks.parts.functions import TaskFunctions
from stacks.parts.lock_table import LockTable, RecordsTable
from stacks.parts.monitoring import Monitoring
from stacks.parts.operators import OperatorPolicies
from stacks.parts.permissions import KMS_CONCERNS, TaskRoles
from stacks.parts.state_machine import CapabilityStateMachine, FleetStateMachine
from vss_restore.capabilities import CAPABILITY_MODES, MACHINE_ARN_PLACEHOLDERS
from vss_restore.settings import CLONE_INSTANCE_PROFILE_ENV, RECORDS_TABLE_ENV
from vss_restore.tasks import FLEET_TASKS, TASKS
from vss_restore.windows_disks import document_content


class VssRestoreStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        assets: LambdaAssets,
        config: DeploymentConfig | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        config = config or DeploymentConfig.from_context(self)
        retention = config.log_retention
        lock = LockTable(self, "Lock")
        created = RecordsTable(self, "Records")
        task_logs = logs.LogGroup(
            self, "TaskLogs", retention=retention, removal_policy=RemovalPolicy.RETAIN
        )
        # Mode "Online" and "Mount" take disks offline and online through this document.
        disks = ssm.CfnDocument(
            self,
            "WindowsDisks",
            content=document_content(),
            document_type="Command",
            document_format="JSON",
            update_method="NewVersion",
        )
        roles = TaskRoles(
            self,
            "Roles",
            config=config,
            lock_table=lock.table,
            records_table=created.table,
            log_group=task_logs,
            disks_document=disks.ref,
        )
        tasks = TaskFunctions(
            self,
            "Tasks",
            assets=assets,
            roles=roles,
            log_group=task_logs,
            opt_in_tag=(config.opt_in_tag_key, config.opt_in_tag_value),
            disks_document=disks.ref,
            rollback_reserved_concurrency=config.rollback_reserved_concurrency,
            guardrails={
                **config.guardrails.environment,
                RECORDS_TABLE_ENV: created.table.table_name,
                # Clones run with the stack's own profile (Systems Manager core only).
                CLONE_INSTANCE_PROFILE_ENV: roles.clone_profile.instance_profile_arn,
            },
        )
        # One machine per capability ("StateMachine" is the restore machine's first id).
        machines = {
            capability: CapabilityStateMachine(
                self,
                "StateMachine" if capability == "restore" else f"{capability.title()}Machine",
                capability=capability,
                functions={t: f for t, f in tasks.functions.items() if t in TASKS},
                lock_table=lock.table,
                limits=config.limits,
                log_retention=retention,
            )
            for capability in CAPABILITY_MODES
        }
        restore = machines["restore"]
        fleet_tasks = {t: f for t, f in tasks.functions.items() if t in FLEET_TASKS}
        fleet = FleetStateMachine(
            self,
            "FleetMachine",
            functions=fleet_tasks,
            fleet="fleet",
            children=restore.state_machine,
            log_retention=retention,
        )
        # Scheduled game days run here: whoever may start it may drill, never restore.
        drill_fleet = FleetStateMachine(
            self,
            "DrillFleetMachine",
            functions=fleet_tasks,
            fleet="drill-fleet",
            children=machines["drill"].state_machine,
            log_retention=retention,
        )
        self.operators = OperatorPolicies(
            self,
            "Operators",
            machines={
                **{c: m.state_machine for c, m in machines.items()},
                "fleet": fleet.state_machine,
                "drill-fleet": drill_fleet.state_machine,
            },
            lock_table_arn=lock.table.table_arn,
            records_table_arn=created.table.table_arn,
        )
        self.drills = DrillSchedules(
            self,
            "Drills",
            fleet=drill_fleet.state_machine,
            cleanup=tasks.functions["CleanupDrill"],
            unmount=tasks.functions["UnmountVolumes"],
            schedule=config.drill_schedule,
        )
        watch = Monitoring(
            self,
            "Monitoring",
            state_machines=[
                *(m.state_machine for m in machines.values()),
                fleet.state_machine,
                drill_fleet.state_machine,
            ],
            execution_logs=restore.log_group,
            functions=tasks.functions,
            notification_email=config.notification_email,
        )
        CfnOutput(self, "StateMachineArn", value=restore.state_machine.state_machine_arn)
        for capability in ("drill", "mount"):
            CfnOutput(
                self,
                MACHINE_ARN_PLACEHOLDERS[capability],
                value=machines[capability].state_machine.state_machine_arn,
            )
        CfnOutput(self, "FleetStateMachineArn", value=fleet.state_machine.state_machine_arn)
        CfnOutput(
            self, "DrillFleetStateMachineArn", value=drill_fleet.state_machine.state_machine_arn
        )
        for name, policy in self.operators.policies.items():
            viewer = name == "viewer"
            CfnOutput(
                self,
                "ViewerPolicyArn"
                if viewer
                else f"{name.title().replace('-', '')}OperatorPolicyArn",
                value=policy.managed_policy_arn,
                description="Attach to whoever may read executions and sets, starting nothing"
                if viewer
                else f"Attach to whoever may start {name} executions (and only those)",
            )
        CfnOutput(self, "TopicArn", value=watch.topic.topic_arn)
        CfnOutput(
            self,
            "DashboardUrl",
            value=(
                f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
                f"#dashboards:name={watch.dashboard.dashboard_name}"
            ),
        )
        CfnOutput(self, "LockTableName", value=lock.table.table_name)
        CfnOutput(self, "RecordsTableName", value=created.table.table_name)
        CfnOutput(self, "DisksDocumentName", value=disks.ref)
        # Customer KMS keys of the volumes must let these roles use them through EC2.
        for concern in KMS_CONCERNS:
            CfnOutput(
                self,
                f"{concern}RoleArn",
                value=roles.roles[concern].role_arn,
                description=f"vss-restore {concern} role: name it in your volumes' KMS key policies",
            )
