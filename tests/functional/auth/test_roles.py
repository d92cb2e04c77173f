"""Who may do what: every REST route and every WebSocket action against every kind of caller, each denial
with its exact status or code. A route or action added without a line here fails the completeness checks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.auth.devidp import dev_idp
from chalicelib.auth.identity import Identity
from chalicelib.auth.tokens import issue_visitor_token
from chalicelib.edge.frames import ACTIONS, handle_frame
from chalicelib.wiring import Services, build, override
from tests.conftest import RecordingSender, RecordingTimer, group, routing_config

ANON, EXPIRED, VISITOR, OTHER_VISITOR, AGENT, OTHER_AGENT, SUPERVISOR, ADMIN = (
    "anonymous", "expired", "visitor", "other visitor", "agent", "other agent", "supervisor", "admin")
CALLERS = (ANON, EXPIRED, VISITOR, OTHER_VISITOR, AGENT, OTHER_AGENT, SUPERVISOR, ADMIN)
EVERYONE = frozenset(CALLERS)
SIGNED_IN = EVERYONE - {ANON, EXPIRED}
STAFF = frozenset({AGENT, OTHER_AGENT, SUPERVISOR, ADMIN})
OVERSEERS = frozenset({SUPERVISOR, ADMIN})
# alice serves the visitor's session in group general; bob is an agent of another group only; carol supervises
# general (config/dev_users.json).
CONFIG = routing_config([group("general", ["alice"]), group("cosmetics", ["bob"])], default_capacity=20)


@dataclass
class World:
    svc: Services
    client: Client
    tokens: dict[str, str | None]
    session_id: str
    ticket_id: str


@pytest.fixture
def world(aws: None, sender: RecordingSender, timer: RecordingTimer) -> Iterator[World]:
    svc = build(sender, timer, config=lambda: CONFIG)
    override(svc)
    vera = Identity("v_vera", "visitor", name="Vera", channel="web")
    session = svc.sessions.current_or_new(vera, svc.presence.connect("c-vera", vera))
    alice = Identity("alice", "agent", name="Alice", groups=("general",))
    svc.presence.connect("c-alice", alice)
    svc.routing.set_agent_status(alice, "online")
    assert svc.routing.request_agent(vera).agent_id == "alice"
    from chalicelib.tickets.service import Draft

    ticket = svc.tickets.create(alice, Draft(subject="Parcel late", session_id=session.session_id))
    idp = dev_idp()
    tokens: dict[str, str | None] = {
        ANON: None,
        EXPIRED: idp.login("alice", "demo", now=time.time() - 2 * 86400)[0],
        VISITOR: issue_visitor_token("v_vera", "Vera", "web", None, None)[0],
        OTHER_VISITOR: issue_visitor_token("v_olga", "Olga", "web", None, None)[0],
        AGENT: idp.login("alice", "demo")[0],
        OTHER_AGENT: idp.login("bob", "demo")[0],
        SUPERVISOR: idp.login("carol", "demo")[0],
        ADMIN: idp.login("admin", "demo")[0],
    }
    with Client(app) as client:
        yield World(svc, client, tokens, session.session_id, ticket.ticket_id)


# (method, path template, body, who may): the rest are refused, 401 without a valid token, else 403.
REST: list[tuple[str, str, dict[str, Any] | None, frozenset[str]]] = [
    ("GET", "/health", None, EVERYONE),
    ("GET", "/auth/jwks", None, EVERYONE),
    ("GET", "/auth/config", None, EVERYONE),
    ("POST", "/auth/login", {"username": "alice", "password": "demo"}, EVERYONE),
    ("POST", "/visitors/token", {"channel": "web"}, EVERYONE),
    ("GET", "/sessions", None, SIGNED_IN),
    ("GET", "/sessions/{session}/messages", None, frozenset({VISITOR, AGENT, SUPERVISOR, ADMIN})),
    ("GET", "/visitors/v_vera/sessions", None, STAFF),
    # Every staff member searches; what each one finds is tests/functional/conversations/test_search.py's.
    ("GET", "/conversations", None, STAFF),
    ("GET", "/dashboard", None, OVERSEERS),
    ("GET", "/left-messages", None, STAFF),
    # Each caller's own view (tests/functional/reports/test_api.py refuses what is beyond it).
    ("GET", "/reports", {"query": "from=2026-12-01&to=2026-12-07"}, STAFF),
    ("GET", "/transfer-targets", None, STAFF),
    ("GET", "/wrapup-reasons", None, STAFF),
    ("GET", "/canned-replies", None, STAFF),
    ("POST", "/canned-replies", {"group_id": "general", "language": "en", "shortcut": "hi", "text": "Hello"},
     OVERSEERS),
    # No such reply: 404 for those allowed.
    ("PUT", "/canned-replies/general/r_0123456789abcdef", {"text": "Hi"}, OVERSEERS),
    ("DELETE", "/canned-replies/general/r_0123456789abcdef", None, OVERSEERS),
    ("GET", "/orders", {"query": "customer_id=c_1001"}, STAFF),
    ("GET", "/orders/SO-88121", None, STAFF),
    ("GET", "/products/recommendations", None, STAFF),
    ("GET", "/faqs", None, STAFF),
    ("GET", "/faqs/no-such-faq", None, STAFF),
    ("POST", "/faqs", {"question": "Q?", "answer": "A."}, frozenset({ADMIN})),
    ("PUT", "/faqs/no-such-faq", {"answer": "A."}, frozenset({ADMIN})),
    ("DELETE", "/faqs/no-such-faq", None, frozenset({ADMIN})),
    ("POST", "/faqs/import", {"format": "jsonl", "content": ""}, frozenset({ADMIN})),
    ("GET", "/faqs/export", None, frozenset({ADMIN})),
    ("POST", "/faqs/reindex", None, frozenset({ADMIN})),
    ("GET", "/faqs/reindex", None, frozenset({ADMIN})),
    ("GET", "/faqs/reindex/0123456789abcdef01234", None, frozenset({ADMIN})),
    ("GET", "/robot/settings", None, STAFF),
    ("PUT", "/robot/settings", {"threshold": 0.6}, frozenset({ADMIN})),
    ("POST", "/robot/try", {"question": "Where is my parcel?"}, STAFF),
    ("GET", "/robot/learning", None, frozenset({ADMIN})),
    ("POST", "/robot/learning/g_0123456789abcdef/similar", {"faq_id": "no-such-faq"}, frozenset({ADMIN})),
    ("POST", "/robot/learning/g_0123456789abcdef/faq", {"question": "Q?", "answer": "A."}, frozenset({ADMIN})),
    ("POST", "/robot/learning/g_0123456789abcdef/off-topic", None, frozenset({ADMIN})),
    # A visitor without an open session gets 409 no_session for a real image (tests/functional/media/test_uploads.py).
    ("POST", "/uploads", None, SIGNED_IN),
    ("GET", "/tickets", None, STAFF),
    ("POST", "/tickets", {"subject": "S", "session_id": "{session}"}, frozenset({AGENT})),
    ("GET", "/tickets/{ticket}", None, frozenset({AGENT, SUPERVISOR, ADMIN})),
    ("PATCH", "/tickets/{ticket}", {"priority": "high"}, frozenset({AGENT, SUPERVISOR, ADMIN})),
    ("POST", "/tickets/{ticket}/comments", {"text": "called the courier"}, frozenset({AGENT, SUPERVISOR, ADMIN})),
]


def test_every_route_is_in_the_matrix() -> None:
    # CORS preflights (OPTIONS on every path) take no token and return no data; test_app.py covers them.
    routes = {(m, p) for p, methods in app.routes.items() for m in methods if m != "OPTIONS"}
    covered = {(m, p.replace("{session}", "{session_id}").replace("{ticket}", "{ticket_id}")) for m, p, _, _ in REST}
    generic = {(m, p) for m, p in covered if "{" not in p}
    # Concrete paths stand for their templates.
    templated = {(m, t) for m, t in routes for cm, cp in covered
                 if cm == m and len(cp.split("/")) == len(t.split("/"))
                 and all(a == b or b.startswith("{") for a, b in zip(cp.split("/"), t.split("/"), strict=True))}
    assert routes - generic - templated == set()


@pytest.mark.parametrize(("method", "path", "body", "allowed"), REST, ids=[f"{m} {p}" for m, p, _, _ in REST])
def test_each_route_admits_exactly_its_callers(world: World, method: str, path: str, body: dict[str, Any] | None,
                                               allowed: frozenset[str]) -> None:
    path = path.replace("{session}", world.session_id).replace("{ticket}", world.ticket_id)
    query = (body or {}).pop("query", None) if body else None
    for who in CALLERS:
        token = world.tokens[who]
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        payload = json.dumps(body).replace("{session}", world.session_id) if body is not None else None
        response = world.client.http.request(method, f"{path}?{query}" if query else path, headers=headers,
                                             body=payload.encode() if payload else b"")
        if who in allowed:
            assert response.status_code not in (401, 403), (who, response.status_code, response.body)
        else:
            expected = 401 if who in (ANON, EXPIRED) else 403
            error = json.loads(response.body)["error"]
            assert (response.status_code, error["code"]) == (
                expected, "expired_token" if who == EXPIRED else "missing_token" if who == ANON else "forbidden"), (
                who, response.body)


# -- WebSocket actions -----------------------------------------------------------------------------

WS_CALLERS = {VISITOR: Identity("v_vera", "visitor", name="Vera", channel="web"),
              OTHER_VISITOR: Identity("v_olga", "visitor", name="Olga", channel="web"),
              AGENT: Identity("alice", "agent", name="Alice", groups=("general",)),
              OTHER_AGENT: Identity("bob", "agent", name="Bob", groups=("cosmetics",)),
              SUPERVISOR: Identity("carol", "supervisor", name="Carol", groups=("general",)),
              ADMIN: Identity("admin", "admin", name="Admin")}

# action -> (frame fields, who is refused with forbidden). The state of the session decides the rest (a closed
# session, an action with nothing to act on): only role and ownership refusals are this test's business.
WS: dict[str, tuple[dict[str, Any], frozenset[str]]] = {
    "hello": ({}, frozenset()),
    "ping": ({}, frozenset()),
    "ack": ({"message_id": "{session}.1"}, frozenset()),  # no such message: unknown_message for everyone
    "read": ({"message_ids": ["{session}.1"]}, frozenset()),  # the same
    "typing": ({"session_id": "{session}", "state": "start"},
               frozenset({OTHER_VISITOR, OTHER_AGENT, SUPERVISOR, ADMIN})),
    "resume": ({"session_id": "{session}", "after_seq": 0},
               frozenset({OTHER_VISITOR, OTHER_AGENT, SUPERVISOR, ADMIN})),
    "send": ({"session_id": "{session}", "client_msg_id": "m1", "type": "text", "content": {"text": "hi"}},
             frozenset({OTHER_VISITOR, OTHER_AGENT, SUPERVISOR, ADMIN})),
    "request_agent": ({}, frozenset({AGENT, OTHER_AGENT, SUPERVISOR, ADMIN})),
    "leave_queue": ({}, frozenset({AGENT, OTHER_AGENT, SUPERVISOR, ADMIN})),
    "new_session": ({}, frozenset({AGENT, OTHER_AGENT, SUPERVISOR, ADMIN})),
    "leave_message": ({"text": "call me"}, frozenset({AGENT, OTHER_AGENT, SUPERVISOR, ADMIN})),
    "rate": ({"session_id": "{session}", "stars": 5}, frozenset({AGENT, OTHER_AGENT, SUPERVISOR, ADMIN})),
    "end_session": ({"session_id": "{session}"}, frozenset({OTHER_VISITOR, OTHER_AGENT, SUPERVISOR, ADMIN})),
    "resolve": ({"session_id": "{session}"}, frozenset({VISITOR, OTHER_VISITOR, OTHER_AGENT, SUPERVISOR, ADMIN})),
    # Notes: the session's agent, a supervisor of its group, an admin; never a visitor, nor another agent.
    "note": ({"session_id": "{session}", "client_msg_id": "n1", "text": "check the order"},
             frozenset({VISITOR, OTHER_VISITOR, OTHER_AGENT})),
    "transfer": ({"session_id": "{session}", "to_group": "cosmetics"},
                 frozenset({VISITOR, OTHER_VISITOR, OTHER_AGENT})),
    "set_status": ({"status": "online"}, frozenset({VISITOR, OTHER_VISITOR})),
    "suggest": ({"session_id": "{session}"}, frozenset({VISITOR, OTHER_VISITOR, OTHER_AGENT, SUPERVISOR, ADMIN})),
    # No such answer: unknown_message for visitors (the session's or not); staff never rate the robot.
    "robot_feedback": ({"session_id": "{session}", "message_id": "{session}.99", "helpful": True},
                       frozenset({AGENT, OTHER_AGENT, SUPERVISOR, ADMIN})),
    "subscribe_dashboard": ({}, frozenset({VISITOR, OTHER_VISITOR, AGENT, OTHER_AGENT})),
    "unsubscribe_dashboard": ({}, frozenset()),
}


def test_every_action_is_in_the_matrix() -> None:
    assert set(WS) == set(ACTIONS)


@pytest.mark.parametrize("action", sorted(WS))
def test_each_action_refuses_exactly_the_callers_it_must(world: World, sender: RecordingSender, action: str) -> None:
    fields, refused = WS[action]
    for i, (who, identity) in enumerate(WS_CALLERS.items()):
        # A session of its own for each caller: an allowed caller's action (a transfer, a close) changes it.
        visitor = Identity(f"v_round{i}", "visitor", name="Round", channel="web")
        session = world.svc.sessions.current_or_new(visitor, world.svc.presence.connect(f"c-round{i}", visitor))
        assert world.svc.routing.request_agent(visitor).agent_id == "alice"
        if who == VISITOR:
            identity = visitor
        conn = f"ws-{i}"
        world.svc.presence.connect(conn, identity)
        frame = json.loads(json.dumps({"action": action, **fields}).replace("{session}", session.session_id))
        before = len(sender.frames(conn))
        handle_frame(world.svc, conn, json.dumps(frame))
        codes = [f.get("code") for f in sender.frames(conn)[before:] if f.get("event") == "error"]
        if who in refused:
            assert codes == ["forbidden"], (who, sender.frames(conn)[before:])
        else:
            assert "forbidden" not in codes, (who, sender.frames(conn)[before:])
