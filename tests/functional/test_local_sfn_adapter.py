"""The real delivery state machine on moto's engine, through the local adapter."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.im.models import Message
from chalicelib.platform.statemachines import render
from local import sfn_adapter

ARN = "arn:aws:lambda:us-east-1:123456789012:function:delivery_step"
ROLE = "arn:aws:iam::123456789012:role/local"


class RecordingStep:
    """Stands in for the delivery_step Lambda: records each call; resends return the next attempt."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []
        self.fail_with: Exception | None = None

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.calls.append((event["op"], event["sk"], event["attempt"]))
        if self.fail_with:
            raise self.fail_with
        return {"attempt": event["attempt"] + 1} if event["op"] == "resend" else {"failed": True}


@pytest.fixture
def step(aws: None) -> Iterator[RecordingStep]:
    recorder = RecordingStep()
    sfn_adapter.install({"delivery_step": recorder})
    yield recorder
    sfn_adapter.uninstall()


def create_machine(definition: str, name: str = "delivery") -> str:
    arn: str = boto3.client("stepfunctions").create_state_machine(
        name=name, definition=definition, type="EXPRESS", roleArn=ROLE)["stateMachineArn"]
    return arn


def delivery_machine() -> str:
    return create_machine(render("delivery", {"MessagesTable": Message.Meta.table_name,
                                              "DeliveryStepFunctionArn": ARN}))


def message(sk: str, status: str) -> None:
    Message("s_1", sk, status=status).save()


def start(arn: str, sk: str) -> str:
    execution: str = boto3.client("stepfunctions").start_execution(
        stateMachineArn=arn, name=f"{sk.replace('#', '-')}-{uuid.uuid4().hex[:8]}",
        input=json.dumps({"session_id": "s_1", "sk": sk, "wait_seconds": 1, "retry_wait_seconds": 1, "attempt": 1,
                          "max_attempts": 3}),
    )["executionArn"]
    return execution


def settle(*executions: str, timeout: float = 40) -> list[dict[str, Any]]:
    """Poll until no execution is RUNNING (or the timeout passes); returns their descriptions."""
    sfn: Any = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        described = [sfn.describe_execution(executionArn=e) for e in executions]
        if all(d["status"] != "RUNNING" for d in described) or time.monotonic() > deadline:
            return described
        time.sleep(0.1)


def statuses(described: list[dict[str, Any]]) -> list[str]:
    return [d["status"] for d in described]


def test_unacked_message_is_resent_twice_then_given_up(step: RecordingStep) -> None:
    message("m#1", "pending")
    assert statuses(settle(start(delivery_machine(), "m#1"))) == ["SUCCEEDED"]
    assert step.calls == [("resend", "m#1", 1), ("resend", "m#1", 2), ("fail", "m#1", 3)]


def test_acked_message_needs_no_lambda(step: RecordingStep) -> None:
    message("m#2", "delivered")
    assert statuses(settle(start(delivery_machine(), "m#2"))) == ["SUCCEEDED"]
    assert step.calls == []


def test_a_message_already_gone_ends_quietly(step: RecordingStep) -> None:
    assert statuses(settle(start(delivery_machine(), "m#3"))) == ["SUCCEEDED"]
    assert step.calls == []


def test_a_raising_function_fails_the_task_and_the_execution(step: RecordingStep) -> None:
    step.fail_with = RuntimeError("boom")
    message("m#4", "pending")
    [described] = settle(start(delivery_machine(), "m#4"))
    assert described["status"] == "FAILED"
    # As on AWS: the error is the exception's type, the cause Lambda's error payload.
    assert described["error"] == "RuntimeError"
    assert json.loads(described["cause"]) == {"errorType": "RuntimeError", "errorMessage": "boom"}
    # An "Unhandled" function error is not in the Task's Retry list, so the step ran once.
    assert step.calls == [("resend", "m#4", 1)]


def test_many_concurrent_executions_settle_independently(step: RecordingStep) -> None:
    # 50 executions of one definition share one cached parse; each must keep its own state.
    arn = delivery_machine()
    sks = [f"m#{i:03d}" for i in range(50)]
    for i, sk in enumerate(sks):
        message(sk, "pending" if i % 2 == 0 else "delivered")
    assert statuses(settle(*(start(arn, sk) for sk in sks), timeout=120)) == ["SUCCEEDED"] * 50
    by_sk: dict[str, list[tuple[str, int]]] = {}
    for op, sk, attempt in step.calls:
        by_sk.setdefault(sk, []).append((op, attempt))
    assert by_sk == {sk: [("resend", 1), ("resend", 2), ("fail", 3)] for sk in sks[::2]}


def test_a_plain_function_arn_resource_runs_the_function(aws: None) -> None:
    calls: list[dict[str, Any]] = []

    def double(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(event)
        return {"n": event["n"] * 2, "function": context.function_name}

    sfn_adapter.install({"double": double})
    try:
        arn = create_machine(json.dumps({"StartAt": "Double", "States": {"Double": {
            "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:double", "End": True}}}),
            name="plain")
        execution = boto3.client("stepfunctions").start_execution(
            stateMachineArn=arn, name="plain-1", input=json.dumps({"n": 21}))["executionArn"]
        [described] = settle(execution)
    finally:
        sfn_adapter.uninstall()
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"n": 42, "function": "double"}
    assert calls == [{"n": 21}]


def test_invoke_answers_like_lambda() -> None:
    def broken(event: dict[str, Any], context: Any) -> None:
        raise KeyError("x")

    invoker = sfn_adapter.InProcessLambda({"ok": lambda event, context: {"got": event}, "broken": broken})
    ok = invoker.invoke(FunctionName="arn:aws:lambda:us-east-1:123456789012:function:ok", Payload=b'{"a": 1}')
    assert (ok["StatusCode"], "FunctionError" in ok, json.load(ok["Payload"])) == (200, False, {"got": {"a": 1}})
    failed = invoker.invoke(FunctionName="broken", Payload="{}")
    assert failed["FunctionError"] == "Unhandled"
    assert json.load(failed["Payload"]) == {"errorType": "KeyError", "errorMessage": "'x'"}
    with pytest.raises(ClientError) as info:
        invoker.invoke(FunctionName="missing", Payload=b"{}")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_uninstall_restores_the_engine() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.utils import boto_client

    original_parse = AmazonStateLanguageParser.parse
    sfn_adapter.install({})
    assert getattr(lambda_eval_utils, "boto_client_for") is not boto_client.boto_client_for  # noqa: B009
    sfn_adapter.uninstall()
    assert getattr(lambda_eval_utils, "boto_client_for") is boto_client.boto_client_for  # noqa: B009
    assert all(m.boto_client_for is boto_client.boto_client_for for m in sfn_adapter._engine_modules())
    assert AmazonStateLanguageParser.parse is original_parse
