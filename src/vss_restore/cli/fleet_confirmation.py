"""The question ``fleet-restore`` asks before it starts, and the request it then pins.

As for one restore (``confirmation.py``): every instance's latest complete set is resolved
here, with the workflow's rules, and shown; the fleet then runs with exactly those sets
(``SnapshotSets``), so a set that completes while the table is read changes nothing, and an
instance tagged since is refused rather than restored unapproved.

Every instance is listed, in the order it will be restored, two lines each within 80
columns (ids whole, long Name tags shortened); the totals come last, next to the question,
where they are on screen however long the list.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from vss_restore import tags
from vss_restore.aws_errors import error_code
from vss_restore.cli.render import age_text, fact_line
from vss_restore.cli.target import CliError
from vss_restore.discovery import find_snapshot_set
from vss_restore.errors import TerminalError
from vss_restore.fleet import parse_fleet_request, plan_waves
from vss_restore.instance import describe_instance, instance_facts, instances_tagged
from vss_restore.models import ChosenSet, InstanceFacts, RestoreRequest

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# A larger fleet is approved by typing how many instances it restores, not by "y".
TYPED_ABOVE = 10
# Instances read at once: about EC2's sustained rate per describe API (20 calls a second)
# at ordinary latency; botocore retries a throttled call, and a call that still fails ends
# the command with nothing started.
READERS = 4
NAME_WIDTH = 21
# Errors that mean the caller may not read EC2: the question says so, the request runs as
# given (as a single restore's does); any other failure to read stops the command.
NOT_ALLOWED = (
    "UnauthorizedOperation",
    "AccessDenied",
)  # what is left of 80 columns beside the id, the time and the loss


@dataclass(frozen=True)
class FleetApproval:
    """What the operator is asked, and the fleet request that runs if they approve."""

    question: str
    request: dict[str, Any]
    summary: str
    # What must be typed to approve (the instance count of a large fleet); None: y/N.
    typed: str | None = None


@dataclass(frozen=True)
class _Row:
    facts: InstanceFacts
    name: str | None
    chosen: ChosenSet


def fleet_instances(ec2: EC2Client, request: dict[str, Any]) -> list[str]:
    """The fleet's instances in the order they will be restored (wave by wave)."""
    if "Instances" in request:
        instances = list(request["Instances"])
    else:
        tag_filter = request["TagFilter"]
        instances = instances_tagged(ec2, tag_filter["Key"], tag_filter["Values"])
    return [i for wave in plan_waves(instances, request.get("Waves")) for i in wave]


def _shortened(name: str | None) -> str:
    if not name:
        return "—"
    return name if len(name) <= NAME_WIDTH else name[: NAME_WIDTH - 1] + "…"


def _effect(state: str, power_on: bool) -> str:
    if state == "running":
        return "running: STOPPED, " + ("then started" if power_on else "left stopped")
    return "stopped: " + ("started after" if power_on else "stays stopped")


def _lines(row: _Row, now: datetime, power_on: bool) -> list[str]:
    taken = row.chosen.created_at
    return [
        f"  {row.facts.instance_id:<19}  {_shortened(row.name):<{NAME_WIDTH}}  "
        f"{taken.astimezone(UTC).strftime('%Y-%m-%d %H:%M'):<16}  {age_text(now - taken)} LOST",
        f"    set {row.chosen.snapshot_set_id:<36}  {_effect(row.facts.state, power_on)}",
    ]


HEADER = [
    f"  {'Instance':<19}  {'Name':<{NAME_WIDTH}}  {'Set taken (UTC)':<16}  Changes since",
    f"    {'snapshot set restored':<40}  What happens to the server",
]


def _resolve_one(ec2: EC2Client, instance: str, options: dict[str, Any]) -> _Row | str:
    """The instance and its set, or why it cannot be restored."""
    try:
        raw = describe_instance(ec2, instance)
        facts = instance_facts(raw)
        parsed = RestoreRequest.parse({"InstanceId": instance, **options})
        chosen = find_snapshot_set(ec2, parsed, facts)
    except TerminalError as failure:
        return f"  {instance}: {type(failure).__name__}: {failure}"
    return _Row(facts, tags.tag_dict(raw.get("Tags")).get("Name"), chosen)


def _resolve(ec2: EC2Client, instances: list[str], options: dict[str, Any]) -> list[_Row]:
    """Each instance and its set, a few instances at a time (five EC2 calls each: hundreds of
    instances one after the other would keep the operator waiting for minutes); every
    instance that cannot be restored is named at once."""
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        found = list(pool.map(lambda i: _resolve_one(ec2, i, options), instances))
    refused = [line for line in found if isinstance(line, str)]
    if refused:
        raise CliError(
            f"{len(refused)} of {len(instances)} instances cannot be restored, so nothing was "
            "started (leave them out with --instance-id, or give them a complete set):\n"
            + "\n".join(refused),
            2,
        )
    return [row for row in found if isinstance(row, _Row)]


def fleet_approval(ec2: EC2Client, request: dict[str, Any], now: datetime) -> FleetApproval:
    """The confirmation of a fleet, with each instance's set pinned as shown.

    A fleet that could not run as asked (no instance, bad waves, an instance without a
    complete set) is refused here, before anything starts. If the caller may not read EC2,
    the question says so and the request is left as given; any other failure to read ends
    the command.
    """
    _, options = parse_fleet_request(request)
    instances = fleet_instances(ec2, request)
    power_on = options.get("PowerOnAfterRestore", True) is not False
    try:
        rows = _resolve(ec2, instances, options)
    except ClientError as failure:
        if not error_code(failure).startswith(NOT_ALLOWED):
            raise  # throttled past the retries, say: nothing starts unless every set is shown
        question = (
            f"Restore {len(instances)} instance(s) ({', '.join(instances)})? Each running one "
            f"is STOPPED while its volumes are swapped.\n(What each would restore could not "
            f"be read: {failure})\nRestore?"
        )
        return FleetApproval(question, request, f"restore {len(instances)} instance(s)")
    stopped = sum(1 for row in rows if row.facts.state == "running")
    after = "started again" if power_on else "left stopped (--no-power-on)"
    totals = [
        fact_line(
            "Servers",
            f"{len(rows)} restored; {stopped} running now will be STOPPED while their "
            f"volumes are swapped, then {after}",
        ),
        fact_line(
            "Changes",
            "made on each server after its set was taken are LOST (column Changes since)",
        ),
        fact_line(
            "Old volumes",
            f"kept, detached and tagged {tags.STATUS}={tags.STATUS_REPLACED} (not deleted)"
            if not options.get("DeleteReplacedVolumes")
            else "DELETED once each restore succeeds",
        ),
    ]
    pinned = {k: v for k, v in request.items() if k != "RestorePointInTime"}
    pinned["SnapshotSets"] = {row.facts.instance_id: row.chosen.snapshot_set_id for row in rows}
    typed = str(len(rows)) if len(rows) > TYPED_ABOVE else None
    asked = (
        f"Type {typed} (the number of instances) to restore exactly these"
        if typed
        else "Restore exactly these?"
    )
    listing = [line for row in rows for line in _lines(row, now, power_on)]
    question = "\n".join(
        [
            f"About to restore {len(rows)} instance(s), each from the snapshot set shown:",
            *HEADER,
            *listing,
            "",
            *totals,
            asked,
        ]
    )
    summary = "\n".join(
        [
            f"restore {len(rows)} instance(s), {stopped} of them STOPPED, each from its set:",
            *(f"  {i} {s}" for i, s in pinned["SnapshotSets"].items()),
        ]
    )
    return FleetApproval(question, pinned, summary, typed)
