"""A drill clone's isolation: where its isolation group lets it go, which credentials it runs
with, and why its SSM agent may never register.

By default the isolation group allows no inbound traffic and outbound TCP 443 only to the
security groups of the clone VPC's Systems Manager interface endpoints (``ssm``,
``ssmmessages``, ``ec2messages``), found when the clone is planned; a deployment may give a
managed prefix list instead, or allow HTTPS anywhere. The clone runs with the stack's own
instance profile (Systems Manager core only), not the source's, unless the deployment lets
it keep the source's role (``DRILL_INSTANCE_ROLE_ARNS`` lists the roles it may keep).
Whatever cannot work is refused when the clone is planned, before anything is created
(``CloneNotIsolatable``).
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from vss_restore.errors import CloneNotIsolatable
from vss_restore.models import Model
from vss_restore.settings import (
    CLONE_EGRESS_ANYWHERE_ENV,
    CLONE_EGRESS_PREFIX_LIST_ENV,
    CLONE_INSTANCE_PROFILE_ENV,
    CLONE_KEEPS_SOURCE_PROFILE_ENV,
    DRILL_INSTANCE_ROLES_ENV,
    Settings,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# The interface endpoints SSM Agent talks to for Run Command (Systems Manager's
# "ec2messages, ssmmessages and other API operations" reference).
SSM_ENDPOINT_SERVICES = ("ssm", "ssmmessages", "ec2messages")
AMAZON_DNS = "AmazonProvidedDNS"
HTTPS = 443
Egress = Literal["endpoints", "prefix-list", "anywhere", "none", "requested"]
ProfileSource = Literal["stack", "source", "none"]
_HOW_TO_WIDEN = (
    f"create interface endpoints for {', '.join(SSM_ENDPOINT_SERVICES)} in the VPC (their "
    "security group admitting TCP 443 from the clone's subnet), or give the deployment a "
    f"managed prefix list ({CLONE_EGRESS_PREFIX_LIST_ENV}, context cloneEgressPrefixListId) "
    f"or HTTPS anywhere ({CLONE_EGRESS_ANYWHERE_ENV}, context cloneEgressAnywhere), or name "
    "SecurityGroupIds that reach them"
)


class CloneIsolation(Model):
    """What the clone may reach and with which credentials, as planned."""

    egress: Egress = Field(alias="Egress")
    # The isolation group's TCP 443 destinations: endpoint groups, a prefix list, 0.0.0.0/0.
    destinations: list[str] = Field(default_factory=list, alias="Destinations")
    # The DNS servers the VPC's DHCP options set gives instead of AmazonProvidedDNS.
    dns_servers: list[str] = Field(default_factory=list, alias="DnsServers")
    instance_profile_arn: str | None = Field(default=None, alias="InstanceProfileArn")
    profile: ProfileSource = Field(default="none", alias="Profile")
    warnings: list[str] = Field(default_factory=list, alias="Warnings")

    def egress_rules(self) -> list[dict[str, Any]]:
        """The isolation group's outbound rules (none for "none" and "requested")."""
        rule: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": HTTPS, "ToPort": HTTPS}
        if self.egress == "endpoints":
            rule["UserIdGroupPairs"] = [{"GroupId": g} for g in self.destinations]
        elif self.egress == "prefix-list":
            rule["PrefixListIds"] = [{"PrefixListId": p} for p in self.destinations]
        elif self.egress == "anywhere":
            rule["IpRanges"] = [{"CidrIp": c} for c in self.destinations]
        else:
            return []
        return [rule]


def _service(endpoint: Mapping[str, Any]) -> str:
    """``com.amazonaws.us-east-1.ssm`` → ``ssm``."""
    return str(endpoint.get("ServiceName", "")).rsplit(".", 1)[-1]


