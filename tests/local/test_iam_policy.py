"""The offline IAM evaluator: small policies, requests that must pass and requests that must not."""

from __future__ import annotations

from typing import Any

import pytest

from vss_restore.local.iam_policy import (
    Request,
    UnsupportedCondition,
    evaluate,
    unconditional,
    wildcard_match,
)

INSTANCE = "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc"
VOLUME = "arn:aws:ec2:us-east-1:123456789012:volume/vol-0abc"
OPT_IN = {"StringEquals": {"aws:ResourceTag/vss-restore:enabled": "true"}}


def allow(
    action: str, resource: str, condition: dict[str, Any] | None = None, sid: str = "S"
) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": action,
        "Resource": resource,
    }
    if condition:
        statement["Condition"] = condition
    return statement


def test_evaluate_allows_when_action_resource_and_condition_match() -> None:
    # GIVEN stop on opted-in instances of the account
    policy = [allow("ec2:StopInstances", "arn:aws:ec2:us-east-1:123456789012:instance/*", OPT_IN)]

    # WHEN an opted-in instance is stopped (action case does not matter)
    context = {"aws:ResourceTag/vss-restore:enabled": "true"}
    decision = evaluate(policy, Request("ec2:stopinstances", INSTANCE, context))

    # THEN it is allowed, by that statement
    assert (decision.allowed, decision.by) == (True, ("S",))


def test_evaluate_denies_and_names_the_condition_when_the_resource_tag_is_missing() -> None:
    # GIVEN the same statement, and an instance without the tag
    policy = [allow("ec2:StopInstances", "arn:aws:ec2:*:*:instance/*", OPT_IN, sid="OptedIn")]

    # WHEN it is stopped
    decision = evaluate(policy, Request("ec2:StopInstances", INSTANCE, {}))

    # THEN it is denied, saying which condition failed and that the key was absent
    assert not decision.allowed
    assert "OptedIn" in decision.missing
    assert "aws:ResourceTag/vss-restore:enabled" in decision.missing
    assert "absent" in decision.missing


def test_evaluate_denies_when_no_statement_covers_the_resource_type() -> None:
    # GIVEN ModifyInstanceAttribute granted on instances only
    policy = [allow("ec2:ModifyInstanceAttribute", "arn:aws:ec2:*:*:instance/*")]

    # WHEN it is decided on a volume
    decision = evaluate(policy, Request("ec2:ModifyInstanceAttribute", VOLUME))

    # THEN it is denied: nothing allows that action on that resource
    assert not decision.allowed
    assert decision.missing == f"no statement allows ec2:ModifyInstanceAttribute on {VOLUME}"


def test_evaluate_explicit_deny_wins_over_an_allow() -> None:
    policy = [
        allow("ec2:*", "*"),
        {"Sid": "NoDelete", "Effect": "Deny", "Action": "ec2:Delete*", "Resource": "*"},
    ]

    decision = evaluate(policy, Request("ec2:DeleteVolume", VOLUME))

    assert (decision.allowed, decision.by, decision.missing) == (
        False,
        ("NoDelete",),
        "explicitly denied",
    )


def test_evaluate_reads_not_action_and_not_resource() -> None:
    # GIVEN everything but deletes, on everything but volumes
    policy = [
        {"Effect": "Allow", "NotAction": "ec2:Delete*", "NotResource": "arn:aws:ec2:*:*:volume/*"}
    ]

    # THEN a stop of an instance passes, a delete or a volume does not
    assert evaluate(policy, Request("ec2:StopInstances", INSTANCE)).allowed
    assert not evaluate(policy, Request("ec2:DeleteVolume", INSTANCE)).allowed
    assert not evaluate(policy, Request("ec2:AttachVolume", VOLUME)).allowed


def test_wildcards_match_any_run_and_one_character_and_resources_are_case_sensitive() -> None:
    assert wildcard_match("arn:aws:ec2:*:*:volume/vol-?abc", VOLUME)
    assert not wildcard_match("arn:aws:ec2:*:*:volume/vol-?", VOLUME)
    assert not wildcard_match("arn:aws:ec2:*:*:VOLUME/*", VOLUME)


