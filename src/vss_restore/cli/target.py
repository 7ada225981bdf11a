"""Where the commands run: a deployed stack in AWS, or the embedded emulator (``--local``)."""

from __future__ import annotations

import difflib
import functools
import json
import logging
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
import botocore
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from vss_restore.aws_errors import error_code
from vss_restore.capabilities import (
    MACHINE_ARN_PLACEHOLDERS,
    Capability,
    capability_of,
    fleet_machine_of,
)
from vss_restore.cli.archive import FLEET_PREFIX, LocalArchive, default_archive_dir
from vss_restore.cli.place import Place, aws_place, remembered
from vss_restore.executions import (
    ExecutionRecord,
    execution_name,
    executions_of_instance,
    fetch_record,
)
from vss_restore.fleet import execution_arn
from vss_restore.instance import instances_named
from vss_restore.records import Records
from vss_restore.starter import started_by

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_stepfunctions import SFNClient

STATE_MACHINE_ARN_ENV = "VSS_RESTORE_STATE_MACHINE_ARN"
FLEET_STATE_MACHINE_ARN_ENV = "VSS_RESTORE_FLEET_STATE_MACHINE_ARN"
# The drill and mount machines: an environment variable, else the stack's output.
CAPABILITY_MACHINE_ENV: dict[Capability, str] = {
    "drill": "VSS_RESTORE_DRILL_STATE_MACHINE_ARN",
    "mount": "VSS_RESTORE_MOUNT_STATE_MACHINE_ARN",
}
# The fleet of drills (scheduled game days): its own machine, granted apart from restores.
DRILL_FLEET_STATE_MACHINE_ARN_ENV = "VSS_RESTORE_DRILL_FLEET_STATE_MACHINE_ARN"
STACK_NAME_ENV = "VSS_RESTORE_STACK_NAME"
LOCK_TABLE_ENV = "VSS_RESTORE_LOCK_TABLE"
RECORDS_TABLE_ENV = "VSS_RESTORE_RECORDS_TABLE"
DEFAULT_STACK_NAME = "VssRestore"
# Fixed emulator ids, so that the demo instance is the same in every --local command.
LOCAL_ID_SEED = 2024
LOG_LEVEL_ENV = "VSS_RESTORE_LOCAL_LOG_LEVEL"
DEMO_NAME = "web01"  # the demo server's Name tag


