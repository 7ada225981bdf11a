"""docs/runbook.md, run as written: each section's commands against the emulator, in a world
where that failure happened, and what they leave behind checked against what the emulator holds.

``vss-restore`` lines run the real command (its AWS code path, pointed at the emulator's
state machine). ``aws`` lines stand for the AWS CLI, which is not a dependency of the
project: each is turned into the boto3 call of the same service model (operation and option
names, list, JSON and ``Name=…,Values=…`` shorthand values, ``--query``, ``wait``), so a
misspelt operation or option fails here as it would in the AWS CLI.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import jmespath
import pytest
from botocore import xform_name
from botocore.model import OperationModel, Shape

from tests.cli.conftest import Outcome, name_deployed_machines
from vss_restore import demo, lock, tags
from vss_restore.cli.target import LOCK_TABLE_ENV
from vss_restore.local import Fault, LocalEngine
from vss_restore.local import world as world_builder
from vss_restore.local.engine import LOCK_TABLE_NAME
from vss_restore.local.world import attached

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = REPO / "docs" / "runbook.md"
# The values the runbook's first block asks the reader to set; the test gives the emulator's.
SET_FIRST = {"INSTANCE", "EXECUTION"}
# Options of the AWS CLI itself, not of the operation.
GLOBAL_OPTIONS = {"--query", "--output", "--region", "--profile"}

_FENCE = re.compile(r"^[ \t]*```(\w*)\n(.*?)^[ \t]*```", re.M | re.S)
_ASSIGNMENT = re.compile(r"[A-Z_]+=\S*")


def runbook_blocks() -> dict[str, list[str]]:
    """The ``sh`` blocks of each ``##`` section of the runbook, in order."""
    sections: dict[str, list[str]] = {}
    for part in re.split(r"^## ", RUNBOOK.read_text(), flags=re.M)[1:]:
        heading = part.splitlines()[0]
        sections[heading] = [body for lang, body in _FENCE.findall(part) if lang == "sh"]
    return sections


def _member(shape: Shape, option: str) -> tuple[str, Shape]:
    members = {xform_name(name, "-"): (name, s) for name, s in shape.members.items()}  # type: ignore[attr-defined]
    assert option in members, f"--{option} is not an option of this operation"
    return members[option]


def _shorthand(text: str) -> dict[str, Any]:
    """``Name=a,Values=b,c`` as ``{"Name": "a", "Values": ["b", "c"]}``."""
    pairs = re.findall(r"(\w+)=(.*?)(?=,\w+=|$)", text)
    return {key: value.split(",") if key == "Values" else value for key, value in pairs}


def _value(shape: Shape, words: list[str]) -> Any:
    if shape.type_name == "list":
        member = shape.member  # type: ignore[attr-defined]
        if words[0].startswith("["):
            return json.loads(words[0])
        if member.type_name == "structure":
            return [_shorthand(w) for w in words]
        return words
    if shape.type_name in ("structure", "map"):
        return json.loads(words[0])
    if shape.type_name in ("integer", "long"):
        return int(words[0])
    return words[0]


def _parameters(operation: OperationModel, args: list[str]) -> tuple[dict[str, Any], str | None]:
    """The operation's parameters from AWS CLI options, and the ``--query`` if any."""
    params: dict[str, Any] = {}
    query = None
    i = 0
    while i < len(args):
        option = args[i]
        assert option.startswith("--"), f"unexpected word {option!r}"
        values = []
        i += 1
        while i < len(args) and not args[i].startswith("--"):
            values.append(args[i])
            i += 1
        if option in GLOBAL_OPTIONS:
            query = values[0] if option == "--query" else query
            continue
        negated = option.startswith("--no-")
        input_shape = operation.input_shape
        assert input_shape is not None, f"{option}: the operation takes no parameters"
        name, shape = _member(input_shape, option[5:] if negated else option[2:])
        if shape.type_name == "boolean":
            assert not values, f"{option} takes no value"
            params[name] = not negated
        else:
            params[name] = _value(shape, values)
    return params, query


