"""Clone drills: prove a snapshot set restores, without touching the source instance.

A drill launches a new instance from the source's AMI and attributes, with the set's data
snapshots mapped at their devices, in the subnet the request names (one without a route to
an internet gateway, unless the deployment allows it; never with a public address).
EC2 refuses another snapshot for an AMI's root device at launch, so the clone's root is
swapped afterwards for a volume created from the set's root snapshot (``clone_root``).
Unless the request names security groups (without inbound rules, unless the deployment
allows them), the clone runs in a group of its own with no inbound rule and outbound HTTPS
only to the VPC's Systems Manager endpoints (``isolation``): a domain-joined clone boots
with the source's computer identity and must not reach a domain controller, nor production.
It runs with the stack's own instance profile (Systems Manager core), not the source's.
Clone disks are never attached to the source: Windows would see two disks with one
signature and take one offline. The clone is checked (running, status checks,
optionally an SSM Run Command document), reported on, and removed unless ``KeepClone``.
Everything a drill creates (clone, volumes, isolation group) carries ``vss-restore:drill``
(the source), ``vss-restore:execution`` and ``vss-restore:expires-at``, so ``cleanup`` can
remove what a drill could not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from botocore.exceptions import ClientError
from pydantic import Field

from vss_restore import tags
from vss_restore.aws_errors import error_code, failing_as
from vss_restore.errors import (
    CloneLaunchFailed,
    DrillCleanupFailed,
    InvalidRequest,
    ResourceNotReady,
)
from vss_restore.isolation import CloneIsolation
from vss_restore.models import ChosenSet, CloneRequest, InstanceFacts, Model, VolumeSpec
from vss_restore.planning import volume_specs
from vss_restore.records import Records, record_or_undo, unrecorded
from vss_restore.settings import settings
from vss_restore.volumes import pages_by_id, volumes_by_id
from vss_restore.waiting import POLL_POWER_SECONDS, poll_within

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# A clone left behind (KeepClone, or a cleanup that failed) may be removed after this.
DRILL_TTL = timedelta(hours=24)
# Run Command output kept in the report (the console shows the first 2,500 characters).
OUTPUT_EXCERPT_CHARS = 2000
ValidationStatus = Literal[
    "Success",
    "Failed",
    "Cancelled",
    "TimedOut",
    "DeliveryTimedOut",
    "ExecutionTimedOut",
    "Undeliverable",
    "Terminated",
]
# A command in any of these statuses has finished (Run Command's terminal statuses).
VALIDATION_DONE = frozenset(get_args(ValidationStatus))
METRIC_NAMESPACE = "VssRestore"
EVENT_SOURCE = "vss-restore"
EVENT_DETAIL_TYPE = "vss-restore Drill Finished"
_GONE = ("shutting-down", "terminated")
# The isolation group lets a clone reach Systems Manager's endpoints and nothing else.
ISOLATION_DESCRIPTION = "vss-restore drill clone: no inbound, outbound HTTPS (443) only"
# A plan made without looking at the VPC: no outbound traffic, no instance profile.
NOT_ISOLATED = CloneIsolation(egress="none")


class CloneVolume(Model):
    device: str = Field(alias="Device")
    snapshot_id: str = Field(alias="SnapshotId")


class ClonePlan(Model):
    """What ``RunInstances`` gets, and what the drill report needs to say about it.

    ``Launch`` maps the set's data volumes; the AMI's root stays as the AMI has it and is
    replaced after launch by ``RootVolume`` (None when the set holds no root snapshot).
    ``Launch`` has one network interface, without a public address; it has no ``Groups``
    when ``Isolate``: the isolation group is created in ``VpcId`` just before the launch.
    """

    source_instance_id: str = Field(alias="SourceInstanceId")
    snapshot_set_id: str = Field(alias="SnapshotSetId")
    execution: str = Field(alias="Execution")
    expires_at: datetime = Field(alias="ExpiresAt")
    volumes: list[CloneVolume] = Field(alias="Volumes")
    launch: dict[str, Any] = Field(alias="Launch")
    vpc_id: str = Field(alias="VpcId")
    isolate: bool = Field(alias="Isolate")
    root_device: str = Field(alias="RootDevice")
    root_volume: VolumeSpec | None = Field(default=None, alias="RootVolume")
    image_root_snapshot_id: str | None = Field(default=None, alias="ImageRootSnapshotId")
    isolation: CloneIsolation = Field(default=NOT_ISOLATED, alias="Isolation")
    warnings: list[str] = Field(default_factory=list, alias="Warnings")

    @property
    def labels(self) -> dict[str, str]:
        return drill_tags(
            self.source_instance_id, self.execution, self.snapshot_set_id, self.expires_at
        )


def drill_tags(
    source_instance_id: str, execution: str, snapshot_set_id: str, expires_at: datetime
) -> dict[str, str]:
    return {
        "Name": f"vss-restore drill of {source_instance_id}",
        tags.DRILL: source_instance_id,
        tags.EXECUTION: execution[: tags.MAX_TAG_VALUE],
        tags.EXPIRES_AT: expires_at.isoformat(timespec="seconds"),
        tags.SNAPSHOT_SET_ID: snapshot_set_id[: tags.MAX_TAG_VALUE],
        tags.CREATED_BY: tags.CREATED_BY_VALUE,
    }


def _block_device_mapping(spec: VolumeSpec) -> dict[str, Any]:
    ebs: dict[str, Any] = {
        "SnapshotId": spec.snapshot_id,
        "VolumeType": spec.volume_type,
        "VolumeSize": spec.size,
        # The clone is disposable: terminating it removes its disks.
        "DeleteOnTermination": True,
    }
    if spec.iops:
        ebs["Iops"] = spec.iops
    if spec.throughput:
        ebs["Throughput"] = spec.throughput
    if spec.encrypted and spec.kms_key_id:
        ebs.update(Encrypted=True, KmsKeyId=spec.kms_key_id)
    if spec.initialization_rate is not None:
        ebs["VolumeInitializationRate"] = spec.initialization_rate
    return {"DeviceName": spec.device, "Ebs": ebs}


def _image_root_snapshot(image: Mapping[str, Any]) -> str | None:
    root = image.get("RootDeviceName")
    for mapping in image.get("BlockDeviceMappings", []):
        if mapping.get("DeviceName") == root:
            snapshot = mapping.get("Ebs", {}).get("SnapshotId")
            return str(snapshot) if snapshot else None
    return None


def plan_clone(
    request: CloneRequest,
    source: Mapping[str, Any],
    image: Mapping[str, Any],
    subnet: Mapping[str, Any],
    facts: InstanceFacts,
    chosen: ChosenSet,
    originals: Mapping[str, Mapping[str, Any]],
    execution: str,
    now: datetime,
    fast_restored: Collection[str] = frozenset(),
    isolation: CloneIsolation = NOT_ISOLATED,
) -> ClonePlan:
    """``RunInstances`` parameters for a clone of ``source`` from the chosen set (pure).

    Each volume keeps its original's type, size, IOPS, throughput and key, as an in-place
    restore does. Network identity is never copied (no private IP, no ENI): the clone gets
    its own interface in ``subnet``, never a public address, and the source's security
    groups only if the request names them. Every volume gets the request's
    ``InitializationRate``, except those from ``fast_restored`` snapshots (fast snapshot
    restore enabled in the subnet's zone). The clone's instance profile and its isolation
    group's egress are the ones ``isolation`` planned (never simply the source's profile).
    """
    specs = volume_specs(
        facts,
        chosen,
        originals,
        execution,
        initialization_rate=request.initialization_rate,
        fast_restored=fast_restored,
    )
    expires_at = (now + DRILL_TTL).replace(microsecond=0)
    labels = drill_tags(facts.instance_id, execution, chosen.snapshot_set_id, expires_at)
    root_device = str(image.get("RootDeviceName") or facts.root_device_name)
    root = next((s for s in specs if s.device == root_device), None)
    root_volume = None
    if root is not None:
        root_volume = root.model_copy(
            update={
                "availability_zone": subnet["AvailabilityZone"],
                # The clone is disposable: terminating it removes its root too.
                "delete_on_termination": True,
                "tags": labels,
                "client_token": hashlib.sha256(f"{execution}|clone-root".encode()).hexdigest()[:64],
            }
        )
    subnet_id = subnet["SubnetId"]
    interface: dict[str, Any] = {
        "DeviceIndex": 0,
        "SubnetId": subnet_id,
        # Never reachable from the internet, whatever the subnet's default.
        "AssociatePublicIpAddress": False,
        "DeleteOnTermination": True,
    }
    if request.security_group_ids:
        interface["Groups"] = list(request.security_group_ids)
    launch: dict[str, Any] = {
        "ImageId": source["ImageId"],
        "InstanceType": request.instance_type or source["InstanceType"],
        "MinCount": 1,
        "MaxCount": 1,
        "NetworkInterfaces": [interface],
        "BlockDeviceMappings": [_block_device_mapping(s) for s in specs if s is not root],
        "EbsOptimized": bool(source.get("EbsOptimized", False)),
        "DisableApiTermination": False,
        "InstanceInitiatedShutdownBehavior": "terminate",
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": tags.tag_list(labels)},
            {"ResourceType": "volume", "Tags": tags.tag_list(labels)},
        ],
        "ClientToken": hashlib.sha256(f"{execution}|clone".encode()).hexdigest()[:64],
    }
    if source.get("KeyName"):
        launch["KeyName"] = source["KeyName"]
    if isolation.instance_profile_arn:
        # Run Command needs the SSM agent to reach SSM with the instance's role.
        launch["IamInstanceProfile"] = {"Arn": isolation.instance_profile_arn}
    metadata = source.get("MetadataOptions") or {}
    if metadata.get("HttpTokens"):
        launch["MetadataOptions"] = {
            k: metadata[k]
            for k in ("HttpTokens", "HttpEndpoint", "HttpPutResponseHopLimit")
            if k in metadata
        }
    tenancy = source.get("Placement", {}).get("Tenancy")
    if tenancy and tenancy != "default":
        launch["Placement"] = {"Tenancy": tenancy}
    warnings = list(isolation.warnings)
    if subnet_id == source.get("SubnetId"):
        warnings.append(
            f"the clone runs in the source's subnet {subnet_id}: it shares the source's network "
            "and has the source's Windows identity; give SubnetId of an isolated subnet"
        )
    if request.security_group_ids:
        warnings.append(
            "the clone runs in the requested security groups, not an isolation group: make sure "
            "they keep it from domain controllers and from the source's clients"
        )
    return ClonePlan(
        source_instance_id=facts.instance_id,
        snapshot_set_id=chosen.snapshot_set_id,
        execution=execution,
        expires_at=expires_at,
        volumes=[CloneVolume(device=s.device, snapshot_id=s.snapshot_id) for s in specs],
        launch=launch,
        vpc_id=subnet["VpcId"],
        isolate=not request.security_group_ids,
        root_device=root_device,
        root_volume=root_volume,
        image_root_snapshot_id=_image_root_snapshot(image),
        isolation=isolation,
        warnings=warnings,
    )


@dataclass(frozen=True)
class ClonePlacement:
    """What the deployment lets a request choose for a clone beyond the rules (its settings):
    subnets that route to an internet gateway, security groups with inbound rules, instance
    types other than the source's."""

    exposed_subnet_ids: frozenset[str] = frozenset()
    open_security_group_ids: frozenset[str] = frozenset()
    instance_types: frozenset[str] = frozenset()

    @classmethod
    def configured(cls) -> ClonePlacement:
        """``CLONE_EXPOSED_SUBNET_IDS``, ``CLONE_OPEN_SECURITY_GROUP_IDS``,
        ``DRILL_INSTANCE_TYPES`` as the stack sets them."""
        read = settings()
        return cls(
            frozenset(read.clone_exposed_subnet_ids),
            frozenset(read.clone_open_security_group_ids),
            frozenset(read.drill_instance_types),
        )


