"""ResolveFleet: validate a fleet request, find its instances, and plan its waves."""

from typing import Any

from vss_restore import clients
from vss_restore.fleet import parse_fleet_request, plan_fits, plan_waves
from vss_restore.instance import instances_tagged
from vss_restore.lambda_task import task
from vss_restore.run_command import require_vetted_document


@task
def handler(event: dict[str, Any]) -> dict[str, Any]:
    # Modes: those this fleet machine runs (from its definition, not the request).
    fleet, options = parse_fleet_request(event.get("Request"), event.get("Modes"))
    if isinstance(options.get("ValidationDocument"), str):
        # Refused once here, as each instance's ValidateRequest would refuse it.
        require_vetted_document(options["ValidationDocument"], event["Execution"])
    if fleet.instances is not None:
        instances = list(fleet.instances)
    else:
        assert fleet.tag_filter is not None  # noqa: S101 - the request has one or the other
        instances = instances_tagged(clients.ec2(), fleet.tag_filter.key, fleet.tag_filter.values)
    waves = plan_waves(instances, [list(w) for w in fleet.waves] if fleet.waves else None)
    plan_fits(waves, options, fleet.max_concurrency, fleet.start_interval_seconds)
    fleet.check_snapshot_sets(instances)  # a tag may match other instances than were approved
    if fleet.snapshot_sets is not None:
        # With the options: each restore's request takes its instance's (fleet.child_request).
        options = {**options, "SnapshotSets": fleet.snapshot_sets}
    return {
        "Waves": waves,
        "Options": options,
        "MaxConcurrency": fleet.max_concurrency,
        "ToleratedFailurePercentage": fleet.tolerated_failure_percentage,
        "StartIntervalSeconds": fleet.start_interval_seconds,
        # The restores' names derive from it (vss_restore.fleet.child_name).
        "Execution": event["Execution"],
    }
