"""Mode "Online": data volumes swapped on the running instance through SSM, never a stop."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tests.conftest import VssSetFactory
from tests.integration.conftest import RestoreRunner
from tests.integration.helpers import (
    assert_invariants,
    attached,
    power_state,
    volume_exists,
    volume_tags,
    volumes_of,
)
from tests.integration.online_helpers import OnlineWatch
from vss_restore import tags
from vss_restore.discovery import target_devices
from vss_restore.errors import InvalidRequest
from vss_restore.local import LocalEngine, world
from vss_restore.local.invariants import InstanceState
from vss_restore.models import AttachedVolume, InstanceFacts, RestoreRequest
from vss_restore.settings import reload_settings

if TYPE_CHECKING:
    from mypy_boto3_ssm.type_defs import CommandTypeDef

DATA_DEVICES = ["xvdf", "xvdg", "xvdh"]
VALIDATION_DOCUMENT = "vss-restore-validation-sql"


@pytest.fixture
def watch(engine: LocalEngine) -> OnlineWatch:
    return OnlineWatch(engine).start()


def _ssm_commands(instance_id: str) -> list[CommandTypeDef]:
    ssm = boto3.client("ssm", region_name="us-east-1")
    return list(ssm.list_commands(InstanceId=instance_id)["Commands"])


def _validation_document(name: str = VALIDATION_DOCUMENT) -> None:
    """An operator's validation document (by default under a name an online restore runs)."""
    content = {
        "schemaVersion": "2.2",
        "description": "checks SQL Server answers",
        "parameters": {"commands": {"type": "StringList"}},
        "mainSteps": [
            {
                "action": "aws:runPowerShellScript",
                "name": "check",
                "inputs": {"runCommand": "{{ commands }}"},
            }
        ],
    }
    boto3.client("ssm", region_name="us-east-1").create_document(
        Name=name, Content=json.dumps(content), DocumentType="Command"
    )


# --- happy paths ---------------------------------------------------------------------------


def test_online_restore_swaps_every_data_volume_of_the_running_instance_when_no_devices_given(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    watch: OnlineWatch,
) -> None:
    # GIVEN a running instance with three data volumes and a set of all four volumes
    vss_set("set-1", hours_ago=1)
    root_before = attached(ec2, instance_with_volumes)["/dev/sda1"]

    # WHEN an online restore runs, stopping SQL Server around the swap
    done = restore(Mode="Online", StopServices=["MSSQLSERVER"])

    # THEN every data device holds its restored volume, the root its original
    report = done.report
    assert report["Mode"] == "Online"
    assert [v["Device"] for v in report["Volumes"]] == DATA_DEVICES
    now = attached(ec2, instance_with_volumes)
    assert now["/dev/sda1"] == root_before
    assert {d: now[d] for d in DATA_DEVICES} == {
        v["Device"]: v["NewVolumeId"] for v in report["Volumes"]
    }
    # ... the restored volumes' disks are online, SQL Server runs again
    assert all(engine.guests.disk_online(v["NewVolumeId"]) for v in report["Volumes"])
    assert engine.guests.stopped_services[instance_with_volumes] == []
    assert [c["Step"] for c in report["DiskCommands"]] == ["TakeDisksOffline", "BringDisksOnline"]
    assert all(c["Status"] == "Success" for c in report["DiskCommands"])
    assert (
        '"Name": "MSSQLSERVER", "Status": "Stopped"' in report["DiskCommands"][0]["OutputExcerpt"]
    )
    assert (
        '"Name": "MSSQLSERVER", "Status": "Running"' in report["DiskCommands"][1]["OutputExcerpt"]
    )
    # ... the instance never stopped: no downtime, only the application's
    assert (report["PowerState"], report["DowntimeSeconds"]) == ("running", None)
    assert report["ApplicationDowntimeSeconds"] >= 0
    assert power_state(ec2, instance_with_volumes) == "running"
    watch.assert_never_stopped_nor_detached_online()
    # ... each original was detached only after its disk went offline, and is kept, tagged
    detached = [v for what, _, v in watch.events if what == "detach"]
    assert sorted(detached) == sorted(v["ReplacedVolumeId"] for v in report["Volumes"])
    for v in report["Volumes"]:
        assert volume_tags(ec2, v["ReplacedVolumeId"])[tags.STATUS] == tags.STATUS_REPLACED


