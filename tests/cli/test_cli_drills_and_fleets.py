"""``drill``, ``cleanup`` and ``fleet-restore``: locally, and against a deployed machine (by ARN)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from tests.cli.conftest import DEMO_INSTANCE, LATEST_COMPLETE_SET, name_deployed_machines
from vss_restore import demo, tags
from vss_restore.cli.target import RECORDS_TABLE_ENV
from vss_restore.local import LocalEngine, world
from vss_restore.local.engine import RECORDS_TABLE_NAME
from vss_restore.records import Records

DOCUMENT = world.VALIDATION_DOCUMENT  # the demo world's own, as --local has it


@pytest.fixture
def drill_world(engine: LocalEngine, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str, str, str]:
    """The demo server in the test's emulator, and an isolated subnet and group for drills
    (and the records table, as a deployed stack's output names it)."""
    monkeypatch.setenv(RECORDS_TABLE_ENV, RECORDS_TABLE_NAME)
    ec2 = boto3.client("ec2", region_name=engine.region)
    instance = demo.seed(ec2, datetime.now(UTC))
    subnet, group = world.isolated_subnet(ec2)
    world.validation_document(boto3.client("ssm", region_name=engine.region))
    return ec2, instance, subnet, group


def test_drill_clones_the_demo_server_in_an_isolated_subnet_and_removes_the_clone(
    cli: Any,
) -> None:
    outcome = cli(
        "--local",
        "drill",
        "--validation-document",
        DOCUMENT,
        "--validation-parameter",
        "Services=W3SVC,MSSQLSERVER",
    )

    assert outcome.exit_code == 0, outcome.stderr
    summary = outcome.json
    assert (summary["Mode"], summary["Status"]) == ("Clone", "SUCCEEDED")
    report = summary["Report"]
    assert report["InstanceId"] == DEMO_INSTANCE
    assert report["SnapshotSetId"] == LATEST_COMPLETE_SET
    assert report["Clone"] == "removed"
    assert report["Validation"]["Status"] == "Success"
    assert report["Warnings"] == []  # the local drill network is not the source's subnet
    assert summary["RtoSeconds"] == report["RtoSeconds"]


def test_drill_table_shows_the_clone_and_its_validation(cli: Any) -> None:
    outcome = cli("--local", "--output", "table", "drill", "--keep-clone")

    assert outcome.exit_code == 0, outcome.stderr
    assert "Clone volumes" in outcome.stdout
    assert "(kept)" in outcome.stdout
    assert "Expires" in outcome.stdout
    assert "Downtime" not in outcome.stdout


def test_drill_dry_run_launches_nothing_and_shows_the_plan(
    cli: Any, drill_instance_types: str
) -> None:
    outcome = cli("--local", "drill", "--dry-run", "--instance-type", drill_instance_types)

    assert outcome.exit_code == 0, outcome.stderr
    report = outcome.json["Report"]
    assert (report["Status"], report["Clone"]) == ("DryRun", "planned")
    assert report["Launch"]["InstanceType"] == drill_instance_types


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--validation-parameter", "commands"], "expected NAME=VALUE"),
        (["--validation-parameter", "commands=dir"], "--validation-parameter: needs"),
        (["--subnet-id", "subnet-x"], "--subnet-id"),
        (["--dry-run", "--keep-clone"], "--keep-clone"),
    ],
)
def test_bad_drill_options_start_nothing(
    cli: Any, archive: Any, args: list[str], message: str
) -> None:
    outcome = cli("--local", "drill", *args)

    assert outcome.exit_code == 2
    assert message in outcome.stderr
    assert "Started" not in outcome.stderr
    assert not list(archive.glob("*.json")) if archive.exists() else True


