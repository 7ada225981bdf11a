"""Windows disks through SSM (Modes "Online" and "Mount"): RequireManagedInstance,
SendDiskCommand and WaitDiskCommand, with the events of an online restore's states.

The emulator's Windows guests run the project's disk document: a command takes effect when
it is first seen finished, and reports ``InProgress`` the first time it is looked at.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tests.handlers.conftest import CallTask
from tests.handlers.emulator import Malformed, misplaced_refusals
from tests.handlers.events import LIMITS, REGION, REMOVED, now
from tests.handlers.mode_events import LONG_AGO, Execution, online_request
from tests.handlers.mode_worlds import (
    Inventory,
    commands,
    vss_set,
    windows_server,
)
from vss_restore.errors import (
    AwsAccessDenied,
    DiskCommandFailed,
    InstanceNotManaged,
    InstanceNotRunning,
    ResourceNotReady,
    TerminalError,
    WaitTimedOut,
)
from vss_restore.local import Fault, LocalEngine, world
from vss_restore.local.fidelity import LIST_COMMANDS_PAGE
from vss_restore.windows_disks import DiskCommandResult, command_comment, document_name

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

SERVICE = "MSSQLSERVER"
StartOnline = Callable[..., Execution]


@pytest.fixture
def server(ec2: EC2Client) -> str:
    """A running server with two data volumes (xvdf, xvdg), and its VSS set."""
    instance_id = windows_server(ec2, disks=world.DEMO_DISKS[:3])
    vss_set(ec2, instance_id)
    return instance_id


@pytest.fixture
def start_online(call_task: CallTask, server: str) -> StartOnline:
    """An online restore of the server, validated, its set found and its data volumes planned."""

    def start(**options: Any) -> Execution:
        run = Execution.start(call_task, online_request(server, **options))
        run.found()
        run.step("PlanRestore", run.plan_restore(), "Plan")
        return run

    return start


def data_volumes(ec2: EC2Client, instance_id: str) -> list[str]:
    return [v for d, v in sorted(world.attached(ec2, instance_id).items()) if d != "/dev/sda1"]


# --- RequireManagedInstance --------------------------------------------------------------------


def test_require_managed_instance_accepts_a_running_managed_instance_and_changes_nothing(
    ec2: EC2Client, start_online: StartOnline
) -> None:
    # GIVEN an online restore of a running Windows server whose SSM agent is online
    run = start_online()
    before = Inventory.capture(ec2)

    # WHEN the instance is checked / THEN it passes (no output: ResultPath null), unchanged
    assert run.step("RequireManagedInstance", run.require_managed_instance(), None) is None
    assert Inventory.capture(ec2) == before


@pytest.mark.parametrize(
    ("make_unfit", "error", "says"),
    [
        (lambda e, ec2, i: ec2.stop_instances(InstanceIds=[i]), InstanceNotRunning, "stopped"),
        (
            lambda e, ec2, i: ec2.terminate_instances(InstanceIds=[i]),
            InstanceNotRunning,
            "terminated",
        ),
        (lambda e, ec2, i: e.guests.unmanaged.add(i), InstanceNotManaged, "not registered"),
    ],
    ids=["stopped", "terminated", "agent-offline"],
)
def test_require_managed_instance_refuses_an_instance_whose_disks_cannot_be_changed(
    engine: LocalEngine,
    ec2: EC2Client,
    start_online: StartOnline,
    make_unfit: Callable[[LocalEngine, EC2Client, str], object],
    error: type[TerminalError],
    says: str,
) -> None:
    # GIVEN an online restore whose instance is stopped, gone, or not managed by SSM now
    run = start_online()
    make_unfit(engine, ec2, run.instance_id)
    before = Inventory.capture(ec2)

    # WHEN it is checked / THEN the named error says why and names the instance; no change
    with pytest.raises(error, match=says) as refused:
        run.step("RequireManagedInstance", run.require_managed_instance(), None)
    assert run.instance_id in str(refused.value)
    assert "nothing was changed" in str(refused.value)
    assert Inventory.capture(ec2) == before


# --- SendDiskCommand ---------------------------------------------------------------------------


def test_command_comments_tell_apart_long_execution_names_that_begin_alike() -> None:
    # GIVEN two executions whose 80-character names differ only at their end, and one in
    # another machine with the same name
    prefix = "arn:aws:states:us-east-1:123456789012:execution:vss-restore:"
    name = "nightly-restore-of-the-accounting-database-servers-in-the-eu-west-1-region-"
    first, second = f"{prefix}{name}0001", f"{prefix}{name}0002"
    elsewhere = first.replace(":vss-restore:", ":vss-restore-mount:")

    # WHEN each step's command comment is made
    comments = {
        (e, step): command_comment(step, e)
        for e in (first, second, elsewhere)
        for step in ("TakeDisksOffline", "RollbackBringOriginalsOnline")
    }

    # THEN every one is different, fits SSM's 100 characters, and reads as the step's
    assert len(set(comments.values())) == len(comments)
    assert all(len(c) <= 100 for c in comments.values())
    assert all(c.startswith(f"vss-restore {step} ") for (_, step), c in comments.items())
    assert name[:20] in comments[first, "TakeDisksOffline"]


def test_send_disk_command_sends_the_disk_document_once_per_step_when_retried(
    ec2: EC2Client, start_online: StartOnline
) -> None:
    # GIVEN an online restore that stops SQL Server, its data volumes planned
    run = start_online(stop_services=[SERVICE])
    originals = data_volumes(ec2, run.instance_id)
    event = run.take_disks_offline()

    # WHEN TakeDisksOffline runs, and runs again (a retry after a lost answer)
    sent = run.step("SendDiskCommand", event, "Disks.OfflineSent")
    again = run.step("SendDiskCommand", event, "Disks.OfflineSent")

    # THEN one command of the project's document went to the instance: Offline, the
    # originals, the service; its answer says when (the state's entry) and what
    (command,) = commands(run.instance_id)
    assert (
        again
        == sent
        == {
            "CommandId": command["CommandId"],
            "SentAt": event["EnteredTime"],
            "VolumeIds": originals,
        }
    )
    assert command["DocumentName"] == document_name()
    assert command["Parameters"] == {
        "Action": ["Offline"],
        "VolumeIds": [",".join(originals)],
        "Services": [SERVICE],
        "Purpose": ["Restore"],
    }
    assert "TakeDisksOffline" in command["Comment"]


def test_send_disk_command_finds_its_command_when_the_instance_has_more_than_a_page_of_them(
    start_online: StartOnline,
) -> None:
    # GIVEN an online restore of an instance to which other tools sent a page of commands
    run = start_online(stop_services=[SERVICE])
    ssm = boto3.client("ssm", region_name=REGION)
    for _ in range(LIST_COMMANDS_PAGE):
        ssm.send_command(
            InstanceIds=[run.instance_id],
            DocumentName="AWS-RunPowerShellScript",
            Parameters={"commands": ["Get-Service"]},
        )
    event = run.take_disks_offline()

    # WHEN TakeDisksOffline runs, and runs again (a retry after a lost answer)
    sent = run.step("SendDiskCommand", event, "Disks.OfflineSent")
    again = run.step("SendDiskCommand", event, "Disks.OfflineSent")

    # THEN the retry found the command past the first page of ListCommands: one disk command
    disk_commands = [c for c in commands(run.instance_id) if c["DocumentName"] == document_name()]
    assert [c["CommandId"] for c in disk_commands] == [sent["CommandId"]]
    assert again == sent


def test_send_disk_command_fails_with_aws_access_denied_naming_the_document_and_instance(
    engine: LocalEngine, ec2: EC2Client, start_online: StartOnline
) -> None:
    # GIVEN an online restore whose role may not send commands (SSM denies SendCommand)
    run = start_online(stop_services=[SERVICE])
    engine.inject(Fault("ssm.SendCommand", code="AccessDeniedException", permanent=True))
    before = Inventory.capture(ec2)

    # WHEN TakeDisksOffline runs, THEN it fails with the workflow's name for a denied call,
    # naming the action, the document and the instance; nothing was sent
    with pytest.raises(AwsAccessDenied, match="AccessDeniedException") as denied:
        run.step("SendDiskCommand", run.take_disks_offline(), "Disks.OfflineSent")
    assert str(denied.value).startswith(
        f"SendCommand of document {document_name()} on {run.instance_id} (TakeDisksOffline) "
    )
    assert Inventory.capture(ec2) == before


def test_the_wait_for_a_disk_command_outlasts_its_delivery_and_its_execution_together(
    start_online: StartOnline,
) -> None:
    # GIVEN a disk command sent as the workflow sends it
    run = start_online(stop_services=[SERVICE])
    run.step("SendDiskCommand", run.take_disks_offline(), "Disks.OfflineSent")
    (command,) = commands(run.instance_id)
    document = boto3.client("ssm", region_name=REGION).get_document(Name=document_name())
    executes = int(json.loads(document["Content"])["mainSteps"][0]["inputs"]["timeoutSeconds"])

    # WHEN / THEN SSM may deliver it late and it may run its whole time: the workflow's wait
    # (which then gives up, and the rollback sends the next command) outlasts both
    assert command["TimeoutSeconds"] + executes <= LIMITS.DiskCommandTimeoutSeconds


def test_send_disk_command_takes_only_the_attached_volumes_when_the_rollback_asks_for_them(
    ec2: EC2Client, start_online: StartOnline
) -> None:
    # GIVEN an online restore whose two restored volumes were created, none attached yet
    run = start_online()
    created = run.step("CreateVolumes", run.create_volumes(), "Prepared.Created")

    # WHEN the rollback takes the restored disks offline / THEN there is nothing to send
    nothing = run.step("SendDiskCommand", run.rollback_disks_offline(), None)
    assert (nothing["CommandId"], nothing["VolumeIds"]) == (None, [])
    assert commands(run.instance_id) == []

    # ... and once one of them reached the instance, only that one's disk is taken offline
    reached = created[0]["VolumeId"]
    ec2.attach_volume(VolumeId=reached, InstanceId=run.instance_id, Device="xvdp")
    sent = run.step("SendDiskCommand", run.rollback_disks_offline(), None)
    (command,) = commands(run.instance_id)
    assert (sent["CommandId"], sent["VolumeIds"]) == (command["CommandId"], [reached])
    assert command["Parameters"]["VolumeIds"] == [reached]


def test_send_disk_command_fails_with_disk_command_failed_naming_the_step_when_ssm_refuses(
    ec2: EC2Client, start_online: StartOnline
) -> None:
    # GIVEN an online restore whose instance was stopped since it was checked
    run = start_online()
    ec2.stop_instances(InstanceIds=[run.instance_id])
    before = Inventory.capture(ec2)

    # WHEN its disks are to be taken offline / THEN DiskCommandFailed; nothing was sent
    with pytest.raises(DiskCommandFailed, match="TakeDisksOffline: SSM refused"):
        run.step("SendDiskCommand", run.take_disks_offline(), None)
    assert Inventory.capture(ec2) == before


# --- WaitDiskCommand ---------------------------------------------------------------------------


@pytest.mark.usefixtures("immediate_waits")
def test_wait_disk_command_returns_what_the_document_did_once_it_has_succeeded(
    engine: LocalEngine, ec2: EC2Client, start_online: StartOnline
) -> None:
    # GIVEN the originals' disks sent offline, SQL Server stopped first
    run = start_online(stop_services=[SERVICE])
    originals = data_volumes(ec2, run.instance_id)
    run.step("SendDiskCommand", run.take_disks_offline(), "Disks.OfflineSent")

    # WHEN it is awaited while it runs, then once it has finished / THEN its result: each
    # disk offline, the service stopped
    waiting = run.wait_disk_command("Disks.OfflineSent", "TakeDisksOffline")
    result = DiskCommandResult.model_validate(
        run.step("WaitDiskCommand", waiting, "Disks.Offline", retries=1)
    )
    assert (result.step, result.status) == ("TakeDisksOffline", "Success")
    assert result.command_id == run.data["Disks"]["OfflineSent"]["CommandId"]
    assert [(d.volume_id, d.offline) for d in result.disks] == [(v, True) for v in originals]
    assert [(s.name, s.status) for s in result.services] == [(SERVICE, "Stopped")]
    assert "VSS-RESTORE-RESULT" in result.output_excerpt
    # ... which is what Windows holds now
    assert not any(engine.guests.disk_online(v) for v in originals)
    assert engine.guests.stopped_services[run.instance_id] == [SERVICE]


@pytest.mark.parametrize(
    ("windows", "says"),
    [
        (lambda e, i: e.guests.fail_next("Offline", "Set-Disk : Access denied"), "Access denied"),
        (lambda e, i: e.guests.known_services.update({i: {"W3SVC"}}), "Cannot find any service"),
    ],
    ids=["disk-refused", "no-such-service"],
)
def test_wait_disk_command_fails_with_the_commands_output_when_the_document_failed(
    engine: LocalEngine,
    ec2: EC2Client,
    start_online: StartOnline,
    windows: Callable[[LocalEngine, str], object],
    says: str,
) -> None:
    # GIVEN a server where the document fails (a disk Windows will not take offline, or a
    # service it does not have), and the originals' disks sent offline
    run = start_online(stop_services=[SERVICE])
    windows(engine, run.instance_id)
    run.step("SendDiskCommand", run.take_disks_offline(), "Disks.OfflineSent")

    # WHEN it is awaited / THEN DiskCommandFailed names the step and ends with the output
    with pytest.raises(DiskCommandFailed, match=says) as failed:
        run.step(
            "WaitDiskCommand", run.wait_disk_command("Disks.OfflineSent", "TakeDisksOffline"), None
        )
    assert str(failed.value).startswith("TakeDisksOffline: ")

    # ... and Windows changed nothing: the disks are online, no service was stopped
    assert all(engine.guests.disk_online(v) for v in data_volumes(ec2, run.instance_id))
    assert engine.guests.stopped_services.get(run.instance_id, []) == []


@pytest.mark.usefixtures("immediate_waits")
def test_a_disk_command_given_up_on_is_cancelled_and_seen_ended_before_the_next_is_sent(
    engine: LocalEngine, ec2: EC2Client, start_online: StartOnline
) -> None:
    # GIVEN a disk command that Windows never finishes, sent longer ago than the wait lasts
    run = start_online(stop_services=[SERVICE])
    engine.ssm.hang(document_name(), commands=1)
    run.step("SendDiskCommand", run.take_disks_offline(), "Disks.OfflineSent")
    command_id = run.data["Disks"]["OfflineSent"]["CommandId"]
    waiting = run.wait_disk_command("Disks.OfflineSent", "TakeDisksOffline", entered_ago=LONG_AGO)

    # WHEN the wait gives up / THEN it says so (naming its limit), and the command is
    # cancelled, not left to run behind the rollback's next command
    limit = f"limit {LIMITS.DiskCommandTimeoutSeconds} s"
    with pytest.raises(WaitTimedOut, match=f"{limit}.*it was cancelled"):
        run.step("WaitDiskCommand", waiting, None)

    # WHEN the rollback's command is sent while Windows is still stopping the first
    # THEN nothing is sent: the task waits (ResourceNotReady), naming the command
    with pytest.raises(ResourceNotReady, match=f"{command_id}.*Cancelling"):
        run.step("SendDiskCommand", run.rollback_disks_online(), "Disks.RollbackOnlineSent")
    assert [c["CommandId"] for c in commands(run.instance_id)] == [command_id]

    # WHEN it is tried again, the first command now cancelled / THEN it is sent
    run.step("SendDiskCommand", run.rollback_disks_online(), "Disks.RollbackOnlineSent")
    ssm = boto3.client("ssm", region_name=REGION)
    invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=run.instance_id)
    assert invocation["Status"] == "Cancelled"
    assert len(commands(run.instance_id)) == 2


def test_send_disk_command_gives_up_waiting_for_a_command_that_never_ends_and_sends_nothing(
    engine: LocalEngine, ec2: EC2Client, start_online: StartOnline
) -> None:
    # GIVEN a disk command that Windows never finishes (and nobody cancels)
    run = start_online(stop_services=[SERVICE])
    engine.ssm.hang(document_name())
    run.step("SendDiskCommand", run.take_disks_offline(), "Disks.OfflineSent")

    # WHEN the rollback's command has waited for it longer than its limit
    event = {**run.rollback_disks_online(), "EnteredTime": (now() - LONG_AGO).isoformat()}

    # THEN it gives up, naming the command it waited for, and sends nothing
    with pytest.raises(WaitTimedOut, match=r"is InProgress.*nothing is sent"):
        run.step("SendDiskCommand", event, "Disks.RollbackOnlineSent")
    assert len(commands(run.instance_id)) == 1


# --- the tasks' input models -------------------------------------------------------------------


def test_disk_tasks_refuse_a_malformed_event_naming_the_field_before_any_aws_call(
    engine: LocalEngine, call_task: CallTask, start_online: StartOnline
) -> None:
    # GIVEN an online restore whose disks were sent offline
    run = start_online()
    run.step("SendDiskCommand", run.take_disks_offline(), "Disks.OfflineSent")
    events = {
        "RequireManagedInstance": run.require_managed_instance(),
        "SendDiskCommand": run.take_disks_offline(),
        "WaitDiskCommand": run.wait_disk_command("Disks.OfflineSent", "TakeDisksOffline"),
    }

    # WHEN each task gets its event without a field, or with a value its state never passes
    # THEN its input model names that field, before any AWS call
    cases = [
        Malformed("RequireManagedInstance", "Mode", REMOVED, ("Mode",)),
        Malformed("SendDiskCommand", "Action", "Eject", ("Action",)),
        Malformed("SendDiskCommand", "VolumeIds", [], ("VolumeIds",)),
        Malformed("SendDiskCommand", "AttachedOnly", "yes", ("AttachedOnly",)),
        Malformed("WaitDiskCommand", "CommandId", REMOVED, ("CommandId",)),
    ]
    assert misplaced_refusals(engine, call_task, events.__getitem__, cases) == []
