"""Input shapes shared by several task handlers (the ASL ``Parameters`` they receive)."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, Field, PositiveInt, StrictBool

from vss_restore.models import CreatedVolume, InstanceFacts, Model, RestorePlan


class WaitEvent(Model):
    """A bounded wait: when the state was entered and how long it may take."""

    entered_time: AwareDatetime = Field(alias="EnteredTime")
    timeout_seconds: PositiveInt = Field(alias="TimeoutSeconds")

    @property
    def entered_at(self) -> datetime:
        return self.entered_time


class InstanceEvent(Model):
    instance_id: str = Field(alias="InstanceId")


class InstanceWaitEvent(WaitEvent, InstanceEvent):
    pass


class PlanEvent(Model):
    plan: RestorePlan = Field(alias="Plan")


class SwapEvent(PlanEvent):
    created: list[CreatedVolume] = Field(alias="Created")
    # Mode "Online": the instance runs (only data devices, their disks already offline).
    online: StrictBool = Field(default=False, alias="Online")


class SwapWaitEvent(WaitEvent, SwapEvent):
    pass


class LockEvent(Model):
    lock_table: str = Field(alias="LockTable", min_length=3)
    instance_id: str = Field(alias="InstanceId")
    execution: str = Field(alias="Execution")


class RollbackEvent(WaitEvent, PlanEvent):
    instance: InstanceFacts = Field(alias="Instance")
    # Mode "Online": put the originals back without stopping the instance.
    online: StrictBool = Field(default=False, alias="Online")
