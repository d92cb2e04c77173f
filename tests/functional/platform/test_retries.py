"""Retries never duplicate, and one client cannot make work without bound: left messages, tickets, comments
and FAQ imports under retries; per-visitor, per-address and per-user limits with their exact answers; and what
ACKs of unknown messages cost in DynamoDB calls."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.auth.devidp import dev_idp
from chalicelib.auth.guard import VISITOR_TOKENS
from chalicelib.auth.identity import Identity
from chalicelib.edge.frames import handle_frame
from chalicelib.faq.kb import KnowledgeBase
from chalicelib.im.models import Message
from chalicelib.im.ratelimit import LEFT_MESSAGES, REFUSED_ACK_BURST, RateLimiter
from chalicelib.platform.idempotency import InProgress, once
from chalicelib.platform.quota import Quota
from chalicelib.tickets.models import TICKET_SK, TicketItem
from chalicelib.wiring import Services, build, override
from tests.conftest import RecordingSender, RecordingTimer, routing_config
from tests.functional.conftest import RecordingBackend


class Clock:
    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def svc(aws: None, kb: KnowledgeBase, sender: RecordingSender, timer: RecordingTimer) -> Services:
    # A frozen clock for the in-memory buckets: frames arrive at one instant however long moto takes.
    services = dataclasses.replace(build(sender, timer, config=lambda: routing_config(), kb=kb),
                                   limiter=RateLimiter(clock=Clock()))
    override(services)
    return services


@pytest.fixture
def client(svc: Services) -> Iterator[Client]:
    with Client(app) as c:
        yield c


VERA = Identity("v_vera", "visitor", "Vera", channel="web")


def connect(svc: Services, conn: str, who: Identity = VERA) -> None:
    svc.sessions.current_or_new(who, svc.presence.connect(conn, who))


def frame(svc: Services, conn: str, **fields: Any) -> None:
    handle_frame(svc, conn, json.dumps(fields))


def left_tickets() -> list[TicketItem]:
    return [t for t in TicketItem.scan() if t.sk == TICKET_SK and t.source == "left_message"]


class DynamoCalls:
    """Counts the DynamoDB operations pynamodb sends, by name, through botocore's own event hooks."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        client = Message._get_connection().connection.client
        client.meta.events.register("before-call.dynamodb", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)

    def count(self, *names: str) -> int:
        return sum(1 for c in self.calls if c in names)


# -- leave_message ---------------------------------------------------------------------------------------------

def test_a_left_message_resent_with_its_client_id_from_another_tab_makes_one_ticket(
        svc: Services, sender: RecordingSender) -> None:
    connect(svc, "tab1")
    connect(svc, "tab2")
    svc.presence.connect("c-alice", Identity("alice", "agent", "Alice"))
    for tab in ("tab1", "tab2", "tab1"):
        frame(svc, tab, action="leave_message", text="Call me about SO-77", client_msg_id="lm-1")
    answers = sender.frames("tab1", "message_left") + sender.frames("tab2", "message_left")
    assert len(answers) == 3 and len({a["message_id"] for a in answers}) == 1
    assert [t.ticket_id for t in left_tickets()] == [answers[0]["message_id"]]
    assert len(sender.frames("c-alice", "left_message")) == 1  # the group's agents are told once


def test_without_a_client_id_the_same_words_in_the_same_session_are_one_message(
        svc: Services, sender: RecordingSender) -> None:
    connect(svc, "tab1")
    connect(svc, "tab2")
    frame(svc, "tab1", action="leave_message", text="Size 46?", contact="sam@example.com")
    frame(svc, "tab2", action="leave_message", text="Size 46?", contact="sam@example.com")
    frame(svc, "tab2", action="leave_message", text="Size 47?", contact="sam@example.com")
    assert len(left_tickets()) == 2
    assert sender.frames("tab1", "message_left")[0]["message_id"] == sender.frames("tab2", "message_left")[0][
        "message_id"]


def test_a_client_id_reused_for_other_words_is_a_conflict_and_changes_nothing(
        svc: Services, sender: RecordingSender) -> None:
    connect(svc, "tab1")
    frame(svc, "tab1", action="leave_message", text="first words", client_msg_id="lm-1")
    frame(svc, "tab1", action="leave_message", text="other words", client_msg_id="lm-1")
    (err,) = sender.frames("tab1", "error")
    first = sender.frames("tab1", "message_left")[0]["message_id"]
    assert (err["code"], err["field"], err["client_msg_id"], err["message_id"]) == (
        "conflict", "client_msg_id", "lm-1", first)
    assert [t.description for t in left_tickets()] == ["first words"]


