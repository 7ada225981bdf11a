"""The deployable stack: every resource and property the design asks for."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk.assertions import Annotations, Match, Template
from moto import mock_aws
from stacks.config import DeploymentConfig, DrillSchedule, InvalidContext
from stacks.parts.permissions import KMS_CONCERNS
from stacks.vss_restore_stack import VssRestoreStack

from tests.cdk.conftest import Synth
from vss_restore.capabilities import Machine
from vss_restore.definition import Limits, definition_path, placeholders, tasks_of
from vss_restore.settings import Settings
from vss_restore.tasks import FLEET_TASKS, POLLING_TASKS, TASKS, function_arn_placeholder
from vss_restore.waiting import WAIT_IN_TASK_ENV
from vss_restore.workflow import rollback_tasks

REPO = Path(__file__).resolve().parents[2]


def _resources(template: Template, kind: str) -> Mapping[str, Mapping[str, Any]]:
    return template.find_resources(kind)


def _functions_by_logical_id(template: Template) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in _resources(template, "AWS::Lambda::Function").items()}


def test_every_task_has_an_arm64_python312_function_with_tracing_and_the_layer(
    template: Template,
) -> None:
    functions = _functions_by_logical_id(template)
    handlers = sorted(p["Handler"] for p in functions.values())
    modules = [*TASKS.values(), *FLEET_TASKS.values()]
    assert handlers == sorted(f"vss_restore.functions.{m}.handler" for m in modules)
    for props in functions.values():
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert len(props["Layers"]) == 1
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        assert props["Environment"]["Variables"]["OPT_IN_TAG_KEY"] == "vss-restore:enabled"
        assert props["Environment"]["Variables"]["OPT_IN_TAG_VALUE"] == "true"


def test_polling_tasks_wait_in_the_task_within_their_timeout_and_the_others_are_short(
    template: Template,
) -> None:
    by_module = {
        p["Handler"].removeprefix("vss_restore.functions.").removesuffix(".handler"): p
        for p in _functions_by_logical_id(template).values()
    }
    for task, module in TASKS.items():
        props = by_module[module]
        budget = props["Environment"]["Variables"].get(WAIT_IN_TASK_ENV)
        if task in POLLING_TASKS:
            assert budget is not None
            assert int(budget) + 30 <= props["Timeout"] <= 900
        else:
            assert budget is None
            assert props["Timeout"] <= 60


def _reserved_by_task(template: Template) -> dict[str, Any]:
    """Task name -> its function's ReservedConcurrentExecutions (None: unreserved)."""
    module_of = {m: t for t, m in {**TASKS, **FLEET_TASKS}.items()}
    return {
        module_of[
            p["Handler"].removeprefix("vss_restore.functions.").removesuffix(".handler")
        ]: p.get("ReservedConcurrentExecutions")
        for p in _functions_by_logical_id(template).values()
    }


def test_rollback_functions_get_the_reserved_concurrency_the_setting_gives(synth: Synth) -> None:
    # GIVEN the default deployment and one reserving 25 each / WHEN synthesized
    _, default = synth()
    _, wider = synth(rollbackReservedConcurrency=25)

    # THEN exactly the rollback's functions are reserved, with the setting's number
    rollback = set(rollback_tasks())
    assert rollback
    for template, each in ((default, 10), (wider, 25)):
        reserved = _reserved_by_task(template)
        assert {t: n for t, n in reserved.items() if n is not None} == dict.fromkeys(rollback, each)


def test_no_function_is_reserved_when_the_setting_is_zero(synth: Synth) -> None:
    # GIVEN / WHEN a deployment that reserves nothing (an account with little concurrency)
    _, template = synth(rollbackReservedConcurrency=0)

    # THEN no function has ReservedConcurrentExecutions
    assert set(_reserved_by_task(template).values()) == {None}


@pytest.mark.parametrize(
    ("context", "message"),
    [
        # 8 functions x 120 = 960, over the 900 of a 1,000 account (100 stay unreserved)
        ({"rollbackReservedConcurrency": 120}, "more than the 900 an account"),
        # a new account's quota of 50: nothing can be reserved at all
        ({"lambdaAccountConcurrency": 50}, "more than the 0 an account"),
        ({"rollbackReservedConcurrency": "ten"}, "rollbackReservedConcurrency: 'ten'"),
        ({"rollbackReservedConcurrency": -1}, "rollbackReservedConcurrency: -1"),
    ],
)
def test_reservation_the_account_cannot_give_fails_synthesis_naming_the_key(
    context: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidContext, match=message):
        DeploymentConfig.from_context(cdk.App(context=context))


