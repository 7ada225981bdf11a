"""Fault injection: exactly the named calls fail, refused or applied, and are counted."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import volume_tags
from vss_restore.local import Fault, LocalEngine
from vss_restore.local.faults import fault_named, refusals

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

REGION = "us-east-1"
AZ = "us-east-1a"


def _client() -> EC2Client:
    # A client copies the session's hooks when it is created: make it after ``inject``.
    return boto3.client("ec2", region_name=REGION)


def _tag(ec2: EC2Client, volume_id: str, call: int) -> ClientError | None:
    try:
        ec2.create_tags(Resources=[volume_id], Tags=[{"Key": f"call-{call}", "Value": "x"}])
    except ClientError as err:
        return err
    return None


@pytest.mark.parametrize("operation", ["CreateTags", ".CreateTags", "ec2.", ""])
def test_fault_raises_value_error_when_operation_is_not_service_dot_name(operation: str) -> None:
    # GIVEN / WHEN a fault names no service or no operation
    # THEN it is refused
    with pytest.raises(ValueError, match=re.escape("ec2.AttachVolume")):
        Fault(operation)


@pytest.mark.parametrize(("occurrence", "times"), [(0, 1), (-1, 1), (1, 0)])
def test_fault_raises_value_error_when_a_count_is_below_one(occurrence: int, times: int) -> None:
    # GIVEN / WHEN a fault counts calls from 0 or fails no call at all
    # THEN it is refused
    with pytest.raises(ValueError, match="count from 1"):
        Fault("ec2.CreateTags", occurrence=occurrence, times=times)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("RequestLimitExceeded", 503),
        ("InternalError", 500),
        ("InvalidParameterValue", 400),
        ("TooManyRequestsException", 429),
        ("ServiceException", 500),
    ],
)
def test_fault_status_is_the_http_status_aws_uses_when_code_is_given(
    code: str, status: int
) -> None:
    # GIVEN / WHEN a fault with an error code
    fault = Fault("ec2.CreateTags", code=code)

    # THEN its HTTP status is the one AWS answers that code with
    assert fault.status == status


def test_fault_fails_only_the_nth_call_when_occurrence_is_given(engine: LocalEngine) -> None:
    # GIVEN a volume, and CreateTags failing on its second call
    injector = engine.inject(Fault("ec2.CreateTags", code="InternalError", occurrence=2))
    ec2 = _client()
    volume_id = ec2.create_volume(AvailabilityZone=AZ, Size=8)["VolumeId"]

    # WHEN CreateTags is called three times
    errors = [_tag(ec2, volume_id, call) for call in (1, 2, 3)]

    # THEN only the second call failed, with the fault's code and status, and changed nothing
    assert errors[0] is None
    assert errors[2] is None
    failed = errors[1]
    assert failed is not None
    assert failed.response["Error"]["Code"] == "InternalError"
    assert failed.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert set(volume_tags(ec2, volume_id)) == {"call-1", "call-3"}
    assert injector.calls == 3
    assert injector.injected == 1


def test_fault_fails_consecutive_calls_when_times_is_given(engine: LocalEngine) -> None:
    # GIVEN a volume, and CreateTags failing on its first two calls
    injector = engine.inject(Fault("ec2.CreateTags", code="RequestLimitExceeded", times=2))
    ec2 = _client()
    volume_id = ec2.create_volume(AvailabilityZone=AZ, Size=8)["VolumeId"]

    # WHEN CreateTags is called three times
    errors = [_tag(ec2, volume_id, call) for call in (1, 2, 3)]

    # THEN the first two failed as throttled and the third went through
    assert [e.response["Error"]["Code"] if e else None for e in errors] == [
        "RequestLimitExceeded",
        "RequestLimitExceeded",
        None,
    ]
    assert set(volume_tags(ec2, volume_id)) == {"call-3"}
    assert injector.calls == 3
    assert injector.injected == 2


@pytest.mark.parametrize(("applied", "volumes_made"), [(True, 1), (False, 0)])
def test_fault_leaves_the_change_made_only_when_applied(
    engine: LocalEngine, applied: bool, volumes_made: int
) -> None:
    # GIVEN CreateVolume failing once, either refused or applied (its answer lost)
    injector = engine.inject(Fault("ec2.CreateVolume", code="InternalError", applied=applied))
    ec2 = _client()

    # WHEN a volume is created
    with pytest.raises(ClientError) as raised:
        ec2.create_volume(AvailabilityZone=AZ, Size=8)

    # THEN the caller sees the error either way; only an applied fault leaves the volume behind
    assert raised.value.response["Error"]["Code"] == "InternalError"
    assert len(ec2.describe_volumes()["Volumes"]) == volumes_made
    assert injector.injected == 1


def test_fault_fails_the_invoke_when_operation_is_lambda_invoke(engine: LocalEngine) -> None:
    # GIVEN Lambda answering the first Invoke with TooManyRequestsException (a call the state
    # machine makes for every task, and retries on as Lambda.TooManyRequestsException)
    injector = engine.inject(Fault("lambda.Invoke", code="TooManyRequestsException"))
    client = boto3.client("lambda", region_name=REGION)

    # WHEN a workflow function is invoked
    with pytest.raises(ClientError) as raised:
        client.invoke(
            FunctionName=engine.function_arn("SummarizeFailure"),
            Payload=json.dumps({"Document": {"Error": {"Error": "X", "Cause": "y"}}}),
        )

    # THEN the call fails as the fault says, and the injector counted it
    assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert injector.calls == 1
    assert injector.injected == 1
    assert engine.dispatcher is not None
    assert engine.dispatcher.invocations == []


def test_fault_fails_every_call_from_the_nth_when_permanent(engine: LocalEngine) -> None:
    # GIVEN a volume, and CreateTags refused for good from its second call on
    injector = engine.inject(
        Fault("ec2.CreateTags", code="UnauthorizedOperation", occurrence=2, permanent=True)
    )
    ec2 = _client()
    volume_id = ec2.create_volume(AvailabilityZone=AZ, Size=8)["VolumeId"]

    # WHEN CreateTags is called four times
    errors = [_tag(ec2, volume_id, call) for call in (1, 2, 3, 4)]

    # THEN the first went through and every later one was refused with a client error
    assert [e.response["Error"]["Code"] if e else None for e in errors] == [
        None,
        "UnauthorizedOperation",
        "UnauthorizedOperation",
        "UnauthorizedOperation",
    ]
    assert errors[1] is not None
    assert errors[1].response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert set(volume_tags(ec2, volume_id)) == {"call-1"}
    assert (injector.calls, injector.injected) == (4, 3)


def test_faults_on_one_operation_count_the_same_calls_when_one_refuses_first(
    engine: LocalEngine,
) -> None:
    # GIVEN CreateTags refused at its first call by one fault, and at its second by another
    first = engine.inject(Fault("ec2.CreateTags", code="UnauthorizedOperation", occurrence=1))
    second = engine.inject(Fault("ec2.CreateTags", code="TagLimitExceeded", occurrence=2))
    ec2 = _client()
    volume_id = ec2.create_volume(AvailabilityZone=AZ, Size=8)["VolumeId"]

    # WHEN CreateTags is called three times
    errors = [_tag(ec2, volume_id, call) for call in (1, 2, 3)]

    # THEN each fault saw every call (the refused first one too) and failed its own call
    assert [e.response["Error"]["Code"] if e else None for e in errors] == [
        "UnauthorizedOperation",
        "TagLimitExceeded",
        None,
    ]
    assert (first.calls, first.injected) == (3, 1)
    assert (second.calls, second.injected) == (3, 1)
    assert set(volume_tags(ec2, volume_id)) == {"call-3"}


@pytest.mark.parametrize(
    ("name", "code", "permanent", "applied"),
    [
        ("Permanent:VolumeLimitExceeded", "VolumeLimitExceeded", True, False),
        ("Once:InvalidVolume.ZoneMismatch", "InvalidVolume.ZoneMismatch", False, False),
        ("ResponseLost", "InternalError", False, True),
    ],
)
def test_fault_named_builds_the_fault_when_name_is_a_kind_or_a_refusal(
    name: str, code: str, permanent: bool, applied: bool
) -> None:
    # GIVEN / WHEN a fault is built from its name in the reliability matrix
    fault = fault_named(name, "ec2.CreateVolume", occurrence=3)

    # THEN it refuses that operation from the given call, once or for good
    assert (fault.operation, fault.occurrence, fault.code) == ("ec2.CreateVolume", 3, code)
    assert (fault.permanent, fault.applied) == (permanent, applied)
    assert fault.covers(3)
    assert fault.covers(4) is permanent
    assert not fault.covers(2)


def test_refusals_answers_each_services_access_denial_when_operation_is_not_listed() -> None:
    # GIVEN / WHEN operations the table does not list, of EC2, SNS and another service
    # THEN each is refused as that service denies a call its policy does not allow
    assert refusals("ec2.RevokeSecurityGroupEgress") == ("UnauthorizedOperation",)
    assert refusals("sns.Subscribe") == ("AuthorizationError",)
    assert refusals("events.PutEvents") == ("AccessDeniedException",)
    assert refusals("ec2.StartInstances")[0] == "InsufficientInstanceCapacity"


def test_fault_status_is_500_when_code_is_a_capacity_shortage() -> None:
    # GIVEN / WHEN capacity shortages, which EC2 lists among its server errors
    # THEN they come with HTTP 500
    assert Fault("ec2.StartInstances", code="InsufficientInstanceCapacity").status == 500
    assert Fault("ec2.CreateVolume", code="InsufficientVolumeCapacity").status == 500


def test_fault_answers_a_function_timeout_after_the_function_ran_when_timed_out(
    engine: LocalEngine,
) -> None:
    # GIVEN the first Invoke's function running past its timeout
    injector = engine.inject(fault_named("FunctionTimedOut", "lambda.Invoke"))
    client = boto3.client("lambda", region_name=REGION)

    # WHEN a workflow function is invoked
    answered = client.invoke(
        FunctionName=engine.function_arn("SummarizeFailure"),
        Payload=json.dumps({"Document": {"Error": {"Error": "X", "Cause": "y"}}}),
    )

    # THEN the function ran, and Lambda reports its timeout in place of its answer
    assert engine.dispatcher is not None
    assert len(engine.dispatcher.invocations) == 1
    assert answered["FunctionError"] == "Unhandled"
    assert json.loads(answered["Payload"].read())["errorType"] == "Sandbox.Timedout"
    assert injector.injected == 1


def test_fault_raises_value_error_when_an_operation_other_than_invoke_times_out() -> None:
    # GIVEN / WHEN / THEN only a function invocation can run past a function's timeout
    with pytest.raises(ValueError, match=re.escape("lambda.Invoke")):
        Fault("ec2.AttachVolume", timed_out=True)


def test_invoke_fault_fails_only_the_named_functions_invocations_when_a_function_is_given(
    engine: LocalEngine,
) -> None:
    # GIVEN Lambda throttling the first invocation of SummarizeFailure's function only
    function = engine.function_arn("SummarizeFailure").rsplit(":", 1)[-1]
    injector = engine.inject(fault_named("InvokeThrottled", f"lambda.Invoke:{function}"))
    client = boto3.client("lambda", region_name=REGION)
    payload = json.dumps({"Document": {"Error": {"Error": "X", "Cause": "y"}}})

    # WHEN another function is invoked, then SummarizeFailure's
    other = client.invoke(FunctionName=engine.function_arn("BuildReport"), Payload=b"{}")
    with pytest.raises(ClientError) as raised:
        client.invoke(FunctionName=engine.function_arn("SummarizeFailure"), Payload=payload)

    # THEN only the named function's invocation was counted and refused
    assert other["StatusCode"] == 200
    assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert (injector.calls, injector.injected) == (1, 1)