def ssm_endpoint_groups(endpoints: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Each SSM service's interface endpoints' security groups (pure); a service without an
    available interface endpoint is missing."""
    found: dict[str, list[str]] = {}
    for endpoint in endpoints:
        service = _service(endpoint)
        if (
            service not in SSM_ENDPOINT_SERVICES
            or endpoint.get("VpcEndpointType") != "Interface"
            or endpoint.get("State", "available").lower() != "available"
        ):
            continue
        groups = found.setdefault(service, [])
        groups += [g["GroupId"] for g in endpoint.get("Groups", []) if g["GroupId"] not in groups]
    return found


def _admits_https(group: Mapping[str, Any], cidr: str) -> bool:
    """Whether ``group`` lets TCP 443 in from every address of ``cidr``."""
    subnet = ipaddress.ip_network(cidr)
    for rule in group.get("IpPermissions", []):
        protocol, low, high = str(rule.get("IpProtocol")), rule.get("FromPort"), rule.get("ToPort")
        if protocol not in ("tcp", "-1", "6"):
            continue
        if protocol != "-1" and low not in (None, -1) and not low <= HTTPS <= high:
            continue
        for allowed in rule.get("IpRanges", []):
            network = ipaddress.ip_network(allowed["CidrIp"])
            if network.version == subnet.version and subnet.subnet_of(network):  # type: ignore[arg-type]
                return True
    return False


def unadmitting_groups(groups: Iterable[Mapping[str, Any]], cidr: str) -> list[str]:
    """The endpoint groups with no rule letting TCP 443 in from the clone's subnet (pure).

    The clone's isolation group does not exist yet when it is planned, so a rule naming a
    group cannot admit it: only an address range that holds the subnet does."""
    return [str(g["GroupId"]) for g in groups if not _admits_https(g, cidr)]


def dns_servers(dhcp_options: Mapping[str, Any] | None) -> list[str]:
    """The DNS servers a DHCP options set gives besides AmazonProvidedDNS (pure)."""
    for configuration in (dhcp_options or {}).get("DhcpConfigurations", []):
        if configuration.get("Key") == "domain-name-servers":
            values = [str(v.get("Value")) for v in configuration.get("Values", [])]
            return [v for v in values if v != AMAZON_DNS]
    return []


def dns_warning(servers: Sequence[str], vpc_id: str) -> str:
    return (
        f"the VPC {vpc_id}'s DHCP options set gives DNS servers {', '.join(servers)}, not "
        f"{AMAZON_DNS}: usually domain controllers, which the isolation group blocks, so the "
        "clone cannot resolve the Systems Manager endpoints' names and its agent may never "
        "register (docs/drills.md, DNS for a clone)"
    )


def plan_egress(
    *,
    requested_groups: bool,
    validates: bool,
    read: Settings,
    endpoint_groups: Mapping[str, list[str]],
    vpc_id: str,
) -> tuple[Egress, list[str], list[str]]:
    """(egress, destinations, warnings) for the clone; ``CloneNotIsolatable`` if a validation
    could never reach Systems Manager (pure)."""
    if requested_groups:
        return "requested", [], []
    if read.clone_egress_anywhere:
        return (
            "anywhere",
            ["0.0.0.0/0"],
            [
                "the deployment lets the clone's isolation group send HTTPS anywhere "
                f"({CLONE_EGRESS_ANYWHERE_ENV}): through a NAT gateway the clone can reach "
                "production APIs and partners"
            ],
        )
    if read.clone_egress_prefix_list_id:
        return "prefix-list", [read.clone_egress_prefix_list_id], []
    missing = [s for s in SSM_ENDPOINT_SERVICES if not endpoint_groups.get(s)]
    groups = sorted({g for found in endpoint_groups.values() for g in found})
    if not missing:
        return "endpoints", groups, []
    if validates:
        raise CloneNotIsolatable(
            f"the clone's VPC {vpc_id} has no interface endpoint for "
            f"{', '.join(missing)}: its isolation group lets it reach only Systems Manager's "
            f"endpoints, so its agent could never run the ValidationDocument; {_HOW_TO_WIDEN}"
        )
    return (
        "endpoints" if groups else "none",
        groups,
        [
            f"the clone's VPC {vpc_id} has no interface endpoint for {', '.join(missing)}: "
            + (
                "the clone runs without any outbound traffic"
                if not groups
                else "its SSM agent may not register"
            )
            + " (no ValidationDocument, so the drill does not need it)"
        ],
    )


def discover_egress(
    ec2: EC2Client,
    *,
    requested_groups: bool,
    validates: bool,
    read: Settings,
    subnet: Mapping[str, Any],
) -> tuple[Egress, list[str], list[str]]:
    """``plan_egress`` with the VPC's SSM interface endpoints, and a warning for an endpoint
    group that does not admit the clone's subnet on TCP 443."""
    vpc_id = str(subnet["VpcId"])
    found: dict[str, list[str]] = {}
    if not (requested_groups or read.clone_egress_anywhere or read.clone_egress_prefix_list_id):
        pages = ec2.get_paginator("describe_vpc_endpoints").paginate(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "vpc-endpoint-type", "Values": ["Interface"]},
            ]
        )
        found = ssm_endpoint_groups(e for page in pages for e in page["VpcEndpoints"])
    egress, destinations, warnings = plan_egress(
        requested_groups=requested_groups,
        validates=validates,
        read=read,
        endpoint_groups=found,
        vpc_id=vpc_id,
    )
    if egress == "endpoints" and destinations and subnet.get("CidrBlock"):
        groups = ec2.describe_security_groups(GroupIds=destinations)["SecurityGroups"]
        closed = unadmitting_groups(groups, str(subnet["CidrBlock"]))
        if closed:
            warnings.append(
                f"the SSM endpoints' security groups {', '.join(closed)} have no rule letting "
                f"TCP 443 in from the clone's subnet {subnet['CidrBlock']}: the clone's agent "
                "may not reach them"
            )
    return egress, destinations, warnings