def test_left_messages_are_limited_per_visitor_across_its_connections_and_sessions(
        svc: Services, sender: RecordingSender) -> None:
    connect(svc, "tab1")
    for i in range(LEFT_MESSAGES.count):
        frame(svc, "tab1", action="leave_message", text=f"message {i}", client_msg_id=f"lm-{i}")
    svc.sessions.end_session(VERA, svc.sessions.current(VERA).session_id)  # type: ignore[union-attr]
    connect(svc, "tab2")  # a new connection and a new session: the same allowance
    frame(svc, "tab2", action="leave_message", text="one too many", client_msg_id="lm-x")
    (err,) = sender.frames("tab2", "error")
    assert (err["code"], err["action"], err["client_msg_id"]) == ("rate_limited", "leave_message", "lm-x")
    assert 0 < err["retry_after_ms"] <= LEFT_MESSAGES.window_seconds * 1000
    assert len(left_tickets()) == LEFT_MESSAGES.count
    # A resend of a message already left is answered over the limit: the client learns it got through.
    frame(svc, "tab2", action="leave_message", text="message 0", client_msg_id="lm-0")
    assert sender.frames("tab2", "message_left")[0]["message_id"] == sender.frames("tab1", "message_left")[0][
        "message_id"]
    other = Identity("v_other", "visitor", "Other", channel="web")
    connect(svc, "tab3", other)
    frame(svc, "tab3", action="leave_message", text="hello")
    assert len(sender.frames("tab3", "message_left")) == 1  # another visitor has its own allowance


# -- REST: Idempotency-Key -------------------------------------------------------------------------------------

