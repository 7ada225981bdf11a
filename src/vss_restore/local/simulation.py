"""Simulation mode: the emulator with AWS's pace — eventual state changes and throttling.

moto changes every state instantly and never throttles. ``Simulation`` puts a view in
front of it, on a virtual clock (``VirtualClock``) that moves only through modelled waits:

- state changes take modelled time (the latency model of docs/performance.md): volumes stay
  ``creating``, an instance ``stopping`` / ``pending``, status checks ``initializing``, until
  their drawn delay has passed on the model clock; calls AWS refuses in those states are refused;
- EC2's token buckets (per action category) answer ``RequestLimitExceeded`` when empty;
- SSM Run Command takes modelled time: a command is ``Pending`` until the agent has it,
  ``InProgress`` while the document runs (the disk document: each service stopped, each disk
  taken offline; or each disk brought online once its volume has attached, each service
  started), and ends, with its effect, at its modelled end;
- every delay is drawn from a random stream named by the seed, the kind of delay and the
  resource, so a seed always draws the same delays for the same resources.

The definition's retry intervals, the tasks' polls and the interpreter's timeouts are
waited on the same clock, so a seed gives the same figures on an idle or a busy machine.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vss_restore.local.initialization_model import SimulatedInitialization
from vss_restore.local.responses import HookAnswer, error_answer
from vss_restore.local.virtual_clock import VirtualClock
from vss_restore.local.windows_guests import disk_command_parameters
from vss_restore.windows_disks import document_name


def lognormal(rng: random.Random, median: float, p95: float) -> float:
    """A draw from the lognormal with this median and 95th percentile."""
    sigma = (math.log(p95) - math.log(median)) / 1.645
    return rng.lognormvariate(math.log(median), sigma)


# Modelled costs of running a task in AWS (the emulator runs them in-process, and the
# virtual clock stands still while it does): a warm Step Functions → Lambda invocation, and the
# start of a new execution environment (~85 ms runtime start + the measured imports). Lambda
# runs each concurrent invocation in its own environment ("Understanding Lambda function
# scaling"): an invocation finds an idle environment of its function, or starts a new one.
TASK_INVOKE_SECONDS = 0.1
COLD_START_SECONDS = 0.5


@dataclass(frozen=True)
class Simulation:
    seed: int = 0
    throttling: bool = True
    # Every drawn delay is multiplied by this: the latencies are assumptions, so the benchmark
    # also runs a faster (0.5) and a slower (2.0) world (docs/performance.md).
    latency_scale: float = 1.0


# (bucket size, refill per second): EC2's default request token buckets, per account and
# Region, from AWS's "Request throttling for the Amazon EC2 API" (docs/performance.md).
BUCKETS: dict[str, tuple[float, float]] = {
    "describe": (100, 20),
    "mutating": (50, 5),
    "CreateVolume": (100, 5),
    "StartInstances": (5, 2),
    "CreateTags": (100, 10),
}


def bucket_of(operation: str) -> str:
    if operation in ("CreateVolume", "StartInstances", "CreateTags"):
        return operation
    return "describe" if operation.startswith("Describe") else "mutating"


@dataclass
class _Bucket:
    size: float
    refill: float
    tokens: float
    at: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.size, self.tokens + (now - self.at) * self.refill)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class _World:
    volume_ready: dict[str, float] = field(default_factory=dict)  # volume → available at
    attach_ready: dict[str, float] = field(default_factory=dict)  # volume → attached at
    detaching: dict[str, tuple[str, str, float]] = field(
        default_factory=dict
    )  # volume → (instance, device, done at)
    power: dict[str, tuple[str, str, float]] = field(
        default_factory=dict
    )  # instance → (moving, settled, at)
    checks_ok: dict[str, float] = field(default_factory=dict)  # instance → status checks ok at
    commands: dict[str, ModelledCommand] = field(default_factory=dict)  # SSM, by command id


def _create_delay(rng: random.Random) -> float:
    tail = rng.random() < 0.005
    return rng.uniform(10, 60) if tail else lognormal(rng, 1.5, 4)


# Kind of delay → its model, in modelled seconds: lognormals given by median and 95th
# percentile. No public source publishes these distributions: each is an assumption, listed
# with what it rests on in docs/performance.md.
DELAYS: dict[str, Callable[[random.Random], float]] = {
    "api-mutating": lambda rng: lognormal(rng, 0.25, 1),
    "api-describe": lambda rng: lognormal(rng, 0.15, 0.6),
    "create": _create_delay,
    "stop": lambda rng: min(360.0, 15 + lognormal(rng, 60, 240)),
    "attach": lambda rng: lognormal(rng, 2, 5),
    "detach": lambda rng: lognormal(rng, 2, 5),
    "start": lambda rng: lognormal(rng, 8, 25),
    "checks": lambda rng: 40 + lognormal(rng, 90, 300),
    # SSM Run Command, and Windows inside the instance (the disk document's steps).
    "ssm-delivery": lambda rng: lognormal(rng, 1.5, 5),
    "script": lambda rng: lognormal(rng, 2, 8),
    "service-stop": lambda rng: lognormal(rng, 1, 5),
    "service-start": lambda rng: lognormal(rng, 1, 5),
    "sql-server-stop": lambda rng: lognormal(rng, 8, 45),
    "sql-server-start": lambda rng: lognormal(rng, 6, 20),
    "disk-offline": lambda rng: lognormal(rng, 0.5, 2),
    "disk-online": lambda rng: lognormal(rng, 1, 3),
}

# Services with a model of their own, (stop, start) kinds; any other service is generic.
SERVICE_DELAYS = {"MSSQLSERVER": ("sql-server-stop", "sql-server-start")}
GENERIC_SERVICE_DELAYS = ("service-stop", "service-start")
# The disk document looks for a just-attached disk again after this (its ``Start-Sleep``).
FIND_DISK_RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class ModelledCommand:
    """An SSM command on the model clock: the agent has it at ``delivered``; it ends at
    ``done`` (and only then does the document's effect show)."""

    sent: float
    delivered: float
    done: float

    def status(self, now: float) -> str | None:
        """``Pending`` or ``InProgress`` before its end; None once it has ended."""
        if now < self.delivered:
            return "Pending"
        return "InProgress" if now < self.done else None


class SimulatedAws:
    """The botocore hooks of simulation mode, and what they counted."""

    def __init__(self, simulation: Simulation) -> None:
        self.simulation = simulation
        self.clock = VirtualClock()
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}
        self._world = _World()
        self._buckets = {
            k: _Bucket(size, refill, size, 0.0) for k, (size, refill) in BUCKETS.items()
        }
        self.throttled = 0
        self.throttled_by_operation: dict[str, int] = {}
        self.calls_by_bucket: dict[str, int] = {}  # calls the buckets let through
        # What a benchmark reads back: every drawn delay, and modelled moments of the run.
        self.draws: list[tuple[str, str, float]] = []
        self.marks: dict[str, float] = {}
        self.invocations: list[tuple[str, float]] = []  # (function, modelled seconds)
        self._idle: dict[str, int] = {}  # function → its idle (warm) environments
        self.environments: dict[str, int] = {}  # function → environments started (cold starts)
        self._task_started: dict[int, float] = {}
        # Volume initialization over modelled time (DescribeVolumeStatus).
        self.initialization = SimulatedInitialization(self.now, self.available_at)

    # --- clock and draws ----------------------------------------------------------------

    def now(self) -> float:
        """Modelled seconds since the simulation started."""
        return self.clock.now()

    def available_at(self, volume_id: str) -> float | None:
        """The modelled moment a volume this simulation created became available."""
        return self._world.volume_ready.get(volume_id)

    def mark(self, name: str) -> None:
        """Remember the first time something happened (``execution_started``, ...)."""
        self.marks.setdefault(name, self.now())

    # --- tasks: the Lambda dispatcher reports each invocation ----------------------------

    def task_started(self, function: str) -> None:
        started = self.now()
        overhead = TASK_INVOKE_SECONDS
        with self._lock:
            if self._idle.get(function, 0) > 0:
                self._idle[function] -= 1
            else:
                self.environments[function] = self.environments.get(function, 0) + 1
                overhead += COLD_START_SECONDS
        self._task_started[threading.get_ident()] = started
        self.clock.sleep(overhead)

    def task_finished(self, function: str) -> None:
        finished = self.now()
        started = self._task_started.pop(threading.get_ident(), finished)
        with self._lock:
            self.invocations.append((function, finished - started))
            self._idle[function] = self._idle.get(function, 0) + 1
        self.marks["last_task_finished"] = finished

    def _rng(self, kind: str, key: str) -> random.Random:
        return random.Random(f"{self.simulation.seed}:{kind}:{key}")  # noqa: S311 - a model, not a secret

    def draw(self, kind: str, key: str) -> float:
        value = self._draw(kind, key)
        with self._lock:
            self.draws.append((kind, key, value))
        return value

    def _draw(self, kind: str, key: str) -> float:
        return DELAYS[kind](self._rng(kind, key)) * self.simulation.latency_scale

    def hooks(self) -> list[tuple[str, Any]]:
        return [
            ("before-call.ec2", self.before_call),
            ("after-call.ec2.CreateVolume", self.after_create_volume),
            ("after-call.ec2.AttachVolume", self.after_attach),
            ("after-call.ec2.StopInstances", self.after_stop),
            ("after-call.ec2.StartInstances", self.after_start),
            ("after-call.ec2.DescribeVolumes", self.view_volumes),
            ("after-call.ec2.DescribeInstances", self.view_instances),
            ("after-call.ec2.DescribeInstanceStatus", self.view_status),
            ("before-call.ssm", self.before_ssm_call),
            ("after-call.ssm.SendCommand", self.after_send_command),
            *self.initialization.hooks(),
        ]

    # --- before every call: throttling, and refusals AWS would give ---------------------

    def before_call(self, event_name: str, params: dict[str, Any], **_: Any) -> HookAnswer | None:
        operation = event_name.split(".")[2]
        latency = "api-describe" if operation.startswith("Describe") else "api-mutating"
        self.clock.sleep(self.draw(latency, f"{operation}:{self._count(latency, operation)}"))
        now = self.now()
        with self._lock:
            bucket = bucket_of(operation)
            if self.simulation.throttling and not self._buckets[bucket].take(now):
                self.throttled += 1
                self.throttled_by_operation[operation] = (
                    self.throttled_by_operation.get(operation, 0) + 1
                )
                return error_answer("RequestLimitExceeded", "Request limit exceeded.", 503)
            self.calls_by_bucket[bucket] = self.calls_by_bucket.get(bucket, 0) + 1
        if operation == "StopInstances":
            self.mark("stop_requested")
        body = dict(params.get("body") or {})
        instance_id = body.get("InstanceId.1") or body.get("InstanceId")
        state = self._power_state(str(instance_id), now) if instance_id else None
        if operation in ("StartInstances", "StopInstances") and state in ("pending", "stopping"):
            return error_answer(
                "IncorrectInstanceState", f"The instance '{instance_id}' is {state}."
            )
        detaching = self._world.detaching.get(str(body.get("VolumeId")))
        if operation == "DetachVolume" and detaching is not None and now < detaching[2]:
            return error_answer(
                "IncorrectState", f"Volume '{body['VolumeId']}' is already detaching."
            )
        if operation == "DetachVolume" and body.get("VolumeId"):
            self._defer_detach(body, now)
        return None

    def before_ssm_call(self, event_name: str, **_: Any) -> None:
        """An SSM call's latency (as EC2's; SSM's throttling is not modelled)."""
        operation = event_name.split(".")[2]
        latency = "api-mutating" if operation == "SendCommand" else "api-describe"
        key = f"ssm-{operation}:{self._count(latency, f'ssm-{operation}')}"
        self.clock.sleep(self.draw(latency, key))

    def _defer_detach(self, body: dict[str, Any], now: float) -> None:
        # moto detaches at once; the view keeps the device "detaching" until the modelled end.
        volume_id = str(body.get("VolumeId"))
        key = f"{volume_id}:{self._count('detach', volume_id)}"
        self._world.detaching[volume_id] = (
            str(body.get("InstanceId")),
            str(body.get("Device")),
            now + self.draw("detach", key),
        )

    def _count(self, kind: str, key: str) -> int:
        name = f"{kind}:{key}"
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + 1
            return self._counters[name]

    # --- after mutating calls: schedule the modelled end of the change ------------------

    def after_create_volume(self, parsed: dict[str, Any], **_: Any) -> None:
        volume_id = parsed.get("VolumeId")
        if volume_id and volume_id not in self._world.volume_ready:
            self._world.volume_ready[volume_id] = self.now() + self.draw("create", volume_id)
            parsed["State"] = "creating"

    def after_attach(self, parsed: dict[str, Any], **_: Any) -> None:
        volume_id = str(parsed.get("VolumeId"))
        key = f"{volume_id}:{self._count('attach', volume_id)}"
        self._world.attach_ready[volume_id] = self.now() + self.draw("attach", key)
        parsed["State"] = "attaching"

    def after_stop(self, parsed: dict[str, Any], **_: Any) -> None:
        for change in parsed.get("StoppingInstances", []):
            instance_id = change["InstanceId"]
            key = f"{instance_id}:{self._count('stop', instance_id)}"
            self._world.power[instance_id] = (
                "stopping",
                "stopped",
                self.now() + self.draw("stop", key),
            )
            change["CurrentState"] = {"Code": 64, "Name": "stopping"}

    def after_start(self, parsed: dict[str, Any], **_: Any) -> None:
        for change in parsed.get("StartingInstances", []):
            instance_id = change["InstanceId"]
            key = f"{instance_id}:{self._count('start', instance_id)}"
            running_at = self.now() + self.draw("start", key)
            self._world.power[instance_id] = ("pending", "running", running_at)
            self._world.checks_ok[instance_id] = running_at + self.draw("checks", key)
            self.marks.setdefault("running", running_at)
            self.marks.setdefault("checks_ok", self._world.checks_ok[instance_id])
            change["CurrentState"] = {"Code": 0, "Name": "pending"}

    # --- SSM Run Command: when a command ends ------------------------------------------

    def after_send_command(self, parsed: dict[str, Any], **_: Any) -> None:
        command = parsed.get("Command") or {}
        command_id = command.get("CommandId")
        instances = command.get("InstanceIds") or []
        if not command_id or not instances:
            return
        instance_id = str(instances[0])
        sent = self.now()
        document = command.get("DocumentName")
        key = f"{instance_id}:{document}:{self._count('ssm', f'{instance_id}:{document}')}"
        delivered = sent + self.draw("ssm-delivery", key)
        if document == document_name():
            action, volume_ids, services = disk_command_parameters(command.get("Parameters") or {})
            done = self.disk_document_done(delivered, instance_id, action, volume_ids, services)
        else:
            done = delivered + self.draw("script", key)
        self._world.commands[command_id] = ModelledCommand(sent, delivered, done)

    def disk_document_done(
        self,
        start: float,
        instance_id: str,
        action: str,
        volume_ids: list[str],
        services: list[str],
    ) -> float:
        """When the disk document, started at ``start``, ends: ``Offline`` stops each service,
        then takes each disk offline; ``Online`` and ``MountReadOnly`` bring each disk online
        once its volume has attached (looking again every 2 s until it appears), then
        ``Online`` starts each service. One step after the other, in the order given."""
        at = start

        def service(name: str, which: int) -> float:
            kind = SERVICE_DELAYS.get(name, GENERIC_SERVICE_DELAYS)[which]
            return self.draw(kind, f"{instance_id}:{name}:{self._count(kind, instance_id)}")

        if action == "Offline":
            for name in services:
                at += service(name, 0)
        for volume_id in volume_ids:
            kind = "disk-offline" if action == "Offline" else "disk-online"
            if action != "Offline":
                appears = self._world.attach_ready.get(volume_id, 0.0)
                while at < appears:
                    at += FIND_DISK_RETRY_SECONDS
            at += self.draw(kind, f"{volume_id}:{self._count(kind, volume_id)}")
        if action == "Online":
            for name in services:
                at += service(name, 1)
        return at

    def command_status(self, command_id: str) -> str | None:
        """A command's status before its modelled end; None once it has ended (or for a
        command sent before the simulation began, which ended at once)."""
        command = self._world.commands.get(command_id)
        return command.status(self.now()) if command else None

    def command_done_at(self, command_id: str) -> float | None:
        """The modelled moment a command ends."""
        command = self._world.commands.get(command_id)
        return command.done if command else None

    # --- describes: what AWS would show at this point of the model clock ----------------

    def _power_state(self, instance_id: str, now: float) -> str | None:
        moving = self._world.power.get(instance_id)
        if moving is None:
            return None
        return moving[0] if now < moving[2] else moving[1]

    def view_volumes(self, parsed: dict[str, Any], **_: Any) -> None:
        now = self.now()
        for volume in parsed.get("Volumes", []):
            if now < self._world.volume_ready.get(volume["VolumeId"], 0):
                volume["State"] = "creating"
            for attachment in volume.get("Attachments", []):
                if now < self._world.attach_ready.get(volume["VolumeId"], 0):
                    attachment["State"] = "attaching"
            detaching = self._world.detaching.get(volume["VolumeId"])
            if detaching and now < detaching[2]:
                volume["State"] = "in-use"

    def view_instances(self, parsed: dict[str, Any], **_: Any) -> None:
        now = self.now()
        codes = {"pending": 0, "running": 16, "stopping": 64, "stopped": 80}
        for reservation in parsed.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                state = self._power_state(instance["InstanceId"], now)
                if state:
                    instance["State"] = {"Code": codes[state], "Name": state}
                mappings = instance.setdefault("BlockDeviceMappings", [])
                for mapping in mappings:
                    if now < self._world.attach_ready.get(mapping["Ebs"]["VolumeId"], 0):
                        mapping["Ebs"]["Status"] = "attaching"
                held = {m["DeviceName"] for m in mappings}
                # list(): other executions add detaches from their threads meanwhile
                for volume_id, (owner, device, done) in list(self._world.detaching.items()):
                    if owner == instance["InstanceId"] and now < done and device not in held:
                        mappings.append(
                            {
                                "DeviceName": device,
                                "Ebs": {"VolumeId": volume_id, "Status": "detaching"},
                            }
                        )

    def view_status(self, parsed: dict[str, Any], **_: Any) -> None:
        now = self.now()
        for status in parsed.get("InstanceStatuses", []):
            instance_id = status["InstanceId"]
            state = self._power_state(instance_id, now)
            if state and state != "running":
                status["InstanceState"] = {"Name": state}
            if state == "pending" or now < self._world.checks_ok.get(instance_id, 0):
                status["InstanceStatus"] = {"Status": "initializing"}
                status["SystemStatus"] = {"Status": "initializing"}