def vpc_dns_servers(ec2: EC2Client, vpc_id: str) -> list[str]:
    """The DNS servers the VPC's DHCP options set gives besides AmazonProvidedDNS."""
    options_id = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0].get("DhcpOptionsId")
    if not options_id or options_id == "default":
        return []
    options = ec2.describe_dhcp_options(DhcpOptionsIds=[options_id])["DhcpOptions"]
    return dns_servers(options[0] if options else None)


def _profile_name(arn: str) -> str:
    """``arn:aws:iam::111122223333:instance-profile/path/name`` → ``name``."""
    return arn.rsplit("/", 1)[-1]


def allowed_role(role_arn: str, patterns: Iterable[str]) -> bool:
    """Whether ``role_arn`` matches one of the deployment's role ARNs (``*``/``?``) (pure)."""
    return any(fnmatch.fnmatchcase(role_arn, p) for p in patterns)


def plan_profile(
    iam: Any, source: Mapping[str, Any], read: Settings, *, validates: bool
) -> tuple[str | None, ProfileSource, list[str]]:
    """(instance profile ARN, whose it is, warnings) for the clone.

    The stack's profile, unless the deployment lets the clone keep the source's and the
    source has one: then its role must be one ``DRILL_INSTANCE_ROLE_ARNS`` lists, else
    ``CloneNotIsolatable`` (before anything is created, instead of a launch EC2 refuses).
    """
    source_profile = (source.get("IamInstanceProfile") or {}).get("Arn")
    if read.clone_keeps_source_profile and source_profile:
        profile = iam.get_instance_profile(InstanceProfileName=_profile_name(source_profile))
        roles = [str(r["Arn"]) for r in profile["InstanceProfile"].get("Roles", [])]
        refused = [r for r in roles if not allowed_role(r, read.drill_instance_role_arns)]
        if refused or not roles:
            raise CloneNotIsolatable(
                f"the source's instance profile {source_profile} has role "
                f"{', '.join(refused) or 'none'}, which is not one the deployment lets a clone "
                f"run with ({DRILL_INSTANCE_ROLES_ENV}, context drillInstanceRoleArns): list "
                "it there, or leave cloneKeepsSourceProfile unset so the clone runs with the "
                "stack's own Systems Manager profile"
            )
        return (
            str(source_profile),
            "source",
            [
                f"the clone runs with the source's instance profile {source_profile} "
                f"({CLONE_KEEPS_SOURCE_PROFILE_ENV}): its services act with production "
                "credentials"
            ],
        )
    if read.clone_instance_profile_arn:
        return read.clone_instance_profile_arn, "stack", []
    if validates:
        raise CloneNotIsolatable(
            f"no instance profile for the clone ({CLONE_INSTANCE_PROFILE_ENV} is unset; the "
            "stack sets it to its own Systems Manager profile), so its agent could never run "
            "the ValidationDocument"
        )
    return None, "none", ["the clone runs without an instance profile"]


def agent_never_registered(isolation: CloneIsolation | None) -> str:
    """Why a clone's SSM agent may never have registered, most likely first (pure)."""
    causes = []
    if isolation is not None and isolation.dns_servers:
        causes.append(
            f"its DNS servers {', '.join(isolation.dns_servers)} (the VPC's DHCP options set, "
            f"not {AMAZON_DNS}) are usually domain controllers, which the isolation group "
            "blocks, so the Systems Manager endpoints' names do not resolve"
        )
    egress = isolation.egress if isolation is not None else None
    destinations = ", ".join(isolation.destinations) if isolation is not None else ""
    if egress == "endpoints":
        causes.append(
            f"the SSM endpoints' security groups {destinations} must admit TCP 443 from the "
            "clone (its subnet or its isolation group), and the VPC needs interface endpoints "
            f"for {', '.join(SSM_ENDPOINT_SERVICES)} with private DNS"
        )
    elif egress == "prefix-list":
        causes.append(
            f"the prefix list {destinations} must hold the Systems Manager endpoints' addresses"
        )
    elif egress == "requested":
        causes.append("the requested security groups must allow TCP 443 out to Systems Manager")
    else:
        causes.append(
            f"the VPC needs interface endpoints for {', '.join(SSM_ENDPOINT_SERVICES)} "
            "admitting TCP 443 from the clone"
        )
    if isolation is None or isolation.instance_profile_arn is None:
        causes.append("the clone has no instance profile")
    elif isolation.profile == "source":
        causes.append(
            f"the source's instance profile {isolation.instance_profile_arn} must grant "
            "Systems Manager core (AmazonSSMManagedInstanceCore)"
        )
    else:
        causes.append(
            f"the instance profile {isolation.instance_profile_arn} must grant Systems "
            "Manager core (AmazonSSMManagedInstanceCore)"
        )
    return "the clone's SSM agent never registered; likely: " + "; ".join(causes)
