"""IAM conformance: every AWS call of every scenario, decided against its function's role.

The emulator enforces no IAM. Here each scenario (restore, rollback, dry run, drill, fleet,
cleanup) runs once on the local engine with the calls recorded; each call is then decided
against the synthesized policy of the role its function has in the stack, with AWS's
Service Authorization Reference saying which resources and condition keys the call
involves. The decisions are written to ``build/iam-conformance.json``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk.assertions import Template
from stacks.parts.permissions import CREATE, DRILL, KMS_CONCERNS, MOUNT, POWER, SWAP

from tests.cdk.conftest import Synth
from tests.conftest import RECOVERY_HOST_TAG
from vss_restore import tags
from vss_restore.definition import repo_root
from vss_restore.local import Fault, LocalEngine, world
from vss_restore.local.engine import (
    CLONE_PROFILE_NAME,
    FUNCTION_PREFIX,
    LOCK_TABLE_NAME,
    RECORDS_TABLE_NAME,
)
from vss_restore.local.iam_conformance import (
    CallRecorder,
    Row,
    check,
    function_policies,
    guard_bypasses,
    scheduled_calls,
    write_report,
)
from vss_restore.local.iam_policy import Statement
from vss_restore.local.iam_requests import Call
from vss_restore.records import Records
from vss_restore.windows_disks import DEFAULT_DISKS_DOCUMENT

REGION = "us-east-1"
OPT_IN = {"vss-restore:enabled": "true"}  # the stack's default opt-in tag
REPORT = repo_root() / "build" / "iam-conformance.json"
HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)
ACCOUNT = "123456789012"  # the emulator's
# A server's instance profile, whose role a drill's clone is launched with (iam:PassRole).
PROFILE_ROLE = "web-servers-ssm"
PROFILE_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{PROFILE_ROLE}"
# The deployment the scenarios are checked against: drills may pass the profile's role, and
# game days are scheduled (the scheduler role starts the drill fleet machine).
DEPLOYMENT = {
    "cloneKeepsSourceProfile": True,
    "drillInstanceRoleArns": PROFILE_ROLE_ARN,
    "drillSchedule": {
        "expression": "cron(0 3 ? * SAT *)",
        "tagKey": "GameDay",
        "tagValues": ["yes"],
    },
}


@dataclass(frozen=True)
class Recorded:
    calls: list[Call]
    statuses: dict[str, str]  # scenario → execution status (or the cleanup's answer)


def _server(ec2: Any, name: str, disks: tuple[world.Disk, ...] = world.DEMO_DISKS) -> str:
    """An opted-in server with one VSS snapshot set."""
    instance = world.windows_instance(ec2, disks, name=name)
    ec2.create_tags(Resources=[instance], Tags=tags.tag_list(OPT_IN))
    world.vss_snapshot_set(ec2, instance, taken_at=HOUR_AGO, set_id=f"set-{name}")
    return instance


def _give_instance_profile(ec2: Any, instance_id: str) -> None:
    """The server runs with an instance profile (its role: ``PROFILE_ROLE``)."""
    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(RoleName=PROFILE_ROLE, AssumeRolePolicyDocument=json.dumps({"Statement": []}))
    profile = iam.create_instance_profile(InstanceProfileName="web-servers")["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName="web-servers", RoleName=PROFILE_ROLE)
    ec2.associate_iam_instance_profile(
        IamInstanceProfile={"Arn": profile["Arn"]}, InstanceId=instance_id
    )


def _expire_drill_resources(ec2: Any) -> None:
    """A day passes: every drill's records expire."""
    ddb = boto3.client("dynamodb", region_name=ec2.meta.region_name)
    Records(ddb, RECORDS_TABLE_NAME).age(None, "drill", datetime.now(UTC) - timedelta(days=1))


ONLINE_VALIDATION_DOCUMENT = "vss-restore-validation-check"


def _validation_document() -> None:
    content = {
        "schemaVersion": "2.2",
        "description": "an operator's check",
        "mainSteps": [
            {"action": "aws:runPowerShellScript", "name": "check", "inputs": {"runCommand": ["1"]}}
        ],
    }
    boto3.client("ssm", region_name=REGION).create_document(
        Name=ONLINE_VALIDATION_DOCUMENT, Content=json.dumps(content), DocumentType="Command"
    )


