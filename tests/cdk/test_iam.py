"""Least privilege: what each role may do, and the conditions that keep it to its own business."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template

from tests.cdk.conftest import Synth
from vss_restore import tags

DESTRUCTIVE = {
    "ec2:DeleteVolume",
    "ec2:DetachVolume",
    "ec2:StopInstances",
    "ec2:AttachVolume",
    "ec2:TerminateInstances",
}
# What a drill creates carries vss-restore:drill = the source instance's id.
DRILL_RESOURCE_TAG = {"StringLike": {f"aws:ResourceTag/{tags.DRILL}": "i-*"}}


def _statements(template: Template) -> list[dict[str, Any]]:
    found = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            resources = (
                statement["Resource"]
                if isinstance(statement["Resource"], list)
                else [statement["Resource"]]
            )
            roles = [r["Ref"] for r in policy["Properties"]["Roles"]]
            found.append({**statement, "Action": actions, "Resource": resources, "Roles": roles})
    return found


def _resource_text(resource: Any) -> str:
    if isinstance(resource, str):
        return resource
    if "Fn::Join" in resource:
        return "".join(p if isinstance(p, str) else "<token>" for p in resource["Fn::Join"][1])
    return "<token>"


def _has_tag_condition(statement: dict[str, Any]) -> bool:
    for operator in statement.get("Condition", {}).values():
        if any(key.startswith(("aws:ResourceTag/", "aws:RequestTag/")) for key in operator):
            return True
    return False


def test_destructive_actions_never_apply_to_everything_without_a_tag_condition(
    template: Template,
) -> None:
    for statement in _statements(template):
        if DESTRUCTIVE & set(statement["Action"]):
            resources = [_resource_text(r) for r in statement["Resource"]]
            assert "*" not in resources or _has_tag_condition(statement), statement["Sid"]


def test_instance_changes_require_the_opt_in_tag(template: Template) -> None:
    changing = {
        "ec2:StopInstances",
        "ec2:StartInstances",
        "ec2:AttachVolume",
        "ec2:DetachVolume",
        "ec2:ModifyInstanceAttribute",
    }
    on_instances = [
        s
        for s in _statements(template)
        if changing & set(s["Action"])
        and any(":instance/" in _resource_text(r) for r in s["Resource"])
    ]
    assert {a for s in on_instances for a in s["Action"]} >= changing
    for statement in on_instances:
        assert statement["Condition"] == {
            "StringEquals": {"aws:ResourceTag/vss-restore:enabled": "true"}
        }


def test_volume_side_of_attach_and_detach_is_paired_with_an_opted_in_instance_statement(
    template: Template,
) -> None:
    statements = _statements(template)
    for statement in statements:
        actions = {"ec2:AttachVolume", "ec2:DetachVolume"} & set(statement["Action"])
        if actions and not _has_tag_condition(statement):
            assert all(":volume/" in _resource_text(r) for r in statement["Resource"]), statement[
                "Sid"
            ]
            guards = [
                s
                for s in statements
                if s["Roles"] == statement["Roles"]
                and actions <= set(s["Action"])
                and _has_tag_condition(s)
            ]
            assert guards, f"{statement['Sid']} has no tag-conditioned instance statement beside it"


def test_volumes_are_deleted_only_when_they_carry_a_tag_vss_restore_wrote(
    template: Template,
) -> None:
    deletes = [s for s in _statements(template) if "ec2:DeleteVolume" in s["Action"]]
    assert deletes
    allowed = {
        f"aws:ResourceTag/{tags.CREATED_BY}": tags.CREATED_BY_VALUE,
        f"aws:ResourceTag/{tags.STATUS}": tags.STATUS_REPLACED,
    }
    for statement in deletes:
        if statement["Condition"] == DRILL_RESOURCE_TAG:
            continue
        condition = statement["Condition"]["StringEquals"]
        assert len(condition) == 1
        ((key, value),) = condition.items()
        assert allowed[key] == value


def test_create_volume_requires_the_created_by_request_tag_and_tags_only_on_create(
    template: Template,
) -> None:
    statements = _statements(template)
    create = [s for s in statements if "ec2:CreateVolume" in s["Action"]]
    on_volumes = [s for s in create if any(":volume/" in _resource_text(r) for r in s["Resource"])]
    assert on_volumes
    assert all(
        s["Condition"]
        == {"StringEquals": {f"aws:RequestTag/{tags.CREATED_BY}": tags.CREATED_BY_VALUE}}
        for s in on_volumes
    )
    create_roles = {r for s in create for r in s["Roles"]}
    tagging = [
        s for s in statements if "ec2:CreateTags" in s["Action"] and set(s["Roles"]) & create_roles
    ]
    assert tagging
    assert all(
        s["Condition"] == {"StringEquals": {"ec2:CreateAction": "CreateVolume"}} for s in tagging
    )


def test_other_tagging_is_limited_to_vss_restore_keys_or_own_volumes(template: Template) -> None:
    for statement in _statements(template):
        if "ec2:CreateTags" not in statement["Action"]:
            continue
        condition = statement["Condition"]
        assert (
            condition.get("StringEquals", {}).get("ec2:CreateAction")
            in ("CreateVolume", "RunInstances")
            or condition.get("ForAllValues:StringLike", {}).get("aws:TagKeys")
            == [f"{tags.PREFIX}*"]
            or condition.get("StringEquals", {}).get(f"aws:ResourceTag/{tags.CREATED_BY}")
            == tags.CREATED_BY_VALUE
        ), statement["Sid"]


def test_only_describe_actions_are_granted_on_star_without_conditions(template: Template) -> None:
    for statement in _statements(template):
        if "*" in statement["Resource"] and "Condition" not in statement:
            assert all(
                a.startswith(("ec2:Describe", "xray:", "logs:"))
                or a in ("ssm:GetCommandInvocation", "ssm:ListCommands")
                for a in statement["Action"]
            ), statement["Sid"]


def test_snapshots_are_only_read(template: Template) -> None:
    for statement in _statements(template):
        if any(":snapshot/" in _resource_text(r) for r in statement["Resource"]):
            assert statement["Action"] in (["ec2:CreateVolume"], ["ec2:RunInstances"])


def test_kms_is_used_only_through_ec2_and_grants_only_to_aws_resources(template: Template) -> None:
    kms = [s for s in _statements(template) if any(a.startswith("kms:") for a in s["Action"])]
    assert kms
    for statement in kms:
        assert "kms:ViaService" in statement["Condition"]["StringEquals"]
        if "kms:CreateGrant" in statement["Action"]:
            assert statement["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}


def test_kms_statements_name_the_configured_keys_only(synth: Synth) -> None:
    key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    _, template = synth(kmsKeyArns=[key])
    kms = [s for s in _statements(template) if any(a.startswith("kms:") for a in s["Action"])]
    assert kms
    assert all(s["Resource"] == [key] for s in kms)


def test_opt_in_tag_is_configurable(synth: Synth) -> None:
    _, template = synth(optInTagKey="Backup:Restorable", optInTagValue="yes")
    stops = [s for s in _statements(template) if "ec2:StopInstances" in s["Action"]]
    assert stops
    assert all(
        s["Condition"] == {"StringEquals": {"aws:ResourceTag/Backup:Restorable": "yes"}}
        for s in stops
    )


def test_lock_role_reaches_only_the_lock_table(template: Template) -> None:
    dynamo = [
        s for s in _statements(template) if any(a.startswith("dynamodb:") for a in s["Action"])
    ]
    assert dynamo
    for statement in dynamo:
        assert set(statement["Action"]) <= {
            "dynamodb:PutItem",
            "dynamodb:GetItem",
            "dynamodb:DeleteItem",
        }
        assert all(isinstance(r, dict) for r in statement["Resource"])  # the table's ARN, not "*"


# --- clone drills --------------------------------------------------------------------------


def test_clones_are_launched_only_with_the_drill_tags_and_tagged_only_at_launch(
    template: Template,
) -> None:
    statements = _statements(template)
    launches = [s for s in statements if "ec2:RunInstances" in s["Action"]]
    created = [
        s
        for s in launches
        if any(
            f":{kind}/" in _resource_text(r)
            for r in s["Resource"]
            for kind in ("instance", "volume")
        )
    ]
    assert created
    for statement in created:
        assert statement["Condition"] == {
            "StringEquals": {f"aws:RequestTag/{tags.CREATED_BY}": tags.CREATED_BY_VALUE},
            "StringLike": {f"aws:RequestTag/{tags.DRILL}": "i-*"},
        }
    launch_roles = {r for s in launches for r in s["Roles"]}
    assert len(launch_roles) == 1
    tagging = [
        s for s in statements if "ec2:CreateTags" in s["Action"] and set(s["Roles"]) & launch_roles
    ]
    assert [s["Condition"] for s in tagging] == [
        {"StringEquals": {"ec2:CreateAction": "RunInstances"}}
    ]


def test_only_drill_resources_can_be_terminated_and_only_drill_clones_run_commands(
    template: Template,
) -> None:
    statements = _statements(template)
    terminate = [s for s in statements if "ec2:TerminateInstances" in s["Action"]]
    assert terminate
    assert all(s["Condition"] == DRILL_RESOURCE_TAG for s in terminate)
    on_instances = [
        s
        for s in statements
        if "ssm:SendCommand" in s["Action"]
        and any(":instance/" in _resource_text(r) for r in s["Resource"])
    ]
    assert on_instances
    assert all(
        s["Condition"] == {"StringLike": {f"ssm:resourceTag/{tags.DRILL}": "i-*"}}
        for s in on_instances
    )
    passing = [s for s in statements if "iam:PassRole" in s["Action"]]
    assert all(
        s["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
        for s in passing
    )


def test_drill_outcomes_go_only_to_the_drill_namespace_and_the_default_bus(
    template: Template,
) -> None:
    statements = _statements(template)
    metrics = [s for s in statements if "cloudwatch:PutMetricData" in s["Action"]]
    assert [s["Condition"] for s in metrics] == [
        {"StringEquals": {"cloudwatch:namespace": "VssRestore"}}
    ]
    (put_events,) = [s for s in statements if "events:PutEvents" in s["Action"]]
    assert _resource_text(put_events["Resource"][0]).endswith(":event-bus/default")