def test_state_machine_is_standard_with_full_logging_and_tracing(template: Template) -> None:
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": {
                "Level": "ALL",
                "IncludeExecutionData": True,
                "Destinations": [Match.any_value()],
            },
        },
    )


def test_deployed_definition_is_the_asl_file_with_every_placeholder_substituted(
    stack_and_template: tuple[VssRestoreStack, Template],
) -> None:
    # GIVEN the restore machine's definition file and the deployed state machine
    stack, template = stack_and_template
    text = definition_path().read_text()
    props = next(
        v
        for k, v in _resources(template, "AWS::StepFunctions::StateMachine").items()
        if k.startswith("StateMachineRestore")
    )["Properties"]

    # THEN the file is uploaded as it is (an S3 asset), and every placeholder gets a value
    stage = cdk.Stage.of(stack)
    assert stage is not None
    uploaded = Path(stage.outdir) / f"asset.{props['DefinitionS3Location']['Key']}"
    assert uploaded.read_text() == text
    substitutions = props["DefinitionSubstitutions"]
    assert set(substitutions) == placeholders(text)
    # each task's placeholder points at the function running that task's handler
    functions = _functions_by_logical_id(template)
    for task, module in TASKS.items():
        if function_arn_placeholder(task) not in substitutions:
            continue  # a drill or mount task: not the restore machine's
        logical_id = substitutions[function_arn_placeholder(task)]["Fn::GetAtt"][0]
        assert functions[logical_id]["Handler"] == f"vss_restore.functions.{module}.handler"
    for name, value in Limits().as_substitutions().items():
        if name in substitutions:
            assert substitutions[name] == value
    assert "Ref" in substitutions["LockTableName"]


MACHINE_PREFIXES = {
    "restore": "StateMachineRestore",
    "drill": "DrillMachineDrill",
    "mount": "MountMachineMount",
    "fleet": "FleetMachineFleet",
    "drill-fleet": "DrillFleetMachineDrillFleet",
}


@pytest.mark.parametrize("machine", list(MACHINE_PREFIXES))
def test_each_state_machine_may_invoke_exactly_its_definition_s_functions(
    template: Template, machine: Machine
) -> None:
    # GIVEN the machine's role (its own: one per capability)
    prefix = MACHINE_PREFIXES[machine]
    invoke = [
        s
        for p in _resources(template, "AWS::IAM::Policy").values()
        if p["Properties"]["Roles"][0]["Ref"].startswith(prefix)
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "lambda:InvokeFunction"
    ]
    targets = {
        r["Fn::GetAtt"][0]
        for s in invoke
        for r in s["Resource"]
        if isinstance(r, dict) and "Fn::GetAtt" in r
    }
    # THEN it may invoke the functions of the tasks its definition runs, and no other
    functions = _functions_by_logical_id(template)
    handlers = {functions[f]["Handler"] for f in targets}
    wanted = {
        f"vss_restore.functions.{({**TASKS, **FLEET_TASKS})[t]}.handler" for t in tasks_of(machine)
    }
    assert handlers == wanted


def test_fleet_task_starts_and_follows_restores_and_nothing_may_stop_one(
    template: Template,
) -> None:
    machines = _resources(template, "AWS::StepFunctions::StateMachine")
    restore_id = next(k for k in machines if k.startswith("StateMachineRestore"))
    fleet = next(v["Properties"] for k, v in machines.items() if k.startswith("FleetMachine"))
    substitutions = fleet["DefinitionSubstitutions"]
    assert substitutions["RestoreStateMachineArn"] == {"Ref": restore_id}
    assert set(substitutions) == placeholders(definition_path("fleet").read_text())
    children = [
        {"Ref": k} for k in machines if k.startswith(("StateMachineRestore", "DrillMachineDrill"))
    ]
    statements = [
        (p["Properties"]["Roles"][0]["Ref"], s)
        for p in _resources(template, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    # RunFleet's role starts restores (or drills, mounts: the fleet's Mode) and reads them ...
    starts = [(role, s) for role, s in statements if s["Action"] == "states:StartExecution"]
    assert sorted(json.dumps(s["Resource"]) for _, s in starts) == sorted(
        json.dumps(c) for c in children
    )
    assert all(role.startswith("RolesFleetRole") for role, _ in starts)
    # ... and no role of the stack may stop an execution
    assert not [s for _, s in statements if "states:StopExecution" in json.dumps(s["Action"])]


def test_template_names_no_partition(template: Template) -> None:
    # GIVEN the synthesized template, the rendered definitions included / WHEN / THEN every
    # ARN takes its partition from the stack (aws-cn, aws-us-gov, ...)
    assert "arn:aws:" not in json.dumps(template.to_json())


def test_lock_table_is_on_demand_keyed_by_instance_with_ttl(template: Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "InstanceId", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "ExpiresAt", "Enabled": True},
        },
    )