@pytest.mark.parametrize(
    ("condition", "context", "allowed"),
    [
        # Negated operators hold when the key is absent; IfExists too, but check when present.
        ({"StringNotEquals": {"aws:ResourceTag/env": "prod"}}, {}, True),
        (
            {"StringNotEquals": {"aws:ResourceTag/env": "prod"}},
            {"aws:ResourceTag/env": "prod"},
            False,
        ),
        ({"StringEqualsIfExists": {"aws:ResourceTag/env": "dev"}}, {}, True),
        (
            {"StringEqualsIfExists": {"aws:ResourceTag/env": "dev"}},
            {"aws:ResourceTag/env": "prod"},
            False,
        ),
        # Values of one key are ORed; StringLike takes wildcards.
        (
            {"StringLike": {"aws:ResourceTag/vss-restore:drill": "i-*"}},
            {"aws:ResourceTag/vss-restore:drill": "i-1"},
            True,
        ),
        (
            {"StringLike": {"aws:ResourceTag/vss-restore:drill": "i-*"}},
            {"aws:ResourceTag/vss-restore:drill": "x"},
            False,
        ),
        (
            {"StringEquals": {"aws:ResourceTag/env": ["dev", "test"]}},
            {"aws:ResourceTag/env": "test"},
            True,
        ),
        # Null: "true" means the key must be absent.
        ({"Null": {"aws:RequestTag/owner": "true"}}, {}, True),
        ({"Null": {"aws:RequestTag/owner": "false"}}, {}, False),
        # ForAllValues holds when every value matches (and when the key is absent).
        (
            {"ForAllValues:StringLike": {"aws:TagKeys": ["vss-restore:*"]}},
            {"aws:TagKeys": ["vss-restore:status", "vss-restore:replaced-by"]},
            True,
        ),
        (
            {"ForAllValues:StringLike": {"aws:TagKeys": ["vss-restore:*"]}},
            {"aws:TagKeys": ["vss-restore:status", "Name"]},
            False,
        ),
        ({"ForAllValues:StringLike": {"aws:TagKeys": ["vss-restore:*"]}}, {}, True),
        # ForAnyValue needs one match, and the key.
        (
            {"ForAnyValue:StringEquals": {"aws:TagKeys": ["Name"]}},
            {"aws:TagKeys": ["Name", "x"]},
            True,
        ),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["Name"]}}, {}, False),
        # ...with wildcards: one key of the request among vss-restore's is enough.
        (
            {"ForAnyValue:StringLike": {"aws:TagKeys": ["vss-restore:*"]}},
            {"aws:TagKeys": ["Owner", "vss-restore:drill"]},
            True,
        ),
        (
            {"ForAnyValue:StringLike": {"aws:TagKeys": ["vss-restore:*"]}},
            {"aws:TagKeys": ["Owner", "backup:vss-restore"]},
            False,
        ),
        # ArnNotLike: no pattern matches (a role's path is part of its ARN); an absent key holds.
        (
            {"ArnNotLike": {"aws:PrincipalArn": "arn:*:iam::*:role/vss-restore/*"}},
            {"aws:PrincipalArn": "arn:aws:iam::1:role/vss-restore/VssRestore-RolesSwapRoleX"},
            False,
        ),
        (
            {"ArnNotLike": {"aws:PrincipalArn": "arn:*:iam::*:role/vss-restore/*"}},
            {"aws:PrincipalArn": "arn:aws:iam::1:role/vss-restore-admin"},
            True,
        ),
        ({"ArnNotLike": {"aws:PrincipalArn": "arn:*:iam::*:role/vss-restore/*"}}, {}, True),
        # ARNs compare part by part; Bool compares text without case.
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:states:*:*:stateMachine:vss-*"}},
            {"aws:SourceArn": "arn:aws:states:us-east-1:1:stateMachine:vss-restore"},
            True,
        ),
        (
            {"ArnEquals": {"aws:SourceArn": "arn:aws:states:us-east-1:1:stateMachine:a"}},
            {"aws:SourceArn": "arn:aws:states:us-east-1:1:stateMachine:b"},
            False,
        ),
        (
            {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            {"kms:GrantIsForAWSResource": "True"},
            True,
        ),
        ({"Bool": {"kms:GrantIsForAWSResource": "true"}}, {}, False),
        # Keys compare without case (SSM writes ssm:resourceTag, the reference too).
        (
            {"StringLike": {"ssm:resourceTag/vss-restore:drill": "i-*"}},
            {"ssm:ResourceTag/vss-restore:drill": "i-1"},
            True,
        ),
        # Every operator and every key of a block must hold.
        ({"StringEquals": {"a:x": "1", "a:y": "2"}}, {"a:x": "1"}, False),
    ],
)
def test_conditions_follow_aws_rules(
    condition: dict[str, Any], context: dict[str, Any], allowed: bool
) -> None:
    # GIVEN one statement with the condition
    policy = [allow("ec2:CreateTags", "*", condition)]

    # WHEN a request with the context is decided
    decision = evaluate(policy, Request("ec2:CreateTags", VOLUME, context))

    # THEN it is allowed exactly when the condition holds
    assert decision.allowed is allowed, decision.missing


def test_evaluate_refuses_a_condition_operator_it_does_not_implement() -> None:
    # GIVEN a numeric condition (not used by the stack, not implemented)
    policy = [allow("ec2:CreateVolume", "*", {"NumericLessThan": {"ec2:VolumeSize": "100"}})]

    # THEN deciding raises instead of passing or failing silently
    with pytest.raises(UnsupportedCondition, match="NumericLessThan"):
        evaluate(policy, Request("ec2:CreateVolume", VOLUME, {"ec2:VolumeSize": "10"}))


def test_unconditional_tells_statements_without_conditions() -> None:
    policy = [
        allow("ec2:DetachVolume", "*", sid="Free"),
        allow("ec2:DetachVolume", "*", OPT_IN, sid="Tagged"),
    ]

    assert unconditional(policy, ["Free"])
    assert not unconditional(policy, ["Free", "Tagged"])
