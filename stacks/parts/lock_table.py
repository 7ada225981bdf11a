"""The per-instance lock table, and the table of what vss-restore created."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from vss_restore import records


class LockTable(Construct):
    """One item per instance being restored; ``ExpiresAt`` is a TTL so a crashed run cannot lock forever."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.TableV2(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="InstanceId", type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            time_to_live_attribute="ExpiresAt",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # Locks are short-lived state: nothing to keep when the stack goes.
            removal_policy=RemovalPolicy.DESTROY,
        )


class RecordsTable(Construct):
    """What vss-restore created, one item per resource: cleanups remove only what it records.

    Kept when the stack is deleted: the records say which of the account's resources were
    vss-restore's, which is worth having after the stack has gone.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.TableV2(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=records.KEY, type=dynamodb.AttributeType.STRING),
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=records.BY_EXECUTION,
                    partition_key=dynamodb.Attribute(
                        name="Execution", type=dynamodb.AttributeType.STRING
                    ),
                )
            ],
            billing=dynamodb.Billing.on_demand(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
