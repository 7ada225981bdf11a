"""The example SCP and permissions boundary that keep vss-restore's tags and the opt-in tag
out of reach on existing resources, decided with the local IAM evaluator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from stacks.config import DeploymentConfig
from stacks.parts.permissions import TASK_ROLE_PATH

from vss_restore import tags
from vss_restore.definition import repo_root
from vss_restore.local.iam_policy import Request, Statement, evaluate

EXAMPLES = repo_root() / "docs" / "examples"
ACCOUNT = "111122223333"
INSTANCE = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-0123456789abcdef0"
VOLUME = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:volume/vol-0123456789abcdef0"
OPERATOR = f"arn:aws:iam::{ACCOUNT}:role/Operators"
# A task role as the stack names it: the stack's path, a generated name.
STACK_ROLE = f"arn:aws:iam::{ACCOUNT}:role{TASK_ROLE_PATH}VssRestore-RolesFinalizeRoleABC123"
OPT_IN_KEY = DeploymentConfig.opt_in_tag_key
PROTECTED = (tags.DRILL, tags.EXPIRES_AT, tags.CREATED_BY, tags.MOUNTED_ON, OPT_IN_KEY)
# What the account's identity policies (or the SCP FullAWSAccess) allow besides the example.
ALLOW_ALL: Statement = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def _statements(name: str) -> list[Statement]:
    document: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return list(document["Statement"])


# The SCP restricts what the identity policies allow; the boundary carries its own Allow.
POLICIES = {
    "scp-protect-vss-restore-tags.json": [
        ALLOW_ALL,
        *_statements("scp-protect-vss-restore-tags.json"),
    ],
    "boundary-protect-vss-restore-tags.json": _statements("boundary-protect-vss-restore-tags.json"),
}


def _tagging(
    action: str, resource: str, principal: str, keys: list[str] | None, create_action: str = ""
) -> Request:
    context: dict[str, str | list[str]] = {"aws:PrincipalArn": principal}
    if keys is not None:
        context["aws:TagKeys"] = keys
    if create_action:
        context["ec2:CreateAction"] = create_action
    return Request(action, resource, context)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("action", ["ec2:CreateTags", "ec2:DeleteTags"])
@pytest.mark.parametrize("resource", [INSTANCE, VOLUME])
@pytest.mark.parametrize("key", PROTECTED)
def test_an_operator_cannot_add_or_remove_a_protected_tag_on_an_existing_resource(
    policy: str, action: str, resource: str, key: str
) -> None:
    # GIVEN an operator tagging an existing instance or volume with a protected key (alone
    # or among others)
    for keys in ([key], ["Owner", key]):
        request = _tagging(action, resource, OPERATOR, keys)

        # WHEN the example decides / THEN it is denied explicitly
        decision = evaluate(POLICIES[policy], request)
        assert (decision.allowed, decision.missing) == (False, "explicitly denied"), keys


@pytest.mark.parametrize("policy", POLICIES)
def test_an_operator_cannot_delete_every_tag_of_a_resource_at_once(policy: str) -> None:
    # GIVEN DeleteTags without tag keys (EC2 then deletes all of the resource's tags)
    request = _tagging("ec2:DeleteTags", INSTANCE, OPERATOR, None)

    # THEN it is denied: the protected keys would go with the others
    assert not evaluate(POLICIES[policy], request).allowed


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("action", ["ec2:CreateTags", "ec2:DeleteTags"])
def test_unrelated_tags_stay_an_operators_business(policy: str, action: str) -> None:
    # GIVEN an operator changing tags that are not vss-restore's (one only resembles them)
    for keys in (["Owner"], ["Owner", "CostCenter"], ["backup:vss-restore"]):
        # THEN the example does not stand in the way
        assert evaluate(POLICIES[policy], _tagging(action, VOLUME, OPERATOR, keys)).allowed, keys


@pytest.mark.parametrize("policy", POLICIES)
def test_tags_given_at_creation_stay_allowed(policy: str) -> None:
    # GIVEN tags given in the creating request: the stack's drill tags on a clone, and an
    # operator launching a new server already opted in
    for principal, keys, create_action in (
        (STACK_ROLE, [tags.CREATED_BY, tags.DRILL], "RunInstances"),
        (STACK_ROLE, [tags.CREATED_BY], "CreateVolume"),
        (OPERATOR, [OPT_IN_KEY], "RunInstances"),
    ):
        request = _tagging(
            "ec2:CreateTags",
            f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/*",
            principal,
            keys,
            create_action,
        )

        # THEN the example allows them (ec2:CreateAction is present)
        assert evaluate(POLICIES[policy], request).allowed, (principal, keys)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("action", ["ec2:CreateTags", "ec2:DeleteTags"])
def test_the_stacks_roles_may_change_the_tags_of_existing_resources(
    policy: str, action: str
) -> None:
    # GIVEN a task role of the stack (its path) marking, or clearing, an existing volume
    for keys in ([tags.STATUS], [tags.REPLACED_BY, tags.STATUS], None):
        request = _tagging(action, VOLUME, STACK_ROLE, keys)

        # THEN the example lets it through
        assert evaluate(POLICIES[policy], request).allowed, keys


def test_a_role_merely_named_like_the_stacks_is_not_exempt() -> None:
    # GIVEN roles whose name, not path, says vss-restore
    for impostor in (
        f"arn:aws:iam::{ACCOUNT}:role/vss-restore-admin",
        f"arn:aws:iam::{ACCOUNT}:role/ops/vss-restore/x",
    ):
        request = _tagging("ec2:CreateTags", INSTANCE, impostor, [tags.DRILL])

        # THEN it is denied like any operator
        assert not evaluate(POLICIES["scp-protect-vss-restore-tags.json"], request).allowed


def test_the_scp_and_the_boundary_deny_the_same() -> None:
    # GIVEN both examples
    denies = {name: [s for s in _statements(name) if s["Effect"] == "Deny"] for name in POLICIES}

    # THEN their Deny statements are the same (the boundary adds only its Allow)
    scp, boundary = denies.values()
    assert scp == boundary
    assert [
        s for s in _statements("boundary-protect-vss-restore-tags.json") if s["Effect"] == "Allow"
    ] == [{**ALLOW_ALL, "Sid": "AllowWhatTheIdentityPoliciesAllow"}]
