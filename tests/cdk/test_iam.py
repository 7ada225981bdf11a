"""Least privilege: what each role may do, and the conditions that keep it to its own business."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from stacks.config import DeploymentConfig, InvalidContext
from stacks.parts.permissions import KMS_CONCERNS, SWAP, TASK_ROLE_PATH

from tests.cdk.conftest import Synth
from vss_restore import tags
from vss_restore.definition import repo_root
from vss_restore.drill import EVENT_SOURCE
from vss_restore.fleet import FLEET_EVENT_DETAIL_TYPE

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
        return "".join(
            p
            if isinstance(p, str)
            else "<account>"
            if p == {"Ref": "AWS::AccountId"}
            else "<token>"
            for p in resource["Fn::Join"][1]
        )
    return "<token>"


def _has_tag_condition(statement: dict[str, Any]) -> bool:
    """The statement requires a tag to be present with a value (a Null test alone does not)."""
    for operator, pairs in statement.get("Condition", {}).items():
        if operator != "Null" and any(
            key.startswith(("aws:ResourceTag/", "aws:RequestTag/")) for key in pairs
        ):
            return True
    return False


def _holds(condition: dict[str, Any], resource_tags: dict[str, str]) -> bool:
    """A condition block, evaluated as IAM would for a call that only names an existing
    resource with these tags (request-time keys such as aws:RequestTag are absent)."""
    for operator, pairs in condition.items():
        for key, expected in pairs.items():
            if not key.startswith("aws:ResourceTag/"):
                return False
            actual = resource_tags.get(key.removeprefix("aws:ResourceTag/"))
            values = expected if isinstance(expected, list) else [expected]
            if operator == "Null":
                holds = (actual is None) == (values == ["true"])
            elif operator == "StringEquals":
                holds = actual in values
            elif operator == "StringLike":
                holds = actual is not None and any(fnmatchcase(actual, v) for v in values)
            else:
                holds = False
            if not holds:
                return False
    return True


def _allows(
    template: Template, concern: str, action: str, kind: str, resource_tags: dict[str, str]
) -> bool:
    """Whether the role of ``concern`` may call ``action`` on an EC2 ``kind`` (instance,
    volume) of this account that carries ``resource_tags``."""
    return any(
        action in s["Action"]
        and any(f":<account>:{kind}/" in _resource_text(r) for r in s["Resource"])
        and _holds(s.get("Condition", {}), resource_tags)
        for s in _statements(template)
        if s["Effect"] == "Allow" and any(r.startswith(f"Roles{concern}Role") for r in s["Roles"])
    )


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
    statements = _statements(template)
    on_instances = [
        s
        for s in statements
        if s["Effect"] == "Allow"
        and changing & set(s["Action"])
        and any(":instance/" in _resource_text(r) for r in s["Resource"])
    ]
    assert {a for s in on_instances for a in s["Action"]} >= changing
    for statement in on_instances:
        # The drill role changes only its own clones (see the drill tests below).
        expected = (
            DRILL_RESOURCE_TAG
            if set(statement["Roles"]) <= _drill_roles(statements)
            else {"StringEquals": {"aws:ResourceTag/vss-restore:enabled": "true"}}
        )
        assert statement["Condition"] == expected, statement["Sid"]


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
    created_by = {f"aws:RequestTag/{tags.CREATED_BY}": tags.CREATED_BY_VALUE}
    assert all(s["Condition"]["StringEquals"] == created_by for s in on_volumes)
    # The restore's volumes: created-by only; a drill's clone root: its drill tag too.
    assert {
        json.dumps({k: v for k, v in s["Condition"].items() if k != "StringEquals"})
        for s in on_volumes
    } == {"{}", json.dumps({"StringLike": {f"aws:RequestTag/{tags.DRILL}": "i-*"}})}
    create_roles = {
        r
        for s in create
        if "Condition" not in s or s["Condition"] == {"StringEquals": created_by}
        for r in s["Roles"]
    } - _drill_roles(statements)
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
        keys = condition.get("ForAllValues:StringEquals", {}).get("aws:TagKeys", [])
        create_actions = condition.get("StringEquals", {}).get("ec2:CreateAction", [])
        if isinstance(create_actions, str):
            create_actions = [create_actions]
        assert (
            (
                create_actions
                and set(create_actions) <= {"CreateVolume", "RunInstances", "CreateSecurityGroup"}
            )
            or (keys and all(k.startswith(tags.PREFIX) for k in keys))
            or condition.get("StringEquals", {}).get(f"aws:ResourceTag/{tags.CREATED_BY}")
            == tags.CREATED_BY_VALUE
        ), statement["Sid"]


def test_only_describe_actions_are_granted_on_star_without_conditions(template: Template) -> None:
    # One write is the exception: CancelCommand has no resource types and no condition keys
    # (AWS's Service Authorization Reference), and only the disk roles cancel their commands.
    cancels = [s["Sid"] for s in _statements(template) if "ssm:CancelCommand" in s["Action"]]
    assert sorted(cancels) == ["CancelTimedOutDiskCommands", "CancelTimedOutDiskCommandsToUnmount"]
    for statement in _statements(template):
        if "*" in statement["Resource"] and "Condition" not in statement:
            assert all(
                a.startswith(("ec2:Describe", "xray:", "logs:"))
                or a
                in (
                    "ssm:GetCommandInvocation",
                    "ssm:ListCommands",
                    "ssm:DescribeInstanceInformation",
                    "ssm:CancelCommand",
                )
                for a in statement["Action"]
            ), statement["Sid"]


def test_snapshots_are_only_read(template: Template) -> None:
    for statement in _statements(template):
        if any(":snapshot/" in _resource_text(r) for r in statement["Resource"]):
            assert statement["Action"] in (["ec2:CreateVolume"], ["ec2:RunInstances"])


def test_volumes_and_clones_are_made_only_from_this_accounts_snapshots(
    template: Template,
) -> None:
    # GIVEN every statement that names snapshots (CreateVolume, RunInstances)
    on_snapshots = [
        s
        for s in _statements(template)
        if any(":snapshot/" in _resource_text(r) for r in s["Resource"])
    ]

    # THEN each names snapshots as their ARN does (no account in it) and only those this
    # account owns: never a public or another account's one
    assert len(on_snapshots) == 3  # restore volumes, clone launches, clone roots
    for statement in on_snapshots:
        assert [_resource_text(r) for r in statement["Resource"]] == [
            "arn:<token>:ec2:<token>::snapshot/*"
        ], statement["Sid"]
        ((key, owner),) = statement["Condition"]["StringEquals"].items()
        assert key == "ec2:Owner"
        assert "AWS::AccountId" in json.dumps(owner)


# --- the swap: instance and volume sides -------------------------------------------------

OPTED_IN = {"vss-restore:enabled": "true"}
RESTORED = {tags.CREATED_BY: tags.CREATED_BY_VALUE, tags.STATUS: tags.STATUS_RESTORING}
ORIGINAL: dict[str, str] = {"Name": "web01 data"}
DRILL_VOLUME = {tags.DRILL: "i-0123456789abcdef0", tags.CREATED_BY: tags.CREATED_BY_VALUE}


def test_set_delete_on_termination_is_allowed_on_every_volume_it_names_when_the_instance_opted_in(
    template: Template,
) -> None:
    # GIVEN ModifyInstanceAttribute with block device mappings, which EC2 authorizes on the
    # instance and on each volume named (restored ones forward, originals on rollback)
    action = "ec2:ModifyInstanceAttribute"

    # THEN the Swap role may make it for an opted-in instance and both kinds of volume
    assert _allows(template, "Swap", action, "instance", OPTED_IN)
    assert _allows(template, "Swap", action, "volume", RESTORED)
    assert _allows(template, "Swap", action, "volume", ORIGINAL)
    # ...and never for an instance that did not opt in
    assert not _allows(template, "Swap", action, "instance", {})


def test_swap_reaches_restored_and_original_volumes_but_no_drill_volume(
    template: Template,
) -> None:
    for action in ("ec2:AttachVolume", "ec2:DetachVolume", "ec2:ModifyInstanceAttribute"):
        assert _allows(template, "Swap", action, "volume", RESTORED), action
        assert _allows(template, "Swap", action, "volume", ORIGINAL), action
        assert not _allows(template, "Swap", action, "volume", DRILL_VOLUME), action
        assert not _allows(template, "Swap", action, "instance", {}), action


def test_finalize_writes_only_the_tags_that_record_a_restore(template: Template) -> None:
    # GIVEN the Finalize role's tagging statements
    tagging = [
        s
        for s in _statements(template)
        if "ec2:CreateTags" in s["Action"]
        and any(r.startswith("RolesFinalize") for r in s["Roles"])
    ]

    # THEN each allows only the status/replaced-by keys, with status restored or replaced
    assert len(tagging) == 2
    for statement in tagging:
        keys = statement["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]
        assert set(keys) <= {tags.STATUS, tags.REPLACED_BY, tags.REPLACED_BY_EXECUTION}
        status = statement["Condition"]["StringEquals"][f"aws:RequestTag/{tags.STATUS}"]
        assert status in (tags.STATUS_RESTORED, tags.STATUS_REPLACED)
    # ...and "restored" only on volumes vss-restore created
    (restored,) = [
        s
        for s in tagging
        if s["Condition"]["StringEquals"][f"aws:RequestTag/{tags.STATUS}"] == tags.STATUS_RESTORED
    ]
    assert (
        restored["Condition"]["StringEquals"][f"aws:ResourceTag/{tags.CREATED_BY}"]
        == tags.CREATED_BY_VALUE
    )


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


def _kms_statements_of(template: Template, concern: str) -> list[dict[str, Any]]:
    """The KMS statements of the role the stack's ``<Concern>RoleArn`` output names."""
    role = template.to_json()["Outputs"][f"{concern}RoleArn"]["Value"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(str(a).startswith("kms:") for a in _as_list(statement["Action"]))
    ]


