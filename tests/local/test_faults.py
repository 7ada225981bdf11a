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
    [("RequestLimitExceeded", 503), ("InternalError", 500), ("InvalidParameterValue", 400)],
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
