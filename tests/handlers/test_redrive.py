"""A redriven execution resumes mid-way: every task refuses it (``RedriveCount`` > 0) before
any AWS call, so hand repairs made since the failure are left alone."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.handlers.conftest import CallTask
from tests.handlers.emulator import AwsCalls, Emulator
from tests.handlers.events import EVENTS
from tests.handlers.in_place import InPlaceRun, Server
from vss_restore.errors import ExecutionRedriven
from vss_restore.local import LocalEngine

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

pytestmark = pytest.mark.usefixtures("immediate_waits")


def test_every_task_refuses_a_redrive_mid_swap_before_any_aws_call(
    engine: LocalEngine, call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a restore stopped mid-swap (the restored volumes attached), as an operator may
    # have left it after putting them into service by hand
    server = Server.build(ec2)
    aws = Emulator.of(ec2)
    run = InPlaceRun.of(call_task, server).through("WaitRestoredAttached")
    devices = aws.attached(server.instance_id)
    calls = AwsCalls(engine)

    # WHEN each task is called with its event, in an execution redriven once
    refused = []
    with calls.recording():
        for task in EVENTS:
            with pytest.raises(ExecutionRedriven, match="Never redrive") as raised:
                call_task(task, {**run.event(task), "RedriveCount": 1})
            refused.append(str(raised.value).split(" ", 1)[0])

    # THEN each refused before any AWS call, and the instance's devices are as they were
    assert len(refused) == len(EVENTS)
    assert calls.made == []
    assert aws.attached(server.instance_id) == devices


def test_a_task_runs_as_usual_when_the_execution_was_never_redriven(
    call_task: CallTask, ec2: EC2Client
) -> None:
    # GIVEN a restore just planned
    server = Server.build(ec2)
    run = InPlaceRun.of(call_task, server).through("PlanRestore")

    # WHEN CreateVolumes runs with the RedriveCount of an execution never redriven
    created = call_task("CreateVolumes", {**run.event("CreateVolumes"), "RedriveCount": 0})

    # THEN it does its work (the count is not part of its input model)
    assert len(created) == len(run.plan.volumes)