@pytest.mark.parametrize("concern", KMS_CONCERNS)
def test_each_role_that_uses_keys_has_the_swap_roles_kms_grants(
    template: Template, concern: str
) -> None:
    # GIVEN a role whose ARN the stack outputs for key policies (the Mount role among them)
    statements = _kms_statements_of(template, concern)

    # THEN it may use the key through EC2 and create the grant EBS needs, as the Swap role may
    grant = next(s for s in statements if s["Action"] == "kms:CreateGrant")
    assert grant["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
    assert any(
        "kms:Decrypt" in s["Action"] and "kms:DescribeKey" in s["Action"] for s in statements
    )
    assert statements == _kms_statements_of(template, SWAP)


def test_key_policy_samples_name_every_role_that_uses_keys(template: Template) -> None:
    # GIVEN the guide's section on the KMS keys of the volumes
    guide = (repo_root() / "docs" / "permissions.md").read_text()
    section = guide[guide.index("## KMS keys of your volumes") :]
    section = section[: section.index("\n## ")] if "\n## " in section else section

    # THEN its table of outputs and each key-policy statement's principals (same account and
    # cross account) name exactly the roles the stack outputs for key policies
    outputs = re.findall(r"^\| `(\w+)RoleArn` \|", section, re.M)
    principals = [
        re.findall(r"role/vss-restore/VssRestore-Roles(\w+?)RoleEXAMPLE", block)
        for block in re.findall(r'"Principal": \{"AWS": \[(.*?)\]\}', section, re.S)
    ]
    assert sorted(outputs) == sorted(KMS_CONCERNS)
    assert len(principals) == 4  # two statements, same account and cross account
    assert all(sorted(roles) == sorted(KMS_CONCERNS) for roles in principals), principals
    assert {f"{c}RoleArn" for c in KMS_CONCERNS} <= set(template.find_outputs("*"))


def test_opt_in_tag_is_configurable(synth: Synth) -> None:
    _, template = synth(optInTagKey="Backup:Restorable", optInTagValue="yes")
    statements = _statements(template)
    stops = [
        s
        for s in statements
        if "ec2:StopInstances" in s["Action"] and not set(s["Roles"]) <= _drill_roles(statements)
    ]
    assert stops
    assert all(
        s["Condition"] == {"StringEquals": {"aws:ResourceTag/Backup:Restorable": "yes"}}
        for s in stops
    )


def test_task_roles_reach_only_the_lock_and_records_tables_with_item_calls(
    template: Template,
) -> None:
    dynamo = [
        s for s in _statements(template) if any(a.startswith("dynamodb:") for a in s["Action"])
    ]
    tables = {json.dumps(s["Resource"], sort_keys=True): set(s["Action"]) for s in dynamo}
    assert dynamo
    for statement in dynamo:
        where = json.dumps(statement["Resource"])
        # the tables' own ARNs (and the records' one index), never "*"
        assert "*" not in where
        if "RecordsTable" in where:
            assert set(statement["Action"]) <= {
                "dynamodb:BatchWriteItem",
                "dynamodb:Query",
                "dynamodb:Scan",
            }
        else:
            assert "LockTable" in where
            assert set(statement["Action"]) <= {
                "dynamodb:PutItem",
                "dynamodb:GetItem",
                "dynamodb:DeleteItem",
            }
    assert len(tables) == 2


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
        {
            "StringEquals": {
                "ec2:CreateAction": ["RunInstances", "CreateVolume", "CreateSecurityGroup"]
            }
        }
    ]