def check_clone_instance_type(
    requested: str | None, source_type: str, placement: ClonePlacement
) -> None:
    """``InvalidRequest`` naming InstanceType unless it is the source's own type or one the
    deployment lists (pure). None: the clone has the source's type."""
    if requested is None or requested == source_type or requested in placement.instance_types:
        return
    allowed = ", ".join(sorted(placement.instance_types)) or "none"
    raise InvalidRequest(
        "InstanceType",
        f"{requested} is neither the source's own type ({source_type}) nor one the deployment "
        f"allows for drills ({allowed}): leave InstanceType out, or have it added to "
        "DRILL_INSTANCE_TYPES (context drillInstanceTypes)",
    )


def internet_gateway_routes(route_tables: Iterable[Mapping[str, Any]]) -> list[str]:
    """Each route of ``route_tables`` to an internet gateway, as "destination → igw-…" (pure).

    Any destination counts, ``0.0.0.0/0`` and ``::/0`` above all: a subnet with such a route
    is public, and only the want of a public address keeps its instances out of reach.
    """
    return [
        f"{_destination(route)} → {route['GatewayId']}"
        for table in route_tables
        for route in table.get("Routes", [])
        if str(route.get("GatewayId", "")).startswith("igw-")
    ]


def _destination(route: Mapping[str, Any]) -> str:
    for key in ("DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId"):
        if route.get(key):
            return str(route[key])
    return "?"