def test_log_groups_keep_logs_for_the_configured_retention(synth: Synth) -> None:
    _, default = synth()
    _, monthly = synth(logRetentionDays=30)
    for template, days in ((default, 90), (monthly, 30)):
        groups = _resources(template, "AWS::Logs::LogGroup")
        assert len(groups) == 6  # tasks; restore, drill, mount, fleet, drill fleet executions
        assert all(g["Properties"]["RetentionInDays"] == days for g in groups.values())


def test_execution_logs_are_named_under_vendedlogs_states_when_synthesized(
    template: Template,
) -> None:
    # GIVEN the state machines and the log groups they deliver to
    machines = _resources(template, "AWS::StepFunctions::StateMachine").values()
    groups = _resources(template, "AWS::Logs::LogGroup")

    # THEN each machine logs to a group of its own, named under /aws/vendedlogs/states/
    # (CloudWatch Logs' resource-policy size limit), unique to this stack's creation
    destinations = [
        m["Properties"]["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"][
            "LogGroupArn"
        ]["Fn::GetAtt"][0]
        for m in machines
    ]
    assert len(set(destinations)) == len(MACHINE_PREFIXES)
    for logical_id in destinations:
        name = groups[logical_id]["Properties"]["LogGroupName"]["Fn::Join"][1]
        assert name[0].startswith("/aws/vendedlogs/states/VssRestore-")
        assert "AWS::StackId" in json.dumps(name[1:])


def _topic_policy(template: Template) -> list[dict[str, Any]]:
    (policy,) = _resources(template, "AWS::SNS::TopicPolicy").values()
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


