"""PlanClone: the clone's RunInstances parameters, from the source and the chosen set."""

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError
from pydantic import Field

from vss_restore import clients
from vss_restore.aws_errors import error_code
from vss_restore.drill import ClonePlan, plan_clone
from vss_restore.errors import CloneLaunchFailed
from vss_restore.initialization import fast_restored_snapshots
from vss_restore.instance import describe_instance
from vss_restore.isolation import (
    CloneIsolation,
    discover_egress,
    dns_warning,
    plan_profile,
    vpc_dns_servers,
)
from vss_restore.lambda_task import logger, task
from vss_restore.models import CarriedClone, ChosenSet, InstanceFacts, Model
from vss_restore.planning import describe_originals
from vss_restore.settings import settings
from vss_restore.waiting import utcnow


class Event(Model):
    request: CarriedClone = Field(alias="Request")
    instance: InstanceFacts = Field(alias="Instance")
    snapshot_set: ChosenSet = Field(alias="SnapshotSet")
    execution: str = Field(alias="Execution")


@task
def handler(event: dict[str, Any]) -> ClonePlan:
    parsed = Event.model_validate(event)
    ec2 = clients.ec2()
    source = describe_instance(ec2, parsed.instance.instance_id)
    image_id = source["ImageId"]
    try:
        images = ec2.describe_images(ImageIds=[image_id])["Images"]
    except ClientError as err:
        if not error_code(err).startswith("InvalidAMIID"):
            raise
        images = []
    if not images or images[0].get("State") not in (None, "available"):
        raise CloneLaunchFailed(
            f"the source's AMI {image_id} is no longer available, so no clone can be launched"
        )
    originals = describe_originals(ec2, [v.volume_id for v in parsed.instance.volumes])
    subnet_id = parsed.request.subnet_id or source.get("SubnetId")
    subnet = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0] if subnet_id else None
    if subnet is None:
        raise CloneLaunchFailed("the source instance has no subnet and the request names none")
    isolation = _isolation(ec2, parsed.request, source, subnet)
    plan = plan_clone(
        parsed.request,
        source,
        images[0],
        subnet,
        parsed.instance,
        parsed.snapshot_set,
        originals,
        parsed.execution,
        utcnow(),
        fast_restored_snapshots(
            ec2, [m.snapshot_id for m in parsed.snapshot_set.members], subnet["AvailabilityZone"]
        ),
        isolation,
    )
    logger.info(
        "clone planned",
        extra={
            "snapshot_set_id": plan.snapshot_set_id,
            "subnet_id": subnet["SubnetId"],
            "devices": [v.device for v in plan.volumes],
            "expires_at": plan.expires_at.isoformat(),
            "egress": isolation.egress,
            "instance_profile": isolation.profile,
        },
    )
    return plan


def _isolation(
    ec2: Any, request: CarriedClone, source: Mapping[str, Any], subnet: Mapping[str, Any]
) -> CloneIsolation:
    """Where the clone's isolation group may send HTTPS, its DNS servers and its profile;
    ``CloneNotIsolatable`` before anything is created if a validation could never work."""
    read = settings()
    validates = request.validation_document is not None
    egress, destinations, warnings = discover_egress(
        ec2,
        requested_groups=bool(request.security_group_ids),
        validates=validates,
        read=read,
        subnet=subnet,
    )
    profile, whose, profile_warnings = plan_profile(
        clients.iam(), source, read, validates=validates
    )
    servers = vpc_dns_servers(ec2, subnet["VpcId"])
    return CloneIsolation(
        egress=egress,
        destinations=destinations,
        dns_servers=servers,
        instance_profile_arn=profile,
        profile=whose,
        warnings=[
            *warnings,
            *profile_warnings,
            *([dns_warning(servers, subnet["VpcId"])] if servers else []),
        ],
    )
