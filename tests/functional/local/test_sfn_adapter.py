"""The real delivery and clock state machines on moto's engine, through the local adapter."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.im.models import Message
from chalicelib.platform import ticks
from chalicelib.platform.statemachines import render
from local import sfn_adapter

ARN = "arn:aws:lambda:us-east-1:123456789012:function:delivery_step"
CLOCK_ARN = "arn:aws:lambda:us-east-1:123456789012:function:clock_step"
ROLE = "arn:aws:iam::123456789012:role/local"


class RecordingStep:
    """Stands in for the delivery_step Lambda: records each call; resends return the next attempt."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []
        self.fail_with: Exception | None = None
        self.service_errors: list[str] = []  # the Lambda service refuses the next calls with these codes
        self.on_call: Callable[[], None] | None = None
        self.waits: list[float] = []  # the engine's waits asked for, in seconds (each lasts a hundredth)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.calls.append((event["op"], event["sk"], event["attempt"]))
        if self.on_call:
            self.on_call()
        if self.service_errors:
            raise sfn_adapter.LambdaServiceError(self.service_errors.pop(0))
        if self.fail_with:
            raise self.fail_with
        return {"attempt": event["attempt"] + 1} if event["op"] == "resend" else {"failed": True}


@pytest.fixture
def step(aws: None) -> Iterator[RecordingStep]:
    recorder = RecordingStep()
    sfn_adapter.install({"delivery_step": recorder})
    recorder.waits = sfn_adapter.scale_time(0.01)
    yield recorder
    sfn_adapter.uninstall()


def create_machine(definition: str, name: str = "delivery", kind: str = "EXPRESS") -> str:
    arn: str = boto3.client("stepfunctions").create_state_machine(
        name=name, definition=definition, type=kind, roleArn=ROLE)["stateMachineArn"]
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


def test_a_raising_step_is_retried_once_then_the_message_is_ended_without_it(step: RecordingStep) -> None:
    step.fail_with = RuntimeError("boom")
    message("m#4", "pending")
    [described] = settle(start(delivery_machine(), "m#4"))
    assert described["status"] == "SUCCEEDED"
    # Resend fails twice (one retry of a function error), the catch gives up, and that fails twice too:
    # the machine then removes the pending message itself.
    assert step.calls == [("resend", "m#4", 1)] * 2 + [("fail", "m#4", 1)] * 2
    assert Message.count("s_1", Message.sk == "m#4") == 0


def test_lambda_service_errors_are_retried_and_the_delivery_goes_on(step: RecordingStep) -> None:
    step.service_errors = ["ServiceException", "AWSLambdaException", "TooManyRequestsException"]
    message("m#5", "pending")
    assert statuses(settle(start(delivery_machine(), "m#5"))) == ["SUCCEEDED"]
    # Three refused calls, then the same resend succeeds; the message ends as usual.
    assert step.calls == [("resend", "m#5", 1)] * 4 + [("resend", "m#5", 2), ("fail", "m#5", 3)]
    # The ACK wait; the refused calls retried after 1, 2 and 4 s (backoff 2); then each attempt's ACK wait.
    assert step.waits == [1, 1, 2, 4, 1, 1]


def test_an_acked_message_is_left_alone_by_the_direct_end(step: RecordingStep) -> None:
    # The step keeps failing while the recipient's ACK lands: the fallback's condition keeps the message.
    step.fail_with = RuntimeError("boom")
    step.on_call = lambda: Message("s_1", "m#6").update(actions=[Message.status.set("delivered")])
    message("m#6", "pending")
    assert statuses(settle(start(delivery_machine(), "m#6"))) == ["SUCCEEDED"]
    assert Message.get("s_1", "m#6").status == "delivered"


def test_an_execution_that_cannot_end_its_message_fails_visibly(step: RecordingStep) -> None:
    # No table to read or write, and a step that fails: the execution fails with a name alarms can count.
    step.fail_with = RuntimeError("boom")
    arn = create_machine(render("delivery", {"MessagesTable": "no-such-table", "DeliveryStepFunctionArn": ARN}))
    [described] = settle(start(arn, "m#7"))
    assert (described["status"], described["error"]) == ("FAILED", "DeliveryUnsettled")
    assert [op for op, _, _ in step.calls] == ["fail", "fail"]


def test_the_clock_runs_its_rounds_in_order_and_a_failed_operation_does_not_stop_it(aws: None) -> None:
    calls: list[dict[str, Any]] = []

    def step(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(event)
        if event.get("shards") == [1] and sum(1 for c in calls if c.get("shards") == [1]) == 1:
            raise RuntimeError("DynamoDB is having a bad minute")  # shard 1, in the first round
        return {"op": event["op"], "woken": 0}

    sfn_adapter.install({"clock_step": step})
    waits = sfn_adapter.scale_time(0.01)
    try:
        arn = create_machine(render("clock", {"ClockStepFunctionArn": CLOCK_ARN}), name="clock")
        rounds = ticks.rounds(period_seconds=15, round_seconds=5, tick_seconds=10, shards=2)
        execution = boto3.client("stepfunctions").start_execution(
            stateMachineArn=arn, name="clock-1", input=json.dumps({"rounds": rounds}))["executionArn"]
        [described] = settle(execution)
    finally:
        sfn_adapter.uninstall()
    assert described["status"] == "SUCCEEDED"
    # Three rounds of 5 s: the queue tick in the first and the third (every 10 s), both shards swept and the
    # dashboard's changes pushed in each; shard 1's failure left the rest of its round and the later rounds to
    # run (the next round is its retry).
    ops = [(c["op"], c.get("shards")) for c in calls]
    assert sorted(ops, key=str) == sorted([("tick", None)] * 2 + [("sweep", [0])] * 3 + [("sweep", [1])] * 3
                                          + [("dashboard", None)] * 3, key=str)
    in_order = [c["op"] for c in calls]  # a round's operations run side by side, rounds one after another
    assert (in_order[:4].count("tick"), in_order[4:7].count("tick"), in_order[7:].count("tick")) == (1, 0, 1)
    assert waits.count(5) == 3  # a pause after each round


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

    def refused(event: dict[str, Any], context: Any) -> None:
        raise sfn_adapter.LambdaServiceError("TooManyRequestsException", 429)

    # A service error is the call failing, not the function: the engine names it Lambda.<code>.
    with pytest.raises(ClientError) as info:
        sfn_adapter.InProcessLambda({"refused": refused}).invoke(FunctionName="refused", Payload=b"{}")
    assert info.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


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
