"""``LocalEngine``: the real state machine definition on an embedded AWS emulator."""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import boto3
import moto
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.utilities.utils import load_resource

from vss_restore import clients, records
from vss_restore.capabilities import FLEET_CAPABILITY, Machine, capability_of, fleet_machine_of
from vss_restore.definition import (
    Limits,
    definition_path,
    fleet_substitutions,
    render,
    substitutions,
)
from vss_restore.executions import TERMINAL_STATUSES, execution_name, fetch_history
from vss_restore.local.cloudtrail_history import CloudTrailEventHistory
from vss_restore.local.faults import Fault, FaultInjector
from vss_restore.local.fidelity import (
    DataLimitExceededIsTerminal,
    Ec2Fidelity,
    ExecutionRedriveCount,
    LambdaInvokeErrors,
    ListCommandsPages,
    RunInstancesInterfaceGroups,
    RunInstancesRootDevice,
    RunInstancesVolumeSettings,
    RuntimeErrorsAreTerminal,
    SfnIntegrationCase,
    SsmRunCommand,
    StopExecutionAborts,
    VolumeInitialization,
)
from vss_restore.local.lambda_dispatch import LambdaDispatcher, load_handlers
from vss_restore.local.parse_cache import ParsedDefinitions
from vss_restore.local.timing import ScaledRetryClock
from vss_restore.local.windows_guests import WindowsGuests
from vss_restore.settings import (
    CLONE_INSTANCE_PROFILE_ENV,
    RECORDS_TABLE_ENV,
    forget_settings,
    reload_settings,
)
from vss_restore.tasks import FLEET_TASKS, TASKS, function_timeout_seconds
from vss_restore.waiting import WAIT_IN_TASK_ENV
from vss_restore.windows_disks import (
    DEFAULT_DISKS_DOCUMENT,
    DISKS_DOCUMENT_ENV,
    document_content,
    document_name,
)

if TYPE_CHECKING:
    from vss_restore.local.simulation import SimulatedAws, Simulation
    from vss_restore.local.virtual_clock import SimulationPatches

STATE_MACHINE_NAME = "vss-restore"
FLEET_STATE_MACHINE_NAME = "vss-restore-fleet"
# Each capability's machine, by the name it has in the emulator.
MACHINE_NAMES: dict[Machine, str] = {
    "restore": STATE_MACHINE_NAME,
    "drill": f"{STATE_MACHINE_NAME}-drill",
    "mount": f"{STATE_MACHINE_NAME}-mount",
    "fleet": FLEET_STATE_MACHINE_NAME,
    "drill-fleet": f"{STATE_MACHINE_NAME}-drill-fleet",
}
ALL_TASKS = {**TASKS, **FLEET_TASKS}
LOCK_TABLE_NAME = "vss-restore-locks"
RECORDS_TABLE_NAME = "vss-restore-records"
# The stack's own role and instance profile for drill clones (Systems Manager core only).
CLONE_PROFILE_NAME = "vss-restore-clone"
CLONE_PROFILE_ARN = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:instance-profile/{CLONE_PROFILE_NAME}"
SSM_CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
FUNCTION_PREFIX = "vss-restore-"
# The interpreter logs every caught task error with its whole parse tree; the execution
# history already holds each error, so only the emulator's criticals are worth seeing.
_NOISY_LOGGERS = ("moto.stepfunctions.parser",)
# Quiet, untraced task logs unless the caller has set them up.
_TASK_ENVIRONMENT = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_SERVICE_NAME": "vss-restore",
    # As the stack configures the wait tasks: poll inside the task for up to 10 minutes.
    WAIT_IN_TASK_ENV: "600",
    # The stack's disk document (Mode "Online" and "Mount"), which the engine creates.
    DISKS_DOCUMENT_ENV: DEFAULT_DISKS_DOCUMENT,
    RECORDS_TABLE_ENV: RECORDS_TABLE_NAME,
    # The stack's clone profile, which the engine creates.
    CLONE_INSTANCE_PROFILE_ENV: CLONE_PROFILE_ARN,
}