def check_clone_subnet(
    subnet_id: str, route_tables: Iterable[Mapping[str, Any]], placement: ClonePlacement
) -> None:
    """``InvalidRequest`` naming SubnetId if the subnet routes to an internet gateway and the
    deployment does not allow it (pure)."""
    routes = internet_gateway_routes(route_tables)
    if routes and subnet_id not in placement.exposed_subnet_ids:
        raise InvalidRequest(
            "SubnetId",
            f"{subnet_id} routes to an internet gateway ({', '.join(routes)}): a clone holds "
            "the source's data and Windows identity, so it goes only into a subnet without "
            "such a route (give SubnetId of an isolated subnet), unless the deployment allows "
            "this one (CLONE_EXPOSED_SUBNET_IDS, context cloneExposedSubnetIds)",
        )


def inbound_rules(group: Mapping[str, Any]) -> list[str]:
    """A security group's inbound rules, each as "what from where" (pure)."""
    found = []
    for rule in group.get("IpPermissions", []):
        protocol = str(rule.get("IpProtocol"))
        what = "all traffic" if protocol == "-1" else f"{protocol} {_ports(rule)}"
        sources = [
            *(r["CidrIp"] for r in rule.get("IpRanges", [])),
            *(r["CidrIpv6"] for r in rule.get("Ipv6Ranges", [])),
            *(p["GroupId"] for p in rule.get("UserIdGroupPairs", []) if p.get("GroupId")),
            *(p["PrefixListId"] for p in rule.get("PrefixListIds", [])),
        ]
        found.append(f"{what} from {', '.join(sources) or '?'}")
    return found