@dataclass
class Shell:
    """Runs the runbook's lines: variables, ``vss-restore`` and ``aws`` commands."""

    cli: Any
    region: str
    variables: dict[str, str]
    ran: list[tuple[str, Any]] = field(default_factory=list)

    def aws(self, words: list[str]) -> Any:
        service, operation, *args = words
        client = boto3.Session(region_name=self.region).client(service)  # type: ignore[call-overload]
        model = client.meta.service_model
        if operation == "wait":
            waiter = client.get_waiter(args[0].replace("-", "_"))
            params, _ = _parameters(model.operation_model(waiter.config.operation), args[1:])
            waiter.wait(**params, WaiterConfig={"Delay": 1, "MaxAttempts": 10})
            return None
        names = {xform_name(name, "-"): name for name in model.operation_names}
        assert operation in names, f"aws {service} has no operation {operation}"
        params, query = _parameters(model.operation_model(names[operation]), args)
        answer = getattr(client, xform_name(names[operation]))(**params)
        answer.pop("ResponseMetadata", None)
        return jmespath.search(query, answer) if query else answer

    def run(self, block: str, **values: str) -> list[Any]:
        """Each line of ``block``; its own assignments take ``values`` (the emulator's ids)."""
        results = []
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and all(_ASSIGNMENT.fullmatch(w) for w in words):
                names = {w.partition("=")[0] for w in words}
                assert names == set(values), (
                    f"the test gives {sorted(values)}, the line sets {names}"
                )
                self.variables.update(values)
                continue
            if not words:
                continue
            words = shlex.split(self._expand(line), comments=True)
            if words[0] == "vss-restore":
                result: Any = self.cli(*words[1:])
            else:
                assert words[0] == "aws", f"not a command of the runbook: {line}"
                result = self.aws(words[1:])
            self.ran.append((line, result))
            results.append(result)
        return results

    def _expand(self, line: str) -> str:
        return re.sub(
            r"\$\{?([A-Z_]+)\}?", lambda m: self.variables[m.group(1)].replace('"', '\\"'), line
        )


@dataclass
class Failed:
    """A world where a restore (or drill) failed: the instance, the execution, a shell."""

    engine: LocalEngine
    instance: str
    execution: str
    originals: dict[str, str]
    shell: Shell

    @property
    def ec2(self) -> Any:
        return boto3.client("ec2", region_name=self.engine.region)

    def restored_by_device(self) -> dict[str, str]:
        volumes = self.ec2.describe_volumes(
            Filters=[{"Name": f"tag:{tags.EXECUTION}", "Values": [self.execution]}]
        )["Volumes"]
        return {tags.tag_dict(v["Tags"])[tags.DEVICE]: v["VolumeId"] for v in volumes}

    def power_state(self) -> str:
        reservation = self.ec2.describe_instances(InstanceIds=[self.instance])["Reservations"][0]
        return str(reservation["Instances"][0]["State"]["Name"])

    def lock_owner(self) -> str | None:
        item = boto3.client("dynamodb", region_name=self.engine.region).get_item(
            TableName=LOCK_TABLE_NAME, Key={"InstanceId": {"S": self.instance}}
        )
        return item.get("Item", {}).get("Owner", {}).get("S")


def _failed_world(
    engine: LocalEngine,
    cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    request: dict[str, Any],
    *faults: Fault,
) -> Failed:
    ec2 = boto3.client("ec2", region_name=engine.region)
    instance = demo.seed(ec2, datetime.now(UTC))
    originals = attached(ec2, instance)
    for fault in faults:
        engine.inject(fault)  # the workflow's calls only: the runbook's own calls are not refused
    execution = engine.run({"InstanceId": instance, **request}).execution_arn
    # What the stack's outputs would say: the state machine and the lock table.
    name_deployed_machines(monkeypatch, engine)
    monkeypatch.setenv(LOCK_TABLE_ENV, LOCK_TABLE_NAME)
    variables = {"INSTANCE": instance, "EXECUTION": execution}
    return Failed(engine, instance, execution, originals, Shell(cli, engine.region, variables))


@pytest.fixture
def rollback_failed(engine: LocalEngine, cli: Any, monkeypatch: pytest.MonkeyPatch) -> Failed:
    """The swap fails at the second attach, and the rollback cannot detach a restored volume."""
    return _failed_world(
        engine,
        cli,
        monkeypatch,
        {},
        Fault("ec2.AttachVolume", code="InvalidParameterValue", occurrence=2),
        Fault("ec2.DetachVolume", code="UnauthorizedOperation", occurrence=5, times=100),
    )