def _run_scenarios(engine: LocalEngine) -> dict[str, str]:
    ec2 = boto3.client("ec2", region_name=REGION)
    subnet_id, group_id = world.isolated_subnet(ec2)
    two_disks = world.DEMO_DISKS[:2]
    # Every server but the fleet's has the four demo disks, one under a customer KMS key of
    # its own (xvdh): the restores, the mount and the drills use that key through EC2.
    assert [d.device for d in world.DEMO_DISKS if d.kms_key_id == "create"] == ["xvdh"]
    servers = {
        name: _server(ec2, name, two_disks if name.startswith("fleet") else world.DEMO_DISKS)
        for name in (
            "restore",
            "rollback",
            "failedrollback",
            "dryrun",
            "drill",
            "isolated",
            "profiled",
            "fleet1",
            "fleet2",
            "mount",
            "online",
            "onlinerollback",
        )
    }
    # A recovery host for mounts: opted in, tagged as one, with no set of its own.
    recovery = world.windows_instance(ec2, world.DEMO_DISKS[:1], name="recovery")
    ec2.create_tags(
        Resources=[recovery],
        Tags=tags.tag_list({**OPT_IN, RECOVERY_HOST_TAG[0]: RECOVERY_HOST_TAG[1]}),
    )
    _validation_document()
    _give_instance_profile(ec2, servers["profiled"])
    for name in ("fleet1", "fleet2"):
        ec2.create_tags(Resources=[servers[name]], Tags=[{"Key": "Tier", "Value": "app"}])
    statuses = {}
    statuses["restore"] = engine.run(
        {
            "InstanceId": servers["restore"],
            "DeleteReplacedVolumes": True,
            "InitializationRate": 200,
            "WaitForInitialization": True,
        }
    ).status
    statuses["dry run"] = engine.run({"InstanceId": servers["dryrun"], "DryRun": True}).status
    # The rollback: the second attach is refused, then deleting the new volumes fails too,
    # so the rollback reattaches, restarts, tries to delete and marks the leftovers.
    attach = engine.inject(Fault("ec2.AttachVolume", code="InvalidParameterValue", occurrence=2))
    delete = engine.inject(Fault("ec2.DeleteVolume", code="VolumeInUse", times=4))
    statuses["rollback"] = engine.run({"InstanceId": servers["rollback"]}).error or "no error"
    assert (attach.injected, delete.injected) == (1, 4)
    statuses["drill"] = engine.run(
        {
            "InstanceId": servers["drill"],
            "Mode": "Clone",
            "SubnetId": subnet_id,
            "SecurityGroupIds": [group_id],
            "ValidationDocument": ONLINE_VALIDATION_DOCUMENT,
            "KeepClone": True,
        }
    ).status
    # A drill in its own isolation group, removed with its clone at the end.
    statuses["isolated drill"] = engine.run(
        {
            "InstanceId": servers["isolated"],
            "Mode": "Clone",
            "SubnetId": subnet_id,
            "InitializationRate": 300,
        }
    ).status
    # A drill of a server with an instance profile: the clone is launched with it.
    statuses["profiled drill"] = engine.run(
        {"InstanceId": servers["profiled"], "Mode": "Clone", "SubnetId": subnet_id}
    ).status
    statuses["fleet"] = engine.run(
        {"TagFilter": {"Key": "Tier", "Values": ["app"]}}, timeout=120, machine="fleet"
    ).status
    # A mount on the recovery host, and one whose second attach is refused: its rollback
    # takes the attached disk offline, detaches and deletes what it created.
    mount = {"InstanceId": servers["mount"], "Mode": "Mount", "TargetInstanceId": recovery}
    statuses["mount"] = engine.run(mount).status
    engine.inject(Fault("ec2.AttachVolume", code="InvalidParameterValue", occurrence=2))
    statuses["mount rollback"] = engine.run(mount).error or "no error"
    # Online restores: one with a validation document of the operator's, one whose new disks
    # do not come online, so the rollback takes them offline and brings the originals back.
    statuses["online"] = engine.run(
        {
            "InstanceId": servers["online"],
            "Mode": "Online",
            "StopServices": ["MSSQLSERVER"],
            "DeleteReplacedVolumes": True,
            "ValidationDocument": ONLINE_VALIDATION_DOCUMENT,
        }
    ).status
    engine.guests.fail_next("Online")
    statuses["online rollback"] = (
        engine.run({"InstanceId": servers["onlinerollback"], "Mode": "Online"}).error or "no error"
    )
    # A rollback that fails itself (the restored root cannot be detached again) marks what
    # is left: the swap's four detaches pass, the rollback's first one is refused.
    engine.inject(Fault("ec2.AttachVolume", code="InvalidParameterValue", occurrence=2))
    engine.inject(Fault("ec2.DetachVolume", code="InvalidParameterValue", occurrence=5, times=50))
    statuses["failed rollback"] = (
        engine.run({"InstanceId": servers["failedrollback"]}).error or "no error"
    )
    # The daily cleanup removes the kept clone once it has expired.
    _expire_drill_resources(ec2)
    answer = boto3.client("lambda", region_name=REGION).invoke(
        FunctionName=engine.function_arn("CleanupDrill"), Payload=json.dumps({"Expired": True})
    )
    statuses["cleanup"] = answer.get("FunctionError") or "ok"
    return statuses