def _drill_roles(statements: list[dict[str, Any]]) -> set[str]:
    return {r for s in statements if "ec2:RunInstances" in s["Action"] for r in s["Roles"]}


def test_drill_groups_are_created_tagged_and_changed_or_deleted_only_when_drill_tagged(
    template: Template,
) -> None:
    statements = _statements(template)
    group_changes = [
        s
        for s in statements
        if {
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:RevokeSecurityGroupEgress",
            "ec2:DeleteSecurityGroup",
        }
        & set(s["Action"])
    ]
    assert group_changes
    assert all(s["Condition"] == DRILL_RESOURCE_TAG for s in group_changes)
    creates = [s for s in statements if "ec2:CreateSecurityGroup" in s["Action"]]
    on_groups = [
        s for s in creates if any(":security-group/" in _resource_text(r) for r in s["Resource"])
    ]
    assert [s["Condition"] for s in on_groups] == [
        {
            "StringEquals": {f"aws:RequestTag/{tags.CREATED_BY}": tags.CREATED_BY_VALUE},
            "StringLike": {f"aws:RequestTag/{tags.DRILL}": "i-*"},
        }
    ]
    assert {r for s in group_changes + creates for r in s["Roles"]} == _drill_roles(statements)


def test_drill_role_swaps_roots_and_powers_only_drill_tagged_clones(template: Template) -> None:
    statements = _statements(template)
    drill = _drill_roles(statements)
    swapping = {
        "ec2:StopInstances",
        "ec2:StartInstances",
        "ec2:AttachVolume",
        "ec2:DetachVolume",
        "ec2:ModifyInstanceAttribute",
    }
    granted = [
        s
        for s in statements
        if s["Effect"] == "Allow" and set(s["Roles"]) & drill and swapping & set(s["Action"])
    ]
    assert granted
    assert all(s["Condition"] == DRILL_RESOURCE_TAG for s in granted)
    assert swapping <= {a for s in granted for a in s["Action"]}


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
    drill_clones = {"StringLike": {f"ssm:resourceTag/{tags.DRILL}": "i-*"}}
    opted_in = {"StringEquals": {"ssm:resourceTag/vss-restore:enabled": "true"}}
    # (WindowsDisks, Mount and OnlineValidation each have an opted-in statement)
    assert {str(s["Condition"]) for s in on_instances} == {str(drill_clones), str(opted_in)}