def test_topic_policy_lets_the_alarms_publish_from_this_account_only_when_deployed(
    template: Template,
) -> None:
    # GIVEN the topic policy (it replaces SNS's default one) and the stack's alarms
    alarms = set(_resources(template, "AWS::CloudWatch::Alarm"))
    allows = [s for s in _topic_policy(template) if s["Effect"] == "Allow"]

    # THEN CloudWatch may publish, for exactly these alarms, in this account
    (cloudwatch,) = [s for s in allows if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert cloudwatch["Action"] == "sns:Publish"
    assert cloudwatch["Condition"]["StringEquals"] == {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"}
    }
    sources = cloudwatch["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert {s["Fn::GetAtt"][0] for s in sources} == alarms
    assert all(s["Fn::GetAtt"][1] == "Arn" for s in sources)


def test_topic_policy_lets_eventbridge_publish_only_for_the_outcome_rule(
    template: Template,
) -> None:
    # GIVEN the topic policy and the outcome rule
    (rule_id,) = _resources(template, "AWS::Events::Rule")
    allows = [s for s in _topic_policy(template) if s["Effect"] == "Allow"]

    # THEN EventBridge may publish only on behalf of that rule, and nobody else is allowed
    (eventbridge,) = [s for s in allows if s["Principal"] == {"Service": "events.amazonaws.com"}]
    assert eventbridge["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}
    }
    assert {json.dumps(s["Principal"]) for s in allows} == {
        json.dumps({"Service": "events.amazonaws.com"}),
        json.dumps({"Service": "cloudwatch.amazonaws.com"}),
    }


def test_topic_key_lets_both_publishers_encrypt_when_the_topic_uses_it(
    template: Template,
) -> None:
    # GIVEN the topic's KMS key
    (topic,) = _resources(template, "AWS::SNS::Topic").values()
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    statements = _resources(template, "AWS::KMS::Key")[key_id]["Properties"]["KeyPolicy"][
        "Statement"
    ]

    # THEN EventBridge and CloudWatch may each make and read the topic's data keys
    for service in ("events.amazonaws.com", "cloudwatch.amazonaws.com"):
        (grant,) = [s for s in statements if s["Principal"] == {"Service": service}]
        assert set(grant["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_topic_key_encrypts_the_topic_and_nothing_else(template: Template) -> None:
    # GIVEN the topic's key, whose grants to EventBridge and CloudWatch carry no source
    # condition (the topic policy names the publishers)
    (topic_id,) = _resources(template, "AWS::SNS::Topic")
    (key_id,) = _resources(template, "AWS::KMS::Key")

    # THEN no resource but the topic names the key: the grants serve this topic only
    users = {
        logical_id
        for logical_id, resource in template.to_json()["Resources"].items()
        if logical_id != key_id and f'"{key_id}"' in json.dumps(resource)
    }
    assert users == {topic_id}


def test_roles_that_use_kms_keys_are_stack_outputs(template: Template) -> None:
    # GIVEN the stack outputs
    outputs = template.find_outputs("*")

    # THEN each role that uses volume keys through EC2 has its ARN among them
    roles = _resources(template, "AWS::IAM::Role")
    for concern in KMS_CONCERNS:
        value = outputs[f"{concern}RoleArn"]["Value"]
        assert value["Fn::GetAtt"][1] == "Arn"
        assert value["Fn::GetAtt"][0] in roles
        assert value["Fn::GetAtt"][0].startswith(f"Roles{concern}Role")


def test_notifications_alarms_and_dashboard_are_wired_to_the_topic(template: Template) -> None:
    topic_id = next(iter(_resources(template, "AWS::SNS::Topic")))
    topic = _resources(template, "AWS::SNS::Topic")[topic_id]["Properties"]
    assert "KmsMasterKeyId" in topic
    rule = next(iter(_resources(template, "AWS::Events::Rule").values()))["Properties"]
    assert rule["EventPattern"]["detail"]["status"] == [
        "SUCCEEDED",
        "FAILED",
        "TIMED_OUT",
        "ABORTED",
    ]
    assert rule["Targets"][0]["Arn"] == {"Ref": topic_id}
    alarms = _resources(template, "AWS::CloudWatch::Alarm")
    # DrillSucceeded, and failed, timed-out and stopped executions summed over every machine,
    # the fleets' included (a fleet that fails or is stopped leaves servers unrestored)
    single = [
        a["Properties"]["MetricName"] for a in alarms.values() if "MetricName" in a["Properties"]
    ]
    summed = [a["Properties"]["Metrics"] for a in alarms.values() if "Metrics" in a["Properties"]]
    assert single == ["DrillSucceeded"]
    every_machine = set(_resources(template, "AWS::StepFunctions::StateMachine"))
    assert sorted(
        m["MetricStat"]["Metric"]["MetricName"] for ms in summed for m in ms if "MetricStat" in m
    ) == sorted(
        f"Executions{outcome}"
        for outcome in ("Failed", "TimedOut", "Aborted")
        for _ in every_machine
    )
    for metrics in summed:
        machines_summed = {
            m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
            for m in metrics
            if "MetricStat" in m
        }
        assert machines_summed == every_machine
    fleets = {k for k in every_machine if k.startswith(("FleetMachine", "DrillFleetMachine"))}
    assert len(fleets) == 2
    assert {m["Ref"] for m in rule["EventPattern"]["detail"]["stateMachineArn"]} == every_machine
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": topic_id}] for a in alarms.values())
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    template.resource_count_is("AWS::SNS::Subscription", 0)
    assert set(template.find_outputs("*")) >= {"StateMachineArn", "TopicArn", "DashboardUrl"}


def test_email_subscription_is_added_when_an_address_is_given(synth: Synth) -> None:
    _, template = synth(notificationEmail="oncall@example.com")
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"}
    )


def test_dashboard_shows_executions_durations_failures_by_error_and_lambda_errors(
    template: Template,
) -> None:
    body = json.dumps(
        next(iter(_resources(template, "AWS::CloudWatch::Dashboard").values()))["Properties"]
    )
    for expected in (
        "Executions",
        "Execution duration",
        "Failures by error",
        "Errors",
        "Throttles",
    ):
        assert expected in body


def test_cdk_nag_reports_no_unsuppressed_finding(
    stack_and_template: tuple[VssRestoreStack, Template],
) -> None:
    stack, _ = stack_and_template
    annotations = Annotations.from_stack(stack)
    errors = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    warnings = annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert [e.entry.data for e in errors] == []
    assert [w.entry.data for w in warnings] == []


def test_every_cdk_nag_suppression_has_a_reason_and_is_listed_in_the_deploying_guide(
    template: Template,
) -> None:
    guide = (REPO / "docs" / "deploying.md").read_text()
    suppressed = {
        rule["id"]: rule["reason"]
        for resource in template.to_json()["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    }
    assert suppressed, "expected the documented suppressions"
    for rule_id, reason in suppressed.items():
        assert len(reason) > 40, rule_id
        assert f"`{rule_id}`" in guide, (
            f"{rule_id} is suppressed but not explained in docs/deploying.md"
        )


def test_synthesized_template_passes_cfn_lint(
    stack_and_template: tuple[VssRestoreStack, Template], tmp_path: Path
) -> None:
    _, template = stack_and_template
    path = tmp_path / "VssRestore.template.json"
    path.write_text(json.dumps(template.to_json()))
    lint = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


# --- drills: schedules and alarm -----------------------------------------------------------

DRILL_CONTEXT = {
    "expression": "cron(0 3 ? * SUN *)",
    "tagKey": "GameDay",
    "tagValues": ["weekly"],
    "SubnetId": "subnet-0a0b0c0d0e0f01234",
    "SecurityGroupIds": ["sg-0d0d0d0d0d0d0d0d0"],
    "ValidationDocument": "vss-restore-validation-services",
}


# What Step Functions accepts as an execution name (and logs to CloudWatch Logs).
EXECUTION_NAME = re.compile(r"[0-9A-Za-z_-]{1,80}")


def _schedules(template: Template) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in _resources(template, "AWS::Scheduler::Schedule").items()}


def test_expired_drill_resources_are_cleaned_up_daily_and_drills_are_opt_in(
    template: Template,
) -> None:
    # (without drillSchedule: the two cleanups, no drill)
    schedules = _schedules(template)
    assert len(schedules) == 2
    cleanup = next(v for k, v in schedules.items() if "CleanupExpiredDrills" in k)
    assert cleanup["ScheduleExpression"] == "rate(1 day)"
    assert json.loads(cleanup["Target"]["Input"]) == {"Expired": True}
    function_id = cleanup["Target"]["Arn"]["Fn::GetAtt"][0]
    handler = _functions_by_logical_id(template)[function_id]["Handler"]
    assert handler == "vss_restore.functions.cleanup_drill.handler"


def test_expired_mounts_are_unmounted_every_hour(template: Template) -> None:
    unmount = next(v for k, v in _schedules(template).items() if "UnmountExpiredMounts" in k)
    assert unmount["ScheduleExpression"] == "rate(1 hour)"
    assert json.loads(unmount["Target"]["Input"]) == {"Expired": True}
    function_id = unmount["Target"]["Arn"]["Fn::GetAtt"][0]
    handler = _functions_by_logical_id(template)[function_id]["Handler"]
    assert handler == "vss_restore.functions.unmount_volumes.handler"


def _scheduled_start(template: Template, execution_id: str, machine_arn: str) -> dict[str, str]:
    """The StartExecution call the game-day schedule makes, as Scheduler would make it for
    the invocation ``execution_id``: the drill fleet machine's ARN in place of its Ref, the
    context attributes replaced."""
    drills = next(v for k, v in _schedules(template).items() if "GameDay" in k)
    assert drills["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:sfn:startExecution"
    separator, parts = drills["Target"]["Input"]["Fn::Join"]
    refs = {p["Ref"] for p in parts if isinstance(p, dict)}
    assert len(refs) == 1
    assert refs.pop().startswith("DrillFleetMachine")
    text = separator.join(machine_arn if isinstance(p, dict) else p for p in parts)
    call: dict[str, str] = json.loads(text.replace("<aws.scheduler.execution-id>", execution_id))
    return call


def test_drill_schedule_starts_clone_drills_of_the_tagged_instances(synth: Synth) -> None:
    _, template = synth(drillSchedule=DRILL_CONTEXT)
    drills = next(v for k, v in _schedules(template).items() if "GameDay" in k)
    assert drills["ScheduleExpression"] == DRILL_CONTEXT["expression"]
    call = _scheduled_start(template, "d32c5kddcf5bb8c3", "arn:aws:states:::stateMachine:x")
    request = json.loads(call.pop("input"))
    assert set(call) == {"stateMachineArn", "name"}
    assert call["stateMachineArn"] == "arn:aws:states:::stateMachine:x"
    assert request["Mode"] == "Clone"
    assert request["TagFilter"] == {"Key": "GameDay", "Values": ["weekly"]}
    assert request["ToleratedFailurePercentage"] == 100
    assert request["SubnetId"] == DRILL_CONTEXT["SubnetId"]


def test_a_scheduled_game_day_started_twice_runs_one_drill_fleet(synth: Synth) -> None:
    # GIVEN the game-day schedule, and a drill fleet machine
    _, template = synth(drillSchedule=DRILL_CONTEXT)
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="drill-fleet",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/drill-fleet",
        )["stateMachineArn"]

        # WHEN Scheduler makes one scheduled start's call twice (a retry after its answer
        # was lost), then the next week's start
        first = sfn.start_execution(**_scheduled_start(template, "d32c5kddcf5bb8c3", machine))
        again = sfn.start_execution(**_scheduled_start(template, "d32c5kddcf5bb8c3", machine))
        sfn.start_execution(**_scheduled_start(template, "a71e0bb29f0c44d1", machine))

        # THEN the retry found the fleet it had started, named after the invocation, and
        # only the next start began another
        assert again["executionArn"] == first["executionArn"]
        names = sorted(
            e["name"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]
        )
    assert names == ["game-day-a71e0bb29f0c44d1", "game-day-d32c5kddcf5bb8c3"]
    assert all(EXECUTION_NAME.fullmatch(n) for n in names)


def test_bad_drill_schedule_names_the_key() -> None:

    for bad, key in (
        ({**DRILL_CONTEXT, "expression": "every sunday"}, "drillSchedule.expression"),
        ({**DRILL_CONTEXT, "tagValues": []}, "drillSchedule: needs tagKey"),
        ({**DRILL_CONTEXT, "SubnetId": "nope"}, "drillSchedule.SubnetId"),
        ({**DRILL_CONTEXT, "PowerOnAfterRestore": True}, "drillSchedule.PowerOnAfterRestore"),
    ):
        with pytest.raises(InvalidContext, match=key):
            DrillSchedule.from_context(bad)


def test_a_failed_drill_raises_an_alarm_on_the_topic(template: Template) -> None:
    alarms = _resources(template, "AWS::CloudWatch::Alarm")
    drill = next(v["Properties"] for k, v in alarms.items() if "DrillFailed" in k)
    assert (drill["Namespace"], drill["MetricName"]) == ("VssRestore", "DrillSucceeded")
    assert drill["ComparisonOperator"] == "LessThanThreshold"
    assert drill["AlarmActions"]


# --- guardrails: what the deployment allows beyond ValidateRequest's rules --------------------

GUARDRAIL_VARIABLES = (
    "VALIDATION_DOCUMENTS",
    "CLONE_EXPOSED_SUBNET_IDS",
    "CLONE_OPEN_SECURITY_GROUP_IDS",
    "RECOVERY_HOST_TAG_KEY",
    "RECOVERY_HOST_TAG_VALUE",
    "DRILL_INSTANCE_TYPES",
)


def test_guardrails_allow_nothing_more_when_the_context_names_nothing(template: Template) -> None:
    for props in _functions_by_logical_id(template).values():
        assert not set(GUARDRAIL_VARIABLES) & set(props["Environment"]["Variables"])


def test_guardrail_context_reaches_the_functions_environment(synth: Synth) -> None:
    # GIVEN a deployment that lists documents, allows a subnet and a group, has recovery hosts
    _, template = synth(
        validationDocuments="Ops-SqlCheck, AWS-RunPowerShellScript",
        cloneExposedSubnetIds=["subnet-0a0b0c0d0e0f01234"],
        cloneOpenSecurityGroupIds="sg-0d0d0d0d0d0d0d0d0",
        recoveryHostTagKey="Role",
        recoveryHostTagValue="recovery",
        drillInstanceTypes=["t3.large", "m6i.xlarge"],
    )

    # THEN every function reads them as its settings do
    for props in _functions_by_logical_id(template).values():
        variables = props["Environment"]["Variables"]
        assert {k: variables[k] for k in GUARDRAIL_VARIABLES} == {
            "VALIDATION_DOCUMENTS": "Ops-SqlCheck,AWS-RunPowerShellScript",
            "CLONE_EXPOSED_SUBNET_IDS": "subnet-0a0b0c0d0e0f01234",
            "CLONE_OPEN_SECURITY_GROUP_IDS": "sg-0d0d0d0d0d0d0d0d0",
            "RECOVERY_HOST_TAG_KEY": "Role",
            "RECOVERY_HOST_TAG_VALUE": "recovery",
            "DRILL_INSTANCE_TYPES": "t3.large,m6i.xlarge",
        }


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"validationDocuments": "Ops-Check,my check"}, "validationDocuments="),
        ({"cloneExposedSubnetIds": ["subnet-1"]}, "cloneExposedSubnetIds="),
        ({"cloneOpenSecurityGroupIds": ["sg-0d0d0d0d", "vpc-0e0e0e0e"]}, "is not a valid id"),
        ({"recoveryHostTagKey": "aws:recovery"}, "recoveryHostTagKey="),
        ({"recoveryHostTagValue": "yes"}, "set without recoveryHostTagKey"),
        ({"drillInstanceTypes": "t3.large,M5 Large"}, "drillInstanceTypes=.*not an EC2 instance"),
        ({"cloneEgressPrefixListId": "prefix-list-1"}, "cloneEgressPrefixListId="),
        ({"cloneEgressAnywhere": "always"}, "cloneEgressAnywhere="),
        (
            {"cloneEgressAnywhere": True, "cloneEgressPrefixListId": "pl-0123456789abcdef0"},
            "set only one",
        ),
        ({"cloneKeepsSourceProfile": True}, "without drillInstanceRoleArns"),
    ],
)
def test_bad_guardrail_context_fails_synthesis_naming_the_key(
    context: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidContext, match=message):
        DeploymentConfig.from_context(cdk.App(context=context))