class CliError(Exception):
    """Ends the command: ``message`` on stderr and ``exit_code`` (1 failed, 2 bad input)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class StackNotDeployed(CliError):
    """The command needs the restore state machine, and no stack or ARN names one."""

    def __init__(self, stack: str, region: str | None) -> None:
        super().__init__(
            f"the stack {stack} is not deployed in {region} (CloudFormation has no stack of "
            "that name), and this command needs its restore state machine: deploy the stack, "
            f"or pass --stack-name NAME or --state-machine-arn ARN (or set {STATE_MACHINE_ARN_ENV})",
            2,
        )


@dataclass(frozen=True)
class Options:
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    state_machine_arn: str | None = None
    stack_name: str | None = None
    local: bool = False
    # Local only: AWS calls to refuse once (OPERATION[:CODE]), to see a rollback happen.
    faults: tuple[str, ...] = ()


# fleet-restore names its executions so; a name alone then says which state machine it ran on.
FLEET_EXECUTION_PREFIX = FLEET_PREFIX


def is_fleet_execution(name: str) -> bool:
    return name.startswith(FLEET_EXECUTION_PREFIX)


@dataclass
class Target:
    sfn: SFNClient
    ec2: EC2Client
    # Looked up when a command first needs it: reading EC2 alone needs no stack.
    find_state_machine: Callable[[], str]
    archive: LocalArchive | None = None
    demo_instance_id: str | None = None
    poll_seconds: float = 2.0
    # The fleet machines, looked up only by the commands that need them.
    fleet_state_machine: Callable[[], str | None] = lambda: None
    drill_fleet_state_machine: Callable[[], str | None] = lambda: None
    # The drill and mount machines, looked up only by the commands that need them.
    capability_machine: Callable[[Capability], str | None] = lambda _: None
    # Local only: an isolated subnet and security group for the demo server's drills.
    drill_network: tuple[str, str] | None = None
    # Mounts: SSM and the disk document's name, looked up when `unmount` needs them.
    ssm: SSMClient | None = None
    disks_document: Callable[[], str | None] = lambda: None
    # Where it acts (account, alias, Region, credentials), read when first needed.
    place: Callable[[], Place] = lambda: Place("unknown")
    # Who started an execution (CloudTrail's StartExecution event), when it can be known.
    started_by: Callable[[ExecutionRecord], str | None] = lambda _: None
    # Local only: the demo world beyond the demo server (the fleet), built on first need.
    complete_world: Callable[[], None] = lambda: None
    # The lock table (inspect, unlock): DynamoDB and the table's name, when it can be read.
    ddb: DynamoDBClient | None = None
    lock_table: Callable[[], str | None] = lambda: None
    # The table of what vss-restore created (unmount, cleanup remove only what it records).
    records_table: Callable[[], str | None] = lambda: None

    @property
    def local(self) -> bool:
        return self.archive is not None

    @cached_property
    def state_machine_arn(self) -> str:
        return self.find_state_machine()

    def machine_arn(self, capability: Capability) -> str:
        """The state machine of a capability (restore, drill, mount)."""
        if capability == "restore":
            return self.state_machine_arn
        arn = self.capability_machine(capability)
        if not arn:
            output = MACHINE_ARN_PLACEHOLDERS[capability]
            raise CliError(
                f"no {capability} state machine: set {CAPABILITY_MACHINE_ENV[capability]}, or "
                f"deploy the stack (its {output} output is read)",
                2,
            )
        return arn

    def _machine_arns(self) -> list[str]:
        """Every capability's machine that can be found (an older stack may lack some)."""
        found = [self.state_machine_arn]
        found += [arn for c in CAPABILITY_MACHINE_ENV if (arn := self.capability_machine(c))]
        return found

    def execution_arn(self, given: str) -> str:
        """An execution by its ARN, or by its name (a fleet's starts with ``fleet-``; any
        other may have run on the restore, drill or mount machine: the one that has it)."""
        if given.startswith("arn:"):
            return given
        stored = self.archive.by_name(given) if self.archive else None
        if stored is not None:
            return stored.arn
        if is_fleet_execution(given):
            fleets = [self.fleet_state_machine(), self.drill_fleet_state_machine()]
            machines = [m for m in fleets if m] or [self.state_machine_arn]
        else:
            machines = self._machine_arns()
        candidates = [execution_arn(machine, given) for machine in machines]
        for candidate in candidates:
            try:
                self.sfn.describe_execution(executionArn=candidate)
            except ClientError as err:
                if error_code(err) not in ("ExecutionDoesNotExist", "InvalidArn"):
                    raise
                continue
            return candidate
        return candidates[0]

    def instance_id(self, given: str) -> str:
        """An instance by its id, or by the value of its Name tag (one instance only).

        Whatever starts with ``i-`` is an id, and a malformed one is refused as such."""
        if given not in (self.demo_instance_id, DEMO_NAME):
            self.complete_world()  # the other servers of the emulator's demo world
        if given.startswith("i-"):
            return given
        matches = instances_named(self.ec2, given)
        if not matches:
            raise CliError(
                f"InstanceNotFound: no instance is named {given!r} (tag Name) in "
                f"{self.place()}, and it is not an instance id (i-...)",
                2,
            )
        if len(matches) > 1:
            listed = "; ".join(
                f"{i['InstanceId']} ({i['State']['Name']}, launched {i['LaunchTime'].isoformat()})"
                for i in matches
            )
            raise CliError(
                f"{len(matches)} instances are named {given!r}: {listed}. "
                "Pass the one you mean by its id.",
                2,
            )
        return str(matches[0]["InstanceId"])

    def start(self, request: dict[str, Any]) -> str:
        """Start the request on its capability's machine (its Mode decides)."""
        return self.sfn.start_execution(
            stateMachineArn=self.machine_arn(capability_of(request)),
            name=execution_name(request),
            input=json.dumps(request),
        )["executionArn"]

    def start_fleet(self, request: dict[str, Any]) -> str:
        """Start a fleet on its machine: drills (Mode "Clone") on the drill fleet's."""
        drills = fleet_machine_of(request) == "drill-fleet"
        arn = self.drill_fleet_state_machine() if drills else self.fleet_state_machine()
        if not arn:
            variable = DRILL_FLEET_STATE_MACHINE_ARN_ENV if drills else FLEET_STATE_MACHINE_ARN_ENV
            output = "DrillFleetStateMachineArn" if drills else "FleetStateMachineArn"
            raise CliError(
                f"no {'drill ' if drills else ''}fleet state machine: set {variable}, or deploy "
                f"the stack (its {output} output is read)",
                2,
            )
        return self.sfn.start_execution(
            stateMachineArn=arn,
            name=f"{FLEET_EXECUTION_PREFIX}{uuid.uuid4().hex[:12]}",
            input=json.dumps(request),
        )["executionArn"]

    def record(self, execution: str) -> ExecutionRecord:
        """An execution, given by its ARN or its name."""
        execution_arn = self.execution_arn(execution)
        try:
            return fetch_record(self.sfn, execution_arn)
        except ClientError as err:
            if error_code(err) not in ("ExecutionDoesNotExist", "InvalidArn"):
                raise
            stored = self.archive.load(execution_arn) if self.archive else None
            if stored is None:
                raise CliError(f"ExecutionDoesNotExist: {execution_arn}", 2) from err
            return stored

    def keep(self, record: ExecutionRecord) -> None:
        """Remember a finished local execution for later commands."""
        if self.archive is not None and record.finished:
            self.archive.save(record)

    def disk_clients(self) -> DiskClients:
        if self.ssm is None:
            raise CliError("this target has no SSM client to reach the disks with", 1)
        return DiskClients(
            self.ec2,
            self.ssm,
            self.disks_document(),
            functools.cache(lambda: _records(self.ddb, self.records_table())),
            self.place,
        )

    def past_fleets(self, limit: int) -> list[ExecutionRecord]:
        """The newest fleet executions of both fleet machines (and, locally, those kept)."""
        machines = [m for m in (self.fleet_state_machine(), self.drill_fleet_state_machine()) if m]
        found: dict[str, ExecutionRecord] = {}
        for machine in machines:
            pages = self.sfn.get_paginator("list_executions").paginate(
                stateMachineArn=machine, PaginationConfig={"MaxItems": limit}
            )
            for page in pages:
                for listed in page["executions"]:
                    found[listed["executionArn"]] = fetch_record(self.sfn, listed["executionArn"])
        for stored in self.archive.fleets() if self.archive else []:
            found.setdefault(stored.arn, stored)
        return sorted(found.values(), key=lambda r: r.started_at, reverse=True)[:limit]

    def past_restores(self, instance_id: str, limit: int) -> list[ExecutionRecord]:
        found = {
            r.arn: r
            for machine in self._machine_arns()
            for r in executions_of_instance(self.sfn, machine, instance_id, limit)
        }
        for stored in self.archive.of_instance(instance_id) if self.archive else []:
            found.setdefault(stored.arn, stored)
        return sorted(found.values(), key=lambda r: r.started_at, reverse=True)[:limit]