def test_online_restore_swaps_only_the_named_device_and_deletes_its_original_when_asked(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    watch: OnlineWatch,
) -> None:
    # GIVEN a set of all volumes
    vss_set("set-1", hours_ago=1)
    before = attached(ec2, instance_with_volumes)

    # WHEN only xvdg is restored online, its original to be deleted
    done = restore(Mode="Online", Devices=["xvdg"], DeleteReplacedVolumes=True)

    # THEN xvdg holds the restored volume and its original is gone; nothing else changed
    (volume,) = done.report["Volumes"]
    now = attached(ec2, instance_with_volumes)
    assert now == {**before, "xvdg": volume["NewVolumeId"]}
    assert not volume_exists(ec2, before["xvdg"])
    assert done.report["ReplacedVolumes"] == "deleted"
    # ... only xvdg's disk went offline and came back; the other disks stayed online
    assert [(what, v) for what, _, v in watch.events if what in ("offline", "online")] == [
        ("offline", before["xvdg"]),
        ("online", volume["NewVolumeId"]),
    ]
    watch.assert_never_stopped_nor_detached_online()


def test_online_restore_runs_the_validation_on_the_instance_when_a_document_is_given(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    watch: OnlineWatch,
) -> None:
    # GIVEN the operator's validation document, named as an online restore requires
    vss_set("set-1", hours_ago=1)
    _validation_document()

    # WHEN the restore runs with it
    done = restore(
        Mode="Online",
        ValidationDocument=VALIDATION_DOCUMENT,
        ValidationParameters={"commands": ["Invoke-Sqlcmd 'select 1'"]},
    )

    # THEN the document ran on the restored instance after its disks came online
    assert done.report["Status"] == "Succeeded"
    path = done.result.state_path()
    assert path.index("RunOnlineValidation") > path.index("WaitDiskCommandBringDisksOnline")
    documents = [c["DocumentName"] for c in _ssm_commands(instance_with_volumes)]
    assert VALIDATION_DOCUMENT in documents
    watch.assert_never_stopped_nor_detached_online()


