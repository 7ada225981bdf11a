"""Would AWS have allowed every call the tasks made? The emulator checks no IAM; this does.

``CallRecorder`` hooks the workflow's boto3 session and records, for every AWS call a task
makes while the local engine runs it, the function, the parameters and what AWS knew at
that moment (the tags of the resources the call names, the volumes on the instance's
devices). ``function_policies`` reads each function's role policy from the synthesized
CloudFormation template; ``check`` decides every authorization of every call
(``iam_requests``) against that policy (``iam_policy``).

A second question, ``guard_bypasses``: EC2 authorizes some actions on optional resources
that a caller may leave out (``DetachVolume`` without ``InstanceId``). When the only
condition that limited a call sat on such a resource, the same call without it is allowed
everywhere: the guard is not one.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_block_store import Snapshot
from moto.iam.models import iam_backends
from moto.kms.models import kms_backends

from vss_restore.local.iam_policy import (
    Decision,
    Statement,
    UnsupportedCondition,
    evaluate,
    unconditional,
)
from vss_restore.local.iam_requests import (
    ACTIONS,
    Authorization,
    Call,
    Facts,
    Param,
    UnknownAction,
    authorizations,
    missing_required,
)
from vss_restore.local.lambda_dispatch import current_function

_EC2_ID = re.compile(r"^(i|vol|snap|ami|sg)-[0-9a-f]+$")
# A task function's Handler in the template: vss_restore.functions.<module>.handler
HANDLER_PREFIX = "vss_restore.functions."


# --- recording -------------------------------------------------------------------------------


def _ids_in(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value} if _EC2_ID.match(value) else set()
    if isinstance(value, Mapping):
        return set().union(*(_ids_in(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(_ids_in(v) for v in value)) if value else set()
    return set()


def _instance_profile_roles(account: str, params: Mapping[str, Any]) -> dict[str, str]:
    wanted = (params.get("IamInstanceProfile") or {}).get("Arn")
    if not wanted:
        return {}
    for profile in iam_backends[account]["global"].instance_profiles.values():
        if profile.arn == wanted and profile.roles:
            return {str(wanted): str(profile.roles[0].arn)}
    return {}


def _instance(backend: Any, instance_id: str) -> Any:
    for reservation in list(backend.reservations.values()):
        for instance in list(reservation.instances):
            if instance.id == instance_id:
                return instance
    return None


def _key_of(backend: Any, resource: Any) -> str | None:
    """The KMS key a volume or snapshot is encrypted with.

    moto records none on a snapshot, nor on a volume created from an encrypted snapshot
    without ``KmsKeyId``: AWS uses the source's key there, so the source's is followed.
    """
    if resource is None or not resource.encrypted:
        return None
    if resource.kms_key_id:
        return str(resource.kms_key_id)
    if isinstance(resource, Snapshot):
        return _key_of(backend, resource.volume)
    return _key_of(backend, backend.snapshots.get(resource.snapshot_id))


def _aws_managed_keys(account: str, region: str) -> set[str]:
    """Ids and ARNs of the AWS managed keys (``aws/ebs``): their key policy lets every
    principal of the account use them through EC2, so no role needs them in its policy."""
    return {
        reference
        for key in list(kms_backends[account][region].keys.values())
        if any(alias.startswith("alias/aws/") for alias in list(key.aliases))
        for reference in (str(key.id), str(key.arn))
    }


def facts_now(account: str, region: str, params: Mapping[str, Any]) -> Facts:
    """Tags, device mappings and customer KMS keys of the EC2 resources ``params`` names, as
    the emulator holds them.

    Other tasks change the emulator from other threads meanwhile: every collection is
    copied (``list()`` of a dict view is atomic under the GIL) before it is walked.
    """
    backend = ec2_backends[account][region]
    ids = _ids_in(params)
    devices: dict[str, dict[str, str]] = {}
    for instance_id in sorted(i for i in ids if i.startswith("i-")):
        instance = _instance(backend, instance_id)
        if instance is None:
            continue  # AWS would refuse the call itself; nothing to authorize against
        devices[instance_id] = {
            device: str(mapping.volume_id)
            for device, mapping in list(instance.block_device_mapping.items())
        }
    # The volumes on the named instances' devices are resources of some calls too
    # (ModifyInstanceAttribute names devices, not volumes): their tags count as well.
    tagged = ids | {v for mapping in devices.values() for v in mapping.values()}
    aws_managed = _aws_managed_keys(account, region)
    kms_keys = {}
    for resource_id in sorted(i for i in tagged if i.startswith(("vol-", "snap-"))):
        resource = backend.volumes.get(resource_id) or backend.snapshots.get(resource_id)
        key = _key_of(backend, resource)
        if key is not None and key not in aws_managed:
            kms_keys[resource_id] = key
    owners = {
        i: str(backend.snapshots[i].owner_id)
        for i in ids
        if i.startswith("snap-") and i in backend.snapshots
    }
    return Facts(
        tags={i: dict(list(backend.tags.get(i, {}).items())) for i in tagged},
        owners=owners,
        devices=devices,
        instance_profile_roles=_instance_profile_roles(account, params),
        kms_keys=kms_keys,
    )


GLOBAL_SERVICES = frozenset({"iam"})


class CallRecorder:
    """A ``before-parameter-build`` hook: every call a task makes, with what AWS knew then."""

    def __init__(self, account: str = DEFAULT_ACCOUNT_ID) -> None:
        self.account = account
        self.calls: list[Call] = []

    def __call__(
        self, params: dict[str, Any], model: Any, context: Mapping[str, Any], **_: Any
    ) -> None:
        function = current_function.get()
        if function is None:
            return  # the emulator's own calls, or the test building its world
        region = str(context.get("client_region"))
        service = model.service_model.service_name
        self.calls.append(
            Call(
                function=function,
                service=service,
                operation=model.name,
                params=copy.deepcopy(params),
                region=region,
                account=self.account,
                # IAM is global (its calls' region is "aws-global"): no EC2 facts to read.
                facts=Facts()
                if service in GLOBAL_SERVICES
                else facts_now(self.account, region, params),
            )
        )


# --- policies from the template ----------------------------------------------------------------

Resolver = Callable[[str, str | None], str]


def _resolve(value: Any, resolve: Resolver, pseudo: Mapping[str, str]) -> Any:  # noqa: PLR0911 - one return per intrinsic
    if isinstance(value, list):
        return [_resolve(v, resolve, pseudo) for v in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value and len(value) == 1:
        return pseudo.get(value["Ref"]) or resolve(value["Ref"], None)
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return resolve(logical_id, attribute)
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(_resolve(p, resolve, pseudo)) for p in parts)
    if "Fn::Split" in value:
        separator, text = value["Fn::Split"]
        return str(_resolve(text, resolve, pseudo)).split(separator)
    if "Fn::Select" in value:
        index, items = value["Fn::Select"]
        selected = _resolve(items, resolve, pseudo)
        # A part of something unresolved stays unresolved (and so grants nothing).
        return selected[int(index)] if int(index) < len(selected) else f"unresolved:{items}"
    return {k: _resolve(v, resolve, pseudo) for k, v in value.items()}


# The ARN a resource's ``Fn::GetAtt`` gives, by CloudFormation type (or its prefix).
_ARNS = {
    "AWS::DynamoDB::": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
}


def template_resolver(
    resources: Mapping[str, Any], region: str, account: str, names: Mapping[str, str]
) -> Resolver:
    """``Ref``/``Fn::GetAtt`` of the template's resources, as the local engine names them.

    ``names`` gives the local name per CloudFormation type (the lock table's, say) or per
    logical id prefix (one of two state machines). A reference to anything else resolves to
    a value no ARN matches, so a statement that depends on it grants nothing here rather
    than everything.
    """

    def resolve(logical_id: str, attribute: str | None) -> str:
        kind = resources.get(logical_id, {}).get("Type", "")
        name = names.get(kind) or next(
            (n for prefix, n in names.items() if logical_id.startswith(prefix)), None
        )
        if name is None:
            return f"unresolved:{logical_id}"
        if kind == "AWS::StepFunctions::StateMachine":  # its Ref is its ARN
            return f"arn:aws:states:{region}:{account}:stateMachine:{name}"
        if attribute is None:
            return name
        arn = next((a for prefix, a in _ARNS.items() if kind.startswith(prefix)), None)
        if arn is None:
            return f"unresolved:{logical_id}.{attribute}"
        return arn.format(region=region, account=account, name=name)

    return resolve


def function_policies(
    template: Mapping[str, Any],
    function_name: Callable[[str], str],
    *,
    region: str,
    account: str = DEFAULT_ACCOUNT_ID,
    names: Mapping[str, str] | None = None,
) -> dict[str, list[Statement]]:
    """Local function name → the statements of its role (inline and attached policies).

    ``function_name`` maps a handler module (``vss_restore.functions.<module>.handler``) to the
    name the local engine gives that function.
    """
    statements_of = _role_statements(template, region=region, account=account, names=names)
    policies: dict[str, list[Statement]] = {}
    for module, resource in _functions(template).values():
        role_id = resource["Properties"]["Role"]["Fn::GetAtt"][0]
        policies[function_name(module)] = statements_of(role_id)
    return policies


def _pseudo(region: str, account: str) -> dict[str, str]:
    return {
        "AWS::Partition": "aws",
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::URLSuffix": "amazonaws.com",
    }


def _functions(template: Mapping[str, Any]) -> dict[str, tuple[str, Mapping[str, Any]]]:
    """Each Lambda function's logical id → its handler module and its resource."""
    return {
        logical_id: (
            resource["Properties"]["Handler"].removeprefix(HANDLER_PREFIX).removesuffix(".handler"),
            resource,
        )
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }


def _role_statements(
    template: Mapping[str, Any],
    *,
    region: str,
    account: str,
    names: Mapping[str, str] | None,
) -> Callable[[str], list[Statement]]:
    """A role's logical id → its statements (inline, and every ``AWS::IAM::Policy`` on it)."""
    resources: Mapping[str, Any] = template["Resources"]
    pseudo = _pseudo(region, account)
    resolve = template_resolver(resources, region, account, names or {})
    by_role: dict[str, list[Statement]] = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        statements = _resolve(
            resource["Properties"]["PolicyDocument"]["Statement"], resolve, pseudo
        )
        for role in resource["Properties"]["Roles"]:
            by_role.setdefault(role["Ref"], []).extend(statements)

    def statements_of(role_id: str) -> list[Statement]:
        role = resources[role_id]["Properties"]
        if role.get("ManagedPolicyArns"):
            raise ValueError(f"{role_id}: managed policies cannot be read from the template")
        inline = [
            s
            for p in role.get("Policies", [])
            for s in _resolve(p["PolicyDocument"]["Statement"], resolve, pseudo)
        ]
        return [*inline, *by_role.get(role_id, [])]

    return statements_of


# A schedule's target, by the call its role makes on it (EventBridge Scheduler's templated
# targets: a Lambda function is invoked, a state machine's execution started).
_TARGET_CALLS = {
    "lambda": ("lambda", "Invoke", "FunctionName"),
    "states": ("stepfunctions", "StartExecution", "stateMachineArn"),
}
_UNIVERSAL_TARGETS = {
    "arn:aws:scheduler:::aws-sdk:sfn:startExecution": _TARGET_CALLS["states"],
}


def scheduled_calls(
    template: Mapping[str, Any],
    function_name: Callable[[str], str],
    *,
    region: str,
    account: str = DEFAULT_ACCOUNT_ID,
    names: Mapping[str, str] | None = None,
) -> tuple[list[Call], dict[str, list[Statement]]]:
    """What each EventBridge Scheduler schedule of the template does when it fires, as the
    call its role makes on its target, and that role's statements, keyed by
    ``schedule <logical id>`` (the call's function). The emulator runs no schedule: the
    target and role are read from the template, resolved as ``function_policies`` does (the
    functions by their local names)."""
    known = {
        **(names or {}),
        **{logical_id: function_name(m) for logical_id, (m, _) in _functions(template).items()},
    }
    resolve = template_resolver(template["Resources"], region, account, known)
    statements_of = _role_statements(template, region=region, account=account, names=known)
    calls: list[Call] = []
    policies: dict[str, list[Statement]] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Scheduler::Schedule":
            continue
        target = resource["Properties"]["Target"]
        arn = str(_resolve(target["Arn"], resolve, _pseudo(region, account)))
        kind = arn.split(":")[2] if arn.count(":") >= 5 else arn
        if arn in _UNIVERSAL_TARGETS:
            # A universal target: the operation is in its ARN, the resource in its input.
            service, operation, parameter = _UNIVERSAL_TARGETS[arn]
            request = json.loads(str(_resolve(target["Input"], resolve, _pseudo(region, account))))
            arn = request[parameter]
        elif kind in _TARGET_CALLS:
            service, operation, parameter = _TARGET_CALLS[kind]
        else:
            raise ValueError(f"{logical_id}: cannot tell which call its target {arn} is")
        caller = f"schedule {logical_id}"
        calls.append(Call(caller, service, operation, {parameter: arn}, region, account))
        policies[caller] = statements_of(target["RoleArn"]["Fn::GetAtt"][0])
    return calls, policies


# --- the check ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One decided authorization; ``missing`` says what would have let a denied one through."""

    function: str
    action: str
    resource_type: str
    resource: str
    allowed: bool
    missing: str = ""

    def report_line(self) -> dict[str, Any]:
        line = asdict(self)
        del line["missing"]
        return line

    def __str__(self) -> str:
        verdict = "allowed" if self.allowed else f"DENIED: {self.missing}"
        return f"{self.function}: {self.action} on {self.resource_type} {self.resource}: {verdict}"


def _decide(statements: Sequence[Statement], authorization: Authorization) -> Decision:
    try:
        return evaluate(statements, authorization.request())
    except UnsupportedCondition as err:
        return Decision(False, (), f"the policy uses a condition this check cannot read: {err}")


def _rows_of(call: Call, statements: Sequence[Statement] | None) -> list[Row]:
    if statements is None:
        return [
            Row(
                call.function,
                call.action,
                "*",
                "*",
                False,
                "no role found for this function in the template",
            )
        ]
    try:
        found = authorizations(call)
    except UnknownAction:
        return [
            Row(
                call.function,
                call.action,
                "?",
                "?",
                False,
                "this action is not in the check's table (iam_requests.ACTIONS)",
            )
        ]
    rows = []
    for authorization in found:
        decision = _decide(statements, authorization)
        rows.append(
            Row(
                call.function,
                authorization.action,
                authorization.resource_type,
                authorization.resource,
                decision.allowed,
                decision.missing,
            )
        )
    rows += [
        Row(
            call.function,
            call.action,
            kind,
            "?",
            False,
            f"the reference requires a {kind} resource that the table does not name",
        )
        for kind in missing_required(call, found)
    ]
    return rows


def check(calls: Iterable[Call], policies: Mapping[str, Sequence[Statement]]) -> list[Row]:
    """Every authorization of every call, decided; one row per distinct outcome."""
    rows = {row for call in calls for row in _rows_of(call, policies.get(call.function))}
    return sorted(
        rows, key=lambda r: (r.function, r.action, r.resource_type, r.resource, r.allowed)
    )


@cache
def _required_parameters(service: str, operation: str) -> frozenset[str]:
    model = botocore.session.get_session().get_service_model(service).operation_model(operation)
    return frozenset(model.input_shape.required_members if model.input_shape else ())


def guard_bypasses(calls: Iterable[Call], policies: Mapping[str, Sequence[Statement]]) -> list[str]:
    """EC2 calls whose only condition sat on a resource the caller may leave out of the request."""
    found: set[str] = set()
    for call in calls:
        statements = policies.get(call.function)
        if statements is None or call.service != "ec2" or call.action not in ACTIONS:
            continue
        omittable = {
            kind
            for kind, ids in ACTIONS[call.action]
            if isinstance(ids, Param)
            and ids.name not in _required_parameters(call.service, call.operation)
        }
        own = [a for a in authorizations(call) if a.action == call.action and a.resource != "*"]
        required = [a for a in own if a.required]
        optional = [a for a in own if not a.required and a.resource_type in omittable]
        if not required or not optional:
            continue
        decided = [(a, _decide(statements, a)) for a in required]
        if not all(d.allowed and unconditional(statements, d.by) for _, d in decided):
            continue
        for authorization in optional:
            decision = _decide(statements, authorization)
            if decision.allowed and not unconditional(statements, decision.by):
                grants = ", ".join(sorted({n for _, d in decided for n in d.by}))
                found.add(
                    f"{call.function}: {call.action}: the condition of {', '.join(decision.by)} applies to the "
                    f"optional {authorization.resource_type}; without it the call is allowed on any "
                    f"{', '.join(sorted({a.resource_type for a, _ in decided}))} by {grants} (no condition)"
                )
    return sorted(found)


def write_report(rows: Sequence[Row], path: Path) -> None:
    """``[{"function", "action", "resource_type", "resource", "allowed"}, ...]`` as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([r.report_line() for r in rows], indent=1) + "\n")