def _ports(rule: Mapping[str, Any]) -> str:
    low, high = rule.get("FromPort"), rule.get("ToPort")
    if low in (None, -1):
        return "all ports"
    return str(low) if low == high else f"{low}-{high}"


def check_clone_groups(
    groups: Iterable[Mapping[str, Any]], vpc_id: str, placement: ClonePlacement
) -> None:
    """``InvalidRequest`` naming SecurityGroupIds for a group outside the clone's VPC, or with
    an inbound rule that the deployment does not allow (pure)."""
    for group in groups:
        group_id = group["GroupId"]
        if group.get("VpcId") != vpc_id:
            raise InvalidRequest(
                "SecurityGroupIds", f"{group_id} is not in the clone's subnet's VPC {vpc_id}"
            )
        rules = inbound_rules(group)
        if rules and group_id not in placement.open_security_group_ids:
            raise InvalidRequest(
                "SecurityGroupIds",
                f"{group_id} allows inbound traffic ({'; '.join(rules)}): a clone runs only in "
                "groups without an inbound rule (leave SecurityGroupIds out and the drill makes "
                "its own isolation group), unless the deployment allows this one "
                "(CLONE_OPEN_SECURITY_GROUP_IDS, context cloneOpenSecurityGroupIds)",
            )


def subnet_route_tables(ec2: EC2Client, subnet: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The route table that decides a subnet's traffic: its own, else its VPC's main one."""
    own = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet["SubnetId"]]}]
    )["RouteTables"]
    if own:
        return [dict(t) for t in own]
    main = ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [subnet["VpcId"]]},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"]
    return [dict(t) for t in main]


def check_clone_target(
    ec2: EC2Client, request: CloneRequest, source: Mapping[str, Any], placement: ClonePlacement
) -> None:
    """The clone's place is one the caller may choose; ``InvalidRequest`` otherwise.

    Its instance type is the source's or one the deployment lists; the subnet (the
    request's, else the source's) exists and has no route to an internet gateway; the
    request's security groups exist, are in its VPC and have no inbound rule; ``placement``
    lists the exceptions the deployment allows.
    """
    check_clone_instance_type(request.instance_type, str(source["InstanceType"]), placement)
    subnet_id = request.subnet_id or source.get("SubnetId")
    if not subnet_id:
        raise InvalidRequest("SubnetId", "the source instance has no subnet; give one")
    try:
        subnet = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
    except ClientError as err:
        if error_code(err).startswith("InvalidSubnetID"):
            raise InvalidRequest("SubnetId", f"{subnet_id} does not exist") from err
        raise
    check_clone_subnet(subnet_id, subnet_route_tables(ec2, subnet), placement)
    if not request.security_group_ids:
        return
    try:
        groups = ec2.describe_security_groups(GroupIds=request.security_group_ids)
    except ClientError as err:
        if error_code(err).startswith("InvalidGroup"):
            raise InvalidRequest("SecurityGroupIds", "a security group does not exist") from err
        raise
    check_clone_groups(groups["SecurityGroups"], subnet["VpcId"], placement)


def _drill_filters(execution: str | None) -> list[Any]:
    filters: list[Any] = [{"Name": "tag-key", "Values": [tags.DRILL]}]
    if execution:
        filters.append(
            {"Name": f"tag:{tags.EXECUTION}", "Values": [execution[: tags.MAX_TAG_VALUE]]}
        )
    return filters


def _drill_instances(ec2: EC2Client, execution: str | None) -> list[dict[str, Any]]:
    """Instances tagged as a drill's (this execution's, if given), terminated ones too."""
    pages = ec2.get_paginator("describe_instances").paginate(Filters=_drill_filters(execution))
    return [dict(i) for page in pages for r in page["Reservations"] for i in r["Instances"]]


def find_clone(ec2: EC2Client, execution: str, client_token: str) -> dict[str, Any] | None:
    """This execution's clone, if it was launched and is not gone: tagged as its clone and
    launched with its client token (which no one can give an instance afterwards)."""
    return next(
        (
            i
            for i in _drill_instances(ec2, execution)
            if i["State"]["Name"] not in _GONE and i.get("ClientToken") == client_token
        ),
        None,
    )


class LaunchedClone(Model):
    """The clone, and the security groups it runs in."""

    instance_id: str = Field(alias="InstanceId")
    security_group_ids: list[str] = Field(alias="SecurityGroupIds")
    isolation_group_id: str | None = Field(default=None, alias="IsolationGroupId")


def isolation_group_name(execution: str) -> str:
    return f"vss-restore-drill-{hashlib.sha256(execution.encode()).hexdigest()[:16]}"


# Each destination kind of a rule: its list in a permission, and the key in its items.
_DESTINATIONS = {
    "IpRanges": "CidrIp",
    "Ipv6Ranges": "CidrIpv6",
    "UserIdGroupPairs": "GroupId",
    "PrefixListIds": "PrefixListId",
}


def rule_atoms(rules: Iterable[Mapping[str, Any]]) -> set[tuple[Any, ...]]:
    """Security group rules as (protocol, from, to, destination kind, destination), one per
    destination: EC2 may group a group's rules otherwise than they were added (pure)."""
    return {
        (str(rule.get("IpProtocol")), rule.get("FromPort"), rule.get("ToPort"), kind, d[key])
        for rule in rules
        for kind, key in _DESTINATIONS.items()
        for d in rule.get(kind, [])
    }


