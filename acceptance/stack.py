"""The run's own copy of the stack: deployed with the CDK CLI, removed with CloudFormation.

Each run deploys ``VssRestoreAcceptance-<run id>`` with an opt-in tag of its own
(``vss-restore-acceptance:enabled=<run id>``), so its roles may act only on the run's
instances, never on instances opted in to another vss-restore stack of the account. The
stack is tagged with the run tag, which CloudFormation passes on to the resources it
creates. What the stack keeps on deletion (its removal policy is RETAIN) is deleted
afterwards: the log groups by name (CloudFormation names them after the stack) and the
KMS key of the notification topic by its tag (deletion scheduled, 7 days).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from acceptance.sandbox import RUN_TAG

STACK_PREFIX = "VssRestoreAcceptance-"
OPT_IN_TAG_KEY = f"{RUN_TAG}:enabled"
REPO = Path(__file__).resolve().parent.parent
CDK = ["npx", "--yes", "aws-cdk@2"]
_KEY_GOING = ("PendingDeletion", "PendingReplicaDeletion")


def stack_name(run_id: str) -> str:
    return f"{STACK_PREFIX}{run_id}"


def deploy_command(run_id: str) -> list[str]:
    """``cdk deploy`` of this run's stack: own name, own opt-in tag, tagged, short log retention."""
    return [
        *CDK,
        "deploy",
        stack_name(run_id),
        "--require-approval",
        "never",
        "--tags",
        f"{RUN_TAG}={run_id}",
        "-c",
        f"stackName={stack_name(run_id)}",
        "-c",
        f"optInTagKey={OPT_IN_TAG_KEY}",
        "-c",
        f"optInTagValue={run_id}",
        "-c",
        "logRetentionDays=1",
    ]


@dataclass(frozen=True)
class StackOutputs:
    state_machine_arn: str
    fleet_state_machine_arn: str
    lock_table_name: str
    records_table_name: str  # what a mount created: how the suite's unmount finds it
    disks_document_name: str  # the disk document, which the unmount sends too


def deploy(run_id: str) -> None:
    """Deploy with the CDK CLI (``make bundle`` must have built the Lambda layer)."""
    subprocess.run(deploy_command(run_id), cwd=REPO, check=True)  # noqa: S603 - our own command


def outputs(cloudformation: Any, run_id: str) -> StackOutputs:
    stack = cloudformation.describe_stacks(StackName=stack_name(run_id))["Stacks"][0]
    found = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return StackOutputs(
        state_machine_arn=found["StateMachineArn"],
        fleet_state_machine_arn=found["FleetStateMachineArn"],
        lock_table_name=found["LockTableName"],
        records_table_name=found["RecordsTableName"],
        disks_document_name=found["DisksDocumentName"],
    )


@dataclass
class StackRemoval:
    """Deletes acceptance stacks and what they keep, noting refusals instead of stopping."""

    cloudformation: Any
    tagging: Any  # resourcegroupstaggingapi
    logs: Any
    kms: Any
    errors: list[str] = field(default_factory=list)

    def stacks(self, run_id: str | None) -> list[str]:
        """Acceptance stacks of this run (or of every run) that still exist."""
        names: list[str] = []
        for page in self.cloudformation.get_paginator("describe_stacks").paginate():
            for stack in page["Stacks"]:
                name = stack["StackName"]
                if stack["StackStatus"] == "DELETE_COMPLETE" or not name.startswith(STACK_PREFIX):
                    continue
                if run_id is None or name == stack_name(run_id):
                    names.append(name)
        return names

    def delete_stack(self, name: str) -> None:
        self._attempt(
            f"deleting stack {name}", lambda: self.cloudformation.delete_stack(StackName=name)
        )
        self._attempt(
            f"waiting for {name} to be deleted",
            lambda: self.cloudformation.get_waiter("stack_delete_complete").wait(
                StackName=name, WaiterConfig={"Delay": 15, "MaxAttempts": 120}
            ),
        )

    def retained_log_groups(self, run_id: str | None) -> list[str]:
        """Log groups CloudFormation named after this run's stack (of any run if None)."""
        prefix = stack_name(run_id) if run_id else STACK_PREFIX
        pages = self.logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix)
        return [g["logGroupName"] for page in pages for g in page["logGroups"]]

    def retained_keys(self, run_id: str | None) -> list[str]:
        """KMS keys carrying the run tag (of any run if None) and not yet pending deletion."""
        tag_filter: dict[str, Any] = {"Key": RUN_TAG}
        if run_id is not None:
            tag_filter["Values"] = [run_id]
        pages = self.tagging.get_paginator("get_resources").paginate(
            TagFilters=[tag_filter], ResourceTypeFilters=["kms:key"]
        )
        keys = [m["ResourceARN"] for page in pages for m in page["ResourceTagMappingList"]]
        return [
            k
            for k in keys
            if self.kms.describe_key(KeyId=k)["KeyMetadata"]["KeyState"] not in _KEY_GOING
        ]

    def _attempt(self, what: str, call: Callable[[], object]) -> None:
        try:
            call()
        except (ClientError, WaiterError) as err:
            self.errors.append(f"{what}: {err}")

    def remove(self, run_id: str | None) -> None:
        """Delete the stack(s), then what they kept; refusals end up in ``errors``."""
        for name in self.stacks(run_id):
            self.delete_stack(name)
        self.remove_retained(run_id)

    def remove_retained(self, run_id: str | None) -> None:
        """Delete the log groups and schedule the deletion of the key a deleted stack kept."""
        for group in self.retained_log_groups(run_id):
            self._attempt(
                f"deleting log group {group}",
                partial(self.logs.delete_log_group, logGroupName=group),
            )
        for key in self.retained_keys(run_id):
            # Seven days is the shortest wait KMS allows; a key pending deletion is not billed.
            self._attempt(
                f"scheduling the deletion of {key}",
                partial(
                    self.kms.schedule_key_deletion,
                    KeyId=key.rsplit("/", 1)[-1],  # the key id: ARN or id, AWS takes both
                    PendingWindowInDays=7,
                ),
            )

    def left(self, run_id: str | None) -> list[str]:
        """What removal did not remove: stacks, log groups, keys not pending deletion."""
        return [
            *self.stacks(run_id),
            *self.retained_log_groups(run_id),
            *self.retained_keys(run_id),
        ]
