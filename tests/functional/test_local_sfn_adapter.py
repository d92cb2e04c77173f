"""The real delivery state machine on moto's engine, through the local adapter."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib.im.models import Message
from chalicelib.platform.statemachines import render
from local import sfn_adapter

ARN = "arn:aws:lambda:us-east-1:123456789012:function:delivery_step"


class RecordingStep:
    """Stands in for the delivery_step Lambda: records each call, resends succeed."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.calls: list[tuple[str, str, int]] = []
        self.fail_with = fail_with

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


def machine() -> str:
    definition = render("delivery", {"MessagesTable": Message.Meta.table_name, "DeliveryStepFunctionArn": ARN})
    arn: str = boto3.client("stepfunctions").create_state_machine(
        name="delivery", definition=definition, type="EXPRESS",
        roleArn="arn:aws:iam::123456789012:role/x")["stateMachineArn"]
    return arn


def message(sk: str, status: str) -> None:
    Message("s_1", sk, status=status).save()


def start(arn: str, sk: str) -> str:
    execution: str = boto3.client("stepfunctions").start_execution(
        stateMachineArn=arn, name=sk.replace("#", "-"),
        input=json.dumps({"session_id": "s_1", "sk": sk, "wait_seconds": 1, "attempt": 1, "max_attempts": 3}),
    )["executionArn"]
    return execution


def settle(*executions: str, timeout: float = 40) -> list[str]:
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        statuses = [sfn.describe_execution(executionArn=e)["status"] for e in executions]
        if "RUNNING" not in statuses or time.monotonic() > deadline:
            return statuses
        time.sleep(0.1)


def test_unacked_message_is_resent_twice_then_given_up(step: RecordingStep) -> None:
    message("m#1", "pending")
    assert settle(start(machine(), "m#1")) == ["SUCCEEDED"]
    assert step.calls == [("resend", "m#1", 1), ("resend", "m#1", 2), ("fail", "m#1", 3)]


def test_acked_message_needs_no_lambda(step: RecordingStep) -> None:
    message("m#2", "delivered")
    assert settle(start(machine(), "m#2")) == ["SUCCEEDED"]
    assert step.calls == []


def test_a_message_already_gone_ends_quietly(step: RecordingStep) -> None:
    assert settle(start(machine(), "m#3")) == ["SUCCEEDED"]
    assert step.calls == []


def test_a_failing_step_fails_the_execution(step: RecordingStep) -> None:
    step.fail_with = RuntimeError("boom")
    message("m#4", "pending")
    assert settle(start(machine(), "m#4")) == ["FAILED"]
    assert step.calls[0] == ("resend", "m#4", 1)


def test_many_concurrent_executions_settle_independently(step: RecordingStep) -> None:
    arn = machine()
    for i in range(40):
        message(f"m#{i:03d}", "pending" if i % 2 == 0 else "delivered")
    statuses = settle(*(start(arn, f"m#{i:03d}") for i in range(40)), timeout=90)
    assert statuses == ["SUCCEEDED"] * 40
    by_sk: dict[str, list[str]] = {}
    for op, sk, _ in step.calls:
        by_sk.setdefault(sk, []).append(op)
    assert by_sk == {f"m#{i:03d}": ["resend", "resend", "fail"] for i in range(0, 40, 2)}


def test_uninstall_restores_the_engine() -> None:
    from moto.stepfunctions.parser.asl.utils import boto_client

    sfn_adapter.install({})
    sfn_adapter.uninstall()
    assert all(m.boto_client_for is boto_client.boto_client_for for m in sfn_adapter._engine_modules())