@pytest.fixture(scope="module")
def recorded() -> Iterator[Recorded]:
    """Every scenario once, on one engine, with every call the tasks make recorded."""
    with pytest.MonkeyPatch.context() as env:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "POWERTOOLS_LOG_LEVEL": "CRITICAL",
            # As the stack configures the tasks: refuse servers that have not opted in.
            "OPT_IN_TAG_KEY": "vss-restore:enabled",
            "OPT_IN_TAG_VALUE": "true",
            # ...and lets mounts go to recovery hosts.
            "RECOVERY_HOST_TAG_KEY": RECOVERY_HOST_TAG[0],
            "RECOVERY_HOST_TAG_VALUE": RECOVERY_HOST_TAG[1],
            # ...and lets a clone keep its source's profile when its role is listed.
            "CLONE_KEEPS_SOURCE_PROFILE": "true",
            "DRILL_INSTANCE_ROLE_ARNS": PROFILE_ROLE_ARN,
        }.items():
            env.setenv(key, value)
        env.delenv("AWS_PROFILE", raising=False)
        with LocalEngine(region=REGION) as engine:
            recorder = CallRecorder()
            engine.observe("before-parameter-build", recorder)
            statuses = _run_scenarios(engine)
            yield Recorded(recorder.calls, statuses)


# The local names of what the policies name (by CloudFormation type or logical id prefix).
LOCAL_NAMES = {
    "LockTable": LOCK_TABLE_NAME,
    "RecordsTable": RECORDS_TABLE_NAME,
    "StateMachineRestore": "vss-restore",
    "DrillMachineDrill": "vss-restore-drill",
    "MountMachineMount": "vss-restore-mount",
    "DrillFleetMachine": "vss-restore-drill-fleet",
    "AWS::SSM::Document": DEFAULT_DISKS_DOCUMENT,
    # The drill clones' role, which the engine creates as the stack does.
    "RolesCloneInstanceRole": CLONE_PROFILE_NAME,
}


def _local_function(module: str) -> str:
    return f"{FUNCTION_PREFIX}{module}"


def _policies(template: Mapping[str, Any]) -> dict[str, list[Statement]]:
    return function_policies(template, _local_function, region=REGION, names=LOCAL_NAMES)


@pytest.fixture(scope="module")
def deployed(synth: Synth) -> Template:
    """The stack as the scenarios' deployment configures it (``DEPLOYMENT``)."""
    return synth(**DEPLOYMENT)[1]


@pytest.fixture(scope="module")
def policies(deployed: Template) -> dict[str, list[Statement]]:
    return _policies(deployed.to_json())


@pytest.fixture(scope="module")
def rows(recorded: Recorded, policies: dict[str, list[Statement]]) -> list[Row]:
    decided = check(recorded.calls, policies)
    write_report(decided, REPORT)
    return decided


