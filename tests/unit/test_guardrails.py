"""ValidateRequest's guardrails, pure parts: which documents may run, where a clone may go,
which instance a mount may go to (each refusal names its field and says why)."""

from __future__ import annotations

from typing import Any

import pytest

from vss_restore.drill import (
    ClonePlacement,
    check_clone_groups,
    check_clone_instance_type,
    check_clone_subnet,
    inbound_rules,
    internet_gateway_routes,
)
from vss_restore.errors import InvalidRequest
from vss_restore.models import MountRequest, RestoreRequest
from vss_restore.recovery_host import RecoveryHostTag, check_mount_target
from vss_restore.run_command import account_of, check_validation_document
from vss_restore.settings import reload_settings

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
EXECUTION = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:vss-restore-drill:drill-1"
SUBNET = "subnet-0a0b0c0d0e0f01234"
VPC = "vpc-0a0a0a0a0a0a0a0a0"
GROUP = "sg-0d0d0d0d0d0d0d0d0"
SOURCE = "i-0123456789abcdef0"
HOST = "i-0fedcba9876543210"
RECOVERY = RecoveryHostTag("vss-restore:recovery-host", "true")


def refused(check: Any, *args: Any, **kwargs: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        check(*args, **kwargs)
    return caught.value


# --- validation documents (Mode "Clone" and "Online" share the rule) --------------------------


@pytest.mark.parametrize(
    "document",
    [
        "AWS-RunPowerShellScript",
        "AWS-RunShellScript",
        "my-check",
        "vss-restore-validation",  # the prefix needs its dash and a name after it
        f"arn:aws:ssm:us-east-1:{ACCOUNT}:document/my-check",
        "arn:aws:ssm:us-east-1::document/AWS-RunPowerShellScript",
    ],
)
def test_validation_document_is_refused_when_not_named_vss_restore_validation_nor_listed(
    document: str,
) -> None:
    # GIVEN a deployment that lists no document / WHEN a request names another document
    error = refused(check_validation_document, document, listed=(), account=ACCOUNT)

    # THEN ValidationDocument is refused, saying which documents run and why
    assert error.field == "ValidationDocument"
    assert "vss-restore-validation-*" in error.reason
    assert "VALIDATION_DOCUMENTS" in error.reason
    assert "SYSTEM" in error.reason


@pytest.mark.parametrize(
    "document",
    [
        "vss-restore-validation-sql",
        f"arn:aws:ssm:us-east-1:{ACCOUNT}:document/vss-restore-validation-sql",
    ],
)
def test_validation_document_runs_when_it_is_the_accounts_own_named_vss_restore_validation(
    document: str,
) -> None:
    check_validation_document(document, listed=(), account=ACCOUNT)


def test_validation_document_of_another_account_is_refused_even_when_named_so() -> None:
    # GIVEN a document shared by another account, under the name
    shared = f"arn:aws:ssm:us-east-1:{OTHER_ACCOUNT}:document/vss-restore-validation-sql"

    # WHEN / THEN it is not this account's own: refused, naming the account
    error = refused(check_validation_document, shared, listed=(), account=ACCOUNT)
    assert error.field == "ValidationDocument"
    assert OTHER_ACCOUNT in error.reason


def test_validation_document_that_is_not_an_ssm_document_arn_is_refused() -> None:
    error = refused(
        check_validation_document,
        f"arn:aws:s3:::bucket/vss-restore-validation-sql:{ACCOUNT}",
        listed=(),
        account=ACCOUNT,
    )
    assert error.field == "ValidationDocument"
    assert error.reason.endswith("is not an SSM document ARN")


@pytest.mark.parametrize(
    "document",
    [
        "AWS-RunPowerShellScript",
        f"arn:aws:ssm:us-east-1:{OTHER_ACCOUNT}:document/Ops-Check",
    ],
)
def test_validation_document_runs_when_the_deployment_lists_it(document: str) -> None:
    check_validation_document(
        document, listed=("Ops-Other", document), account=ACCOUNT
    )  # no refusal


def test_validation_document_arn_account_is_not_checked_when_the_account_is_not_known() -> None:
    # (synthesis of a stack that does not name its account)
    check_validation_document(
        f"arn:aws:ssm:us-east-1:{OTHER_ACCOUNT}:document/vss-restore-validation-sql",
        listed=(),
        account=None,
    )


def test_account_of_an_execution_arn_is_its_fifth_field() -> None:
    assert account_of(EXECUTION) == ACCOUNT
    assert account_of("not-an-arn") == ""


# --- a clone's subnet ----------------------------------------------------------------------


def route_table(*routes: dict[str, str]) -> dict[str, Any]:
    local = {"DestinationCidrBlock": "10.99.0.0/16", "GatewayId": "local"}
    return {"RouteTableId": "rtb-0a0a0a0a0a0a0a0a0", "Routes": [local, *routes]}


IGW = "igw-0c0c0c0c0c0c0c0c0"


@pytest.mark.parametrize(
    ("route", "shown"),
    [
        ({"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": IGW}, f"0.0.0.0/0 → {IGW}"),
        ({"DestinationIpv6CidrBlock": "::/0", "GatewayId": IGW}, f"::/0 → {IGW}"),
        ({"DestinationCidrBlock": "203.0.113.0/24", "GatewayId": IGW}, f"203.0.113.0/24 → {IGW}"),
        ({"DestinationPrefixListId": "pl-0a0a0a0a", "GatewayId": IGW}, f"pl-0a0a0a0a → {IGW}"),
    ],
)
def test_subnet_routing_to_an_internet_gateway_is_refused_naming_the_route(
    route: dict[str, str], shown: str
) -> None:
    # GIVEN a subnet whose route table reaches an internet gateway / WHEN a clone goes there
    error = refused(check_clone_subnet, SUBNET, [route_table(route)], ClonePlacement())

    # THEN SubnetId is refused, naming the route and the setting that would allow it
    assert error.field == "SubnetId"
    assert SUBNET in error.reason
    assert shown in error.reason
    assert "CLONE_EXPOSED_SUBNET_IDS" in error.reason


@pytest.mark.parametrize(
    "route",
    [
        {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-0a0a0a0a0a0a0a0a0"},
        {"DestinationCidrBlock": "0.0.0.0/0", "TransitGatewayId": "tgw-0a0a0a0a0a0a0a0a0"},
        {"DestinationIpv6CidrBlock": "::/0", "EgressOnlyInternetGatewayId": "eigw-0a0a0a0a"},
        {"DestinationPrefixListId": "pl-0a0a0a0a", "GatewayId": "vpce-0a0a0a0a0a0a0a0a0"},
    ],
)
def test_subnet_without_a_route_to_an_internet_gateway_takes_a_clone(
    route: dict[str, str],
) -> None:
    assert internet_gateway_routes([route_table(route)]) == []
    check_clone_subnet(SUBNET, [route_table(route)], ClonePlacement())


def test_subnet_the_deployment_allows_takes_a_clone_despite_its_internet_route() -> None:
    exposed = [route_table({"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": IGW})]
    check_clone_subnet(SUBNET, exposed, ClonePlacement(exposed_subnet_ids=frozenset({SUBNET})))


# --- a clone's security groups ----------------------------------------------------------------


def group(*rules: dict[str, Any], vpc_id: str = VPC, group_id: str = GROUP) -> dict[str, Any]:
    return {"GroupId": group_id, "VpcId": vpc_id, "IpPermissions": list(rules)}


RDP = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
SAME_GROUP = {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": GROUP, "UserId": ACCOUNT}]}


def test_inbound_rules_say_what_is_let_in_from_where() -> None:
    ephemeral = {
        "IpProtocol": "udp",
        "FromPort": 49152,
        "ToPort": 65535,
        "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
    }
    assert inbound_rules(group(RDP, SAME_GROUP, ephemeral)) == [
        "tcp 3389 from 0.0.0.0/0",
        f"all traffic from {GROUP}",
        "udp 49152-65535 from ::/0",
    ]


@pytest.mark.parametrize("rule", [RDP, SAME_GROUP], ids=["rdp-from-anywhere", "default-group"])
def test_security_group_with_an_inbound_rule_is_refused_for_a_clone(rule: dict[str, Any]) -> None:
    error = refused(check_clone_groups, [group(rule)], VPC, ClonePlacement())

    assert error.field == "SecurityGroupIds"
    assert GROUP in error.reason
    assert "inbound" in error.reason
    assert "CLONE_OPEN_SECURITY_GROUP_IDS" in error.reason


def test_security_group_without_inbound_rules_or_allowed_by_the_deployment_is_used() -> None:
    check_clone_groups([group()], VPC, ClonePlacement())
    check_clone_groups(
        [group(RDP)], VPC, ClonePlacement(open_security_group_ids=frozenset({GROUP}))
    )


def test_security_group_of_another_vpc_is_refused_even_when_the_deployment_allows_it() -> None:
    error = refused(
        check_clone_groups,
        [group(vpc_id="vpc-0b0b0b0b0b0b0b0b0")],
        VPC,
        ClonePlacement(open_security_group_ids=frozenset({GROUP})),
    )
    assert error.field == "SecurityGroupIds"
    assert VPC in error.reason


def test_clone_placement_is_read_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLONE_EXPOSED_SUBNET_IDS", SUBNET)
    monkeypatch.setenv("CLONE_OPEN_SECURITY_GROUP_IDS", f"{GROUP}, sg-0e0e0e0e0e0e0e0e0")
    monkeypatch.setenv("DRILL_INSTANCE_TYPES", "t3.large")
    reload_settings()

    assert ClonePlacement.configured() == ClonePlacement(
        frozenset({SUBNET}), frozenset({GROUP, "sg-0e0e0e0e0e0e0e0e0"}), frozenset({"t3.large"})
    )


def test_clone_placement_allows_nothing_more_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLONE_EXPOSED_SUBNET_IDS", raising=False)
    monkeypatch.delenv("CLONE_OPEN_SECURITY_GROUP_IDS", raising=False)
    monkeypatch.delenv("DRILL_INSTANCE_TYPES", raising=False)
    reload_settings()

    assert ClonePlacement.configured() == ClonePlacement()


# --- a clone's instance type ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "listed"),
    [(None, ()), ("m5.xlarge", ()), ("t3.large", ("t3.large", "m6i.large"))],
    ids=["not-given", "the-sources-own", "listed"],
)
def test_clone_instance_type_passes_when_the_sources_own_or_listed(
    requested: str | None, listed: tuple[str, ...]
) -> None:
    check_clone_instance_type(
        requested, "m5.xlarge", ClonePlacement(instance_types=frozenset(listed))
    )


@pytest.mark.parametrize(
    ("listed", "named"),
    [((), "none"), (("t3.large", "m6i.large"), "m6i.large, t3.large")],
    ids=["nothing-listed", "others-listed"],
)
def test_clone_instance_type_is_refused_naming_the_field_and_the_allowed_types(
    listed: tuple[str, ...], named: str
) -> None:
    # GIVEN a source of type m5.xlarge / WHEN a drill asks for a type the deployment does not list
    error = refused(
        check_clone_instance_type,
        "p5.48xlarge",
        "m5.xlarge",
        ClonePlacement(instance_types=frozenset(listed)),
    )

    # THEN InstanceType is refused, naming the source's type, the allowed ones and the setting
    assert error.field == "InstanceType"
    assert error.reason.startswith(
        f"p5.48xlarge is neither the source's own type (m5.xlarge) nor one the deployment "
        f"allows for drills ({named})"
    )
    assert "drillInstanceTypes" in error.reason


# --- a mount's target ---------------------------------------------------------------------


def mount(**fields: Any) -> MountRequest:
    request = RestoreRequest.parse({"InstanceId": SOURCE, "Mode": "Mount", **fields})
    assert isinstance(request, MountRequest)
    return request


def instance(instance_id: str, **labels: str) -> dict[str, Any]:
    return {"InstanceId": instance_id, "Tags": [{"Key": k, "Value": v} for k, v in labels.items()]}


@pytest.mark.parametrize("recovery_host", [None, RECOVERY], ids=["no-recovery-hosts", "configured"])
def test_mount_on_its_own_instance_is_always_allowed(recovery_host: RecoveryHostTag | None) -> None:
    check_mount_target(mount(), instance(SOURCE), recovery_host)


def test_mount_on_another_instance_is_refused_when_the_deployment_has_no_recovery_hosts() -> None:
    error = refused(check_mount_target, mount(TargetInstanceId=HOST), instance(HOST), None)

    assert error.field == "TargetInstanceId"
    assert "RECOVERY_HOST_TAG_KEY" in error.reason
    assert "leave TargetInstanceId out" in error.reason


@pytest.mark.parametrize(
    ("labels", "found"),
    [({}, "None"), ({RECOVERY.key: "false"}, "'false'"), ({"Name": "recovery"}, "None")],
)
def test_mount_on_an_instance_that_is_not_a_recovery_host_is_refused(
    labels: dict[str, str], found: str
) -> None:
    error = refused(
        check_mount_target, mount(TargetInstanceId=HOST), instance(HOST, **labels), RECOVERY
    )

    assert error.field == "TargetInstanceId"
    assert f"{HOST} is not a recovery host" in error.reason
    assert f"{RECOVERY.key}={RECOVERY.value} (found {found})" in error.reason


def test_mount_on_a_recovery_host_is_allowed() -> None:
    host = instance(HOST, **{RECOVERY.key: RECOVERY.value})
    check_mount_target(mount(TargetInstanceId=HOST), host, RECOVERY)


def test_recovery_host_tag_is_read_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECOVERY_HOST_TAG_KEY", raising=False)
    monkeypatch.delenv("RECOVERY_HOST_TAG_VALUE", raising=False)
    reload_settings()
    assert RecoveryHostTag.configured() is None

    monkeypatch.setenv("RECOVERY_HOST_TAG_KEY", "Role")
    monkeypatch.setenv("RECOVERY_HOST_TAG_VALUE", "recovery")
    reload_settings()
    assert RecoveryHostTag.configured() == RecoveryHostTag("Role", "recovery")
