"""Visitors and staff never share an id: a shop-signed token whose ``sub`` is a staff member's name or another
visitor's id reads, sends, receives, ACKs and ends nothing of theirs (through the handlers, as a client would)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from chalice.test import Client

from app import app
from chalicelib.platform.clock import Clock as ServiceClock
from chalicelib.sessions.models import Session
from chalicelib.settings import get_settings
from chalicelib.wiring import Services, build, override
from tests.conftest import RecordingSender, RecordingTimer, group, routing_config
from tests.functional.test_app import agent_token, ws

STAFF = ("alice", "bob", "carol", "admin")  # config/dev_users.json: agents, the supervisor and the admin


def shop_token(sub: str, name: str | None = None, ttl: int = 3600) -> str:
    """A visitor token as a shop's backend signs it, with exactly the claims configuration.md lists."""
    now = int(time.time())
    claims = {"sub": sub, "typ": "visitor", "iss": "cs-visitor", "ch": "web", "name": name, "iat": now,
              "exp": now + ttl}
    return jwt.encode(claims, get_settings().visitor_token_secret, algorithm="HS256")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(aws: None, sender: RecordingSender, timer: RecordingTimer, clock: Clock) -> Services:
    """Every staff member of the demo can be given a chat, so each can be the one impersonated."""
    services = build(sender, timer, config=lambda: routing_config(groups=[group("general", list(STAFF))]),
                     clock=ServiceClock(clock))
    override(services)
    return services


@pytest.fixture
def client(svc: Services) -> Any:
    with Client(app) as c:
        yield c


def frame(conn: str, **body: Any) -> None:
    ws("$default", conn, json.dumps(body))


def get(client: Client, path: str, token: str) -> tuple[int, Any]:
    res = client.http.get(path, headers={"Authorization": f"Bearer {token}"})
    return res.status_code, json.loads(res.body or b"null")


@dataclass
class Chat:
    session_id: str
    agent: str
    visitor_id: str
    agent_conn: str
    visitor_conn: str
    agent_token: str
    to_visitor: str  # message_id of the agent's message to the visitor


def open_chat(client: Client, sender: RecordingSender, agent: str, visitor_token: str) -> Chat:
    """``agent`` and a visitor in an active session, one message each way, both ACKed."""
    token = agent_token(agent)
    assert ws("$connect", "c-agent", query={"token": token})["statusCode"] == 200
    frame("c-agent", action="hello")
    assert ws("$connect", "c-visitor", query={"token": visitor_token})["statusCode"] == 200
    frame("c-visitor", action="request_agent")
    session = sender.frames("c-visitor", "session")[-1]["session"]
    assert (session["status"], session["agent_id"]) == ("active", agent)
    sid = session["session_id"]
    frame("c-visitor", action="send", session_id=sid, client_msg_id="v1", type="text", content={"text": "my order?"})
    mine = sender.frames("c-agent", "message")[-1]["message"]
    frame("c-agent", action="ack", message_id=mine["message_id"])
    frame("c-agent", action="send", session_id=sid, client_msg_id="a1", type="text", content={"text": "on its way"})
    reply = sender.frames("c-visitor", "message")[-1]["message"]
    frame("c-visitor", action="ack", message_id=reply["message_id"])
    return Chat(sid, agent, session["visitor_id"], "c-agent", "c-visitor", token, reply["message_id"])


def anonymous(client: Client) -> str:
    res = client.http.post("/visitors/token", body=json.dumps({"channel": "web", "name": "Vera"}),
                           headers={"Content-Type": "application/json"})
    assert res.status_code == 201
    return str(json.loads(res.body)["token"])


def _named(sub: str) -> Callable[[Chat], str]:
    return lambda chat: sub


