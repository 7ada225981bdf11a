"""Lambda Invoke calls answered in-process by the task handlers in ``functions/``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import quote

import boto3
import pytest
from botocore.exceptions import ClientError

from vss_restore.local import LocalEngine
from vss_restore.local.lambda_dispatch import _function_name

REGION = "us-east-1"
UNKNOWN_INSTANCE = "i-0123456789abcdef0"


def _invoke(function_name: str, payload: Mapping[str, object]) -> tuple[dict[str, object], object]:
    response = boto3.client("lambda", region_name=REGION).invoke(
        FunctionName=function_name, Payload=json.dumps(payload)
    )
    return dict(response), json.loads(response["Payload"].read())


def test_invoke_returns_the_handler_result_when_function_is_a_workflow_task(
    engine: LocalEngine,
) -> None:
    # GIVEN the engine, which serves the workflow's functions in-process
    assert engine.dispatcher is not None

    # WHEN SummarizeFailure is invoked by its ARN
    response, result = _invoke(
        engine.function_arn("SummarizeFailure"),
        {"Document": {"Error": {"Error": "X", "Cause": "y"}}},
    )

    # THEN the answer is the handler's JSON result, with no function error
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert isinstance(result, dict)
    assert result["Error"] == "X"
    assert result["Cause"].startswith("X: y")
    assert engine.dispatcher.invocations == ["vss-restore-summarize_failure"]


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [({"Foo": 1}, "Foo"), ({"DryRun": "yes"}, "DryRun")],
)
def test_invoke_reports_unhandled_function_error_when_handler_raises(
    engine: LocalEngine, request_fields: dict[str, object], field: str
) -> None:
    # GIVEN a restore request with a bad field
    event = {
        "Request": {"InstanceId": UNKNOWN_INSTANCE, **request_fields},
        "Execution": "arn:aws:states:us-east-1:123456789012:execution:vss-restore:x",
        "StartedAt": "2024-01-01T00:00:00+00:00",
    }

    # WHEN ValidateRequest is invoked with it
    response, error = _invoke(engine.function_arn("ValidateRequest"), event)

    # THEN Lambda's Unhandled error comes back, typed with the exception's class and naming the field
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert isinstance(error, dict)
    assert error["errorType"] == "InvalidRequest"
    assert error["errorMessage"].startswith(f"{field}: ")
    assert error["stackTrace"]
    assert engine.dispatcher is not None
    assert engine.dispatcher.invocations == ["vss-restore-validate_request"]


def test_invoke_is_left_to_the_emulator_when_function_is_not_a_workflow_task(
    engine: LocalEngine,
) -> None:
    # GIVEN a function name the workflow does not have

    # WHEN it is invoked
    with pytest.raises(ClientError) as raised:
        _invoke("someone-elses-function", {})

    # THEN the emulator answers (it has no such function) and nothing was dispatched
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert engine.dispatcher is not None
    assert engine.dispatcher.invocations == []


def test_dispatcher_records_each_task_invocation_when_the_state_machine_runs(
    engine: LocalEngine,
) -> None:
    # GIVEN a request for an instance that does not exist

    # WHEN the state machine runs it
    result = engine.run({"InstanceId": UNKNOWN_INSTANCE})

    # THEN the tasks it went through were answered by the dispatcher, in order
    assert result.status == "FAILED"
    assert result.error == "InstanceNotFound"
    assert engine.dispatcher is not None
    assert engine.dispatcher.invocations == [
        "vss-restore-validate_request",
        "vss-restore-summarize_failure",
    ]


ARN = "arn:aws:lambda:us-east-1:123456789012:function:vss-restore-plan_restore"


@pytest.mark.parametrize(
    "target",
    [
        "vss-restore-plan_restore",
        quote(ARN, safe=""),
        ARN,
        quote(f"{ARN}:$LATEST", safe=""),
        quote("vss-restore-plan_restore:live", safe=""),
        quote("123456789012:function:vss-restore-plan_restore", safe=""),
    ],
)
def test_function_name_is_the_bare_name_when_url_path_names_a_name_or_an_arn(target: str) -> None:
    # GIVEN an Invoke URL path naming the function by name, ARN, partial ARN or with a qualifier
    url_path = f"/2015-03-31/functions/{target}/invocations"

    # WHEN the function name is read from it
    name = _function_name(url_path)

    # THEN it is the bare function name
    assert name == "vss-restore-plan_restore"
