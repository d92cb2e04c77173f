"""DynamoDB throttling on the message and routing paths: a throttled request is retried (botocore, as
configured by pynamodb), and one that stays throttled becomes a clear error with nothing half-written."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.retries.standard import ExponentialBackoff
from moto.core.botocore_stubber import BotocoreStubber

from chalicelib.auth.identity import Identity
from chalicelib.edge.frames import handle_frame
from chalicelib.im.models import MESSAGE_SK_PREFIX, Message
from chalicelib.im.schemas import MessageRef
from chalicelib.routing import queue as q
from chalicelib.routing.models import Agent
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session
from chalicelib.wiring import Services, build
from tests.conftest import RecordingSender, RecordingTimer, routing_config

_original = BotocoreStubber.process_request


class Throttle:
    """Answers chosen DynamoDB requests as DynamoDB does when a partition is over its throughput."""

    def __init__(self) -> None:
        self.rule: Callable[[str, int], bool] = lambda operation, n: False
        self.seen = 0
        self.throttled: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, stubber: BotocoreStubber, request: Any) -> Any:
        if "dynamodb." in request.url:
            operation = str(request.headers.get("X-Amz-Target", b""), "utf-8").rsplit(".", 1)[-1]
            with self._lock:
                self.seen += 1
                hit = self.rule(operation, self.seen)
                if hit:
                    self.throttled.append(operation)
            if hit:
                body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                                   "message": "The level of configured provisioned throughput for the table was "
                                              "exceeded."}).encode()
                return 400, {"x-amzn-requestid": "throttled"}, body
        return _original(stubber, request)


@pytest.fixture
def throttle(monkeypatch: pytest.MonkeyPatch) -> Iterator[Throttle]:
    # The same retries as in Lambda, without their seconds of backoff.
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.001)
    fault = Throttle()
    BotocoreStubber.process_request = lambda self, request: fault(self, request)  # type: ignore[method-assign]
    yield fault
    BotocoreStubber.process_request = _original  # type: ignore[method-assign]


@pytest.fixture
def svc(aws: None, sender: RecordingSender, timer: RecordingTimer, throttle: Throttle) -> Services:
    return build(sender, timer, config=lambda: routing_config(default_capacity=3))


def online(svc: Services, agent_id: str) -> Identity:
    who = Identity(agent_id, "agent", name=agent_id.capitalize())
    svc.presence.connect(f"c-{agent_id}", who)
    svc.routing.set_agent_status(who, "online")
    return who


def visitor(svc: Services, n: int) -> tuple[Identity, Session]:
    who = Identity(f"v_{n}", "visitor", name=f"V{n}", channel="web")
    return who, svc.sessions.current_or_new(who, svc.presence.connect(f"c-v_{n}", who))


def send(svc: Services, who: Identity, session_id: str, cmid: str) -> None:
    handle_frame(svc, f"c-{who.user_id}", json.dumps({"action": "send", "session_id": session_id,
                                                       "client_msg_id": cmid, "type": "text",
                                                       "content": {"text": cmid}}))


def test_every_third_request_throttled_changes_no_outcome(svc: Services, sender: RecordingSender,
                                                          throttle: Throttle) -> None:
    alice, bob = online(svc, "alice"), online(svc, "bob")
    throttle.rule = lambda operation, n: n % 3 == 0
    sessions = []
    for n in range(8):
        who, session = visitor(svc, n)
        handle_frame(svc, f"c-{who.user_id}", json.dumps({"action": "request_agent"}))
        sessions.append((who, session.session_id))
    states = [Session.get(sid, consistent_read=True) for _, sid in sessions]
    assert sorted(s.status for s in states) == [sm.ACTIVE] * 6 + [sm.WAITING] * 2
    assert int(Agent.get("alice").active) + int(Agent.get("bob").active) == 6
    assert int(q.state_of("general").waiting) == 2 == len(q.entries("general"))
    who, sid = next((w, s.session_id) for (w, _), s in zip(sessions, states, strict=True) if s.status == sm.ACTIVE)
    agent = alice if Session.get(sid).agent_id == "alice" else bob
    for i in range(10):
        send(svc, who, sid, f"v{i}")
        send(svc, agent, sid, f"a{i}")
    for msg in Message.query(sid, Message.sk.startswith(MESSAGE_SK_PREFIX)):
        svc.im.ack(agent if msg.recipient_id == agent.user_id else who, MessageRef(sid, int(msg.seq)))
    stored = [m for m in Message.query(sid, Message.sk.startswith(MESSAGE_SK_PREFIX), consistent_read=True)]
    expected = [f"v{i}" for i in range(10)] + [f"a{i}" for i in range(10)]
    assert sorted(m.client_msg_id for m in stored) == sorted(expected)
    assert {m.status for m in stored} == {"delivered"}
    assert len(throttle.throttled) > 20
    assert not [f for c, f in sender.posts if f.get("code") == "internal_error"]


def test_a_send_that_stays_throttled_is_a_clear_error_and_its_resend_goes_through_once(
        svc: Services, sender: RecordingSender, throttle: Throttle) -> None:
    online(svc, "alice")
    who, session = visitor(svc, 1)
    svc.routing.request_agent(who)
    throttle.rule = lambda operation, n: operation == "PutItem"  # the message path's writes, every retry
    send(svc, who, session.session_id, "late-parcel")
    error = sender.frames("c-v_1", "error")[-1]
    assert (error["code"], error["client_msg_id"], error["action"]) == ("internal_error", "late-parcel", "send")
    assert list(Message.query(session.session_id)) == []  # neither the message nor its client-id marker
    throttle.rule = lambda operation, n: False
    send(svc, who, session.session_id, "late-parcel")  # the client resends the same frame, as told
    stored = list(Message.query(session.session_id, Message.sk.startswith(MESSAGE_SK_PREFIX)))
    assert [m.client_msg_id for m in stored] == ["late-parcel"]
    assert sender.frames("c-alice", "message")[-1]["message"]["client_msg_id"] == "late-parcel"


def test_an_assignment_that_stays_throttled_leaves_the_visitor_waiting_for_nothing_half_done(
        svc: Services, sender: RecordingSender, throttle: Throttle) -> None:
    online(svc, "alice")
    _, session = visitor(svc, 1)
    throttle.rule = lambda operation, n: operation == "TransactWriteItems"
    handle_frame(svc, "c-v_1", json.dumps({"action": "request_agent"}))
    assert sender.frames("c-v_1", "error")[-1]["code"] == "internal_error"
    assert Session.get(session.session_id, consistent_read=True).status == sm.BOT
    assert int(Agent.get("alice", consistent_read=True).active) == 0
    assert q.entries("general") == []
    throttle.rule = lambda operation, n: False
    handle_frame(svc, "c-v_1", json.dumps({"action": "request_agent"}))  # asked again: served
    assert Session.get(session.session_id, consistent_read=True).agent_id == "alice"
    assert int(Agent.get("alice", consistent_read=True).active) == 1