def _permissions(atoms: Iterable[tuple[Any, ...]]) -> list[Any]:
    permissions = []
    for protocol, low, high, kind, destination in sorted(atoms, key=str):
        permission: dict[str, Any] = {"IpProtocol": protocol}
        if low is not None and protocol != "-1":
            permission.update(FromPort=low, ToPort=high)
        permission[kind] = [{_DESTINATIONS[kind]: destination}]
        permissions.append(permission)
    return permissions


def ensure_isolation_group(ec2: EC2Client, plan: ClonePlan, records: Records) -> str:
    """This execution's isolation group: no inbound rule, outbound TCP 443 only to where the
    plan's isolation says (the SSM endpoints' groups, by default; nowhere at all for a drill
    without validation in a VPC without them).

    Found again by name on a retry (``CreateSecurityGroup`` takes no client token); created
    with the drill's tags and recorded before any rule is changed, so the drill's cleanup
    removes it whatever fails next (one that cannot be recorded is deleted at once). Any other egress rule (the default
    allow-all first) is revoked and each wanted one added, whichever a lost answer left undone.
    """
    name = isolation_group_name(plan.execution)
    what = f"creating the drill's isolation group {name} in {plan.vpc_id}"
    with failing_as(CloneLaunchFailed, what):
        found = ec2.describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [plan.vpc_id]},
                {"Name": "group-name", "Values": [name]},
            ]
        )["SecurityGroups"]
        if found:
            group: Mapping[str, Any] = found[0]
            records.created([str(group["GroupId"])], plan.execution, plan.labels)
        else:
            group_id = ec2.create_security_group(
                GroupName=name,
                Description=ISOLATION_DESCRIPTION,
                VpcId=plan.vpc_id,
                TagSpecifications=[
                    {"ResourceType": "security-group", "Tags": tags.tag_list(plan.labels)}
                ],
            )["GroupId"]
            record_or_undo(
                records,
                [group_id],
                plan.execution,
                plan.labels,
                undo=lambda: ec2.delete_security_group(GroupId=group_id),
            )
            group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        group_id = str(group["GroupId"])
        wanted = rule_atoms(plan.isolation.egress_rules())
        present = rule_atoms(group.get("IpPermissionsEgress", []))
        if present - wanted:
            ec2.revoke_security_group_egress(
                GroupId=group_id, IpPermissions=_permissions(present - wanted)
            )
        if wanted - present:
            ec2.authorize_security_group_egress(
                GroupId=group_id, IpPermissions=_permissions(wanted - present)
            )
    return group_id