def _stack_name(options: Options) -> str:
    return options.stack_name or os.environ.get(STACK_NAME_ENV) or DEFAULT_STACK_NAME


def _stack_output(session: boto3.Session, options: Options, key: str) -> str | None:
    stack = _stack_name(options)
    cloudformation = session.client("cloudformation", endpoint_url=options.endpoint_url)
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as err:
        if error_code(err) == "ValidationError":  # no such stack
            return None
        raise
    outputs = stacks[0].get("Outputs", []) if stacks else []
    return next((o["OutputValue"] for o in outputs if o["OutputKey"] == key), None)


def _known_regions(session: boto3.Session) -> set[str]:
    return {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition)
    }


def aws_session(options: Options) -> boto3.Session:
    """The profile and Region to use; a missing profile or an unknown Region is named as such
    before any call is made (rather than a failed connection to a host that does not exist)."""
    try:
        session = boto3.Session(profile_name=options.profile, region_name=options.region)
        region = session.region_name
    except ProfileNotFound as err:
        raise CliError(
            f"no profile named {err.kwargs['profile']!r} in your AWS config files "
            "(~/.aws/config, ~/.aws/credentials): check --profile or AWS_PROFILE "
            "(`aws configure list-profiles` lists them)",
            2,
        ) from err
    if not region:
        raise CliError(
            "no AWS Region: pass --region, or set AWS_REGION or your profile's region", 2
        )
    known = _known_regions(session)
    # A custom endpoint (an emulator, a VPC endpoint) may use any region name.
    if options.endpoint_url is None and region not in known:
        close = difflib.get_close_matches(region, sorted(known), n=2)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise CliError(
            f"unknown AWS Region {region!r} (not one botocore {botocore.__version__} knows; "
            f"a newer boto3 knows newer Regions).{hint}",
            2,
        )
    return session


