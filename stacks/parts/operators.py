"""One managed policy per capability for the people and pipelines that start executions.

A request field is not an authorization: whoever may start the restore machine may restore,
whoever may start the drill machine may only drill. Attach the policy of each capability to
the roles that may use it; none grants another capability's machine.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from vss_restore.capabilities import Machine
from vss_restore.records import BY_EXECUTION

# What each capability means for the one who starts it.
DESCRIPTIONS: dict[Machine, str] = {
    "restore": "vss-restore: restore instances in place (Modes InPlace and Online)",
    "drill": "vss-restore: run drills (clones in an isolated subnet; the source is only read)",
    "mount": "vss-restore: mount snapshot sets read-only beside an instance's volumes",
    "fleet": "vss-restore: restore many instances at once (fleet machine)",
    "drill-fleet": "vss-restore: drill many instances at once (drill fleet machine)",
}


def _execution_arns(machine: sfn.StateMachine) -> str:
    """``arn:...:execution:<machine name>:*``: the machine's executions, none of another's."""
    stack = Stack.of(machine)
    return stack.format_arn(
        service="states",
        resource="execution",
        resource_name=f"{machine.state_machine_name}:*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


# What `status`, `report`, `history`, `sets`, `plan --ec2-only` and `inspect` read, and only that.
VIEWER_READS_ANYWHERE = [
    "ec2:DescribeInstances",
    "ec2:DescribeSnapshots",
    "ec2:DescribeVolumes",
    "cloudtrail:LookupEvents",  # who started an execution
]


class OperatorPolicies(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        machines: dict[Machine, sfn.StateMachine],
        lock_table_arn: str,
        records_table_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.policies: dict[str, iam.ManagedPolicy] = {}
        for name, machine in machines.items():
            policy = iam.ManagedPolicy(
                self,
                name.title().replace("-", ""),
                description=DESCRIPTIONS[name],
                statements=[
                    iam.PolicyStatement(
                        sid="Start",
                        actions=["states:StartExecution", "states:ListExecutions"],
                        resources=[machine.state_machine_arn],
                    ),
                    iam.PolicyStatement(
                        sid="Follow",
                        actions=[
                            "states:DescribeExecution",
                            "states:GetExecutionHistory",
                            "states:StopExecution",
                        ],
                        resources=[_execution_arns(machine)],
                    ),
                ],
            )
            NagSuppressions.add_resource_suppressions(
                policy,
                [
                    NagPackSuppression(
                        id="AwsSolutions-IAM5",
                        reason=(
                            "An operator follows the executions of this one machine: "
                            "'execution:<machine name>:*' names no other machine's."
                        ),
                        applies_to=[
                            {
                                "regex": "/^Resource::arn:<AWS::Partition>:states:.*:execution:.*\\*$/"
                            }
                        ],
                    )
                ],
            )
            self.policies[name] = policy
        self.policies["viewer"] = self._viewer(
            list(machines.values()), lock_table_arn, records_table_arn
        )

    def _viewer(
        self, machines: list[sfn.StateMachine], lock_table_arn: str, records_table_arn: str
    ) -> iam.ManagedPolicy:
        """Reads every machine's executions, the instances' sets, the locks and the records of
        what was created; starts, stops and changes nothing."""
        stack = Stack.of(self)
        policy = iam.ManagedPolicy(
            self,
            "Viewer",
            description="vss-restore: read executions, reports, snapshot sets and locks only",
            statements=[
                iam.PolicyStatement(
                    sid="Machines",
                    actions=["states:ListExecutions", "states:DescribeStateMachine"],
                    resources=[m.state_machine_arn for m in machines],
                ),
                iam.PolicyStatement(
                    sid="Executions",
                    actions=["states:DescribeExecution", "states:GetExecutionHistory"],
                    resources=[_execution_arns(m) for m in machines],
                ),
                iam.PolicyStatement(
                    sid="Locks", actions=["dynamodb:GetItem"], resources=[lock_table_arn]
                ),
                iam.PolicyStatement(
                    sid="RecordsOfWhatWasCreated",
                    actions=["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"],
                    resources=[records_table_arn, f"{records_table_arn}/index/{BY_EXECUTION}"],
                ),
                iam.PolicyStatement(
                    sid="StackOutputs",
                    actions=["cloudformation:DescribeStacks"],
                    resources=[stack.stack_id],
                ),
                # These support no resource-level permissions.
                iam.PolicyStatement(sid="Reads", actions=VIEWER_READS_ANYWHERE, resources=["*"]),
            ],
        )
        NagSuppressions.add_resource_suppressions(
            policy,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "Read-only: the machines' own executions ('execution:<name>:*'), and "
                        "EC2 Describe* and CloudTrail LookupEvents, which support no resource-level "
                        "permissions."
                    ),
                    applies_to=[
                        "Resource::*",
                        {"regex": "/^Resource::arn:<AWS::Partition>:states:.*:execution:.*\\*$/"},
                    ],
                )
            ],
        )
        return policy