def launch_clone(ec2: EC2Client, plan: ClonePlan, records: Records) -> LaunchedClone:
    """Launch the clone once per execution (a retry finds the first; ``ClientToken`` too),
    and record it and its isolation group as the drill's."""
    isolation_group_id = ensure_isolation_group(ec2, plan, records) if plan.isolate else None
    interface = dict(plan.launch["NetworkInterfaces"][0])
    if isolation_group_id:
        interface["Groups"] = [isolation_group_id]
    launch = {**plan.launch, "NetworkInterfaces": [interface]}
    existing = find_clone(ec2, plan.execution, plan.launch["ClientToken"])
    if existing is not None:
        instance_id = str(existing["InstanceId"])
        records.created([instance_id], plan.execution, plan.labels)
    else:
        with failing_as(CloneLaunchFailed, f"launching a clone of {plan.source_instance_id}"):
            launched = ec2.run_instances(**launch)
        instance_id = str(launched["Instances"][0]["InstanceId"])
        with failing_as(CloneLaunchFailed, f"recording clone {instance_id}"):
            record_or_undo(
                records,
                [instance_id],
                plan.execution,
                plan.labels,
                undo=lambda: ec2.terminate_instances(InstanceIds=[instance_id]),
            )
    return LaunchedClone(
        instance_id=instance_id,
        security_group_ids=list(interface["Groups"]),
        isolation_group_id=isolation_group_id,
    )


# A terminated clone's network interface lets go of its group within a minute or two: a
# group EC2 still says is in use this many checks later (POLL_POWER_SECONDS apart) is held by
# something else, and the drill ends instead of polling until its retries run out.
GROUP_RELEASE_CHECKS = 90