def _restore_state_machine(session: boto3.Session, options: Options) -> str:
    arn = (
        options.state_machine_arn
        or os.environ.get(STATE_MACHINE_ARN_ENV)
        or _stack_output(session, options, "StateMachineArn")
    )
    if not arn:
        raise StackNotDeployed(_stack_name(options), session.region_name)
    return arn


def _capability_machine(
    session: boto3.Session, options: Options, capability: Capability
) -> str | None:
    return os.environ.get(CAPABILITY_MACHINE_ENV[capability]) or _stack_output(
        session, options, MACHINE_ARN_PLACEHOLDERS[capability]
    )


def _started_by(session: boto3.Session, options: Options, record: ExecutionRecord) -> str | None:
    """The caller of StartExecution, from CloudTrail (None if not readable or not there yet)."""
    try:
        cloudtrail = session.client("cloudtrail", endpoint_url=options.endpoint_url)
        return started_by(cloudtrail, record.arn, record.started_at)
    except (ClientError, BotoCoreError):
        return None  # e.g. no cloudtrail:LookupEvents: the report says it is not known


@contextmanager
def aws_target(options: Options) -> Iterator[Target]:
    session = aws_session(options)
    yield Target(
        sfn=session.client("stepfunctions", endpoint_url=options.endpoint_url),
        ec2=session.client("ec2", endpoint_url=options.endpoint_url),
        find_state_machine=lambda: _restore_state_machine(session, options),
        capability_machine=lambda capability: _capability_machine(session, options, capability),
        fleet_state_machine=lambda: (
            os.environ.get(FLEET_STATE_MACHINE_ARN_ENV)
            or _stack_output(session, options, "FleetStateMachineArn")
        ),
        drill_fleet_state_machine=lambda: (
            os.environ.get(DRILL_FLEET_STATE_MACHINE_ARN_ENV)
            or _stack_output(session, options, "DrillFleetStateMachineArn")
        ),
        ssm=session.client("ssm", endpoint_url=options.endpoint_url),
        disks_document=lambda: _stack_output(session, options, "DisksDocumentName"),
        place=remembered(lambda: aws_place(session, options.profile, options.endpoint_url)),
        ddb=session.client("dynamodb", endpoint_url=options.endpoint_url),
        started_by=lambda record: _started_by(session, options, record),
        lock_table=lambda: (
            os.environ.get(LOCK_TABLE_ENV) or _stack_output(session, options, "LockTableName")
        ),
        records_table=lambda: _records_table(session, options),
    )


