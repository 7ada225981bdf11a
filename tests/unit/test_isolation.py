"""A drill clone's isolation, pure parts: its egress, its profile, its DNS, why its agent may
never register."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_drill import IMAGE, NOW, SOURCE, request, subnet
from tests.unit.test_planning import EXECUTION, chosen, facts, member, original
from vss_restore.drill import plan_clone, rule_atoms
from vss_restore.errors import CloneNotIsolatable
from vss_restore.isolation import (
    CloneIsolation,
    agent_never_registered,
    allowed_role,
    dns_servers,
    plan_egress,
    ssm_endpoint_groups,
    unadmitting_groups,
)
from vss_restore.settings import InvalidSettings, Settings

VPC = "vpc-0a0a0a0a0a0a0a0a0"
STACK_PROFILE = "arn:aws:iam::123456789012:instance-profile/vss-restore-clone"


def endpoint(service: str, *groups: str, kind: str = "Interface") -> dict[str, Any]:
    return {
        "ServiceName": f"com.amazonaws.eu-west-1.{service}",
        "VpcEndpointType": kind,
        "State": "available",
        "Groups": [{"GroupId": g, "GroupName": g} for g in groups],
    }


ALL_THREE = [endpoint(s, "sg-0e0e0e0e0e0e0e0e1") for s in ("ssm", "ssmmessages", "ec2messages")]


def egress(endpoints: list[dict[str, Any]], *, validates: bool = True, **env: str) -> Any:
    return plan_egress(
        requested_groups=False,
        validates=validates,
        read=Settings.from_environ(env),
        endpoint_groups=ssm_endpoint_groups(endpoints),
        vpc_id=VPC,
    )


def test_by_default_the_clone_sends_https_only_to_the_ssm_endpoints_groups() -> None:
    # a gateway endpoint and another service's interface endpoint are not Systems Manager's
    found = [*ALL_THREE, endpoint("s3", kind="Gateway"), endpoint("sqs", "sg-0f0f0f0f0f0f0f0f2")]

    kind, destinations, warnings = egress(found)

    assert (kind, destinations, warnings) == ("endpoints", ["sg-0e0e0e0e0e0e0e0e1"], [])
    rules = CloneIsolation(egress=kind, destinations=destinations).egress_rules()
    assert rule_atoms(rules) == {("tcp", 443, 443, "UserIdGroupPairs", "sg-0e0e0e0e0e0e0e0e1")}


@pytest.mark.parametrize("missing", ["ssm", "ssmmessages", "ec2messages"])
def test_a_validated_drill_without_an_ssm_endpoint_is_refused_naming_it_and_the_fixes(
    missing: str,
) -> None:
    found = [e for e in ALL_THREE if not e["ServiceName"].endswith(f".{missing}")]

    with pytest.raises(CloneNotIsolatable) as refused:
        egress(found)

    message = str(refused.value)
    assert f"{VPC} has no interface endpoint for {missing}:" in message
    for fix in ("cloneEgressPrefixListId", "cloneEgressAnywhere", "SecurityGroupIds"):
        assert fix in message


def test_a_drill_without_validation_and_without_endpoints_runs_with_no_egress_and_says_so() -> None:
    kind, destinations, warnings = egress([], validates=False)

    assert (kind, destinations) == ("none", [])
    assert CloneIsolation(egress=kind).egress_rules() == []
    (warning,) = warnings
    assert "without any outbound traffic" in warning


def test_the_deployment_may_give_a_prefix_list_or_https_anywhere_instead() -> None:
    listed = egress([], CLONE_EGRESS_PREFIX_LIST_ID="pl-0123456789abcdef0")
    anywhere = egress([], CLONE_EGRESS_ANYWHERE="true")

    assert listed == ("prefix-list", ["pl-0123456789abcdef0"], [])
    assert anywhere[:2] == ("anywhere", ["0.0.0.0/0"])
    assert "CLONE_EGRESS_ANYWHERE" in anywhere[2][0]
    rules = CloneIsolation(egress="prefix-list", destinations=listed[1]).egress_rules()
    assert rule_atoms(rules) == {("tcp", 443, 443, "PrefixListIds", "pl-0123456789abcdef0")}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CLONE_EGRESS_PREFIX_LIST_ID": "prefix-1"}, "CLONE_EGRESS_PREFIX_LIST_ID"),
        ({"CLONE_EGRESS_ANYWHERE": "yes"}, "CLONE_EGRESS_ANYWHERE"),
        ({"CLONE_INSTANCE_PROFILE_ARN": "arn:aws:iam::1:role/x"}, "CLONE_INSTANCE_PROFILE_ARN"),
        ({"DRILL_INSTANCE_ROLE_ARNS": "web-role"}, "DRILL_INSTANCE_ROLE_ARNS"),
        (
            {
                "CLONE_EGRESS_ANYWHERE": "true",
                "CLONE_EGRESS_PREFIX_LIST_ID": "pl-0123456789abcdef0",
            },
            "set only one",
        ),
        ({"CLONE_KEEPS_SOURCE_PROFILE": "true"}, "DRILL_INSTANCE_ROLE_ARNS"),
    ],
)
def test_bad_isolation_settings_fail_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(InvalidSettings, match=named):
        Settings.from_environ(env)


def _admitting(group_id: str, port: int, cidr: str) -> dict[str, Any]:
    """A group whose one inbound rule lets TCP ``port`` in from ``cidr``."""
    rule = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}
    return {"GroupId": group_id, "IpPermissions": [rule]}


def test_an_endpoint_group_that_does_not_admit_the_clones_subnet_is_named() -> None:
    groups = [
        _admitting("sg-1", 443, "10.99.0.0/16"),  # the VPC: admits the subnet
        _admitting("sg-2", 443, "10.99.2.0/24"),  # another subnet
        _admitting("sg-3", 80, "0.0.0.0/0"),  # another port
    ]

    assert unadmitting_groups(groups, "10.99.1.0/24") == ["sg-2", "sg-3"]


def test_dns_servers_are_those_of_the_dhcp_options_set_besides_amazons() -> None:
    def options(*servers: str) -> dict[str, Any]:
        values = [{"Value": s} for s in servers]
        return {"DhcpConfigurations": [{"Key": "domain-name-servers", "Values": values}]}

    assert dns_servers(options("AmazonProvidedDNS")) == []
    assert dns_servers(options("10.0.0.10", "10.0.0.11")) == ["10.0.0.10", "10.0.0.11"]
    assert dns_servers(None) == []


def test_the_deployments_role_patterns_decide_which_source_roles_a_clone_may_keep() -> None:
    patterns = ["arn:aws:iam::123456789012:role/web-*", "arn:aws:iam::123456789012:role/sql"]

    assert allowed_role("arn:aws:iam::123456789012:role/web-ssm", patterns)
    assert not allowed_role("arn:aws:iam::123456789012:role/sql-admin", patterns)
    assert not allowed_role("arn:aws:iam::210987654321:role/web-ssm", patterns)


def test_the_clone_runs_with_the_planned_profile_and_warnings() -> None:
    isolation = CloneIsolation(
        egress="endpoints",
        destinations=["sg-0e0e0e0e0e0e0e0e1"],
        instance_profile_arn=STACK_PROFILE,
        profile="stack",
        warnings=["a planned warning"],
    )
    originals = {o["VolumeId"]: o for o in (original("/dev/sda1", size=60),)}

    plan = plan_clone(
        request(SubnetId="subnet-0a0b0c0d0e0f01234"),
        SOURCE,
        IMAGE,
        subnet("subnet-0a0b0c0d0e0f01234"),
        facts(),
        chosen(member("/dev/sda1", size=60)),
        originals,
        EXECUTION,
        NOW,
        isolation=isolation,
    )

    assert plan.launch["IamInstanceProfile"] == {"Arn": STACK_PROFILE}
    assert plan.launch["IamInstanceProfile"] != SOURCE["IamInstanceProfile"]
    assert plan.isolation == isolation
    assert "a planned warning" in plan.warnings


def test_an_agent_that_never_registered_is_explained_dns_servers_first() -> None:
    isolation = CloneIsolation(
        egress="endpoints",
        destinations=["sg-0e0e0e0e0e0e0e0e1"],
        dns_servers=["10.0.0.10", "10.0.0.11"],
        instance_profile_arn=STACK_PROFILE,
        profile="stack",
    )

    why = agent_never_registered(isolation)

    assert why.index("DNS servers 10.0.0.10, 10.0.0.11") < why.index("sg-0e0e0e0e0e0e0e0e1")
    assert "domain controllers" in why
    assert f"{STACK_PROFILE} must grant Systems Manager core" in why
    assert "DNS servers" not in agent_never_registered(
        isolation.model_copy(update={"dns_servers": []})
    )