def _exit_codes(results: list[Any]) -> list[int]:
    return [r.exit_code for r in results if isinstance(r, Outcome)]


def test_runbook_sets_first_what_the_test_gives_when_read() -> None:
    # GIVEN the runbook's first block, WHEN its assignments are read
    first = next(body for lang, body in _FENCE.findall(RUNBOOK.read_text()) if lang == "bash")
    names = set(re.findall(r"^([A-Z_]+)=", first, flags=re.M))

    # THEN they are the values every section uses, and the sections are the ones tested here
    assert names == SET_FIRST
    assert set(runbook_blocks()) == {
        "Which failure is it?",
        "A restore failed and rolled back",
        "RollbackFailed: the restore and its rollback both failed",
        "The instance is locked (RestoreInProgress)",
        "A volume is stuck attaching or detaching",
        "A drill left its clone behind (DrillCleanupFailed)",
        "A restore was redriven (ExecutionRedriven)",
    }


def test_runbook_repairs_the_instance_when_its_rollback_failed(rollback_failed: Failed) -> None:
    # GIVEN a RollbackFailed restore: devices empty or on their restored volume, the lock kept
    world, shell = rollback_failed, rollback_failed.shell
    (
        which,
        read,
        see,
        stop,
        detach,
        attach,
        start,
        delete,
        release,
        check,
    ) = [
        *runbook_blocks()["Which failure is it?"],
        *runbook_blocks()["RollbackFailed: the restore and its rollback both failed"],
    ]
    restored = world.restored_by_device()
    holding_restored = [
        d for d, v in attached(world.ec2, world.instance).items() if v == restored[d]
    ]
    assert holding_restored, "the world must have a device on its restored volume"
    assert world.lock_owner() == world.execution

    # WHEN the runbook's steps run, one device or volume at a time where it says so
    history, status = shell.run(which)
    (cause,) = shell.run(read)
    (seen,) = shell.run(see)
    shell.run(stop)
    for device in holding_restored:
        shell.run(
            detach, DEVICE=device, ORIGINAL=world.originals[device], RESTORED=restored[device]
        )
    for device, original in world.originals.items():
        if attached(world.ec2, world.instance).get(device) != original:
            shell.run(attach, DEVICE=device, ORIGINAL=original)
    shell.run(start)
    for volume in restored.values():
        shell.run(delete, RESTORED=volume)
    shell.run(release)
    (plan,) = shell.run(check)

    # THEN the reads showed the failure and every row; the instance runs on its originals,
    # the restored volumes are gone, and the lock is free (the dry run got it and let it go)
    assert history.exit_code == 0
    assert world.execution in history.stdout
    assert (status.exit_code, cause.exit_code) == (1, 1)
    assert "RollbackFailed" in cause.stderr
    assert "Left as it is:" in cause.stderr
    inventory = seen.json
    assert inventory["State"] == "stopped"
    assert (inventory["Lock"]["Owner"], inventory["Lock"]["Status"]) == (world.execution, "FAILED")
    on_restored = {d["Device"] for d in inventory["Devices"] if d["What"].startswith("restored")}
    assert on_restored == set(holding_restored)
    loose = {v["VolumeId"] for v in inventory["DetachedVolumes"]}
    assert loose == {v for d, v in restored.items() if d not in holding_restored}
    assert attached(world.ec2, world.instance) == world.originals
    assert world.power_state() == "running"
    left = world.ec2.describe_volumes(
        Filters=[{"Name": f"tag:{tags.EXECUTION}", "Values": [world.execution]}]
    )
    assert left["Volumes"] == []
    assert plan.exit_code == 0, plan.stderr
    assert world.lock_owner() is None


