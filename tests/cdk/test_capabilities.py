"""IAM grants each capability on its own: starting drills does not let anyone restore."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Template

from vss_restore.capabilities import MACHINES

# The logical id prefix of each machine in the template.
MACHINE_IDS = {
    "restore": "StateMachineRestore",
    "drill": "DrillMachineDrill",
    "mount": "MountMachineMount",
    "fleet": "FleetMachineFleet",
    "drill-fleet": "DrillFleetMachineDrillFleet",
}
# Tasks only an in-place restore runs: the drill machine must not be able to invoke them.
RESTORE_ONLY_TASKS = ("StopInstance", "DetachOriginalVolumes", "ReattachOriginalVolumes")


def _of_type(template: Template, kind: str) -> dict[str, Any]:
    resources: dict[str, Any] = template.to_json()["Resources"]
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def _machine_id(template: Template, machine: str) -> str:
    machines = _of_type(template, "AWS::StepFunctions::StateMachine")
    logical_id = re.compile(f"^{MACHINE_IDS[machine]}[0-9A-F]{{8}}$")
    return next(k for k in machines if logical_id.match(k))


def _operator_policy(template: Template, machine: str) -> dict[str, Any]:
    policies = _of_type(template, "AWS::IAM::ManagedPolicy")
    logical_id = re.compile(f"^Operators{machine.title().replace('-', '')}[0-9A-F]{{8}}$")
    (policy,) = [p for k, p in policies.items() if logical_id.match(k)]
    return dict(policy["Properties"]["PolicyDocument"])


def test_each_capability_is_its_own_state_machine(template: Template) -> None:
    machines = _of_type(template, "AWS::StepFunctions::StateMachine")
    assert len(machines) == len(MACHINES)
    assert {_machine_id(template, m) for m in MACHINES} == set(machines)
    outputs = set(template.find_outputs("*"))
    assert {
        "StateMachineArn",
        "DrillStateMachineArn",
        "MountStateMachineArn",
        "FleetStateMachineArn",
        "DrillFleetStateMachineArn",
    } <= outputs


@pytest.mark.parametrize("machine", MACHINES)
def test_an_operator_policy_grants_its_own_machine_and_no_other(
    template: Template, machine: str
) -> None:
    # GIVEN the managed policy an administrator attaches to who may start `machine`
    document = _operator_policy(template, machine)
    text = json.dumps(document)

    # THEN it starts and follows that machine's executions ...
    start = next(s for s in document["Statement"] if "states:StartExecution" in s["Action"])
    assert start["Resource"] == {"Ref": _machine_id(template, machine)}
    # ... and names no other machine at all
    others = [_machine_id(template, m) for m in MACHINES if m != machine]
    assert [other for other in others if other in text] == []
    assert "*" not in [s["Resource"] for s in document["Statement"]]


def test_scheduled_drills_run_on_a_fleet_that_can_start_drills_only(template: Template) -> None:
    # GIVEN the drill fleet machine's definition substitutions and the game-day schedule
    machines = _of_type(template, "AWS::StepFunctions::StateMachine")
    drill_fleet = machines[_machine_id(template, "drill-fleet")]["Properties"]
    children = drill_fleet["DefinitionSubstitutions"]

    # THEN the only machine it can start is the drill machine
    refs = [v for k, v in children.items() if k.endswith("StateMachineArn")]
    assert refs == [{"Ref": _machine_id(template, "drill")}]


def test_drills_can_be_granted_without_restores(template: Template) -> None:
    # GIVEN the drill operators' policy, and the drill machine's own role
    drill_policy = json.dumps(_operator_policy(template, "drill"))
    drill_role_policies = [
        p["Properties"]["PolicyDocument"]
        for p in _of_type(template, "AWS::IAM::Policy").values()
        if p["Properties"]["Roles"][0]["Ref"].startswith(MACHINE_IDS["drill"])
    ]
    invokable = {
        r["Fn::GetAtt"][0]
        for d in drill_role_policies
        for s in d["Statement"]
        if s["Action"] == "lambda:InvokeFunction"
        for r in s["Resource"]
        if isinstance(r, dict) and "Fn::GetAtt" in r
    }
    functions = _of_type(template, "AWS::Lambda::Function")

    # THEN the policy does not let its holder start a restore ...
    assert _machine_id(template, "restore") not in drill_policy
    # ... and the drill machine itself cannot stop or swap an instance's volumes
    handlers = {functions[f]["Properties"]["Handler"] for f in invokable}
    assert handlers
    assert not [
        t for t in RESTORE_ONLY_TASKS if any(t.lower() in h.replace("_", "") for h in handlers)
    ]


def test_scheduler_role_is_trusted_only_for_the_stack_s_own_schedules(template: Template) -> None:
    # GIVEN the role the schedules assume, and the stack's schedule group
    roles = _of_type(template, "AWS::IAM::Role")
    (scheduler_role,) = [
        r
        for r in roles.values()
        if any(
            s["Principal"].get("Service") == "scheduler.amazonaws.com"
            for s in r["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        )
    ]
    (group_id,) = _of_type(template, "AWS::Scheduler::ScheduleGroup")
    (trust,) = scheduler_role["Properties"]["AssumeRolePolicyDocument"]["Statement"]

    # THEN Scheduler may assume it only for a schedule of that group (not any of the account)
    assert trust["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": [group_id, "Arn"]}
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    # ... and every schedule of the stack is in it
    schedules = _of_type(template, "AWS::Scheduler::Schedule").values()
    assert schedules
    group_name = _of_type(template, "AWS::Scheduler::ScheduleGroup")[group_id]["Properties"]["Name"]
    assert all(s["Properties"]["GroupName"] == group_name for s in schedules)


READ_ONLY_VERBS = ("Describe", "Get", "List", "Lookup", "Query", "Scan")


def test_viewer_policy_reads_every_machine_and_starts_stops_or_changes_nothing(
    template: Template,
) -> None:
    # GIVEN the viewer policy (status, report, history, sets, inspect)
    (document,) = [
        p["Properties"]["PolicyDocument"]
        for k, p in _of_type(template, "AWS::IAM::ManagedPolicy").items()
        if k.startswith("OperatorsViewer")
    ]
    actions = [
        a
        for s in document["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]

    # THEN every action only reads ...
    assert actions
    assert [a for a in actions if not a.split(":")[1].startswith(READ_ONLY_VERBS)] == []
    # ... and it reads the executions of every machine
    text = json.dumps(document)
    assert all(_machine_id(template, m) in text for m in MACHINES)
    assert "ViewerPolicyArn" in template.find_outputs("*")