def _records_table(session: boto3.Session, options: Options) -> str | None:
    return os.environ.get(RECORDS_TABLE_ENV) or _stack_output(session, options, "RecordsTableName")


def _records(ddb: DynamoDBClient | None, table: str | None) -> Records:
    """The records cleanups go by; without them nothing may be removed, so no table is an error."""
    if ddb is None or not table:
        raise CliError(
            "no record of what vss-restore created, and it removes nothing it did not record: "
            f"set {RECORDS_TABLE_ENV}, or deploy the stack (its RecordsTableName output is read)",
            2,
        )
    return Records(ddb, table)


class CurrentStderr:
    """Whatever ``sys.stderr`` is when a record is written."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _task_logs_to_stderr() -> None:
    """Standard output is the command's result: the in-process tasks log to stderr, and only
    their errors unless VSS_RESTORE_LOCAL_LOG_LEVEL says otherwise."""
    task_logger = logging.getLogger(os.environ.get("POWERTOOLS_SERVICE_NAME", "vss-restore"))
    task_logger.setLevel(os.environ.get(LOG_LEVEL_ENV, "ERROR").upper())
    for handler in task_logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            # Not setStream: it flushes the old stream, which a finished command may have closed.
            handler.stream = CurrentStderr()


# Services whose name in botocore's events (the service id) differs from the client's name.
_CLIENT_NAMES = {"sfn": "stepfunctions"}


def _known_operation(spec: str, operation: str) -> None:
    """``--inject-fault`` names an AWS operation that exists, or the command stops here
    (a typo would otherwise inject nothing and the restore would simply succeed)."""
    service, sep, name = operation.partition(".")
    if not sep or not service or not name:
        return  # the Fault itself explains the expected form
    session = botocore.session.get_session()
    client_name = _CLIENT_NAMES.get(service, service)
    if client_name not in session.get_available_services():
        raise CliError(f"--inject-fault {spec}: there is no AWS service {service!r}", 2)
    names = session.get_service_model(client_name).operation_names
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean {service}.{close[0]}?)" if close else ""
        raise CliError(f"--inject-fault {spec}: {service} has no operation {name!r}{hint}", 2)


@contextmanager
def local_target(options: Options) -> Iterator[Target]:
    """The embedded emulator, seeded with the demo server and its snapshot sets: a fresh
    world for every command (only executions are kept, on disk)."""
    if sys.stderr.isatty():  # a second or two of silence reads as a hang
        sys.stderr.write("Starting the local emulator (a fresh demo world)…\n")
        sys.stderr.flush()
    try:
        from vss_restore import demo  # noqa: PLC0415 - needs the emulator extra
        from vss_restore.local import Fault, LocalEngine, world  # noqa: PLC0415
        from vss_restore.local.engine import LOCK_TABLE_NAME, RECORDS_TABLE_NAME  # noqa: PLC0415
    except ImportError as err:
        raise CliError(
            f"--local needs the embedded emulator: pip install 'vss-restore[local]' ({err})", 2
        ) from err
    from datetime import UTC, datetime  # noqa: PLC0415

    for spec in options.faults:
        _known_operation(spec, spec.partition(":")[0])
    with LocalEngine(region=options.region or "us-east-1") as engine:
        _task_logs_to_stderr()
        world.fix_ids(LOCAL_ID_SEED)
        ec2 = boto3.client("ec2", region_name=engine.region)
        instance_id = demo.seed(ec2, datetime.now(UTC))
        drill_network = world.isolated_subnet(ec2)
        world.validation_document(boto3.client("ssm", region_name=engine.region))
        fleet: list[str] = []

        def complete_world() -> None:
            if not fleet:  # the fleet's two servers: only for the commands that name them
                fleet.extend(demo.seed_fleet(ec2, datetime.now(UTC), instance_id))

        for spec in options.faults:
            operation, _, code = spec.partition(":")
            try:
                engine.inject(Fault(operation, code or "InvalidParameterValue"))
            except ValueError as err:
                raise CliError(f"--inject-fault {spec}: {err}", 2) from err
        yield Target(
            sfn=boto3.client("stepfunctions", region_name=engine.region),
            ec2=ec2,
            find_state_machine=lambda: engine.state_machine_arn,
            capability_machine=engine.machine_arn,
            archive=LocalArchive(default_archive_dir()),
            demo_instance_id=instance_id,
            poll_seconds=0.05,
            fleet_state_machine=lambda: engine.fleet_state_machine_arn,
            drill_fleet_state_machine=lambda: engine.machine_arn("drill-fleet"),
            drill_network=drill_network,
            ssm=boto3.client("ssm", region_name=engine.region),
            place=remembered(lambda: Place(engine.region, engine.account_id, local=True)),
            ddb=boto3.client("dynamodb", region_name=engine.region),
            lock_table=lambda: LOCK_TABLE_NAME,
            records_table=lambda: RECORDS_TABLE_NAME,
            complete_world=complete_world,
            started_by=lambda _: "you, on this machine (the local emulator)",
        )


@dataclass(frozen=True)
class DiskClients:
    """What taking a mount away needs: EC2, SSM, and the disk document's name (None: the
    name the tasks use, ``vss-restore-windows-disks`` unless configured)."""

    ec2: EC2Client
    ssm: SSMClient
    disks_document: str | None
    # The records unmount and cleanup go by, looked up when first needed.
    find_records: Callable[[], Records]
    place: Callable[[], Place] = lambda: Place("unknown")

    @property
    def records(self) -> Records:
        return self.find_records()


@contextmanager
def open_disk_clients(options: Options) -> Iterator[DiskClients]:
    """EC2 and SSM (``cleanup``: no state machine needed), and the stack's disk document (its
    output DisksDocumentName) when the stack can be read."""
    if options.local:
        with local_target(options) as target:
            yield target.disk_clients()
        return
    session = aws_session(options)
    try:
        document = _stack_output(session, options, "DisksDocumentName")
        table = _records_table(session, options)
    except ClientError:
        document = None  # no stack to read: the document's default name
        table = os.environ.get(RECORDS_TABLE_ENV)
    yield DiskClients(
        session.client("ec2", endpoint_url=options.endpoint_url),
        session.client("ssm", endpoint_url=options.endpoint_url),
        document,
        functools.cache(
            lambda: _records(session.client("dynamodb", endpoint_url=options.endpoint_url), table)
        ),
        remembered(lambda: aws_place(session, options.profile, options.endpoint_url)),
    )


def require_execution(options: Options, execution_arn: str) -> None:
    """``ExecutionDoesNotExist`` (exit 2) for an ARN Step Functions does not know, so that a
    mistyped ARN is not answered with "removed nothing". Called inside ``open_disk_clients``."""
    if options.local and LocalArchive(default_archive_dir()).load(execution_arn) is not None:
        return
    if options.local:
        sfn = boto3.client("stepfunctions", region_name=options.region or "us-east-1")
    else:
        session = boto3.Session(profile_name=options.profile, region_name=options.region)
        sfn = session.client("stepfunctions", endpoint_url=options.endpoint_url)
    try:
        sfn.describe_execution(executionArn=execution_arn)
    except ClientError as err:
        if error_code(err) not in ("ExecutionDoesNotExist", "InvalidArn"):
            raise
        raise CliError(
            f"ExecutionDoesNotExist: no execution {execution_arn} (give the ARN of a drill's "
            "execution, as `drill` printed it)",
            2,
        ) from err


def open_target(options: Options) -> Any:
    if options.faults and not options.local:
        raise CliError("--inject-fault works only with --local", 2)
    return local_target(options) if options.local else aws_target(options)
