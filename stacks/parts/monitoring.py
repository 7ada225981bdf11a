"""Watching restores: notifications on every outcome, alarms on failures, a dashboard."""

from __future__ import annotations

from collections.abc import Sequence

import jsii
from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.interfaces import aws_events as events_refs
from constructs import Construct

from vss_restore.drill import METRIC_NAMESPACE

OUTCOMES = ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
# The services that publish to the topic: the outcome rule and the alarms.
EVENTS = "events.amazonaws.com"
CLOUDWATCH = "cloudwatch.amazonaws.com"


@jsii.implements(events.IRuleTarget)
class TopicTarget:
    """The topic as a rule target, without the unconditioned topic-policy grant that
    ``aws_events_targets.SnsTopic`` adds: the stack grants EventBridge for this rule only."""

    def __init__(self, topic: sns.ITopic, message: events.RuleTargetInput) -> None:
        self._topic = topic
        self._message = message

    def bind(
        self,
        rule: events_refs.IRuleRef,  # the names are the interface's: jsii calls by name
        id: str | None = None,
    ) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(arn=self._topic.topic_arn, input=self._message)


def _sum(machines: Sequence[sfn.StateMachine], metric: str) -> cw.IMetric:
    """One metric of every machine, added up over five minutes (one alarm covers them all)."""
    parts = {
        f"m{n}": getattr(machine, metric)(period=Duration.minutes(5))
        for n, machine in enumerate(machines)
    }
    if len(parts) == 1:
        return next(iter(parts.values()))  # type: ignore[no-any-return]
    return cw.MathExpression(
        expression=" + ".join(parts), using_metrics=parts, period=Duration.minutes(5)
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machines: Sequence[sfn.StateMachine],
        execution_logs: logs.ILogGroup,
        functions: dict[str, lambda_.Function],
        notification_email: str | None,
    ) -> None:
        """``state_machines``: the restore machine first (the dashboard's), then the drill,
        mount and fleet machines; every one of them notifies and alarms."""
        super().__init__(scope, construct_id)
        state_machine = state_machines[0]
        key = kms.Key(
            self,
            "TopicKey",
            enable_key_rotation=True,
            description="Encrypts vss-restore notifications",
        )
        # EventBridge and CloudWatch alarms publish to the encrypted topic, so both need the
        # key (SNS's documented key policy for AWS event sources). The topic policy below,
        # not the key, says which rule and which alarms may publish: no source condition here,
        # as AWS does not document one for these services' use of a topic's key (one the
        # request lacks would drop every notification). The key encrypts this topic only.
        for service in (EVENTS, CLOUDWATCH):
            key.grant(iam.ServicePrincipal(service), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(self, "Outcomes", master_key=key, enforce_ssl=True)
        if notification_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(notification_email))

        self.rule = events.Rule(
            self,
            "ExecutionOutcome",
            description="Every restore's outcome, to the notification topic",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "stateMachineArn": [m.state_machine_arn for m in state_machines],
                    "status": OUTCOMES,
                },
            ),
            targets=[
                TopicTarget(
                    self.topic,
                    events.RuleTargetInput.from_text(
                        f"vss-restore {events.EventField.from_path('$.detail.status')}: "
                        f"{events.EventField.from_path('$.detail.name')} "
                        f"({events.EventField.from_path('$.detail.executionArn')})"
                    ),
                )
            ],
        )

        self.alarms = [
            cw.Alarm(
                self,
                name,
                metric=metric,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"A vss-restore execution {what}: check its Cause in the console.",
            )
            for name, metric, what in (
                ("ExecutionsFailed", _sum(state_machines, "metric_failed"), "failed"),
                ("ExecutionsTimedOut", _sum(state_machines, "metric_timed_out"), "timed out"),
                # Stopped by hand: a restore mid-swap keeps no rollback; a fleet leaves its
                # unstarted servers unrestored.
                ("ExecutionsAborted", _sum(state_machines, "metric_aborted"), "was stopped"),
            )
        ]
        # Drills publish DrillSucceeded (1 or 0) without dimensions as well: one alarm for all.
        self.alarms.append(
            cw.Alarm(
                self,
                "DrillFailed",
                metric=cw.Metric(
                    namespace=METRIC_NAMESPACE,
                    metric_name="DrillSucceeded",
                    statistic="Minimum",
                    period=Duration.hours(1),
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=(
                    "A vss-restore drill failed: a snapshot set did not restore on its clone. "
                    "See the drill event or the execution's report."
                ),
            )
        )
        for alarm in self.alarms:
            alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        self._allow_publishers()

        self.dashboard = self._dashboard(state_machine, execution_logs, functions)

    def _allow_publishers(self) -> None:
        """The topic policy replaces SNS's default one: name every publisher, scoped to
        this account and to the rule and alarms of this stack (confused-deputy guard)."""
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OutcomeRulePublishes",
                principals=[iam.ServicePrincipal(EVENTS)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"ArnEquals": {"aws:SourceArn": self.rule.rule_arn}},
            )
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Stack.of(self).account},
                    "ArnEquals": {"aws:SourceArn": [a.alarm_arn for a in self.alarms]},
                },
            )
        )

    def _dashboard(
        self,
        state_machine: sfn.StateMachine,
        execution_logs: logs.ILogGroup,
        functions: dict[str, lambda_.Function],
    ) -> cw.Dashboard:
        period = Duration.minutes(5)

        def total(name: str, metric_of: str) -> cw.MathExpression:
            metrics = {
                f"{metric_of[7:]}{i}": getattr(fn, metric_of)(period=period)
                for i, fn in enumerate(functions.values())
            }
            return cw.MathExpression(
                expression="SUM(METRICS())", using_metrics=metrics, label=name, period=period
            )

        dashboard = cw.Dashboard(
            self, "Dashboard", dashboard_name=f"vss-restore-{Stack.of(self).stack_name}"
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Executions",
                left=[
                    state_machine.metric_started(period=period),
                    state_machine.metric_succeeded(period=period),
                    state_machine.metric_failed(period=period),
                    state_machine.metric_timed_out(period=period),
                    state_machine.metric_aborted(period=period),
                ],
            ),
            cw.GraphWidget(
                title="Execution duration (ms)",
                left=[
                    state_machine.metric_time(statistic="p50", period=period),
                    state_machine.metric_time(statistic="p90", period=period),
                    state_machine.metric_time(statistic="Maximum", period=period),
                ],
            ),
        )
        dashboard.add_widgets(
            cw.LogQueryWidget(
                title="Failures by error",
                log_group_names=[execution_logs.log_group_name],
                query_lines=[
                    "fields @timestamp, details.error, details.cause",
                    'filter type = "ExecutionFailed"',
                    "stats count(*) as failures by details.error",
                ],
            ),
            cw.GraphWidget(
                title="Task Lambda errors and throttles",
                left=[total("Errors", "metric_errors"), total("Throttles", "metric_throttles")],
            ),
        )
        return dashboard