def test_online_restore_runs_a_document_the_deployment_lists_as_a_drill_would(
    engine: LocalEngine,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a document under another name, which the deployment lists (drills share the list)
    vss_set("set-1", hours_ago=1)
    _validation_document("Ops-SqlCheck")
    monkeypatch.setenv("VALIDATION_DOCUMENTS", "Ops-SqlCheck")
    reload_settings()

    # WHEN an online restore names it / THEN it runs on the instance
    done = restore(
        Mode="Online",
        ValidationDocument="Ops-SqlCheck",
        ValidationParameters={"commands": ["Invoke-Sqlcmd 'select 1'"]},
    )
    assert done.report["Status"] == "Succeeded"
    assert "Ops-SqlCheck" in [c["DocumentName"] for c in _ssm_commands(instance_with_volumes)]


def test_online_dry_run_plans_the_data_devices_and_changes_nothing(
    engine: LocalEngine, ec2: Any, instance_with_volumes: str, vss_set: VssSetFactory
) -> None:
    # GIVEN a set
    vss_set("set-1", hours_ago=1)
    before = InstanceState.capture(ec2, instance_with_volumes)

    # WHEN an online dry run runs
    result = engine.run({"InstanceId": instance_with_volumes, "Mode": "Online", "DryRun": True})

    # THEN its report lists the data devices; nothing was created, sent or changed
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None
    assert (result.output["Status"], result.output["Mode"]) == ("DryRun", "Online")
    assert [v["Device"] for v in result.output["Volumes"]] == DATA_DEVICES
    assert result.output["DiskCommands"] == []
    assert InstanceState.capture(ec2, instance_with_volumes) == before
    assert volumes_of(ec2, result) == []
    assert _ssm_commands(instance_with_volumes) == []


# --- bad input: a named error, nothing changed -----------------------------------------------


def _rejected(
    engine: LocalEngine, ec2: Any, instance_id: str, request: dict[str, Any]
) -> tuple[str | None, str]:
    """Run the request; check it changed nothing; (error, cause)."""
    before = InstanceState.capture(ec2, instance_id)
    result = engine.run({"InstanceId": instance_id, **request})
    assert result.status == "FAILED"
    assert InstanceState.capture(ec2, instance_id) == before
    assert volumes_of(ec2, result) == []
    assert _ssm_commands(instance_id) == []
    assert_invariants(ec2, before, result, {"InstanceId": instance_id, **request})
    return result.error, result.cause or ""


def test_online_restore_fails_with_instance_not_running_when_the_instance_is_stopped(
    engine: LocalEngine, ec2: Any, vss_set: VssSetFactory, instance_with_volumes: str
) -> None:
    # GIVEN a stopped instance with a set
    vss_set("set-1", hours_ago=1)
    ec2.stop_instances(InstanceIds=[instance_with_volumes])

    # WHEN / THEN
    error, cause = _rejected(engine, ec2, instance_with_volumes, {"Mode": "Online"})
    assert error == "InstanceNotRunning"
    assert "is stopped" in cause
    assert "nothing was changed" in cause


def test_online_restore_fails_with_instance_not_managed_when_its_ssm_agent_is_offline(
    engine: LocalEngine, ec2: Any, vss_set: VssSetFactory, instance_with_volumes: str
) -> None:
    # GIVEN a running instance that Systems Manager does not manage
    vss_set("set-1", hours_ago=1)
    engine.guests.unmanaged.add(instance_with_volumes)

    # WHEN / THEN
    error, cause = _rejected(engine, ec2, instance_with_volumes, {"Mode": "Online"})
    assert error == "InstanceNotManaged"
    assert instance_with_volumes in cause


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"Mode": "Online", "Devices": ["/dev/sda1", "xvdf"]}, "Devices"),
        ({"Mode": "Online", "ValidationDocument": "AWS-RunPowerShellScript"}, "ValidationDocument"),
        ({"StopServices": ["MSSQLSERVER"]}, "StopServices"),
        ({"Mode": "Online", "StopServices": ["MSSQL'; Remove-Item"]}, "StopServices"),
    ],
    ids=["root-device", "validation-document-outside-prefix", "stop-services-in-place", "bad-name"],
)
def test_online_request_fails_with_invalid_request_naming_the_field_when_a_value_is_refused(
    engine: LocalEngine,
    ec2: Any,
    vss_set: VssSetFactory,
    instance_with_volumes: str,
    request_fields: dict[str, Any],
    field: str,
) -> None:
    # GIVEN a set; WHEN the request has a value an online restore refuses
    vss_set("set-1", hours_ago=1)
    error, cause = _rejected(engine, ec2, instance_with_volumes, request_fields)

    # THEN InvalidRequest names the field, and nothing changed
    assert error == "InvalidRequest"
    assert cause.startswith(f"InvalidRequest: {field}")


def test_validation_document_outside_the_prefix_is_refused_saying_why(
    engine: LocalEngine, ec2: Any, vss_set: VssSetFactory, instance_with_volumes: str
) -> None:
    # GIVEN / WHEN an online restore names an AWS document for its validation
    vss_set("set-1", hours_ago=1)
    _, cause = _rejected(
        engine,
        ec2,
        instance_with_volumes,
        {"Mode": "Online", "ValidationDocument": "AWS-RunPowerShellScript"},
    )

    # THEN the cause says which names are accepted, and why
    assert "vss-restore-validation-" in cause
    assert "production instance" in cause


def test_target_devices_refuse_the_instances_own_root_device_when_it_is_not_sda1() -> None:
    # GIVEN an instance whose root device is /dev/xvda (Windows AMIs may name it so)
    facts = InstanceFacts(
        instance_id="i-0123456789abcdef0",
        state="running",
        availability_zone="us-east-1a",
        root_device_name="/dev/xvda",
        volumes=[
            AttachedVolume(
                device="/dev/xvda", volume_id="vol-00000001", delete_on_termination=True
            ),
            AttachedVolume(device="xvdf", volume_id="vol-00000002", delete_on_termination=False),
        ],
    )
    online = {"InstanceId": facts.instance_id, "Mode": "Online"}

    # WHEN / THEN naming it is InvalidRequest on Devices; by default only xvdf is restored
    with pytest.raises(InvalidRequest) as refused:
        target_devices(RestoreRequest.parse({**online, "Devices": ["/dev/xvda"]}), facts)
    assert refused.value.field == "Devices"
    assert "root device" in refused.value.reason
    assert target_devices(RestoreRequest.parse(online), facts) == ["xvdf"]