def staff(user: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {dev_idp().login(user, 'demo')[0]}"}


def post(client: Client, path: str, body: dict[str, Any], user: str = "alice", key: str | None = None) -> Any:
    headers = staff(user) | ({"Idempotency-Key": key} if key is not None else {})
    return client.http.post(path, headers=headers, body=json.dumps(body).encode())


TICKET = {"subject": "Refund not received", "customer": {"id": "v_sam"}, "group_id": "general"}


def test_a_ticket_created_with_an_idempotency_key_is_created_once_and_retries_get_the_same_answer(
        client: Client) -> None:
    first = post(client, "/tickets", TICKET, key="k-1")
    again = post(client, "/tickets", TICKET, key="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json_body == first.json_body
    other_user = post(client, "/tickets", TICKET, user="bob", key="k-1")  # keys are per caller
    assert other_user.json_body["ticket_id"] != first.json_body["ticket_id"]
    reused = post(client, "/tickets", {**TICKET, "subject": "Something else"}, key="k-1")
    assert reused.status_code == 422
    assert reused.json_body["error"]["code"] == "idempotency_key_reused"
    assert reused.json_body["error"]["field"] == "Idempotency-Key"
    no_key = [post(client, "/tickets", TICKET) for _ in range(2)]  # without a key every call is a new ticket
    assert len({r.json_body["ticket_id"] for r in no_key}) == 2
    assert sum(1 for t in TicketItem.scan() if t.sk == TICKET_SK) == 4


def test_a_refused_request_keeps_no_key_and_a_bad_key_is_refused(client: Client) -> None:
    bad = post(client, "/tickets", {**TICKET, "group_id": "nope"}, key="k-2")
    assert bad.status_code == 400
    good = post(client, "/tickets", TICKET, key="k-2")  # the same key may carry the corrected request
    assert good.status_code == 201
    refused = post(client, "/tickets", TICKET, key="not a key!")
    assert refused.status_code == 400 and refused.json_body["error"]["field"] == "Idempotency-Key"


def test_a_comment_retried_with_its_key_is_added_once(client: Client) -> None:
    ticket = post(client, "/tickets", TICKET).json_body["ticket_id"]
    path = f"/tickets/{ticket}/comments"
    first, again = (post(client, path, {"text": "Called the courier"}, key="c-1") for _ in range(2))
    assert (first.status_code, again.status_code) == (201, 201) and again.json_body == first.json_body
    elsewhere = post(client, f"/tickets/{post(client, '/tickets', TICKET).json_body['ticket_id']}/comments",
                     {"text": "Called the courier"}, key="c-1")
    assert elsewhere.status_code == 422  # the same key on another ticket is another request
    comments = client.http.get(f"/tickets/{ticket}", headers=staff("alice")).json_body["comments"]
    assert [c["comment_id"] for c in comments] == [first.json_body["comment_id"]]


def test_a_faq_import_retried_with_its_key_answers_the_first_result_and_writes_nothing(
        client: Client, backend: RecordingBackend) -> None:
    body = {"format": "jsonl", "data": json.dumps({"id": "a", "question": "A?", "answer": "A."})}
    first = post(client, "/faqs/import", body, user="admin", key="i-1")
    writes = len(backend.calls)
    again = post(client, "/faqs/import", body, user="admin", key="i-1")
    assert first.status_code == again.status_code == 200
    assert again.json_body == first.json_body == {"faqs": 1, "created": 1, "similar_added": 0, "placeholders": 0,
                                                  "skipped": 0}
    assert len(backend.calls) == writes


# -- limits ----------------------------------------------------------------------------------------------------

def mint(address: str) -> Any:
    """POST /visitors/token as API Gateway delivers it from ``address``."""
    event = {"resource": "/visitors/token", "path": "/visitors/token", "httpMethod": "POST",
             "headers": {"content-type": "application/json"}, "multiValueHeaders": {},
             "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": None,
             "stageVariables": None, "body": json.dumps({"channel": "web"}), "isBase64Encoded": False,
             "requestContext": {"resourcePath": "/visitors/token", "httpMethod": "POST", "stage": "api",
                                "identity": {"sourceIp": address}}}
    return app(event, None)


def test_visitor_tokens_are_limited_per_client_address(svc: Services) -> None:
    statuses = [mint("203.0.113.7")["statusCode"] for _ in range(VISITOR_TOKENS.count)]
    assert statuses == [201] * VISITOR_TOKENS.count
    refused = mint("203.0.113.7")
    body = json.loads(refused["body"])["error"]
    assert refused["statusCode"] == 429 and body["code"] == "rate_limited"
    assert 0 < body["retry_after_ms"] <= VISITOR_TOKENS.window_seconds * 1000
    assert int(refused["headers"]["Retry-After"]) == -(-body["retry_after_ms"] // 1000)
    assert mint("198.51.100.9")["statusCode"] == 201  # another address has its own allowance
    assert mint("127.0.0.1")["statusCode"] == 201  # this machine's own clients (the local stack) are not counted


def test_the_quota_counts_across_instances_and_turns_with_its_window(aws: None) -> None:
    clock = Clock(1_790_000_000.0)
    one, other = Quota(clock), Quota(clock)  # two Lambda containers
    for quota in (one, other, one, other, one):
        quota.take(LEFT_MESSAGES, "v_vera")
    with pytest.raises(Exception) as refused:
        other.take(LEFT_MESSAGES, "v_vera")
    assert type(refused.value).__name__ == "RateLimited"
    clock.now = (clock.now // 3600 + 1) * 3600  # the next window
    other.take(LEFT_MESSAGES, "v_vera")


def test_the_frame_rate_is_per_user_whatever_its_connections(svc: Services, sender: RecordingSender) -> None:
    tabs = [f"tab{i}" for i in range(5)]
    for tab in tabs:
        connect(svc, tab)
    per_tab = int(svc.limiter.burst)
    for tab in tabs:
        for _ in range(per_tab):
            frame(svc, tab, action="hello")
    welcomed = sum(len(sender.frames(tab, "welcome")) for tab in tabs)
    limited = [f for tab in tabs for f in sender.frames(tab, "error") if f["code"] == "rate_limited"]
    assert welcomed == per_tab  # the user's one bucket, not one per connection
    assert len(limited) == 4 * per_tab and all(f["retry_after_ms"] >= 1 for f in limited)
    other = Identity("v_other", "visitor", "Other", channel="web")
    connect(svc, "tab-other", other)
    frame(svc, "tab-other", action="hello")
    assert len(sender.frames("tab-other", "welcome")) == 1


def test_acks_of_unknown_messages_stop_costing_dynamodb_writes_and_a_valid_ack_costs_one(
        svc: Services, sender: RecordingSender) -> None:
    connect(svc, "cv")
    session = svc.sessions.current(VERA)
    assert session is not None
    calls = DynamoCalls()
    for i in range(200):
        frame(svc, "cv", action="ack", message_id=f"{session.session_id}.{1000 + i}")
    errors = sender.frames("cv", "error")
    assert len(errors) == 200
    assert {e["code"] for e in errors[:int(REFUSED_ACK_BURST)]} == {"unknown_message"}
    assert {e["code"] for e in errors[int(REFUSED_ACK_BURST):]} == {"rate_limited"}
    assert all(e["retry_after_ms"] >= 1 for e in errors[int(REFUSED_ACK_BURST):])
    # Past the budget each costs one read to see it would change nothing, and no write.
    assert calls.count("UpdateItem") == REFUSED_ACK_BURST and calls.count("GetItem") == 200
    before = len(calls.calls)
    frame(svc, "cv", action="ack", message_id=f"{session.session_id}.0")  # cannot exist: no call at all
    assert len(calls.calls) == before


def test_a_valid_ack_is_one_conditional_write_and_never_draws_on_the_refused_budget(
        svc: Services, sender: RecordingSender) -> None:
    alice = Identity("alice", "agent", "Alice")
    connect(svc, "cv")
    svc.presence.connect("ca", alice)
    svc.routing.set_agent_status(alice, "online")
    session = svc.routing.request_agent(VERA)
    for i in range(int(REFUSED_ACK_BURST) + 5):
        frame(svc, "cv", action="send", session_id=session.session_id, client_msg_id=f"m{i}", type="text",
              content={"text": f"hello {i}"})
    messages = sender.frames("ca", "message")
    assert len(messages) == REFUSED_ACK_BURST + 5
    calls = DynamoCalls()
    frame(svc, "ca", action="ack", message_id=messages[0]["message"]["message_id"])
    assert calls.calls[:1] == ["UpdateItem"] and calls.count("UpdateItem", "GetItem", "PutItem", "Query") == 1
    for m in messages[1:]:
        frame(svc, "ca", action="ack", message_id=m["message"]["message_id"])
    assert not sender.frames("ca", "error")  # 25 valid ACKs, none refused
    assert len(sender.frames("cv", "delivered")) == REFUSED_ACK_BURST + 5


def test_past_the_refused_ack_budget_a_valid_ack_still_confirms_its_delivery(
        svc: Services, sender: RecordingSender) -> None:
    """A burst with resends makes a client re-ACK what it already ACKed; its budget runs out, yet the next
    real ACK must land, or the message would fail after its three attempts."""
    alice = Identity("alice", "agent", "Alice")
    connect(svc, "cv")
    svc.presence.connect("ca", alice)
    svc.routing.set_agent_status(alice, "online")
    session = svc.routing.request_agent(VERA)
    for i in range(2):
        frame(svc, "cv", action="send", session_id=session.session_id, client_msg_id=f"m{i}", type="text",
              content={"text": f"hello {i}"})
    first, second = (m["message"]["message_id"] for m in sender.frames("ca", "message"))
    frame(svc, "ca", action="ack", message_id=first)
    for _ in range(int(REFUSED_ACK_BURST) + 3):  # the same ACK again and again: the budget is spent
        frame(svc, "ca", action="ack", message_id=first)
    assert [e["code"] for e in sender.frames("ca", "error")] == ["rate_limited"] * 3
    calls = DynamoCalls()
    frame(svc, "ca", action="ack", message_id=second)
    assert len(sender.frames("ca", "error")) == 3  # not refused
    assert [d["message_id"] for d in sender.frames("cv", "delivered")] == [first, second]
    assert calls.count("GetItem") == 1 and calls.count("UpdateItem") == 1


def test_a_retry_while_the_first_call_runs_is_told_to_wait_and_nothing_runs_twice(aws: None) -> None:
    runs: list[str] = []

    def work() -> dict[str, Any]:
        runs.append("first")
        with pytest.raises(InProgress):  # the retry arrives while the first call is still at work
            once("tickets.create", "alice", "k-1", {"subject": "x"}, lambda: {"ran": "twice"})
        return {"ran": "once"}

    assert once("tickets.create", "alice", "k-1", {"subject": "x"}, work) == {"ran": "once"}
    assert once("tickets.create", "alice", "k-1", {"subject": "x"}, work) == {"ran": "once"}
    assert runs == ["first"]
