"""Mode "Online"'s validation on the restored instance itself: RunOnlineValidation and
WaitOnlineValidation (RunValidation's and WaitValidation's code, with roles of their own),
called with the events of the restore machine's states."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tests.handlers.conftest import CallTask
from tests.handlers.emulator import Malformed, misplaced_refusals
from tests.handlers.events import REGION, REMOVED
from tests.handlers.mode_events import Execution, online_request
from tests.handlers.mode_worlds import (
    Inventory,
    commands,
    vss_set,
    windows_server,
)
from vss_restore.drill import ValidationResult
from vss_restore.errors import TerminalError
from vss_restore.local import LocalEngine
from vss_restore.local.fidelity import CommandOutcome

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# The operator's own document, under the name an online restore may run on production.
DOCUMENT = "vss-restore-validation-sql"
CHECK = {"commands": ["Invoke-Sqlcmd 'SELECT 1'"]}
StartOnline = Callable[..., Execution]


@pytest.fixture
def start_online(call_task: CallTask, ec2: EC2Client) -> StartOnline:
    """An online restore of a server with a set, validated by the operator's document."""
    server = windows_server(ec2)
    vss_set(ec2, server)
    content = {
        "schemaVersion": "2.2",
        "description": "SQL Server answers",
        "parameters": {"commands": {"type": "StringList"}},
        "mainSteps": [
            {
                "action": "aws:runPowerShellScript",
                "name": "check",
                "inputs": {"runCommand": "{{ commands }}"},
            }
        ],
    }
    boto3.client("ssm", region_name=REGION).create_document(
        Name=DOCUMENT, Content=json.dumps(content), DocumentType="Command"
    )

    def start(**options: Any) -> Execution:
        return Execution.start(call_task, online_request(server, document=DOCUMENT, **options))

    return start


def test_run_online_validation_runs_the_document_on_the_instance_itself_once_when_retried(
    start_online: StartOnline,
) -> None:
    # GIVEN an online restore validated by the operator's document
    run = start_online(parameters=CHECK)

    # WHEN RunOnlineValidation runs, and runs again (a retry after a lost answer)
    sent = run.step("RunOnlineValidation", run.run_validation(run.instance_id), "Validation")
    again = run.step("RunOnlineValidation", run.run_validation(run.instance_id), "Validation")

    # THEN one command of the document, with the request's parameters, ran on the instance
    (command,) = commands()
    assert again == sent == {"CommandId": command["CommandId"]}
    assert (command["DocumentName"], command["Parameters"]) == (DOCUMENT, CHECK)
    assert command["InstanceIds"] == [run.instance_id]


def test_wait_online_validation_returns_a_failed_validation_for_the_rollback_to_act_on(
    engine: LocalEngine, start_online: StartOnline
) -> None:
    # GIVEN a validation that ends Failed on the restored instance
    engine.ssm.respond(DOCUMENT, CommandOutcome("Failed", "Invoke-Sqlcmd : login failed", 1))
    run = start_online(parameters=CHECK)
    sent = run.step("RunOnlineValidation", run.run_validation(run.instance_id), "Validation")

    # WHEN it is awaited (the task polls until the command has finished)
    result = ValidationResult.model_validate(
        run.step("WaitOnlineValidation", run.wait_validation(run.instance_id), "ValidationResult")
    )

    # THEN the result is returned, not raised: the state machine's Choice rolls back on it
    assert (result.document, result.command_id) == (DOCUMENT, sent["CommandId"])
    assert (result.status, result.response_code) == ("Failed", 1)
    assert "login failed" in result.output


def test_run_online_validation_refuses_naming_the_document_and_sends_nothing_when_ssm_does(
    ec2: EC2Client, start_online: StartOnline
) -> None:
    # GIVEN an online restore whose document needs a parameter the request does not give
    run = start_online()
    before = Inventory.capture(ec2)

    # WHEN RunOnlineValidation runs / THEN a terminal error names the document; nothing sent
    with pytest.raises(TerminalError, match=DOCUMENT):
        run.step("RunOnlineValidation", run.run_validation(run.instance_id), "Validation")
    assert Inventory.capture(ec2) == before


def test_online_validation_tasks_refuse_a_malformed_event_naming_the_field_before_any_aws_call(
    engine: LocalEngine, call_task: CallTask, start_online: StartOnline
) -> None:
    # GIVEN an online restore whose validation was sent
    run = start_online(parameters=CHECK)
    run.step("RunOnlineValidation", run.run_validation(run.instance_id), "Validation")
    events = {
        "RunOnlineValidation": run.run_validation(run.instance_id),
        "WaitOnlineValidation": run.wait_validation(run.instance_id),
    }

    # WHEN each task gets its event without one of the fields its state passes
    # THEN its input model names that field, before any AWS call
    cases = [
        Malformed("RunOnlineValidation", "Execution", REMOVED, ("Execution",)),
        Malformed("WaitOnlineValidation", "CommandId", REMOVED, ("CommandId",)),
    ]
    assert misplaced_refusals(engine, call_task, events.__getitem__, cases) == []
