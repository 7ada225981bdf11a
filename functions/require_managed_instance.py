"""RequireManagedInstance: Mode "Online" and "Mount" need a running, SSM-managed instance."""

from typing import Any

from pydantic import Field

from vss_restore import clients
from vss_restore.errors import InstanceNotRunning
from vss_restore.instance import describe_instance, power_state
from vss_restore.lambda_task import task
from vss_restore.models import Model
from vss_restore.windows_disks import require_managed


class Event(Model):
    instance_id: str = Field(alias="InstanceId")
    mode: str = Field(alias="Mode")


@task
def handler(event: dict[str, Any]) -> None:
    parsed = Event.model_validate(event)
    state = power_state(describe_instance(clients.ec2(), parsed.instance_id))
    if state != "running":
        raise InstanceNotRunning(
            f"{parsed.instance_id} is {state}: Mode {parsed.mode!r} works on a running "
            'instance only (restore a stopped one with Mode "InPlace"); nothing was changed'
        )
    require_managed(clients.ssm(), parsed.instance_id)
