"""No session without its lifecycle timer: a throttled ``StartExecution`` after an assignment is repaired by
the minute tick, under the execution name the assignment chose, so each timer runs exactly once."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.auth.identity import Identity
from chalicelib.config.model import SessionPolicy
from chalicelib.im.schemas import SendFrame
from chalicelib.platform.statemachines import render
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session
from chalicelib.sessions.timers import StepFunctionsSessionTimer
from local import dynamodb_atomic, sfn_adapter
from tests.conftest import RecordingSender, RecordingTimer, routing_config
from tests.functional.local.test_sfn_adapter import LIFECYCLE_ARN, create_machine
from tests.functional.routing.test_service import Clock, World

SESSIONS = 50
POLICY = SessionPolicy(idle_warn_seconds=1, idle_close_seconds=1, reconnect_grace_seconds=60, agent_grace_seconds=0)


class ThrottledStepFunctions:
    """A Step Functions client whose first ``throttle`` starts are refused as AWS refuses them at a peak; the
    rest go to ``real`` (moto's engine, or nowhere). Records every start it let through."""

    def __init__(self, throttle: int, real: Any = None) -> None:
        self.throttle = throttle
        self.real = real
        self.refused = 0
        self.started: list[str] = []
        self.already: set[str] = set()  # names Step Functions already knows (answered ExecutionAlreadyExists)

    def start_execution(self, **params: Any) -> dict[str, Any]:
        if self.refused < self.throttle:
            self.refused += 1
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "StartExecution")
        if params["name"] in self.already or params["name"] in self.started:
            raise ClientError({"Error": {"Code": "ExecutionAlreadyExists", "Message": "exists"}}, "StartExecution")
        self.started.append(params["name"])
        return dict(self.real.start_execution(**params)) if self.real else {"executionArn": params["name"]}

    def stop_execution(self, **params: Any) -> dict[str, Any]:
        return dict(self.real.stop_execution(**params)) if self.real else {}


def staffed_world(sender: RecordingSender, timer: RecordingTimer, client: ThrottledStepFunctions,
                  machine: str = "arn:aws:states:us-east-1:123456789012:stateMachine:lifecycle") -> World:
    world = World(sender, timer, Clock(), [routing_config(default_capacity=SESSIONS // 2, sessions=POLICY)],
                  session_timer=StepFunctionsSessionTimer(machine, client=lambda: client))
    world.rebuild(real_clock=True)
    world.agent("alice")
    world.agent("bob")
    return world


def assign(world: World, n: int) -> list[tuple[Identity, Session]]:
    out = []
    for i in range(n):
        visitor = world.visitor(i)
        session = world.svc.routing.request_agent(visitor)  # a throttled timer is no error to the visitor
        assert session.status == sm.ACTIVE
        out.append((visitor, session))
    return out


def awaiting() -> list[str]:
    return [s.session_id for s in Session.scan() if s.timer_shard is not None]


@pytest.fixture
def lifecycle_machine(aws: None) -> Iterator[str]:
    # The engine's executions write sessions from their own threads while the test does: each request must be
    # atomic, as DynamoDB's are (moto's read-modify-write is not; the local stack makes it so the same way).
    dynamodb_atomic.install()
    yield create_machine(render("lifecycle", {"LifecycleStepFunctionArn": LIFECYCLE_ARN}), name="lifecycle",
                         kind="STANDARD")
    sfn_adapter.uninstall()
    dynamodb_atomic.uninstall()


def test_throttled_timer_starts_during_fifty_assignments_are_repaired_and_every_session_closes_on_idle(
        lifecycle_machine: str, sender: RecordingSender, timer: RecordingTimer) -> None:
    client = ThrottledStepFunctions(throttle=30, real=boto3.client("stepfunctions"))
    world = staffed_world(sender, timer, client, lifecycle_machine)
    sfn_adapter.install({"lifecycle_step": lambda event, context: world.svc.lifecycle.step(event)})
    chats = assign(world, SESSIONS)
    assert client.refused == 30 and len(client.started) == SESSIONS - 30
    for _, session in chats:  # the agent asks, nobody answers: the idle clock runs in every session
        agent = Identity(user_id=str(session.agent_id), role="agent", name="Agent")
        world.svc.im.send(agent, f"c-{agent.user_id}", SendFrame(session.session_id, "c1", "text", {"text": "Hi?"}))
    assert len(awaiting()) == 30

    assert world.svc.lifecycle.repair_timers(older_than_seconds=0) == 30  # the minute tick
    assert awaiting() == []

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        ended = [Session.get(s.session_id, consistent_read=True) for _, s in chats]
        if all(s.status == sm.CLOSED for s in ended):
            break
        time.sleep(0.5)
    assert [(s.status, s.close_reason) for s in ended] == [(sm.CLOSED, sm.IDLE_TIMEOUT)] * SESSIONS
    # One execution per session, under the name its assignment chose; none started twice.
    assert sorted(client.started) == sorted(str(s.timer) for s in ended)
    assert Counter(client.started).most_common(1)[0][1] == 1


def test_a_throttled_repair_stops_and_the_next_tick_goes_on(
        aws: None, sender: RecordingSender, timer: RecordingTimer) -> None:
    client = ThrottledStepFunctions(throttle=10)
    world = staffed_world(sender, timer, client)
    assign(world, 10)
    assert len(awaiting()) == 10
    client.throttle = 11  # the bucket is still empty when the tick runs
    assert world.svc.lifecycle.repair_timers(older_than_seconds=0) == 0
    assert client.refused == 11  # it stopped at the first refusal rather than hammer an empty bucket
    assert len(awaiting()) == 10
    assert world.svc.lifecycle.repair_timers(older_than_seconds=0) == 10
    assert awaiting() == [] and len(client.started) == 10


def test_a_fresh_need_waits_and_a_started_or_ended_one_is_only_cleared(
        aws: None, sender: RecordingSender, timer: RecordingTimer) -> None:
    client = ThrottledStepFunctions(throttle=3)
    world = staffed_world(sender, timer, client)
    (v0, s0), (_, s1), (_, s2) = assign(world, 3)
    # Just asked for: most likely being started right now, so the tick leaves it to its assigner.
    assert world.svc.lifecycle.repair_timers() == 0
    # s1's start went through but its mark stayed (the clearing write was lost); s0 ended meanwhile.
    client.already.add(str(Session.get(s1.session_id).timer))
    world.svc.sessions.end_session(v0, s0.session_id)
    assert world.svc.lifecycle.repair_timers(older_than_seconds=0) == 2
    assert awaiting() == []
    assert client.started == [str(Session.get(s2.session_id).timer)]