def _policies_with(template: Template, sid: str) -> list[list[dict[str, Any]]]:
    """The statements of each IAM policy that has a statement ``sid``."""
    found = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        if any(st.get("Sid") == sid for st in statements):
            found.append(statements)
    return found


def _sendable_documents(statements: list[dict[str, Any]]) -> list[str]:
    """The documents the statements let ``ssm:SendCommand`` run."""
    return [
        _resource_text(r)
        for st in statements
        if "ssm:SendCommand" in _as_list(st["Action"])
        for r in _as_list(st["Resource"])
        if ":document/" in _resource_text(r)
    ]


def test_on_opted_in_instances_only_the_stacks_disk_document_can_be_run(
    template: Template,
) -> None:
    # GIVEN the policy that lets SendCommand reach opted-in (production) instances
    (statements,) = _policies_with(template, "RunDiskDocumentOnOptedInInstances")

    # THEN the only documents it may run are the stack's own disk document
    documents = _sendable_documents(statements)
    assert documents == ["arn:<token>:ssm:<token>:<account>:document/<token>"]
    disk_documents = template.find_resources("AWS::SSM::Document")
    assert len(disk_documents) == 1


def test_on_opted_in_instances_online_validation_runs_only_vss_restore_validation_documents(
    template: Template,
) -> None:
    # GIVEN the policy that lets an online restore's validation reach opted-in instances
    (statements,) = _policies_with(template, "RunValidationOnOptedInInstances")

    # THEN it may run only this account's documents named vss-restore-validation-*
    documents = _sendable_documents(statements)
    assert documents == ["arn:<token>:ssm:<token>:<account>:document/vss-restore-validation-*"]
    # ... and only RunOnlineValidation and WaitOnlineValidation run with that role
    role_ids = {
        role["Ref"]
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if any(
            st.get("Sid") == "RunValidationOnOptedInInstances"
            for st in policy["Properties"]["PolicyDocument"]["Statement"]
        )
        for role in policy["Properties"]["Roles"]
    }
    handlers = sorted(
        fn["Properties"]["Handler"]
        for fn in template.find_resources("AWS::Lambda::Function").values()
        if fn["Properties"]["Role"]["Fn::GetAtt"][0] in role_ids
    )
    assert handlers == [
        "vss_restore.functions.run_online_validation.handler",
        "vss_restore.functions.wait_online_validation.handler",
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


PROFILE_ROLE = "arn:aws:iam::111122223333:role/web-servers-ssm"


def _clone_role_id(template: Template) -> str:
    """The logical id of the stack's role for drill clones."""
    (role_id,) = [
        logical_id
        for logical_id, role in template.find_resources("AWS::IAM::Role").items()
        if role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        == {"Service": "ec2.amazonaws.com"}
    ]
    return role_id


def test_clones_run_with_the_stacks_own_profile_whose_role_has_systems_manager_core_only(
    template: Template,
) -> None:
    # GIVEN the stack's role that EC2 may assume
    role_id = _clone_role_id(template)
    role = template.find_resources("AWS::IAM::Role")[role_id]["Properties"]

    # THEN its only policy is AWS's Systems Manager core, and no statement adds to it
    assert [json.dumps(p) for p in role["ManagedPolicyArns"]] == [
        json.dumps(
            {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":iam::aws:policy/AmazonSSMManagedInstanceCore",
                    ],
                ]
            }
        )
    ]
    assert [s for s in _statements(template) if role_id in s["Roles"]] == []
    # ... its instance profile holds it, and every task function is given that profile
    (profile_id,) = [
        logical_id
        for logical_id, profile in template.find_resources("AWS::IAM::InstanceProfile").items()
        if profile["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    functions = template.find_resources("AWS::Lambda::Function").values()
    assert {
        json.dumps(fn["Properties"]["Environment"]["Variables"]["CLONE_INSTANCE_PROFILE_ARN"])
        for fn in functions
    } == {json.dumps({"Fn::GetAtt": [profile_id, "Arn"]})}


def test_drills_pass_only_the_stacks_clone_role_by_default_and_only_to_ec2(
    template: Template,
) -> None:
    # WHEN the PassRole statements are read
    (passing,) = [s for s in _statements(template) if "iam:PassRole" in s["Action"]]

    # THEN they name the stack's clone role only, passed only to EC2, for the Drill role only
    assert passing["Resource"] == [{"Fn::GetAtt": [_clone_role_id(template), "Arn"]}]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    assert all(r.startswith("RolesDrillRole") for r in passing["Roles"])
    # ... and no role reads instance profiles (only clones keeping their source's need it)
    assert [s for s in _statements(template) if "iam:GetInstanceProfile" in s["Action"]] == []


def test_drills_that_keep_the_sources_profile_pass_only_the_configured_roles_too(
    synth: Synth,
) -> None:
    # GIVEN a deployment whose clones keep the source's profile if its role is listed
    _, template = synth(cloneKeepsSourceProfile="true", drillInstanceRoleArns=[PROFILE_ROLE])

    # WHEN the drill role's PassRole statements are read
    (passing,) = [s for s in _statements(template) if "iam:PassRole" in s["Action"]]

    # THEN they name the stack's clone role and those roles, passed only to EC2
    clone_role = {"Fn::GetAtt": [_clone_role_id(template), "Arn"]}
    assert passing["Resource"] == [clone_role, PROFILE_ROLE]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    assert all(r.startswith("RolesDrillRole") for r in passing["Roles"])
    # ... and the read role (PlanClone) may read the account's instance profiles, nothing else
    (reading,) = [s for s in _statements(template) if "iam:GetInstanceProfile" in s["Action"]]
    assert reading["Action"] == ["iam:GetInstanceProfile"]
    assert all(r.startswith("RolesReadRole") for r in reading["Roles"])


def test_drill_instance_roles_without_keeping_the_sources_profile_fail_synthesis() -> None:
    app = cdk.App(context={"drillInstanceRoleArns": PROFILE_ROLE})

    with pytest.raises(InvalidContext, match=r"^drillInstanceRoleArns: .*cloneKeepsSourceProfile"):
        DeploymentConfig.from_context(app)


@pytest.mark.parametrize(
    "value",
    ["*", "web-servers-ssm", "arn:aws:iam::111122223333:user/alice", f"{PROFILE_ROLE},nope"],
)
def test_bad_drill_instance_role_fails_synthesis_naming_the_key(value: str) -> None:
    # GIVEN a context value that is not a list of role ARNs
    app = cdk.App(context={"drillInstanceRoleArns": value})

    # WHEN the deployment settings are read THEN the error names the key
    with pytest.raises(InvalidContext, match=r"^drillInstanceRoleArns: "):
        DeploymentConfig.from_context(app)


def test_drill_instance_roles_are_read_from_a_comma_separated_context_value() -> None:
    other = "arn:aws:iam::111122223333:role/app/sql-*"
    app = cdk.App(
        context={
            "drillInstanceRoleArns": f"{PROFILE_ROLE}, {other}",
            "cloneKeepsSourceProfile": True,
        }
    )
    assert DeploymentConfig.from_context(app).drill_instance_role_arns == (PROFILE_ROLE, other)


def test_drill_and_fleet_outcomes_go_only_to_the_drill_namespace_and_the_default_bus(
    template: Template,
) -> None:
    statements = _statements(template)
    metrics = [s for s in statements if "cloudwatch:PutMetricData" in s["Action"]]
    assert [s["Condition"] for s in metrics] == [
        {"StringEquals": {"cloudwatch:namespace": "VssRestore"}}
    ]
    drill, fleet = sorted(
        (s for s in statements if "events:PutEvents" in s["Action"]), key=lambda s: s["Sid"]
    )
    for put_events in (drill, fleet):
        assert _resource_text(put_events["Resource"][0]).endswith(":event-bus/default")
    # The fleet's reporter may put its own event only (it needs no metric)
    assert fleet["Sid"] == "PutFleetEvents"
    assert fleet["Condition"] == {
        "StringEquals": {
            "events:source": EVENT_SOURCE,
            "events:detail-type": FLEET_EVENT_DETAIL_TYPE,
        }
    }


def test_mount_role_attaches_detaches_and_deletes_only_volumes_a_mount_created(
    template: Template,
) -> None:
    # GIVEN a mount's volume, a restore's volume, a live volume, and a drill's
    mount = {tags.CREATED_BY: tags.CREATED_BY_VALUE, tags.MOUNTED_ON: "i-0123456789abcdef0"}
    restored = {tags.CREATED_BY: tags.CREATED_BY_VALUE}
    drill = {tags.CREATED_BY: tags.CREATED_BY_VALUE, tags.DRILL: "i-0123456789abcdef0"}

    # WHEN / THEN the mount role reaches the first alone, on opted-in instances only
    for action in ("ec2:AttachVolume", "ec2:DetachVolume", "ec2:DeleteVolume", "ec2:CreateTags"):
        assert _allows(template, "Mount", action, "volume", mount), action
        for other in ({}, restored, drill):
            assert not _allows(template, "Mount", action, "volume", other), (action, other)
    for action in ("ec2:AttachVolume", "ec2:DetachVolume"):
        assert _allows(template, "Mount", action, "instance", {"vss-restore:enabled": "true"})
        assert not _allows(template, "Mount", action, "instance", {})
    assert not _allows(
        template, "Mount", "ec2:StopInstances", "instance", {"vss-restore:enabled": "true"}
    )


def test_mount_role_runs_only_the_stacks_disk_document_on_opted_in_instances(
    template: Template,
) -> None:
    # GIVEN the mount role's policy (it takes disks offline before an unmount detaches them)
    (statements,) = _policies_with(template, "RunDiskDocumentToUnmountOnOptedInInstances")

    # THEN the only document it may run is the stack's disk document
    documents = _sendable_documents(statements)
    assert documents == ["arn:<token>:ssm:<token>:<account>:document/<token>"]


# The policies that run validation documents: an online restore's (on opted-in instances)
# and a drill's (on its clones).
VALIDATING = ("RunValidationOnOptedInInstances", "RunCommandOnDrillClonesOnly")


@pytest.mark.parametrize("sid", VALIDATING)
def test_validations_run_only_the_accounts_validation_documents_by_default(
    sid: str, template: Template
) -> None:
    # GIVEN a deployment that lists no validation documents
    (statements,) = _policies_with(template, sid)

    # THEN a validation may run this account's vss-restore-validation-* documents and nothing
    # else: no AWS-owned document (AWS-RunPowerShellScript), no other document of the account
    assert _sendable_documents(statements) == [
        "arn:<token>:ssm:<token>:<account>:document/vss-restore-validation-*"
    ]


@pytest.mark.parametrize("sid", VALIDATING)
def test_validations_may_also_run_the_documents_the_deployment_lists(
    sid: str, synth: Synth
) -> None:
    # GIVEN a deployment that lists a document by name and one by ARN
    shared = "arn:aws:ssm:us-east-1:111122223333:document/Ops-Check"
    _, template = synth(validationDocuments=["Ops-SqlCheck", shared])

    # THEN a validation may run them too (ValidateRequest lets them through): a name as this
    # account's document or AWS's, an ARN as it is
    (statements,) = _policies_with(template, sid)
    documents = _sendable_documents(statements)
    assert documents == [
        "arn:<token>:ssm:<token>:<account>:document/vss-restore-validation-*",
        "arn:<token>:ssm:<token>:<account>:document/Ops-SqlCheck",
        "arn:<token>:ssm:<token>::document/Ops-SqlCheck",
        shared,
    ]


def test_validate_request_may_read_route_tables_to_keep_clones_out_of_public_subnets(
    template: Template,
) -> None:
    reading = [s for s in _statements(template) if s.get("Sid") == "ReadEc2State"]
    assert reading
    assert all("ec2:DescribeRouteTables" in s["Action"] for s in reading)


def test_only_the_task_roles_carry_the_path_the_tag_protection_examples_exempt(
    template: Template,
) -> None:
    # GIVEN the stack's roles, and the principal pattern of the example SCP and boundary
    examples = repo_root() / "docs" / "examples"
    patterns = {
        s["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
        for name in ("scp-protect-vss-restore-tags.json", "boundary-protect-vss-restore-tags.json")
        for s in json.loads((examples / name).read_text())["Statement"]
        if s["Effect"] == "Deny"
    }
    roles = template.find_resources("AWS::IAM::Role")
    tasks = {
        logical_id
        for logical_id, role in roles.items()
        if "lambda.amazonaws.com" in json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
    }

    # THEN every Lambda task role has the path, and no other role (state machines, scheduler)
    assert len(tasks) >= 14
    for logical_id, role in roles.items():
        path = role["Properties"].get("Path")
        assert (path == TASK_ROLE_PATH) == (logical_id in tasks), logical_id
    # ...and the examples exempt exactly the roles under that path
    assert patterns == {f"arn:*:iam::*:role{TASK_ROLE_PATH}*"}


def test_no_policy_of_the_stack_allows_redriving_an_execution(template: Template) -> None:
    # GIVEN every statement of the stack's role policies and managed (operator) policies
    documents = [
        r["Properties"]["PolicyDocument"]
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        for r in template.find_resources(kind).values()
    ]
    allowed = [
        action
        for document in documents
        for statement in document["Statement"]
        if statement["Effect"] == "Allow"
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    ]

    # WHEN / THEN none grants states:RedriveExecution, by name or by wildcard: a redrive
    # resumes a restore mid-swap (the tasks refuse it, docs/runbook.md)
    assert allowed
    assert [a for a in allowed if fnmatchcase("states:RedriveExecution", a)] == []