# Each case: the agent of the chat, the victim visitor's token, and the sub the attacking customer signs.
Case = tuple[str, Callable[[Client], str], Callable[[Chat], str]]
CASES: dict[str, Case] = {
    **{f"sub={staff}": (staff, lambda c: shop_token("vera", "Vera"), _named(staff)) for staff in STAFF},
    "sub=an anonymous visitor's id": ("alice", anonymous, lambda chat: chat.visitor_id),
    "sub=a shop customer's visitor id": ("alice", lambda c: shop_token("vera", "Vera"),
                                         lambda chat: chat.visitor_id),
}


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_a_shop_token_naming_someone_else_gets_nothing_of_theirs(client: Client, svc: Services,
                                                                  sender: RecordingSender, case: Case) -> None:
    agent, victim_token, sub_of = case
    chat = open_chat(client, sender, agent, victim_token(client))
    sub = sub_of(chat)
    mallory = shop_token(sub, "Mallory")
    assert ws("$connect", "c-mallory", query={"token": mallory})["statusCode"] == 200

    # No foreign history, through REST or resume.
    assert get(client, f"/sessions/{chat.session_id}/messages", mallory)[0] == 403
    assert chat.session_id not in [s["session_id"] for s in get(client, "/sessions", mallory)[1]["sessions"]]
    frame("c-mallory", action="resume", session_id=chat.session_id, after_seq=0)
    assert sender.frames("c-mallory", "error")[-1]["code"] == "forbidden"

    # No message into the chat, and no ACK of one meant for the visitor.
    before = len(sender.posts)
    frame("c-mallory", action="send", session_id=chat.session_id, client_msg_id="m1", type="text",
          content={"text": "I am " + sub})
    assert sender.frames("c-mallory", "error")[-1]["code"] == "forbidden"
    frame("c-mallory", action="ack", message_id=chat.to_visitor)
    assert sender.frames("c-mallory", "error")[-1]["code"] == "forbidden"
    assert [c for c, _ in sender.posts[before:]] == ["c-mallory", "c-mallory"]  # only its own errors

    # Nothing meant for either side reaches it.
    frame(chat.visitor_conn, action="send", session_id=chat.session_id, client_msg_id="v2", type="text",
          content={"text": "still there?"})
    frame(chat.agent_conn, action="send", session_id=chat.session_id, client_msg_id="a2", type="text",
          content={"text": "yes"})
    assert [f["message"]["client_msg_id"] for f in sender.frames(chat.agent_conn, "message")][-1] == "v2"
    assert [f["message"]["client_msg_id"] for f in sender.frames(chat.visitor_conn, "message")][-1] == "a2"
    # (its own refusals name the session it asked for; nothing else does)
    assert all(chat.session_id not in json.dumps(f) for f in sender.frames("c-mallory") if f["event"] != "error")
    assert "c-mallory" not in svc.presence.connections_of(chat.agent) | svc.presence.connections_of(chat.visitor_id)

    # Nothing ended: the chat goes on, with only its two participants' messages.
    frame("c-mallory", action="end_session", session_id=chat.session_id)
    assert sender.frames("c-mallory", "error")[-1]["code"] == "forbidden"
    assert Session.get(chat.session_id).status == "active"
    status, history = get(client, f"/sessions/{chat.session_id}/messages", chat.agent_token)
    assert status == 200
    assert {m["sender_id"] for m in history["messages"]} == {chat.agent, chat.visitor_id}

    # It is a customer of its own, in the shop's namespace.
    frame("c-mallory", action="hello")
    assert sender.frames("c-mallory", "welcome")[-1]["user"] == {"id": "c:" + sub, "role": "visitor",
                                                                 "name": "Mallory"}


def test_a_shop_customer_keeps_its_own_id_for_the_order_lookup(client: Client, sender: RecordingSender) -> None:
    chat = open_chat(client, sender, "alice", shop_token("c_1001", "Ann"))
    assert chat.visitor_id == "c:c_1001"
    session = sender.frames(chat.agent_conn, "session")[-1]["session"]
    assert session["customer_id"] == "c_1001"  # what the console asks the shop's orders for


def test_an_anonymous_visitor_has_no_customer_id(client: Client, sender: RecordingSender) -> None:
    chat = open_chat(client, sender, "alice", anonymous(client))
    assert chat.visitor_id.startswith("v_") and len(chat.visitor_id) == 18
    assert sender.frames(chat.agent_conn, "session")[-1]["session"]["customer_id"] is None


# -- an open connection lives no longer than its token ----------------------------------------------

def test_frames_after_the_token_expired_are_refused_and_nothing_more_is_pushed(
        client: Client, svc: Services, sender: RecordingSender, clock: Clock) -> None:
    chat = open_chat(client, sender, "alice", shop_token("vera", "Vera", ttl=600))
    expires_at = svc.presence.identity(chat.visitor_conn).expires_at  # type: ignore[union-attr]
    assert expires_at is not None and expires_at <= time.time() + 600
    frame(chat.visitor_conn, action="ping")
    assert sender.frames(chat.visitor_conn)[-1]["event"] == "pong"

    clock.now = expires_at  # the token's last second is over
    before = len(sender.frames(chat.visitor_conn, "message"))
    for body in ({"action": "ping"}, {"action": "ack", "message_id": chat.to_visitor},
                 {"action": "send", "session_id": chat.session_id, "client_msg_id": "late", "type": "text",
                  "content": {"text": "after expiry"}}):
        frame(chat.visitor_conn, **body)
        error = sender.frames(chat.visitor_conn)[-1]
        assert (error["event"], error["code"], error["action"], error["expired_at"]) == (
            "error", "expired_token", body["action"], expires_at)
    assert svc.presence.connections_of(chat.visitor_id) == set()  # no longer the visitor's connection
    frame(chat.agent_conn, action="send", session_id=chat.session_id, client_msg_id="a2", type="text",
          content={"text": "are you there?"})
    assert len(sender.frames(chat.visitor_conn, "message")) == before
    _, history = get(client, f"/sessions/{chat.session_id}/messages", chat.agent_token)
    assert "late" not in [m["client_msg_id"] for m in history["messages"]]

    # Renewing: a new token, a new connection, resume; the agent's message waits there.
    assert ws("$connect", "c-renewed", query={"token": shop_token("vera", "Vera")})["statusCode"] == 200
    frame("c-renewed", action="resume", session_id=chat.session_id, after_seq=2)
    resumed = sender.frames("c-renewed", "resumed")[-1]
    assert [m["client_msg_id"] for m in resumed["messages"]] == ["a2"]


def test_a_connection_recorded_without_a_token_expiry_still_works(svc: Services, sender: RecordingSender,
                                                                  clock: Clock) -> None:
    from chalicelib.channel.models import Connection
    from chalicelib.platform.modelbase import expires

    # As written before the expiry was kept: it runs to API Gateway's two hours, as it did.
    Connection("c-old", user_id="alice", role="agent", connected_at=int(clock.now * 1000),
               expires_at=expires(clock.now + 3600)).save()
    clock.now += 10 * 24 * 3600
    frame("c-old", action="ping")
    assert sender.frames("c-old")[-1]["event"] == "pong"
