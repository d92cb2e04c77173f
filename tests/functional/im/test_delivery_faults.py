"""A failing delivery Lambda on the real delivery state machine (moto's engine, through the local adapter):
whatever fails, no message stays ``pending`` and its sender learns it failed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib.auth.identity import Identity
from chalicelib.im import delivery
from chalicelib.im.models import MESSAGE_SK_PREFIX, Message
from chalicelib.im.schemas import SendFrame
from chalicelib.platform.statemachines import render
from local import sfn_adapter
from tests.conftest import RecordingSender, RecordingTimer, routing_config
from tests.functional.local.test_sfn_adapter import ARN, create_machine, settle
from tests.functional.routing.test_service import Clock, World


class FaultyStep:
    """The delivery_step Lambda over the world's services, with faults: ``down`` makes the Lambda service
    refuse every call (``Lambda.ServiceException``), ``broken`` makes these ops raise inside the function."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.down = False
        self.broken: set[str] = set()
        self.calls: list[str] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.calls.append(event["op"])
        if self.down:
            raise sfn_adapter.LambdaServiceError("ServiceException")
        if event["op"] in self.broken:
            raise RuntimeError(f"{event['op']} is broken")
        return delivery.run_step(self.world.svc.im, event)


@pytest.fixture
def world(aws: None, sender: RecordingSender, timer: RecordingTimer) -> World:
    return World(sender, timer, Clock(), [routing_config(default_capacity=2)])


@pytest.fixture
def step(world: World) -> Iterator[FaultyStep]:
    faulty = FaultyStep(world)
    sfn_adapter.install({"delivery_step": faulty})
    sfn_adapter.scale_time(0.01)
    yield faulty
    sfn_adapter.uninstall()


def chat(world: World) -> tuple[Identity, str]:
    world.agent("alice")
    visitor = world.visitor(1)
    session = world.ask(visitor)
    return visitor, session.session_id


def send(world: World, who: Identity, session_id: str, client_msg_id: str) -> None:
    world.svc.im.send(who, f"c-{who.user_id}", SendFrame(session_id, client_msg_id, "text", {"text": "hello?"}))


def run_delivery(world: World) -> dict[str, Any]:
    """Start the real definition for the last message sent, as StepFunctionsTimer would, and wait for it."""
    session_id, sk, seq = world.timer.started[-1]
    arn = create_machine(render("delivery", {"MessagesTable": Message.Meta.table_name,
                                             "DeliveryStepFunctionArn": ARN}), name=f"delivery-{uuid.uuid4().hex[:6]}")
    execution = boto3.client("stepfunctions").start_execution(
        stateMachineArn=arn, name=f"{session_id}-{seq}",
        input=json.dumps(delivery.execution_input(session_id, sk, 1, 1)))["executionArn"]
    [described] = settle(execution, timeout=90)
    return described


def pending(session_id: str) -> list[Message]:
    return [m for m in Message.query(session_id, Message.sk.startswith(MESSAGE_SK_PREFIX), consistent_read=True)
            if m.status == "pending"]


def test_a_delivery_lambda_that_keeps_failing_still_ends_the_message_and_the_resend_learns_it(
        world: World, step: FaultyStep) -> None:
    visitor, session_id = chat(world)
    send(world, visitor, session_id, "c1")  # alice never ACKs
    step.down = True
    described = run_delivery(world)
    assert described["status"] == "SUCCEEDED"
    # Each Lambda step was tried four times (three retries), then the machine ended the message itself.
    assert step.calls == ["resend"] * 4 + ["fail"] * 4
    assert pending(session_id) == []
    # The sender could not be told by the broken Lambda; its resend of the same frame is answered.
    assert world.frames(visitor.user_id, "send_failed") == []
    send(world, visitor, session_id, "c1")
    [failed] = world.frames(visitor.user_id, "send_failed")
    assert (failed["client_msg_id"], failed["session_id"]) == ("c1", session_id)
    # The resend stored nothing new (it took a sequence number: numbers may skip).
    assert list(Message.query(session_id, Message.sk.startswith(MESSAGE_SK_PREFIX))) == []


def test_a_resend_that_keeps_failing_gives_up_and_tells_the_sender(world: World, step: FaultyStep) -> None:
    visitor, session_id = chat(world)
    send(world, visitor, session_id, "c2")
    step.broken = {"resend"}
    described = run_delivery(world)
    assert described["status"] == "SUCCEEDED"
    assert step.calls == ["resend", "resend", "fail"]
    assert pending(session_id) == []
    [failed] = world.frames(visitor.user_id, "send_failed")
    assert failed["client_msg_id"] == "c2"
