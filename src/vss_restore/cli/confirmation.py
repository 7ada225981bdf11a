"""The question ``restore`` asks before it changes anything, and the request it then pins.

The set is resolved once, here, with the same rules as the workflow's FindSnapshotSet; the
question shows it, and the restore then runs with exactly that ``SnapshotSetId`` and those
``Devices``, so a set that completes while the question is read changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from vss_restore import tags
from vss_restore.cli.render import age_text, fact_line, when_text
from vss_restore.discovery import find_snapshot_set
from vss_restore.errors import InstanceNotRunning, InvalidRequest
from vss_restore.instance import describe_instance, instance_facts
from vss_restore.models import (
    ChosenSet,
    InPlaceRequest,
    InstanceFacts,
    OnlineRequest,
    RestoreRequest,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


@dataclass(frozen=True)
class Approval:
    """What the operator is asked, and the request that runs if they say yes."""

    question: str
    request: dict[str, Any]
    # One line for a log: what was approved (``--yes`` prints it, with where it acts).
    summary: str = ""


def _power(facts: InstanceFacts, name: str | None, power_on: bool) -> str:
    called = f"{facts.instance_id} ({name})" if name else facts.instance_id
    after = "started again" if power_on else "left stopped (--no-power-on)"
    if facts.state == "running":
        return f"{called} is running: it will be STOPPED, its volumes swapped, then {after}."
    then = "then started" if power_on else "it stays stopped"
    return f"{called} is stopped: its volumes will be swapped, {then}."


def _online_lines(
    facts: InstanceFacts, name: str | None, chosen: ChosenSet, request: OnlineRequest
) -> list[str]:
    """Mode "Online": the instance keeps running; which disks go offline, which services stop."""
    called = f"{facts.instance_id} ({name})" if name else facts.instance_id
    devices = ", ".join(m.device for m in chosen.members)
    services = request.stop_services or []
    return [
        fact_line(
            "Instance",
            f"{called} is running and stays RUNNING: it is not stopped; only the data volumes "
            "below are swapped (never the root volume).",
        ),
        fact_line(
            "Disks",
            f"the Windows disks of {devices} go OFFLINE while their volumes are swapped: "
            "whatever uses them fails until they are back online.",
        ),
        fact_line(
            "Services",
            f"{', '.join(services)} stopped before the disks go offline, started after."
            if services
            else "none stopped (--stop-service NAME stops one before the disks go offline).",
        ),
    ]


def _set_lines(chosen: ChosenSet, request: RestoreRequest, now: datetime) -> list[str]:
    taken = (
        f"{when_text(chosen.created_at)}, {age_text(now - chosen.created_at)} ago: "
        "changes made on these disks after it are LOST"
    )
    lines = [fact_line("Snapshot set", chosen.snapshot_set_id), fact_line("Taken", taken)]
    if request.restore_point_in_time is not None:
        lines.append(
            fact_line(
                "Newer sets",
                f"not considered: taken after --point-in-time "
                f"{when_text(request.restore_point_in_time)}",
            )
        )
    for skipped in chosen.skipped:
        age = age_text(now - skipped.created_at)
        lines.append(fact_line("Skipped", f"{skipped.snapshot_set_id} (taken {age} ago)"))
        lines.append(fact_line("", "because " + "; ".join(skipped.reasons)))
    return lines


def _volume_lines(chosen: ChosenSet, facts: InstanceFacts, delete: bool) -> list[str]:
    lines = [f"  {'Device':<11}{'Snapshot':<24}Replaces volume"]
    for member in chosen.members:
        replaced = facts.volume_at(member.device)
        replaced_id = replaced.volume_id if replaced else "—"
        lines.append(f"  {member.device:<11}{member.snapshot_id:<24}{replaced_id}")
    restored = {m.device for m in chosen.members}
    untouched = [v.device for v in facts.volumes if v.device not in restored]
    if untouched:
        lines.append(fact_line("Not touched", ", ".join(untouched)))
    if delete:
        fate = "DELETED once the restore succeeds (--delete-replaced-volumes)"
    else:
        fate = f"kept, detached and tagged {tags.STATUS}={tags.STATUS_REPLACED} (not deleted)"
    lines.append(fact_line("Old volumes", fate))
    return lines


def restore_approval(ec2: EC2Client, request: dict[str, Any], now: datetime) -> Approval:
    """The confirmation of a restore, with the request pinned to the set and devices shown.

    A request the workflow would refuse (no such instance, no complete set, ...) raises its
    named error here, before anything starts. If the caller may not read EC2, the question
    says so and the request is left as given.
    """
    parsed = RestoreRequest.parse(request)
    if not isinstance(parsed, InPlaceRequest | OnlineRequest):
        raise InvalidRequest("Mode", f'"{parsed.mode}": a restore is "InPlace" or "Online"')
    try:
        raw = describe_instance(ec2, parsed.instance_id)
        facts = instance_facts(raw)
        chosen = find_snapshot_set(ec2, parsed, facts)
    except (ClientError, BotoCoreError) as failure:
        how = (
            "It keeps running; its data disks go offline while their volumes are swapped."
            if isinstance(parsed, OnlineRequest)
            else "It is stopped while its volumes are swapped."
        )
        question = (
            f"Restore {parsed.instance_id}? {how}\n"
            f"(What it would restore could not be read: {failure})\nRestore?"
        )
        return Approval(question, request, f"restore {parsed.instance_id} (set not read)")
    name = tags.tag_dict(raw.get("Tags")).get("Name")
    if isinstance(parsed, OnlineRequest) and facts.state != "running":
        raise InstanceNotRunning(
            f"{facts.instance_id} is {facts.state}: --online works on a running instance only "
            "(restore a stopped one without --online); nothing was changed"
        )
    instance = (
        _online_lines(facts, name, chosen, parsed)
        if isinstance(parsed, OnlineRequest)
        else [fact_line("Instance", _power(facts, name, parsed.power_on_after_restore))]
    )
    lines = [
        *instance,
        *_set_lines(chosen, parsed, now),
        "",
        *_volume_lines(chosen, facts, parsed.delete_replaced_volumes),
        "",
    ]
    pinned = {k: v for k, v in request.items() if k != "RestorePointInTime"}
    pinned["SnapshotSetId"] = chosen.snapshot_set_id
    pinned["Devices"] = [m.device for m in chosen.members]
    question = "\n".join(["About to restore:", *lines, "Restore exactly this?"])
    called = f"{facts.instance_id} ({name})" if name else facts.instance_id
    summary = (
        f"restore {called} from snapshot set {chosen.snapshot_set_id}, devices "
        f"{', '.join(pinned['Devices'])}"
        + (" (online)" if isinstance(parsed, OnlineRequest) else "")
    )
    return Approval(question, pinned, summary)