def test_scenarios_end_as_designed_so_their_calls_are_the_real_ones(recorded: Recorded) -> None:
    # GIVEN / WHEN every scenario ran once
    # THEN each ended as it should (the rollback with its named error, the cleanup cleanly)
    assert recorded.statuses == {
        "restore": "SUCCEEDED",
        "dry run": "SUCCEEDED",
        "rollback": "SwapFailed",
        "drill": "SUCCEEDED",
        "isolated drill": "SUCCEEDED",
        "profiled drill": "SUCCEEDED",
        "fleet": "SUCCEEDED",
        "failed rollback": "RollbackFailed",
        "mount": "SUCCEEDED",
        "mount rollback": "SwapFailed",
        "online": "SUCCEEDED",
        "online rollback": "DiskCommandFailed",
        "cleanup": "ok",
    }


def test_conformance_covers_every_function_that_calls_aws(recorded: Recorded) -> None:
    # GIVEN / WHEN the scenarios ran
    functions = {c.function.removeprefix(FUNCTION_PREFIX) for c in recorded.calls}

    # THEN the calls of every task that changes something were recorded
    assert functions >= {
        "acquire_lock",
        "create_volumes",
        "stop_instance",
        "detach_original_volumes",
        "attach_restored_volumes",
        "set_delete_on_termination",
        "start_instance",
        "finalize_replaced_volumes",
        "release_lock",
        "reattach_original_volumes",
        "restore_power_state",
        "delete_restored_volumes",
        "mark_leftovers",
        "launch_clone",
        "run_validation",
        "cleanup_drill",
        "publish_drill_outcome",
        "resolve_fleet",
        "plan_mount",
        "attach_mount_volumes",
        "unmount_volumes",
        "require_managed_instance",
        "send_disk_command",
        "wait_disk_command",
        "run_online_validation",
        "wait_online_validation",
    }


def test_report_holds_one_line_per_decision_in_the_reference_names(rows: list[Row]) -> None:
    # GIVEN / WHEN the check ran
    report = json.loads(Path(REPORT).read_text())

    # THEN the report lists each decision with the reference's action and resource type names
    assert report == [r.report_line() for r in rows]
    assert set(report[0]) == {"function", "action", "resource_type", "resource", "allowed"}
    kinds = {(line["action"], line["resource_type"]) for line in report}
    assert {
        ("ec2:AttachVolume", "instance"),
        ("ec2:AttachVolume", "volume"),
        ("ec2:CreateVolume", "snapshot"),
        ("ec2:CreateTags", "volume"),
        ("ec2:RunInstances", "image"),
        ("ssm:SendCommand", "document"),
        ("dynamodb:PutItem", "table"),
    } <= kinds


def test_every_call_is_allowed_by_its_function_role(rows: list[Row]) -> None:
    # GIVEN every authorization of every recorded call, decided against the role's policy
    denied = [str(r) for r in rows if not r.allowed]

    # THEN AWS would have allowed them all
    assert denied == [], "AWS would deny:\n" + "\n".join(denied)


def test_no_call_is_limited_only_by_a_resource_the_caller_may_leave_out(
    recorded: Recorded, policies: dict[str, list[Statement]]
) -> None:
    # GIVEN / WHEN each call's required resources are decided without its optional ones
    found = guard_bypasses(recorded.calls, policies)

    # THEN no guard sits on a resource the request may simply not name
    assert found == [], "\n".join(found)


def _without_kms(template: Mapping[str, Any], concern: str) -> dict[str, Any]:
    """The template with every KMS statement taken out of ``concern``'s role (the role its
    ``<Concern>RoleArn`` output names)."""
    changed = copy.deepcopy(dict(template))
    role = changed["Outputs"][f"{concern}RoleArn"]["Value"]["Fn::GetAtt"][0]
    removed = 0
    for resource in changed["Resources"].values():
        if (
            resource["Type"] != "AWS::IAM::Policy"
            or {"Ref": role} not in resource["Properties"]["Roles"]
        ):
            continue
        document = resource["Properties"]["PolicyDocument"]
        kept = [
            s
            for s in document["Statement"]
            if not all(str(a).startswith("kms:") for a in _as_list(s["Action"]))
        ]
        removed += len(document["Statement"]) - len(kept)
        document["Statement"] = kept
    assert removed, f"the {concern} role has no KMS statement to take out"
    return changed


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# The tasks that use a customer key through EC2 in the scenarios (the restore's and the
# mount's volumes include one under a customer key), by the role they run with.
KEY_USERS = {
    CREATE: {"create_volumes"},
    POWER: {"start_instance", "restore_power_state"},
    SWAP: {"attach_restored_volumes", "reattach_original_volumes"},
    DRILL: {"launch_clone", "swap_clone_root"},
    MOUNT: {"attach_mount_volumes"},
}