class CleanupPass(Model):
    """What one cleanup pass did, and what it is still waiting for."""

    terminated: list[str] = Field(default_factory=list, alias="TerminatedInstances")
    deleted: list[str] = Field(default_factory=list, alias="DeletedVolumes")
    deleted_groups: list[str] = Field(default_factory=list, alias="DeletedSecurityGroups")
    pending: list[str] = Field(default_factory=list, alias="Pending")
    # Groups EC2 said were still in use (each also pending).
    groups_in_use: list[str] = Field(default_factory=list, alias="GroupsInUse")
    # Resources carrying drill tags that no drill recorded creating: left alone.
    unrecorded: list[str] = Field(default_factory=list, alias="Unrecorded")
    # What the pass left alone, and why.
    warnings: list[str] = Field(default_factory=list, alias="Warnings")


def cleanup_pass(
    ec2: EC2Client,
    records: Records,
    *,
    execution: str | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> CleanupPass:
    """Terminate drill instances, delete detached drill volumes and unused drill groups, once.

    With ``execution``: the resources that drill recorded creating. With ``now`` instead:
    every recorded drill resource whose expiry (the one it was created with) has passed.
    Only recorded ids are ever touched: a resource carrying drill tags without a record is
    named in ``Unrecorded`` and ``Warnings`` and left alone. ``dry_run`` lists what would go
    and changes nothing. The records of what is gone are forgotten.
    """
    if (execution is None) == (now is None):
        raise ValueError("give exactly one of execution and now")
    if execution is not None:
        ours = records.of_execution(execution, "drill")
        ids = {r.resource_id for r in ours}
    else:
        # The scheduled pass: any record at all (expired or not) makes a resource ours.
        ours = records.all_of("drill")
        ids = {r.resource_id for r in ours if r.expired(cast("datetime", now))}
    done = CleanupPass()
    gone: set[str] = set()
    _report_unrecorded(ec2, execution, {r.resource_id for r in ours}, done)

    instance_ids = sorted(i for i in ids if i.startswith("i-"))
    instances = [
        i for i in _instances_by_id(ec2, instance_ids) if i["State"]["Name"] != "terminated"
    ]
    gone.update(set(instance_ids) - {i["InstanceId"] for i in instances})
    to_terminate = [i["InstanceId"] for i in instances if i["State"]["Name"] != "shutting-down"]
    if to_terminate and not dry_run:
        ec2.terminate_instances(InstanceIds=to_terminate)
    done.terminated.extend(to_terminate)
    done.pending.extend(i["InstanceId"] for i in instances)

    volume_ids = sorted(i for i in ids if i.startswith("vol-"))
    volumes = volumes_by_id(ec2, volume_ids)
    gone.update(set(volume_ids) - {v["VolumeId"] for v in volumes})
    for volume in volumes:
        if volume["State"] == "available":
            if not dry_run:
                ec2.delete_volume(VolumeId=volume["VolumeId"])
                gone.add(volume["VolumeId"])
            done.deleted.append(volume["VolumeId"])
        elif volume["State"] != "deleting":
            done.pending.append(volume["VolumeId"])

    group_ids = sorted(i for i in ids if i.startswith("sg-"))
    groups = _groups_by_id(ec2, group_ids)
    gone.update(set(group_ids) - set(groups))
    for group_id in groups:
        if dry_run:
            done.deleted_groups.append(group_id)
        elif _remove_group(ec2, group_id, done):
            gone.add(group_id)
    if not dry_run:
        records.forget(gone)
    return done


def _report_unrecorded(
    ec2: EC2Client, execution: str | None, recorded: set[str], done: CleanupPass
) -> None:
    """Name each live resource tagged as a drill's (this execution's) that has no record."""
    tagged = [
        str(i["InstanceId"])
        for i in _drill_instances(ec2, execution)
        if i["State"]["Name"] not in _GONE
    ]
    volumes = ec2.get_paginator("describe_volumes").paginate(Filters=_drill_filters(execution))
    tagged.extend(
        v["VolumeId"]
        for page in volumes
        for v in page["Volumes"]
        # A recorded clone's own disks (made by its launch) go when it is terminated.
        if not any(a.get("InstanceId") in recorded for a in v.get("Attachments") or [])
    )
    groups = ec2.get_paginator("describe_security_groups").paginate(
        Filters=_drill_filters(execution)
    )
    tagged.extend(g["GroupId"] for page in groups for g in page["SecurityGroups"])
    found = [t for t in tagged if t not in recorded]
    done.unrecorded.extend(found)
    done.warnings.extend(unrecorded("drill", found))


def _instances_by_id(ec2: EC2Client, instance_ids: list[str]) -> list[dict[str, Any]]:
    pages = pages_by_id(ec2, "describe_instances", "instance-id", instance_ids)
    return [dict(i) for page in pages for r in page["Reservations"] for i in r["Instances"]]


def _groups_by_id(ec2: EC2Client, group_ids: list[str]) -> list[str]:
    pages = pages_by_id(ec2, "describe_security_groups", "group-id", group_ids)
    return [str(g["GroupId"]) for page in pages for g in page["SecurityGroups"]]


def _remove_group(ec2: EC2Client, group_id: str, done: CleanupPass) -> bool:
    """Delete a drill group (True: it is gone); pending while a clone that is going away
    still holds it."""
    try:
        ec2.delete_security_group(GroupId=group_id)
    except ClientError as err:
        code = error_code(err)
        if code == "InvalidGroup.NotFound":
            return True
        # A terminated instance's network interface lets go of its groups a little later.
        if code != "DependencyViolation":
            raise
        done.pending.append(group_id)
        done.groups_in_use.append(group_id)
        return False
    done.deleted_groups.append(group_id)
    return True


def remove_drill(
    ec2: EC2Client, records: Records, execution: str, entered_at: datetime, timeout_seconds: int
) -> CleanupPass:
    """Remove this execution's drill resources, polling until nothing is left.

    ``ResourceNotReady`` when the in-task budget runs out first (the state machine polls
    again), ``WaitTimedOut`` past ``timeout_seconds`` since the state was entered, and
    ``DrillCleanupFailed`` when only a group is left and EC2 still says it is in use
    ``GROUP_RELEASE_CHECKS`` checks in a row (its drill and expiry tags stay, for ``cleanup``).
    """
    removed = CleanupPass()
    only_groups_left = 0

    def attempt(_: datetime) -> CleanupPass:
        nonlocal only_groups_left
        step = cleanup_pass(ec2, records, execution=execution)
        removed.unrecorded[:] = step.unrecorded
        removed.warnings[:] = step.warnings
        removed.terminated.extend(step.terminated)
        removed.deleted.extend(step.deleted)
        removed.deleted_groups.extend(step.deleted_groups)
        if step.pending and step.pending == step.groups_in_use:
            only_groups_left += 1
            if only_groups_left >= GROUP_RELEASE_CHECKS:
                raise DrillCleanupFailed(
                    f"isolation group {', '.join(step.groups_in_use)} still in use "
                    f"{only_groups_left} checks after the clone was gone (DependencyViolation); "
                    f"it keeps its {tags.DRILL} and {tags.EXPIRES_AT} tags for the scheduled "
                    "cleanup"
                )
        else:
            only_groups_left = 0
        if step.pending:
            raise ResourceNotReady(f"drill resources {', '.join(step.pending)} still being removed")
        return removed

    return poll_within(attempt, POLL_POWER_SECONDS, entered_at, timeout_seconds)


class ValidationResult(Model):
    document: str = Field(alias="Document")
    command_id: str = Field(alias="CommandId")
    status: ValidationStatus = Field(alias="Status")
    response_code: int | None = Field(default=None, alias="ResponseCode")
    output: str = Field(alias="Output")
    finished_at: datetime = Field(alias="FinishedAt")

    @property
    def succeeded(self) -> bool:
        return self.status == "Success"


def validation_result(
    document: str, invocation: Mapping[str, Any], finished_at: datetime
) -> ValidationResult:
    """The report's view of a finished command: status, exit code, output excerpt (pure)."""
    output = str(invocation.get("StandardOutputContent") or "")
    errors = str(invocation.get("StandardErrorContent") or "")
    if errors:
        output = f"{output}\n--- stderr ---\n{errors}" if output else errors
    code = invocation.get("ResponseCode")
    return ValidationResult(
        document=document,
        command_id=str(invocation["CommandId"]),
        status=invocation["Status"],
        response_code=int(code) if code is not None and int(code) >= 0 else None,
        output=output[:OUTPUT_EXCERPT_CHARS],
        finished_at=finished_at,
    )
