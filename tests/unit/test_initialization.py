"""Time to full performance: the request's fields, each volume's mode, estimates, the report."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.loaders import Loader
from botocore.model import ServiceModel

from tests.unit.test_planning import EXECUTION, all_originals, chosen, facts, member
from vss_restore.definition import Limits, definition_path
from vss_restore.errors import InvalidRequest
from vss_restore.initialization import (
    ASSUMED_DEFAULT_RATE_MIBPS,
    estimate_seconds,
    mode_for,
    rate_for,
    require_sdk_support,
)
from vss_restore.models import RestoreRequest
from vss_restore.planning import plan_restore
from vss_restore.report import (
    as_created,
    full_performance,
    initialization_warnings,
    volume_initialization,
)
from vss_restore.volumes import create_volume_kwargs

INSTANCE_ID = "i-0123456789abcdef0"
STARTED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def rejection(payload: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        RestoreRequest.parse(payload)
    return caught.value


# --- the request -----------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [100, 217, 300])
def test_parse_accepts_initialization_rate_when_within_ebs_range(rate: int) -> None:
    # GIVEN / WHEN
    request = RestoreRequest.parse({"InstanceId": INSTANCE_ID, "InitializationRate": rate})

    # THEN
    assert request.initialization_rate == rate


@pytest.mark.parametrize("rate", [99, 301, 0, -5, 1000])
def test_parse_rejects_initialization_rate_naming_the_range_when_out_of_range(rate: int) -> None:
    # GIVEN / WHEN
    error = rejection({"InstanceId": INSTANCE_ID, "InitializationRate": rate})

    # THEN
    assert error.field == "InitializationRate"
    assert "from 100 to 300" in error.reason
    assert str(rate) in error.reason


@pytest.mark.parametrize("rate", ["200", 200.0, 150.5, True, [200], {"MiBps": 200}])
def test_parse_rejects_initialization_rate_when_not_a_whole_json_number(rate: object) -> None:
    # GIVEN / WHEN
    error = rejection({"InstanceId": INSTANCE_ID, "InitializationRate": rate})

    # THEN
    assert error.field == "InitializationRate"


def test_parse_accepts_initialization_rate_when_mode_is_clone() -> None:
    # GIVEN a drill with a rate (its clone's volumes are created with it)
    payload = {"InstanceId": INSTANCE_ID, "Mode": "Clone", "InitializationRate": 150}

    # WHEN
    request = RestoreRequest.parse(payload)

    # THEN
    assert request.initialization_rate == 150


def test_parse_rejects_wait_for_initialization_when_mode_is_clone() -> None:
    # GIVEN / WHEN
    error = rejection({"InstanceId": INSTANCE_ID, "Mode": "Clone", "WaitForInitialization": True})

    # THEN
    assert error.field == "WaitForInitialization"
    assert "InPlace" in error.reason


# --- each volume's mode, and what CreateVolume gets ------------------------------------------


def test_mode_for_prefers_fast_snapshot_restore_when_snapshot_has_it_and_a_rate_is_given() -> None:
    # GIVEN / WHEN / THEN: a rate would replace fast snapshot restore, so FSR wins
    assert mode_for("snap-1", 200, {"snap-1"}) == "FastSnapshotRestore"
    assert rate_for("FastSnapshotRestore", 200) is None


def test_mode_for_is_provisioned_rate_when_a_rate_is_given_and_snapshot_has_no_fsr() -> None:
    # GIVEN / WHEN / THEN
    assert mode_for("snap-1", 200, {"snap-2"}) == "ProvisionedRate"
    assert rate_for("ProvisionedRate", 200) == 200


def test_mode_for_is_default_when_no_rate_and_no_fsr() -> None:
    # GIVEN / WHEN / THEN
    assert mode_for("snap-1", None, frozenset()) == "Default"
    assert rate_for("Default", None) is None


def test_plan_restore_sends_the_rate_only_for_volumes_without_fsr_when_a_rate_is_requested() -> (
    None
):
    # GIVEN a set of two volumes, one from a snapshot with fast snapshot restore enabled
    chosen_set = chosen(member("/dev/sda1"), member("xvdf"))

    # WHEN
    plan = plan_restore(
        facts(),
        chosen_set,
        all_originals(),
        EXECUTION,
        initialization_rate=250,
        fast_restored={"snap-xvdf"},
    )

    # THEN the root is created at 250 MiB/s, the FSR one without a rate
    root, data = plan.volumes
    assert (root.initialization, root.initialization_rate) == ("ProvisionedRate", 250)
    assert (data.initialization, data.initialization_rate) == ("FastSnapshotRestore", None)
    assert create_volume_kwargs(root, {})["VolumeInitializationRate"] == 250
    assert "VolumeInitializationRate" not in create_volume_kwargs(data, {})


def test_plan_restore_plans_default_initialization_when_request_names_no_rate() -> None:
    # GIVEN / WHEN
    plan = plan_restore(facts(), chosen(member("xvdf")), all_originals(), EXECUTION)

    # THEN
    (spec,) = plan.volumes
    assert spec.initialization == "Default"
    assert "VolumeInitializationRate" not in create_volume_kwargs(spec, {})


# --- estimates -------------------------------------------------------------------------------


def test_estimate_seconds_is_size_over_rate_when_rate_is_provisioned() -> None:
    # GIVEN 100 GiB at 200 MiB/s: 102,400 MiB / 200 MiB/s
    # WHEN / THEN
    assert estimate_seconds(100, "ProvisionedRate", 200) == 512.0


def test_estimate_seconds_is_zero_when_fast_snapshot_restore() -> None:
    # GIVEN / WHEN / THEN
    assert estimate_seconds(16384, "FastSnapshotRestore", None) == 0.0


def test_estimate_seconds_uses_the_assumed_default_rate_when_default() -> None:
    # GIVEN / WHEN
    seconds = estimate_seconds(100, "Default", None)

    # THEN slower than the lowest provisioned rate, as the assumption says
    assert seconds == round(100 * 1024 / ASSUMED_DEFAULT_RATE_MIBPS, 1)
    assert seconds > estimate_seconds(100, "ProvisionedRate", 100)


@pytest.mark.parametrize("rate", [None, 99, 301])
def test_estimate_seconds_raises_value_error_when_provisioned_rate_is_missing_or_out_of_range(
    rate: int | None,
) -> None:
    # GIVEN / WHEN / THEN
    with pytest.raises(ValueError, match="out of range"):
        estimate_seconds(100, "ProvisionedRate", rate)


# --- the report ------------------------------------------------------------------------------


def plan_with(rate: int | None, fast: set[str]) -> Any:
    members = chosen(member("/dev/sda1", size=60), member("xvdf", size=200))
    originals = all_originals()
    for volume, size in (
        (originals["vol-0000000000000root"], 60),
        (originals["vol-00000000000000f0"], 200),
    ):
        volume["Size"] = size
    return plan_restore(
        facts(), members, originals, EXECUTION, initialization_rate=rate, fast_restored=fast
    )


def test_volume_initialization_reports_mode_rate_and_estimate_when_rate_is_provisioned() -> None:
    # GIVEN
    plan = plan_with(300, set())

    # WHEN
    lines = [volume_initialization(s).model_dump(by_alias=True) for s in plan.volumes]

    # THEN
    assert lines == [
        {"Mode": "ProvisionedRate", "RateMiBps": 300, "EstimatedSeconds": 204.8},
        {"Mode": "ProvisionedRate", "RateMiBps": 300, "EstimatedSeconds": 682.7},
    ]


def test_full_performance_adds_the_slowest_estimate_to_the_restart_when_not_waited() -> None:
    # GIVEN the instance was back 300 s after the start; the slowest volume needs 682.7 s
    plan = plan_with(300, set())

    # WHEN
    seconds, basis = full_performance(plan, STARTED, STARTED + timedelta(seconds=300), None)

    # THEN
    assert (seconds, basis) == (982.7, "Estimated")


def test_full_performance_is_measured_when_the_restore_waited_for_initialization() -> None:
    # GIVEN EBS reported every volume initialized 1,500 s after the start
    plan = plan_with(300, set())
    back = STARTED + timedelta(seconds=300)

    # WHEN
    seconds, basis = full_performance(plan, STARTED, back, STARTED + timedelta(seconds=1500))

    # THEN
    assert (seconds, basis) == (1500.0, "Measured")


def test_full_performance_equals_the_restart_when_every_snapshot_has_fsr() -> None:
    # GIVEN
    plan = plan_with(None, {"snap-dev" + "sda1", "snap-xvdf"})

    # WHEN
    seconds, _ = full_performance(plan, STARTED, STARTED + timedelta(seconds=300), None)

    # THEN
    assert seconds == 300.0


def test_initialization_warnings_name_each_fsr_volume_when_a_rate_was_requested() -> None:
    # GIVEN a rate was asked for, and xvdf's snapshot has fast snapshot restore
    plan = plan_with(200, {"snap-xvdf"})

    # WHEN
    warnings = initialization_warnings(plan, 200, None)

    # THEN
    assert len(warnings) == 1
    assert warnings[0].startswith("xvdf: snap-xvdf has fast snapshot restore enabled")
    assert "InitializationRate 200" in warnings[0]


def test_initialization_warnings_say_the_restore_is_complete_when_the_wait_timed_out() -> None:
    # GIVEN the wait gave up
    error = {"Error": "WaitTimedOut", "Cause": "volumes still initializing: xvdf (40%)"}

    # WHEN
    warnings = initialization_warnings(plan_with(None, set()), None, error)

    # THEN
    assert warnings == [
        "the restore is complete, but the volumes were not seen fully initialized "
        "(WaitTimedOut: volumes still initializing: xvdf (40%)); they reach full performance "
        "when EBS has loaded every block"
    ]


# --- the SDK the tasks run with --------------------------------------------------------------


def test_require_sdk_support_passes_when_boto3_knows_the_rate() -> None:
    # GIVEN this environment's boto3
    ec2 = boto3.client("ec2", region_name="us-east-1")

    # WHEN / THEN no error
    require_sdk_support(ec2, "InitializationRate")


def test_require_sdk_support_names_the_field_when_boto3_predates_the_rate() -> None:
    # GIVEN an EC2 model without VolumeInitializationRate on CreateVolume (an older botocore)
    raw = copy.deepcopy(Loader().load_service_model("ec2", "service-2"))
    del raw["shapes"]["CreateVolumeRequest"]["members"]["VolumeInitializationRate"]
    old = SimpleNamespace(meta=SimpleNamespace(service_model=ServiceModel(raw, "ec2")))

    # WHEN
    with pytest.raises(InvalidRequest) as caught:
        require_sdk_support(old, "WaitForInitialization")  # type: ignore[arg-type]

    # THEN
    assert caught.value.field == "WaitForInitialization"
    assert "does not know" in caught.value.reason


# --- the definition --------------------------------------------------------------------------


def states() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(definition_path().read_text())
    return dict(document["States"])


def test_definition_waits_for_initialization_only_when_the_request_asks() -> None:
    # GIVEN the restore machine
    machine = states()

    # WHEN / THEN both ways out of the restart lead to the choice, which reads the request
    assert machine["WaitStatusChecks"]["Next"] == "ShouldWaitForInitialization"
    assert machine["PowerOnAfterRestore"]["Default"] == "ShouldWaitForInitialization"
    choice = machine["ShouldWaitForInitialization"]
    assert choice["Choices"] == [
        {
            "Variable": "$.Request.WaitForInitialization",
            "BooleanEquals": True,
            "Next": "WaitVolumesInitialized",
        }
    ]
    assert choice["Default"] == "FinalizeReplacedVolumes"


def test_definition_never_rolls_back_when_waiting_for_initialization_fails() -> None:
    # GIVEN the wait
    wait = states()["WaitVolumesInitialized"]

    # WHEN / THEN every failure (but a refused redrive, which ends the execution) is kept for
    # the report and the restore goes on to finalize
    assert wait["Catch"][0]["ErrorEquals"] == ["ExecutionRedriven"]
    assert wait["Catch"][1:] == [
        {
            "ErrorEquals": ["States.ALL"],
            "ResultPath": "$.InitializationError",
            "Next": "FinalizeReplacedVolumes",
        }
    ]
    assert wait["Next"] == "FinalizeReplacedVolumes"
    assert wait["Parameters"]["TimeoutSeconds"] == "${InitializationTimeoutSeconds}"
    assert wait["Parameters"]["Created.$"] == "$.Prepared.Created"


def test_definition_gives_plan_restore_the_requested_rate() -> None:
    # GIVEN / WHEN / THEN
    parameters = states()["PlanRestore"]["Parameters"]
    assert parameters["InitializationRate.$"] == "$.Request.InitializationRate"


def test_initialization_limit_covers_a_tebibyte_at_the_lowest_rate() -> None:
    # GIVEN / WHEN / THEN: 1 TiB at 100 MiB/s
    assert Limits().InitializationTimeoutSeconds >= estimate_seconds(1024, "ProvisionedRate", 100)


def test_as_created_turns_a_missed_fast_restore_into_default_initialization() -> None:
    # GIVEN a plan with xvdf on fast snapshot restore, which EC2 could not give it
    plan = plan_with(None, {"snap-xvdf"})

    # WHEN
    created = as_created(plan, {"xvdf"})

    # THEN xvdf initializes at the default rate; the root is as planned
    modes = {s.device: s.initialization for s in created.volumes}
    assert modes == {"/dev/sda1": "Default", "xvdf": "Default"}
    assert volume_initialization(created.volumes[1]).estimated_seconds == estimate_seconds(
        200, "Default", None
    )
    assert {s.device: s.initialization for s in plan.volumes}["xvdf"] == "FastSnapshotRestore"


def test_initialization_warnings_say_fast_restore_did_not_happen_when_missed() -> None:
    # GIVEN a rate was asked for; xvdf was planned for FSR but made without it
    plan = plan_with(200, {"snap-xvdf"})

    # WHEN
    warnings = initialization_warnings(plan, 200, None, {"xvdf"})

    # THEN one warning, about the missed fast restore (not about the rate it did not get)
    assert len(warnings) == 1
    assert warnings[0].startswith("xvdf: created without fast snapshot restore")