def test_drill_schedule_must_name_an_instance_type_the_deployment_lists() -> None:
    # GIVEN a game day whose clones are all to be t3.large, a type the deployment does not list
    schedule = {**DRILL_CONTEXT, "InstanceType": "t3.large"}

    # WHEN / THEN synthesis fails naming the key: the drills of other types would be refused
    with pytest.raises(InvalidContext, match=r"^drillSchedule\.InstanceType: t3\.large is not in"):
        DeploymentConfig.from_context(cdk.App(context={"drillSchedule": schedule}))

    # ... and passes once the deployment lists it
    listed = cdk.App(context={"drillSchedule": schedule, "drillInstanceTypes": "t3.large"})
    assert DeploymentConfig.from_context(listed).drill_schedule is not None


def test_drill_isolation_context_reaches_the_functions_environment_as_their_settings_read_it() -> (
    None
):
    # GIVEN a deployment that widens a clone's egress to a prefix list and lets it keep a role
    role = "arn:aws:iam::111122223333:role/web-*"
    app = cdk.App(
        context={
            "cloneEgressPrefixListId": "pl-0123456789abcdef0",
            "cloneKeepsSourceProfile": True,
            "drillInstanceRoleArns": [role],
        }
    )

    # WHEN the deployment's settings are read / THEN the functions get them as variables
    environment = DeploymentConfig.from_context(app).guardrails.environment
    read = Settings.from_environ(environment)
    assert (read.clone_egress_prefix_list_id, read.clone_egress_anywhere) == (
        "pl-0123456789abcdef0",
        False,
    )
    assert (read.clone_keeps_source_profile, read.drill_instance_role_arns) == (True, (role,))


def test_drill_schedule_must_name_a_document_that_validate_request_runs() -> None:
    # GIVEN a game day whose validation is AWS's PowerShell document, not listed
    app = cdk.App(
        context={
            "drillSchedule": {**DRILL_CONTEXT, "ValidationDocument": "AWS-RunPowerShellScript"}
        }
    )

    # WHEN / THEN synthesis fails, naming the key: every scheduled drill would be refused
    with pytest.raises(InvalidContext, match=r"^drillSchedule\.ValidationDocument: "):
        DeploymentConfig.from_context(app)

    # ... and passes once the deployment lists it
    listed = cdk.App(
        context={
            "drillSchedule": {**DRILL_CONTEXT, "ValidationDocument": "AWS-RunPowerShellScript"},
            "validationDocuments": "AWS-RunPowerShellScript",
        }
    )
    assert DeploymentConfig.from_context(listed).drill_schedule is not None
