"""Where the emulator (moto 5.2) is kinder than AWS, make it behave like AWS.

Each rule is a botocore hook on the boto3 session the workflow's clients come from, and
each has its own test. Only the local engine installs them; product code never sees them.

- ``CreateVolume`` honours ``ClientToken``: the same token returns the same volume, the
  same token with other parameters fails with ``IdempotentParameterMismatch``.
- ``CreateVolume`` from a snapshot that is not ``completed`` fails with ``IncorrectState``.
- ``AttachVolume`` to a device in use fails (``InvalidParameterValue``), and so does
  attaching a volume that is attached elsewhere (``VolumeInUse``).
- ``DetachVolume`` of the root volume of an instance that is not stopped fails
  (``IncorrectState``).
- The Step Functions service integration (``arn:aws:states:::states:startExecution.sync:2``,
  used by the fleet machine) takes AWS's PascalCase parameters and answers in PascalCase:
  moto's interpreter passes them to boto3 unchanged (``SfnIntegrationCase``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends

from vss_restore.local.responses import HookAnswer, answer, error_answer

Hook = Callable[..., Any]


def _backend(request_signer: Any) -> Any:
    return ec2_backends[DEFAULT_ACCOUNT_ID][request_signer.region_name]


class Ec2Fidelity:
    """The hooks, plus the ClientToken memory they share."""

    def __init__(self) -> None:
        # (region, token) → (parameter fingerprint, the original answer), as AWS keeps them
        self._tokens: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}

    def hooks(self) -> list[tuple[str, Hook]]:
        return [
            ("before-call.ec2.CreateVolume", self.before_create_volume),
            ("after-call.ec2.CreateVolume", self.after_create_volume),
            ("before-call.ec2.AttachVolume", self.before_attach_volume),
            ("before-call.ec2.DetachVolume", self.before_detach_volume),
        ]

    # --- CreateVolume -------------------------------------------------------------------

    def before_create_volume(
        self, params: dict[str, Any], request_signer: Any, context: dict[str, Any], **_: Any
    ) -> HookAnswer | None:
        body = dict(params.get("body") or {})
        backend = _backend(request_signer)
        snapshot_id = body.get("SnapshotId")
        if snapshot_id:
            snapshot = backend.snapshots.get(snapshot_id)
            if snapshot is not None and snapshot.status != "completed":
                return error_answer(
                    "IncorrectState",
                    f"Snapshot '{snapshot_id}' is not 'completed' (it is {snapshot.status}).",
                )
        token = body.get("ClientToken")
        if not token:
            return None
        key = (request_signer.region_name, token)
        fingerprint = hashlib.sha256(
            json.dumps(
                {k: v for k, v in body.items() if k != "ClientToken"}, sort_keys=True
            ).encode()
        ).hexdigest()
        seen = self._tokens.get(key)
        if seen is None:
            context["vss_restore_client_token"] = (key, fingerprint)
            return None
        if seen[0] != fingerprint:
            return error_answer(
                "IdempotentParameterMismatch",
                "The client token you have provided is associated with a resource that has different parameters.",
            )
        # A repeat gets the original answer, even if that volume has since been deleted.
        return answer(200, seen[1])

    def after_create_volume(
        self, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        remembered = context.get("vss_restore_client_token")
        if remembered and parsed.get("VolumeId"):
            key, fingerprint = remembered
            original = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
            self._tokens[key] = (fingerprint, original)

    # --- AttachVolume / DetachVolume ----------------------------------------------------

    def before_attach_volume(
        self, params: dict[str, Any], request_signer: Any, **_: Any
    ) -> HookAnswer | None:
        body = dict(params.get("body") or {})
        backend = _backend(request_signer)
        instance = _instance(backend, body.get("InstanceId"))
        volume = backend.volumes.get(body.get("VolumeId"))
        device = body.get("Device")
        if instance is None or volume is None:
            return None
        if volume.attachment is not None:
            return error_answer("VolumeInUse", f"{volume.id} is already attached to an instance")
        if device in instance.block_device_mapping:
            return error_answer(
                "InvalidParameterValue",
                f"Invalid value '{device}' for unixDevice. Attachment point {device} is already in use",
            )
        return None

    def before_detach_volume(
        self, params: dict[str, Any], request_signer: Any, **_: Any
    ) -> HookAnswer | None:
        body = dict(params.get("body") or {})
        backend = _backend(request_signer)
        volume = backend.volumes.get(body.get("VolumeId"))
        if volume is None or volume.attachment is None:
            return None
        instance = volume.attachment.instance
        is_root = volume.attachment.device == getattr(instance, "root_device_name", "/dev/sda1")
        if is_root and instance.state != "stopped":
            return error_answer(
                "IncorrectState",
                f"Unable to detach root volume '{volume.id}' from instance '{instance.id}' while it is {instance.state}",
            )
        return None


def _instance(backend: Any, instance_id: str | None) -> Any:
    if not instance_id:
        return None
    for reservation in backend.reservations.values():
        for instance in reservation.instances:
            if instance.id == instance_id:
                return instance
    return None


class SfnIntegrationCase:
    """Step Functions tasks that call Step Functions speak PascalCase, as in AWS.

    moto leaves parameter and response names as they are, so ``StateMachineArn`` reaches
    boto3 (which wants ``stateMachineArn``) and ``executionArn`` comes back (the state
    expects ``ExecutionArn``). Only the top-level names change: ``Input`` and ``Output``
    hold the user's JSON.
    """

    def __init__(self) -> None:
        self._saved: dict[str, Any] = {}

    def install(self) -> None:
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (  # noqa: PLC0415
            state_task_service_sfn as sfn_task,
        )

        cls = sfn_task.StateTaskServiceSfn
        self._saved = {
            "_normalise_parameters": cls._normalise_parameters,
            "_normalise_response": cls._normalise_response,
        }
        original_parameters = cls._normalise_parameters

        def normalise_parameters(task: Any, parameters: dict[str, Any], *a: Any, **k: Any) -> None:
            original_parameters(task, parameters, *a, **k)
            for key in list(parameters):
                parameters[key[:1].lower() + key[1:]] = parameters.pop(key)

        def normalise_response(task: Any, response: Any, *a: Any, **k: Any) -> None:
            if isinstance(response, dict):
                for key in list(response):
                    response[key[:1].upper() + key[1:]] = response.pop(key)

        cls._normalise_parameters = normalise_parameters
        cls._normalise_response = normalise_response
        self._cls = cls

    def uninstall(self) -> None:
        for name, method in self._saved.items():
            setattr(self._cls, name, method)
        self._saved = {}