class ExecutionTimeout(TimeoutError):
    """The execution did not finish within ``run``'s timeout."""


@dataclass(frozen=True)
class ExecutionResult:
    execution_arn: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    history: list[dict[str, Any]] = field(repr=False)

    def state_path(self) -> list[str]:
        """Names of the states entered, in order (a retried state appears once)."""
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in self.history
            if e["type"].endswith("StateEntered")
        ]


@functools.cache
def default_amis_file() -> Path:
    """moto's default AMIs as a file (one per moto version, shared by processes): moto reads
    the file ``MOTO_AMIS_PATH`` names when a process that has it set imports moto."""
    path = Path(tempfile.gettempdir()) / f"vss-restore-moto-{moto.__version__}-amis.json"
    if not path.exists():
        written = path.with_suffix(f".{os.getpid()}.tmp")
        written.write_text(json.dumps(load_resource("ec2/resources/amis.json")))
        written.replace(path)  # atomic: another process reads the whole file or none
    return path


class LocalEngine:
    """Run the state machines (restore, drill, mount, fleet) in-process on moto.

    Starts the emulator, or joins one already active (``mock_aws`` in a test), loads
    ``statemachines/<machine>.asl.json`` with the same substitutions CDK uses, and
    answers the Lambda tasks in-process. boto3 clients the caller creates inside the
    ``with`` block talk to the same emulator.
    """

    def __init__(
        self,
        region: str = "us-east-1",
        limits: Limits | None = None,
        time_scale: float = 0.0,
        simulation: Simulation | None = None,
        definition: str | None = None,
    ) -> None:
        self.region = region
        self.definition = definition  # ASL text with placeholders; default: the repo's file
        self.limits = limits or Limits()
        self.simulated: SimulatedAws | None = None
        self._simulation_patches: SimulationPatches | None = None
        if simulation is not None:
            # Imported only for a simulation: most engines never need the virtual clock.
            from vss_restore.local.simulation import SimulatedAws  # noqa: PLC0415
            from vss_restore.local.virtual_clock import SimulationPatches  # noqa: PLC0415

            self.simulated = SimulatedAws(simulation)
            self._simulation_patches = SimulationPatches(
                self.simulated.clock, self.simulated.simulation.seed
            )
        # Simulation mode runs the retry intervals and polls on its virtual clock.
        self.clock = (
            ScaledRetryClock(0.0, self.simulated.clock.sleep)
            if self.simulated
            else ScaledRetryClock(time_scale)
        )
        self._simulating = False
        self.fidelity = Ec2Fidelity()
        self.sfn_fidelity = SfnIntegrationCase()
        self.stop_fidelity = StopExecutionAborts()
        self.data_limit = DataLimitExceededIsTerminal()
        self.runtime_errors = RuntimeErrorsAreTerminal()
        self.invoke_errors = LambdaInvokeErrors()
        # ``engine.redrives.redrive(name)``: that execution runs as a redriven one.
        self.redrives = ExecutionRedriveCount()
        # Rates and fast snapshot restore: ``engine.initialization.fast_restores``.
        self.initialization = VolumeInitialization()
        self.launch_fidelity = RunInstancesVolumeSettings(self.initialization)
        self.ssm = SsmRunCommand()  # a drill's validation command: ``engine.ssm.respond(...)``
        if self.simulated is not None:  # commands take their modelled time
            self.ssm.pace = self.simulated.command_status
        self.parsed_definitions = ParsedDefinitions()
        self.cloudtrail = CloudTrailEventHistory()  # who started each execution
        self._machine_arns: dict[Machine, str] = {}
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._hooks: list[tuple[str, Any]] = []
        self._saved_env: dict[str, str | None] = {}
        self._saved_levels: dict[str, int] = {}
        self.dispatcher: LambdaDispatcher | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> LocalEngine:
        # The tasks' clients take their region from the environment: it must be the engine's.
        self._set_env({"AWS_DEFAULT_REGION": self.region}, keep_existing=False)
        self._set_env(_TASK_ENVIRONMENT, keep_existing=True)
        # EC2 offers moto's 44 default AMIs, not also the Region's 1,300 latest ones it
        # would build (each with a volume and a snapshot) for every emulator: no task reads
        # an AMI but by id, and the world's Windows AMI is a default one.
        self._set_env({"MOTO_AMIS_PATH": str(default_amis_file())}, keep_existing=True)
        # The handlers run in this process: they read the environment just set (a bad value
        # fails here, naming its variable, as it would fail a function's cold start).
        try:
            reload_settings()
        except BaseException:
            self._restore_env()
            raise
        self._mock.start()
        self._saved_levels = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
        for name in _NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        try:
            clients.reset()
            self._install_hooks()
            self.parsed_definitions.install()
            self.cloudtrail.install()
            self.clock.install()
            if self._simulation_patches is not None:
                self._simulation_patches.install()
            self.sfn_fidelity.install()
            self.stop_fidelity.install()
            self.data_limit.install()
            self.runtime_errors.install()  # after data_limit: it wraps the same matcher
            self.invoke_errors.install()
            self.redrives.install()
            self.launch_fidelity.install()
            self._deploy()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.clock.uninstall()
        self.parsed_definitions.uninstall()
        self.cloudtrail.uninstall()
        if self._simulation_patches is not None and self.simulated is not None:
            self._simulation_patches.uninstall()
            self.simulated.clock.close()
        self.sfn_fidelity.uninstall()
        self.stop_fidelity.uninstall()
        self.invoke_errors.uninstall()
        self.runtime_errors.uninstall()
        self.data_limit.uninstall()
        self.redrives.uninstall()
        self.launch_fidelity.uninstall()
        events = boto3._get_default_session().events
        for event_name, hook in self._hooks:
            events.unregister(event_name, hook)
        self._hooks.clear()
        clients.reset()
        self._mock.stop()
        for name, level in self._saved_levels.items():
            logging.getLogger(name).setLevel(level)
        self._restore_env()

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        forget_settings()  # whoever runs next reads the environment as it is again

    def _set_env(self, values: dict[str, str], keep_existing: bool) -> None:
        for key, value in values.items():
            if keep_existing and key in os.environ:
                continue
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value

    def _install_hooks(self) -> None:
        arn_prefix = f"arn:aws:lambda:{self.region}:{DEFAULT_ACCOUNT_ID}:function:"
        self.dispatcher = LambdaDispatcher(
            load_handlers({f"{FUNCTION_PREFIX}{m}": m for m in ALL_TASKS.values()}),
            arn_prefix,
            {f"{FUNCTION_PREFIX}{m}": function_timeout_seconds(t) for t, m in ALL_TASKS.items()},
        )
        for event_name, hook in [
            ("before-call.lambda.Invoke", self.dispatcher),
            *self.fidelity.hooks(),
            *self.initialization.hooks(),
            *self.ssm.hooks(),
            *self.ssm.guests.hooks(),
            *self.stop_fidelity.hooks(),
            *RunInstancesRootDevice().hooks(),
            *RunInstancesInterfaceGroups().hooks(),
            *ListCommandsPages().hooks(),
            *self.launch_fidelity.hooks(),
        ]:
            self._register(event_name, hook)

    def _register(self, event_name: str, hook: Any, *, first: bool = False) -> None:
        """Hook the session the workflow's clients come from; removed again on exit."""
        events = boto3._get_default_session().events
        (events.register_first if first else events.register)(event_name, hook)
        self._hooks.append((event_name, hook))

    def inject(self, fault: Fault) -> FaultInjector:
        """Make a later AWS call of the workflow fail as ``fault`` says (until the engine exits)."""
        injector = FaultInjector(fault)
        for event_name, hook in injector.hooks():
            # A refusal goes ahead of the Lambda dispatcher and the fidelity rules (AWS
            # refuses first); an after-call fault follows them, so they see the change.
            self._register(event_name, hook, first=event_name.startswith("before-call"))
        clients.reset()  # cached clients copied the session's hooks when they were created
        return injector

    def observe(self, event_name: str, hook: Any) -> None:
        """Run ``hook`` on a botocore event of the workflow's calls (until the engine exits)."""
        self._register(event_name, hook)
        clients.reset()

    @property
    def account_id(self) -> str:
        """The emulator's account (every resource it holds is in it)."""
        return str(DEFAULT_ACCOUNT_ID)

    def function_arn(self, task: str) -> str:
        module = ALL_TASKS[task]
        return (
            f"arn:aws:lambda:{self.region}:{DEFAULT_ACCOUNT_ID}:function:{FUNCTION_PREFIX}{module}"
        )

    @property
    def guests(self) -> WindowsGuests:
        """Windows in the instances: disks, services, and what the disk document did."""
        return self.ssm.guests

    def _put_disks_document(self) -> None:
        """The project's disk document, as the stack deploys it."""
        ssm = boto3.client("ssm", region_name=self.region)
        content = json.dumps(document_content())
        try:
            ssm.create_document(Name=document_name(), Content=content, DocumentType="Command")
        except ssm.exceptions.DocumentAlreadyExists:
            return

    def _put_clone_profile(self) -> None:
        """The stack's instance profile for drill clones: a role EC2 may assume, with
        Systems Manager core only (as ``stacks/parts/drills.py`` deploys it)."""
        iam = boto3.client("iam", region_name=self.region)
        try:
            iam.get_instance_profile(InstanceProfileName=CLONE_PROFILE_NAME)
        except iam.exceptions.NoSuchEntityException:
            pass
        else:
            return
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ec2.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        # Without AmazonSSMManagedInstanceCore: the emulator holds no AWS managed policy
        # unless it loads all of them (seconds per start), and its Run Command checks none.
        iam.create_role(
            RoleName=CLONE_PROFILE_NAME,
            AssumeRolePolicyDocument=json.dumps(trust),
            Description=f"vss-restore drill clones (the stack attaches {SSM_CORE_POLICY})",
        )
        iam.create_instance_profile(InstanceProfileName=CLONE_PROFILE_NAME)
        iam.add_role_to_instance_profile(
            InstanceProfileName=CLONE_PROFILE_NAME, RoleName=CLONE_PROFILE_NAME
        )

    def _put_state_machine(self, name: str, definition: str) -> str:
        """Create the state machine, or update it when a joined emulator already has it."""
        sfn = boto3.client("stepfunctions", region_name=self.region)
        role_arn = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/vss-restore-state-machine"
        existing = [
            m["stateMachineArn"]
            for m in sfn.list_state_machines()["stateMachines"]
            if m["name"] == name
        ]
        if existing:
            sfn.update_state_machine(
                stateMachineArn=existing[0], definition=definition, roleArn=role_arn
            )
            return existing[0]
        return sfn.create_state_machine(
            name=name, definition=definition, roleArn=role_arn, type="STANDARD"
        )["stateMachineArn"]

    def _deploy(self) -> None:
        """The lock table, the disk document and the clone profile; the state machines follow
        on first use."""
        ddb = boto3.client("dynamodb", region_name=self.region)
        if LOCK_TABLE_NAME not in ddb.list_tables()["TableNames"]:
            ddb.create_table(
                TableName=LOCK_TABLE_NAME,
                KeySchema=[{"AttributeName": "InstanceId", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "InstanceId", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        if RECORDS_TABLE_NAME not in ddb.list_tables()["TableNames"]:
            ddb.create_table(TableName=RECORDS_TABLE_NAME, **records.TABLE_SCHEMA)  # type: ignore[arg-type]
        self.ssm.add_aws_documents(self.region)
        self._put_disks_document()
        self._put_clone_profile()

    def machine_arn(self, machine: Machine) -> str:
        """A state machine, created the first time it is asked for (a command that only
        reads EC2 never pays for the emulator's parse of a definition)."""
        if machine not in self._machine_arns:
            self._machine_arns[machine] = self._put_state_machine(
                MACHINE_NAMES[machine], self._definition_text(machine)
            )
        return self._machine_arns[machine]

    def _definition_text(self, machine: Machine) -> str:
        capability = FLEET_CAPABILITY.get(machine)
        if capability is not None:
            values = fleet_substitutions(
                {t: self.function_arn(t) for t in FLEET_TASKS},
                {capability: self.machine_arn(capability)},
            )
        else:
            values = substitutions(
                {t: self.function_arn(t) for t in TASKS}, LOCK_TABLE_NAME, self.limits
            )
        custom = self.definition if machine == "restore" else None
        return render(custom or definition_path(machine).read_text(), values)

    @property
    def state_machine_arn(self) -> str:
        """The restore state machine (Modes InPlace and Online)."""
        return self.machine_arn("restore")

    @property
    def fleet_state_machine_arn(self) -> str:
        """The fleet state machine (and the machines it starts)."""
        return self.machine_arn("fleet")

    # --- running ------------------------------------------------------------------------

    def start(
        self, request: dict[str, Any], name: str | None = None, machine: Machine | None = None
    ) -> str:
        """Start an execution (always named, as AWS does) and return its ARN; the request's
        Mode picks the machine unless ``machine`` is given."""
        machine = machine or capability_of(request)
        if machine == "fleet":
            machine = fleet_machine_of(request)  # a fleet of drills has its own machine
        fleet = machine in FLEET_CAPABILITY
        # Deployed before the simulation begins: setting up the world stays instant.
        machine_arn = self.machine_arn(machine)
        self.begin_simulation()
        if self.simulated is not None:
            self.simulated.mark("execution_started")
        sfn = boto3.client("stepfunctions", region_name=self.region)
        return sfn.start_execution(
            stateMachineArn=machine_arn,
            name=name or (f"fleet-{uuid.uuid4().hex[:12]}" if fleet else execution_name(request)),
            input=json.dumps(request),
        )["executionArn"]

    def begin_simulation(self) -> None:
        """Simulation mode: calls take modelled time from now on (``start`` does this)."""
        if self.simulated is None or self._simulating:
            return
        for event_name, hook in self.simulated.hooks():
            self.observe(event_name, hook)
        if self.dispatcher is not None:
            self.dispatcher.observer = self.simulated
            self.dispatcher.clock = self.simulated.now
        self._simulating = True

    def wait(self, execution_arn: str, timeout: float = 60.0) -> ExecutionResult:
        sfn = boto3.client("stepfunctions", region_name=self.region)
        deadline = time.monotonic() + timeout
        while True:
            if self.simulated is not None:
                # Until every simulated thread waits on something outside the simulation
                # (usually: the execution has ended), without calls that draw ids meanwhile.
                self.simulated.clock.wait_idle(max(deadline - time.monotonic(), 0.0))
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] in TERMINAL_STATUSES:
                break
            if time.monotonic() > deadline:
                raise ExecutionTimeout(
                    f"{execution_arn} still {described['status']} after {timeout} s"
                )
            time.sleep(0.02)
        history = fetch_history(sfn, execution_arn)
        output = described.get("output")
        return ExecutionResult(
            execution_arn=execution_arn,
            status=described["status"],
            output=json.loads(output) if output else None,
            error=described.get("error"),
            cause=described.get("cause"),
            history=history,
        )

    def run(
        self,
        request: dict[str, Any],
        timeout: float = 60.0,
        name: str | None = None,
        machine: Machine | None = None,
    ) -> ExecutionResult:
        """Start a restore, drill or mount (by the request's Mode; ``machine="fleet"`` for a
        fleet) and wait for its end."""
        return self.wait(self.start(request, name, machine), timeout)