def test_runbook_reads_a_rolled_back_restore_when_it_failed_cleanly(
    engine: LocalEngine, cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a restore whose swap failed and was rolled back
    world = _failed_world(
        engine, cli, monkeypatch, {}, Fault("ec2.AttachVolume", code="InvalidParameterValue")
    )
    monkeypatch.chdir(tmp_path)

    # WHEN the section's commands run
    status, report = world.shell.run(runbook_blocks()["A restore failed and rolled back"][0])

    # THEN the cause says what was undone, the HTML report is written, nothing is left to do
    assert status.exit_code == 1
    assert "SwapFailed" in status.stderr
    assert "Lock released." in status.stderr
    assert report.exit_code == 1  # a report of a failure fails, as its status does
    assert "SwapFailed" in (tmp_path / "restore.html").read_text()
    assert attached(world.ec2, world.instance) == world.originals
    assert world.lock_owner() is None


def test_runbook_releases_a_lock_left_by_an_ended_execution_when_the_instance_is_locked(
    engine: LocalEngine, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an execution that has ended but whose lock item is still there (as one that died
    # after taking it leaves it), so that restores of the instance are refused
    world = _failed_world(engine, cli, monkeypatch, {"DryRun": True})
    ddb = boto3.client("dynamodb", region_name=engine.region)
    now = datetime.now(UTC)
    lock.acquire(ddb, LOCK_TABLE_NAME, world.instance, world.execution, now, timedelta(hours=6))
    who, release = runbook_blocks()["The instance is locked (RestoreInProgress)"]
    refused = world.shell.cli("plan", "--instance-id", world.instance)

    # WHEN the section's commands run
    (holder,) = world.shell.run(who)
    released, planned = world.shell.run(release)

    # THEN the holder was shown and had ended, its lock went, and the instance can be
    # restored again
    assert refused.exit_code == 1
    assert "RestoreInProgress" in refused.stderr
    assert holder.json["Lock"]["Owner"] == world.execution
    assert holder.json["Lock"]["Status"] == "SUCCEEDED"
    assert released.exit_code == 0, released.stderr
    assert released.json == {
        "InstanceId": world.instance,
        "Released": True,
        "Owner": world.execution,
    }
    assert world.lock_owner() is None
    assert planned.exit_code == 0, planned.stderr


def test_runbook_frees_a_volume_when_it_is_stuck_on_the_instance(rollback_failed: Failed) -> None:
    # GIVEN a restored volume left on a stopped instance's device that nothing could detach
    world = rollback_failed
    look, force = runbook_blocks()["A volume is stuck attaching or detaching"]
    device, volume = next(
        (d, v)
        for d, v in attached(world.ec2, world.instance).items()
        if v == world.restored_by_device()[d]
    )

    # WHEN the section's commands run on that volume
    (seen,) = world.shell.run(look, VOLUME=volume)
    world.shell.run(force)

    # THEN it showed where the volume was, and it is now detached and available
    assert seen == ["in-use", "attached", world.instance, device]
    assert device not in attached(world.ec2, world.instance)
    (now,) = world.ec2.describe_volumes(VolumeIds=[volume])["Volumes"]
    assert (now["State"], now["Attachments"]) == ("available", [])


def _drill_instances(ec2: Any, execution: str) -> dict[str, str]:
    reservations = ec2.describe_instances(
        Filters=[{"Name": f"tag:{tags.EXECUTION}", "Values": [execution]}]
    )["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r["Instances"]}


def test_runbook_removes_a_drill_clone_when_the_drill_could_not(
    engine: LocalEngine, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a drill that failed with DrillCleanupFailed: its clone is still running
    ec2 = boto3.client("ec2", region_name=engine.region)
    subnet, _ = world_builder.isolated_subnet(ec2)
    failed = _failed_world(
        engine,
        cli,
        monkeypatch,
        {"Mode": "Clone", "SubnetId": subnet},
        Fault("ec2.TerminateInstances", "UnauthorizedOperation", times=100),
    )
    (clone,) = _drill_instances(ec2, failed.execution)
    (block,) = runbook_blocks()["A drill left its clone behind (DrillCleanupFailed)"]

    # WHEN the section's commands run
    status, dry_run, cleanup = failed.shell.run(block)

    # THEN the cause was shown, the dry run listed the clone, and the clone is terminated;
    # the source instance was never touched
    assert status.exit_code == 1
    assert "DrillCleanupFailed" in status.stderr
    assert dry_run.exit_code == 0
    assert clone in dry_run.stdout
    assert cleanup.exit_code == 0
    assert clone in cleanup.stdout
    assert _drill_instances(ec2, failed.execution) == {clone: "terminated"}
    assert attached(ec2, failed.instance) == failed.originals