@pytest.mark.parametrize("concern", KMS_CONCERNS)
def test_a_role_without_its_kms_statements_fails_the_check_on_the_customer_key(
    concern: str, deployed: Template, recorded: Recorded
) -> None:
    # GIVEN the stack with the KMS statements taken out of one role
    policies = _policies(_without_kms(deployed.to_json(), concern))

    # WHEN the scenarios' calls are decided against it
    denied = [r for r in check(recorded.calls, policies) if not r.allowed]

    # THEN exactly that role's tasks that use the customer key are denied, only on the key:
    # the grant EBS needs and the decrypt, as AWS would refuse them
    assert {r.function.removeprefix(FUNCTION_PREFIX) for r in denied} == KEY_USERS[concern]
    assert {(r.action, r.resource_type) for r in denied} >= {
        ("kms:CreateGrant", "key"),
        ("kms:Decrypt", "key"),
    }
    assert {r.resource_type for r in denied} == {"key"}


def _without_sid(template: Mapping[str, Any], sid: str) -> dict[str, Any]:
    """The template with every statement ``sid`` taken out of every role policy."""
    changed = copy.deepcopy(dict(template))
    removed = 0
    for resource in changed["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy":
            document = resource["Properties"]["PolicyDocument"]
            kept = [s for s in document["Statement"] if s.get("Sid") != sid]
            removed += len(document["Statement"]) - len(kept)
            document["Statement"] = kept
    assert removed, f"no statement {sid} to take out"
    return changed


def test_modify_instance_attribute_sets_delete_on_termination_never_the_user_data(
    recorded: Recorded, deployed: Template
) -> None:
    # GIVEN the tasks' own ModifyInstanceAttribute calls (DeleteOnTermination by device), and
    # the same calls on the same instances setting the user data instead
    own = [c for c in recorded.calls if c.action == "ec2:ModifyInstanceAttribute"]
    assert {c.function.removeprefix(FUNCTION_PREFIX) for c in own} >= {"set_delete_on_termination"}
    user_data = [
        dataclasses.replace(
            c, params={"InstanceId": c.params["InstanceId"], "UserData": {"Value": "ZWNobyBoaQ=="}}
        )
        for c in own
    ]
    policies = _policies(deployed.to_json())

    # WHEN both are decided against the stack's roles
    allowed = check(own, policies)
    refused = check(user_data, policies)

    # THEN the tasks' calls pass and the user data is refused, explicitly, on every instance
    assert all(r.allowed for r in allowed), [str(r) for r in allowed if not r.allowed]
    assert {(r.resource_type, r.allowed, r.missing) for r in refused} == {
        ("instance", False, "explicitly denied")
    }
    # ...by the stack's deny: without it the opt-in statement would let the user data through
    unguarded = _policies(_without_sid(deployed.to_json(), "NeverChangeUserData"))
    assert all(r.allowed for r in check(user_data, unguarded))


# --- drill instance roles: iam:PassRole as the deployment configures it ---------------------


def _launches_with_a_profile(recorded: Recorded, profile: str) -> list[Call]:
    launches = [
        c
        for c in recorded.calls
        if c.action == "ec2:RunInstances"
        and str((c.params.get("IamInstanceProfile") or {}).get("Arn", "")).endswith(f"/{profile}")
    ]
    assert launches, f"no drill launched a clone with instance profile {profile}"
    return launches


def _pass_role_decisions(launches: list[Call], template: Template) -> set[tuple[str, bool]]:
    return {
        (r.resource, r.allowed)
        for r in check(launches, _policies(template.to_json()))
        if r.action == "iam:PassRole"
    }


@pytest.mark.parametrize(
    ("context", "allowed"),
    [
        (DEPLOYMENT, True),
        (
            {
                "cloneKeepsSourceProfile": True,
                "drillInstanceRoleArns": f"arn:aws:iam::{ACCOUNT}:role/web-*",
            },
            True,
        ),
        ({}, False),
        (
            {
                "cloneKeepsSourceProfile": True,
                "drillInstanceRoleArns": f"arn:aws:iam::{ACCOUNT}:role/sql-servers-ssm",
            },
            False,
        ),
    ],
    ids=["named", "pattern", "none-configured", "another-role"],
)
def test_a_clone_is_launched_with_the_sources_profile_role_only_when_the_deployment_names_it(
    recorded: Recorded, synth: Synth, context: dict[str, Any], allowed: bool
) -> None:
    # GIVEN the profiled drill's launch, which passes the source's instance-profile role
    launches = _launches_with_a_profile(recorded, "web-servers")

    # WHEN its PassRole is decided against a stack configured with drillInstanceRoleArns
    decisions = _pass_role_decisions(launches, synth(**context)[1])

    # THEN it is allowed exactly when the configuration names the role (or a pattern of it)
    assert decisions == {(PROFILE_ROLE_ARN, allowed)}


@pytest.mark.parametrize("context", [DEPLOYMENT, {}], ids=["keeps-source-profiles", "default"])
def test_a_clone_may_always_be_launched_with_the_stacks_own_profile_role(
    recorded: Recorded, synth: Synth, context: dict[str, Any]
) -> None:
    # GIVEN the launches of the drills of servers without a profile: the stack's clone profile
    launches = _launches_with_a_profile(recorded, CLONE_PROFILE_NAME)

    # WHEN their PassRole is decided, whatever the deployment says of source profiles
    decisions = _pass_role_decisions(launches, synth(**context)[1])

    # THEN the stack's clone role is passed, and allowed
    assert {allowed for _, allowed in decisions} == {True}
    assert all(role.endswith(f"/{CLONE_PROFILE_NAME}") for role, _ in decisions)


# --- the schedules: the scheduler role on its targets ----------------------------------------


def _schedules(template: Template) -> tuple[list[Call], dict[str, list[Statement]]]:
    return scheduled_calls(template.to_json(), _local_function, region=REGION, names=LOCAL_NAMES)


def test_every_schedule_may_reach_its_target_with_the_scheduler_role(deployed: Template) -> None:
    # GIVEN the schedules of a deployment with game days: the daily drill cleanup, the hourly
    # mount expiry, the game days on the drill fleet machine
    calls, policies = _schedules(deployed)
    targets = {(c.action, next(iter(c.params.values()))) for c in calls}
    assert targets == {
        (
            "lambda:InvokeFunction",
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION_PREFIX}cleanup_drill",
        ),
        (
            "lambda:InvokeFunction",
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION_PREFIX}unmount_volumes",
        ),
        (
            "states:StartExecution",
            f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:vss-restore-drill-fleet",
        ),
    }

    # WHEN each schedule's call is decided against its role / THEN AWS would allow them all
    rows = check(calls, policies)
    assert [str(r) for r in rows if not r.allowed] == []
    assert len(rows) == 3