def test_failed_validation_exits_1_with_the_named_error(
    cli: Any, engine: LocalEngine, drill_world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vss_restore.local.fidelity import CommandOutcome  # noqa: PLC0415

    _, instance, subnet, group = drill_world
    engine.ssm.respond(DOCUMENT, CommandOutcome("Failed", "disk E: missing", response_code=1))
    name_deployed_machines(monkeypatch, engine)
    common = ("--region", engine.region)

    started = cli(
        *common,
        "drill",
        "--instance-id",
        instance,
        "--subnet-id",
        subnet,
        "--security-group-id",
        group,
        "--validation-document",
        DOCUMENT,
        "--validation-parameter",
        "Services=W3SVC",
    )
    assert started.exit_code == 0, started.stderr
    result = engine.wait(started.json["ExecutionArn"])

    status = cli(*common, "status", result.execution_arn)
    assert result.status == "FAILED"
    assert status.exit_code == 1
    assert "DrillValidationFailed" in status.stderr
    assert status.json["Report"]["Validation"]["Output"] == "disk E: missing"


def test_cleanup_removes_an_expired_kept_clone_and_previews_first(
    cli: Any, engine: LocalEngine, drill_world: Any
) -> None:
    # GIVEN a kept clone whose expiry has passed
    ec2, instance, subnet, group = drill_world
    kept = engine.run(
        {
            "InstanceId": instance,
            "Mode": "Clone",
            "SubnetId": subnet,
            "SecurityGroupIds": [group],
            "KeepClone": True,
        }
    )
    assert kept.output is not None
    clone = kept.output["CloneInstanceId"]
    Records(boto3.client("dynamodb", region_name=engine.region), RECORDS_TABLE_NAME).age(
        kept.execution_arn, "drill", datetime(2020, 1, 1, tzinfo=UTC)
    )

    # WHEN cleanup runs with --dry-run, then for real
    preview = cli("--region", engine.region, "cleanup", "--dry-run")
    done = cli("--region", engine.region, "cleanup", "--yes")

    # THEN the preview changes nothing, and the cleanup terminates only the clone
    assert preview.exit_code == 0
    assert preview.json["TerminatedInstances"] == [clone]
    assert done.json["TerminatedInstances"] == [clone]
    states = {
        i["InstanceId"]: i["State"]["Name"]
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
    }
    assert states[clone] == "terminated"
    assert states[instance] == "running"


def test_cleanup_names_a_server_carrying_drill_tags_without_a_record_and_leaves_it_running(
    cli: Any, engine: LocalEngine, drill_world: Any
) -> None:
    # GIVEN the demo server, which someone gave an expired drill's tags
    ec2, instance, _, _ = drill_world
    forged = {tags.DRILL: instance, tags.EXPIRES_AT: "2020-01-01T00:00:00+00:00"}
    ec2.create_tags(Resources=[instance], Tags=tags.tag_list(forged))

    # WHEN cleanup runs
    done = cli("--region", engine.region, "cleanup", "--yes")

    # THEN it removes nothing and names the server as left alone
    assert done.exit_code == 0
    assert done.json["TerminatedInstances"] == []
    assert done.json["Unrecorded"] == [instance]
    assert [w.split()[0] for w in done.json["Warnings"]] == [instance]
    state = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "running"


def test_cleanup_of_one_execution_removes_its_clone_before_expiry(
    cli: Any, engine: LocalEngine, drill_world: Any
) -> None:
    _, instance, subnet, group = drill_world
    request = {"Mode": "Clone", "SubnetId": subnet, "SecurityGroupIds": [group], "KeepClone": True}
    kept = engine.run({"InstanceId": instance, **request})
    assert kept.output is not None

    expired_only = cli("--region", engine.region, "cleanup", "--yes")
    by_execution = cli(
        "--region", engine.region, "cleanup", "--yes", "--execution-arn", kept.execution_arn
    )

    assert expired_only.json["TerminatedInstances"] == []
    assert by_execution.json["TerminatedInstances"] == [kept.output["CloneInstanceId"]]


def test_fleet_restore_restores_the_demo_fleet_and_reports_each_instance(cli: Any) -> None:
    outcome = cli(
        "--local",
        "fleet-restore",
        "--yes",
        "--tag",
        "Fleet=demo",
        "--max-concurrency",
        "2",
        "--wait",
    )

    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.json["Status"] == "SUCCEEDED"
    report = outcome.json["Report"]
    assert (report["Total"], report["Succeeded"], report["Failed"]) == (3, 3, 0)
    # --wait printed each instance's progress on stderr, ending in SUCCEEDED
    for line in report["Instances"]:
        assert f"{line['InstanceId']}: SUCCEEDED" in outcome.stderr


def test_fleet_restore_failure_past_the_tolerance_exits_1(cli: Any) -> None:
    # GIVEN the demo server's restore fails (its first AttachVolume is refused), in the first
    # of two waves, and no failure is tolerated
    later = [
        cli("--local", "sets", "--instance-id", n).json["InstanceId"] for n in ("app01", "app02")
    ]
    outcome = cli(
        "--local",
        "--inject-fault",
        "ec2.AttachVolume",
        "fleet-restore",
        "--yes",
        "--tag",
        "Fleet=demo",
        "--wave",
        DEMO_INSTANCE,
        "--wave",
        ",".join(later),
    )

    # THEN the fleet fails, and the second wave never started
    assert outcome.exit_code == 1, outcome.stderr
    assert "FleetFailureThresholdExceeded" in outcome.stderr
    report = outcome.json["Report"]
    assert sorted(report["NotStarted"]) == sorted(later)
    assert report["Instances"][0]["InstanceId"] == DEMO_INSTANCE
    assert report["Instances"][0]["Status"] == "FAILED"


def test_a_fleet_with_an_instance_that_does_not_exist_starts_nothing(cli: Any) -> None:
    missing = "i-0123456789abcdef0"
    outcome = cli(
        "--local", "fleet-restore", "--yes", "--instance-id", f"{DEMO_INSTANCE},{missing}"
    )

    assert outcome.exit_code == 2
    assert f"{missing}: InstanceNotFound" in outcome.stderr
    assert "nothing was started" in outcome.stderr
    assert "Started" not in outcome.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of --instance-id and --tag"),
        (["--tag", "Fleet"], "expected KEY=VALUE"),
        (["--tag", "Fleet=demo", "--instance-id", DEMO_INSTANCE], "exactly one"),
        (["--instance-id", "nosuchserver"], "InstanceNotFound: no instance is named"),
    ],
)
def test_bad_fleet_requests_start_nothing(cli: Any, args: list[str], message: str) -> None:
    # --yes: what is refused is the request (a missing terminal is checked before the
    # emulator starts, and only a name's lookup needs the emulator)
    outcome = cli("--local", "fleet-restore", "--yes", *args)

    assert outcome.exit_code == 2
    assert message in outcome.stderr
    assert "Started" not in outcome.stderr


def test_fleet_restore_asks_first_on_a_terminal(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from vss_restore.cli import commands  # noqa: PLC0415

    monkeypatch.setattr(commands, "_interactive", lambda: True)

    outcome = cli("--local", "fleet-restore", "--tag", "Fleet=demo", stdin="n\n")

    assert outcome.exit_code == 2
    assert "About to restore 3 instance(s)" in outcome.stderr
    assert "Not confirmed" in outcome.stderr