def test_online_restore_of_an_instance_without_data_volumes_is_refused(
    engine: LocalEngine, ec2: Any
) -> None:
    # GIVEN a running instance with only its root volume, and a set of it
    instance_id = world.windows_instance(ec2, world.DEMO_DISKS[:1], name="boot-only")
    world.vss_snapshot_set(ec2, instance_id, taken_at=datetime.now(UTC), set_id="set-1")

    # WHEN / THEN
    error, cause = _rejected(engine, ec2, instance_id, {"Mode": "Online"})
    assert error == "InvalidRequest"
    assert cause.startswith("InvalidRequest: Devices: ")
    assert "no data volume" in cause


def test_unknown_service_fails_the_restore_and_leaves_everything_as_before(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    watch: OnlineWatch,
) -> None:
    # GIVEN an instance with SQL Server but no service named SQLAgentt (a typo)
    vss_set("set-1", hours_ago=1)
    engine.guests.known_services[instance_with_volumes] = {"MSSQLSERVER", "SQLSERVERAGENT"}

    # WHEN the restore names both
    done = restore(Mode="Online", StopServices=["MSSQLSERVER", "SQLAgentt"])

    # THEN DiskCommandFailed quotes Windows; the instance is as before, every service runs
    assert done.result.error == "DiskCommandFailed"
    assert "Cannot find any service with service name 'SQLAgentt'" in (done.result.cause or "")
    assert InstanceState.capture(ec2, instance_with_volumes) == done.before
    assert engine.guests.stopped_services[instance_with_volumes] == []
    assert all(engine.guests.disk_online(v) for v in done.before.volumes.values())
    assert volumes_of(ec2, done.result) == []
    assert "Lock released." in (done.result.cause or "")
    watch.assert_never_stopped_nor_detached_online()


def test_online_restore_starts_again_the_dependent_services_windows_stopped_with_the_named_one(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    watch: OnlineWatch,
) -> None:
    # GIVEN SQL Server Agent running, depending on SQL Server; only MSSQLSERVER is named
    vss_set("set-1", hours_ago=1)
    engine.guests.dependents[instance_with_volumes] = {"MSSQLSERVER": ["SQLSERVERAGENT"]}

    # WHEN an online restore runs
    done = restore(Mode="Online", StopServices=["MSSQLSERVER"])

    # THEN both run at the end, and the report says the agent stopped and started with it
    assert done.result.status == "SUCCEEDED", done.result.cause
    assert engine.guests.stopped_services[instance_with_volumes] == []
    offline, online = done.report["DiskCommands"]
    assert [(s["Name"], s["Status"], s["StoppedWith"]) for s in offline["Services"]] == [
        ("MSSQLSERVER", "Stopped", ["SQLSERVERAGENT"])
    ]
    assert [(s["Name"], s["Status"], s.get("DependentOf")) for s in online["Services"]] == [
        ("MSSQLSERVER", "Running", None),
        ("SQLSERVERAGENT", "Running", "MSSQLSERVER"),
    ]
    watch.assert_never_stopped_nor_detached_online()


def test_online_restore_whose_service_is_slow_to_stop_still_reads_its_result(
    engine: LocalEngine,
    ec2: Any,
    instance_with_volumes: str,
    vss_set: VssSetFactory,
    restore: RestoreRunner,
    watch: OnlineWatch,
) -> None:
    # GIVEN SQL Server taking 20 minutes to stop: Stop-Service warns every 2 s meanwhile,
    # more than the 24,000 characters of output Run Command keeps
    vss_set("set-1", hours_ago=1)
    engine.guests.slow_stops["MSSQLSERVER"] = 1200

    # WHEN an online restore runs
    done = restore(Mode="Online", StopServices=["MSSQLSERVER"])

    # THEN the result was read: the restore succeeded, without a needless rollback
    assert done.result.status == "SUCCEEDED", done.result.cause
    assert [c["Step"] for c in done.report["DiskCommands"]] == [
        "TakeDisksOffline",
        "BringDisksOnline",
    ]
    assert engine.guests.stopped_services[instance_with_volumes] == []
    watch.assert_never_stopped_nor_detached_online()