@pytest.mark.parametrize(
    ("action", "refused"),
    [
        ("lambda:InvokeFunction", {"CleanupExpiredDrills", "UnmountExpiredMounts"}),
        ("states:StartExecution", {"GameDayDrills"}),
    ],
)
def test_a_scheduler_role_without_its_grant_fails_the_check_on_those_schedules(
    deployed: Template, action: str, refused: set[str]
) -> None:
    # GIVEN the deployment with the scheduler role's statements for one action taken out
    changed = copy.deepcopy(deployed.to_json())
    for resource in changed["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and any(
            r["Ref"].startswith("DrillsSchedulerRole") for r in resource["Properties"]["Roles"]
        ):
            document = resource["Properties"]["PolicyDocument"]
            document["Statement"] = [
                s for s in document["Statement"] if action not in _as_list(s["Action"])
            ]
    calls, policies = scheduled_calls(changed, _local_function, region=REGION, names=LOCAL_NAMES)

    # WHEN the schedules' calls are decided
    denied = [r for r in check(calls, policies) if not r.allowed]

    # THEN exactly the schedules of that action are refused
    schedules = ("CleanupExpiredDrills", "UnmountExpiredMounts", "GameDayDrills")
    assert {
        n for n in schedules for r in denied if r.function.startswith(f"schedule Drills{n}")
    } == (refused)
    assert {r.action for r in denied} == {action}
