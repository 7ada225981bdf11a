"""Clone drills: prove a snapshot set restores, without touching the source instance.

A drill launches a new instance from the source's AMI and attributes, with the set's
snapshots at the same devices, in the subnet the request names (ideally an isolated one).
Clone disks are never attached to the source: Windows would see two disks with one
signature and take one offline. The clone is checked (running, status checks, optionally an
SSM Run Command document), reported on, and removed unless ``KeepClone``. Everything a
drill creates carries ``vss-restore:drill`` (the source), ``vss-restore:execution`` and
``vss-restore:expires-at``, so ``cleanup`` can remove what a drill could not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args

from botocore.exceptions import ClientError
from pydantic import Field

from vss_restore import tags
from vss_restore.aws_errors import error_code, failing_as
from vss_restore.errors import CloneLaunchFailed, InvalidRequest, ResourceNotReady
from vss_restore.models import ChosenSet, InstanceFacts, Model, RestoreRequest
from vss_restore.planning import volume_specs
from vss_restore.waiting import POLL_POWER_SECONDS, poll_within

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# A clone left behind (KeepClone, or a cleanup that failed) may be removed after this.
DRILL_TTL = timedelta(hours=24)
# Run Command output kept in the report (the console shows the first 2,500 characters).
OUTPUT_EXCERPT_CHARS = 2000
ValidationStatus = Literal[
    "Success",
    "Failed",
    "Cancelled",
    "TimedOut",
    "DeliveryTimedOut",
    "ExecutionTimedOut",
    "Undeliverable",
    "Terminated",
]
# A command in any of these statuses has finished (Run Command's terminal statuses).
VALIDATION_DONE = frozenset(get_args(ValidationStatus))
METRIC_NAMESPACE = "VssRestore"
EVENT_SOURCE = "vss-restore"
EVENT_DETAIL_TYPE = "vss-restore Drill Finished"
_GONE = ("shutting-down", "terminated")


class CloneVolume(Model):
    device: str = Field(alias="Device")
    snapshot_id: str = Field(alias="SnapshotId")


class ClonePlan(Model):
    """What ``RunInstances`` gets, and what the drill report needs to say about it."""

    source_instance_id: str = Field(alias="SourceInstanceId")
    snapshot_set_id: str = Field(alias="SnapshotSetId")
    execution: str = Field(alias="Execution")
    expires_at: datetime = Field(alias="ExpiresAt")
    volumes: list[CloneVolume] = Field(alias="Volumes")
    launch: dict[str, Any] = Field(alias="Launch")
    warnings: list[str] = Field(default_factory=list, alias="Warnings")


def drill_tags(
    source_instance_id: str, execution: str, snapshot_set_id: str, expires_at: datetime
) -> dict[str, str]:
    return {
        "Name": f"vss-restore drill of {source_instance_id}",
        tags.DRILL: source_instance_id,
        tags.EXECUTION: execution[: tags.MAX_TAG_VALUE],
        tags.EXPIRES_AT: expires_at.isoformat(timespec="seconds"),
        tags.SNAPSHOT_SET_ID: snapshot_set_id[: tags.MAX_TAG_VALUE],
        tags.CREATED_BY: tags.CREATED_BY_VALUE,
    }


def _security_group_ids(source: Mapping[str, Any]) -> list[str]:
    return [g["GroupId"] for g in source.get("SecurityGroups", [])]


def _block_device_mapping(spec: Any) -> dict[str, Any]:
    ebs: dict[str, Any] = {
        "SnapshotId": spec.snapshot_id,
        "VolumeType": spec.volume_type,
        "VolumeSize": spec.size,
        # The clone is disposable: terminating it removes its disks.
        "DeleteOnTermination": True,
    }
    if spec.iops:
        ebs["Iops"] = spec.iops
    if spec.throughput:
        ebs["Throughput"] = spec.throughput
    if spec.encrypted and spec.kms_key_id:
        ebs.update(Encrypted=True, KmsKeyId=spec.kms_key_id)
    return {"DeviceName": spec.device, "Ebs": ebs}


def plan_clone(
    request: RestoreRequest,
    source: Mapping[str, Any],
    facts: InstanceFacts,
    chosen: ChosenSet,
    originals: Mapping[str, Mapping[str, Any]],
    execution: str,
    now: datetime,
) -> ClonePlan:
    """``RunInstances`` parameters for a clone of ``source`` from the chosen set (pure).

    Each volume keeps its original's type, size, IOPS, throughput and key, as an in-place
    restore does. Network identity is never copied (no private IP, no ENI): the clone gets
    its own address in the requested subnet.
    """
    specs = volume_specs(facts, chosen, originals, execution)
    expires_at = (now + DRILL_TTL).replace(microsecond=0)
    labels = tags.tag_list(
        drill_tags(facts.instance_id, execution, chosen.snapshot_set_id, expires_at)
    )
    subnet_id = request.subnet_id or source.get("SubnetId")
    launch: dict[str, Any] = {
        "ImageId": source["ImageId"],
        "InstanceType": request.instance_type or source["InstanceType"],
        "MinCount": 1,
        "MaxCount": 1,
        "SubnetId": subnet_id,
        "SecurityGroupIds": request.security_group_ids or _security_group_ids(source),
        "BlockDeviceMappings": [_block_device_mapping(s) for s in specs],
        "EbsOptimized": bool(source.get("EbsOptimized", False)),
        "DisableApiTermination": False,
        "InstanceInitiatedShutdownBehavior": "terminate",
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": labels},
            {"ResourceType": "volume", "Tags": labels},
        ],
        "ClientToken": hashlib.sha256(f"{execution}|clone".encode()).hexdigest()[:64],
    }
    if source.get("KeyName"):
        launch["KeyName"] = source["KeyName"]
    profile = source.get("IamInstanceProfile", {}).get("Arn")
    if profile:
        # Run Command needs the SSM agent to reach SSM with the instance's role.
        launch["IamInstanceProfile"] = {"Arn": profile}
    metadata = source.get("MetadataOptions") or {}
    if metadata.get("HttpTokens"):
        launch["MetadataOptions"] = {
            k: metadata[k]
            for k in ("HttpTokens", "HttpEndpoint", "HttpPutResponseHopLimit")
            if k in metadata
        }
    tenancy = source.get("Placement", {}).get("Tenancy")
    if tenancy and tenancy != "default":
        launch["Placement"] = {"Tenancy": tenancy}
    warnings = []
    if subnet_id == source.get("SubnetId"):
        warnings.append(
            f"the clone runs in the source's subnet {subnet_id}: it shares the source's network "
            "and Windows identity; give SubnetId of an isolated subnet"
        )
    return ClonePlan(
        source_instance_id=facts.instance_id,
        snapshot_set_id=chosen.snapshot_set_id,
        execution=execution,
        expires_at=expires_at,
        volumes=[CloneVolume(device=s.device, snapshot_id=s.snapshot_id) for s in specs],
        launch=launch,
        warnings=warnings,
    )


def check_clone_target(ec2: EC2Client, request: RestoreRequest, source: Mapping[str, Any]) -> None:
    """The subnet and security groups exist and share a VPC; ``InvalidRequest`` otherwise."""
    subnet_id = request.subnet_id or source.get("SubnetId")
    if not subnet_id:
        raise InvalidRequest("SubnetId", "the source instance has no subnet; give one")
    try:
        subnet = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
    except ClientError as err:
        if error_code(err).startswith("InvalidSubnetID"):
            raise InvalidRequest("SubnetId", f"{subnet_id} does not exist") from err
        raise
    if not request.security_group_ids:
        return
    try:
        groups = ec2.describe_security_groups(GroupIds=request.security_group_ids)
    except ClientError as err:
        if error_code(err).startswith("InvalidGroup"):
            raise InvalidRequest("SecurityGroupIds", "a security group does not exist") from err
        raise
    for group in groups["SecurityGroups"]:
        if group.get("VpcId") != subnet["VpcId"]:
            raise InvalidRequest(
                "SecurityGroupIds",
                f"{group['GroupId']} is not in {subnet_id}'s VPC {subnet['VpcId']}",
            )


def _drill_filters(execution: str | None) -> list[Any]:
    filters: list[Any] = [{"Name": "tag-key", "Values": [tags.DRILL]}]
    if execution:
        filters.append(
            {"Name": f"tag:{tags.EXECUTION}", "Values": [execution[: tags.MAX_TAG_VALUE]]}
        )
    return filters


def _drill_instances(ec2: EC2Client, execution: str | None) -> list[dict[str, Any]]:
    """Instances tagged as a drill's (this execution's, if given), terminated ones too."""
    pages = ec2.get_paginator("describe_instances").paginate(Filters=_drill_filters(execution))
    return [dict(i) for page in pages for r in page["Reservations"] for i in r["Instances"]]


def find_clone(ec2: EC2Client, execution: str) -> dict[str, Any] | None:
    """This execution's clone, if it was launched and is not gone."""
    return next(
        (i for i in _drill_instances(ec2, execution) if i["State"]["Name"] not in _GONE), None
    )


def launch_clone(ec2: EC2Client, plan: ClonePlan) -> str:
    """Launch the clone once per execution (a retry finds the first; ``ClientToken`` too)."""
    existing = find_clone(ec2, plan.execution)
    if existing is not None:
        return str(existing["InstanceId"])
    with failing_as(CloneLaunchFailed, f"launching a clone of {plan.source_instance_id}"):
        launched = ec2.run_instances(**plan.launch)
    return str(launched["Instances"][0]["InstanceId"])


def _expired(labels: Mapping[str, str], now: datetime) -> bool:
    try:
        return datetime.fromisoformat(labels.get(tags.EXPIRES_AT, "")) <= now
    except ValueError:
        return False  # no readable expiry: leave it to a human


class CleanupPass(Model):
    """What one cleanup pass did, and what it is still waiting for."""

    terminated: list[str] = Field(default_factory=list, alias="TerminatedInstances")
    deleted: list[str] = Field(default_factory=list, alias="DeletedVolumes")
    pending: list[str] = Field(default_factory=list, alias="Pending")


def cleanup_pass(
    ec2: EC2Client,
    *,
    execution: str | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> CleanupPass:
    """Terminate drill instances and delete detached drill volumes, once.

    With ``execution``: that drill's resources. With ``now`` instead: every drill resource
    whose ``vss-restore:expires-at`` has passed. Only resources tagged ``vss-restore:drill``
    are ever touched; ``dry_run`` lists what would go and changes nothing.
    """
    if (execution is None) == (now is None):
        raise ValueError("give exactly one of execution and now")

    def selected(labels: Mapping[str, str]) -> bool:
        return execution is not None or (now is not None and _expired(labels, now))

    done = CleanupPass()
    instances = [
        i
        for i in _drill_instances(ec2, execution)
        if i["State"]["Name"] != "terminated" and selected(tags.tag_dict(i.get("Tags")))
    ]
    to_terminate = [i["InstanceId"] for i in instances if i["State"]["Name"] != "shutting-down"]
    if to_terminate and not dry_run:
        ec2.terminate_instances(InstanceIds=to_terminate)
    done.terminated.extend(to_terminate)
    done.pending.extend(i["InstanceId"] for i in instances)
    volumes = [
        v
        for page in ec2.get_paginator("describe_volumes").paginate(
            Filters=_drill_filters(execution)
        )
        for v in page["Volumes"]
        if selected(tags.tag_dict(v.get("Tags")))
    ]
    for volume in volumes:
        if volume["State"] == "available":
            if not dry_run:
                ec2.delete_volume(VolumeId=volume["VolumeId"])
            done.deleted.append(volume["VolumeId"])
        elif volume["State"] != "deleting":
            done.pending.append(volume["VolumeId"])
    return done


def remove_drill(
    ec2: EC2Client, execution: str, entered_at: datetime, timeout_seconds: int
) -> CleanupPass:
    """Remove this execution's drill resources, polling until nothing is left.

    ``ResourceNotReady`` when the in-task budget runs out first (the state machine polls
    again), ``WaitTimedOut`` past ``timeout_seconds`` since the state was entered.
    """
    removed = CleanupPass()

    def attempt(_: datetime) -> CleanupPass:
        step = cleanup_pass(ec2, execution=execution)
        removed.terminated.extend(step.terminated)
        removed.deleted.extend(step.deleted)
        if step.pending:
            raise ResourceNotReady(f"drill resources {', '.join(step.pending)} still being removed")
        return removed

    return poll_within(attempt, POLL_POWER_SECONDS, entered_at, timeout_seconds)


class ValidationResult(Model):
    document: str = Field(alias="Document")
    command_id: str = Field(alias="CommandId")
    status: ValidationStatus = Field(alias="Status")
    response_code: int | None = Field(default=None, alias="ResponseCode")
    output: str = Field(alias="Output")
    finished_at: datetime = Field(alias="FinishedAt")

    @property
    def succeeded(self) -> bool:
        return self.status == "Success"


def validation_result(
    document: str, invocation: Mapping[str, Any], finished_at: datetime
) -> ValidationResult:
    """The report's view of a finished command: status, exit code, output excerpt (pure)."""
    output = str(invocation.get("StandardOutputContent") or "")
    errors = str(invocation.get("StandardErrorContent") or "")
    if errors:
        output = f"{output}\n--- stderr ---\n{errors}" if output else errors
    code = invocation.get("ResponseCode")
    return ValidationResult(
        document=document,
        command_id=str(invocation["CommandId"]),
        status=invocation["Status"],
        response_code=int(code) if code is not None and int(code) >= 0 else None,
        output=output[:OUTPUT_EXCERPT_CHARS],
        finished_at=finished_at,
    )
