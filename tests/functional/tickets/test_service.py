"""Tickets on moto: the REST API through Chalice's test client (workflow, every bad input and its exact
error, roles, listing and paging), left messages as tickets, and concurrent updates through the service."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.auth.devidp import dev_idp
from chalicelib.auth.identity import Identity
from chalicelib.auth.tokens import issue_visitor_token
from chalicelib.config.model import RoutingConfig
from chalicelib.faq.kb import KnowledgeBase
from chalicelib.platform.clock import Clock as ServiceClock
from chalicelib.sessions.models import Session
from chalicelib.sessions.service import SessionService
from chalicelib.tickets.errors import TicketError
from chalicelib.tickets.service import Changes, Customer, Draft, Ticket, TicketService, subject_of
from chalicelib.wiring import Services, build, override
from local import dynamodb_atomic
from tests.conftest import RecordingSender, RecordingTimer, group, routing_config
from tests.functional.conftest import error

# alice serves general only; bob serves general and shoes.
CONFIG = routing_config([group("general", ["alice", "bob"]), group("shoes", ["bob"])])
ALICE = Identity("alice", "agent", "Alice Chen")
BOB = Identity("bob", "agent", "Bob Li")
CAROL = Identity("carol", "supervisor", "Carol Wang")
UNKNOWN = "t_0123456789abcdef"


@dataclass
class Clock:
    """Moves on at every reading, so every write has its own millisecond (two, against float rounding)."""

    now: float = 1_790_000_000.0

    def __call__(self) -> float:
        self.now += 0.002
        return self.now


@pytest.fixture
def svc(aws: None, kb: KnowledgeBase, sender: RecordingSender, timer: RecordingTimer) -> Services:
    services = build(sender, timer, config=lambda: CONFIG, clock=ServiceClock(Clock()), kb=kb)
    override(services)
    return services


@pytest.fixture(scope="module")
def tokens() -> dict[str, str]:
    return {"visitor": issue_visitor_token("v_vera", "Vera", "web", None, None)[0],
            **{user: dev_idp().login(user, "demo")[0] for user in ("alice", "bob", "carol", "admin")}}


class Api:
    def __init__(self, client: Client, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def __call__(self, method: str, path: str, who: str = "alice", body: Any = None, raw: str | None = None) -> Any:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.tokens[who]}"}
        data = raw if raw is not None else json.dumps(body) if body is not None else None
        return self.client.http.request(method, path, headers=headers, body=data.encode() if data else b"")

    def ok(self, method: str, path: str, who: str = "alice", body: Any = None, status: int = 200) -> Any:
        response = self(method, path, who, body)
        assert response.status_code == status, response.body
        return response.json_body


@pytest.fixture
def api(client: Client, tokens: dict[str, str]) -> Api:
    return Api(client, tokens)


def chat_with_alice(svc: Services, visitor: str = "v_vera") -> Session:
    """A visitor's session that alice serves (general group)."""
    svc.presence.connect("c-alice", ALICE)
    svc.routing.set_agent_status(ALICE, "online")
    who = Identity(visitor, "visitor", visitor[2:].capitalize(), channel="web")
    svc.sessions.current_or_new(who, svc.presence.connect(f"c-{visitor}", who))
    session = svc.routing.request_agent(who)
    assert (session.agent_id, session.group_id) == ("alice", "general")
    return session


def console_ticket(api: Api, who: str = "alice", **fields: Any) -> dict[str, Any]:
    body = {"subject": "Refund not received", "customer": {"id": "v_sam", "name": "Sam"}, "group_id": "general",
            **fields}
    created: dict[str, Any] = api.ok("POST", "/tickets", who, body, status=201)
    return created


# -- the workflow ------------------------------------------------------------------------------------

def test_a_ticket_from_a_chat_goes_open_pending_solved_closed_with_history_and_comments(
        api: Api, svc: Services) -> None:
    session = chat_with_alice(svc)
    created = api.ok("POST", "/tickets", body={
        "session_id": session.session_id, "subject": "  Parcel lost  ", "description": "Courier says delivered.",
        "customer": {"contact": "vera@example.com"}, "order_ref": "SO-2026-0042", "priority": "high"}, status=201)
    ticket_id = created["ticket_id"]
    assert {k: created[k] for k in ("subject", "status", "priority", "source", "group_id", "assignee", "order_ref",
                                    "session_id", "created_by", "version", "comment_count", "next_statuses")} == {
        "subject": "Parcel lost", "status": "open", "priority": "high", "source": "chat", "group_id": "general",
        "assignee": None, "order_ref": "SO-2026-0042", "session_id": session.session_id, "created_by": "alice",
        "version": 1, "comment_count": 0, "next_statuses": ["pending", "solved"]}
    # The customer comes from the chat; what the agent typed is added.
    assert created["customer"] == {"id": "v_vera", "name": "Vera", "contact": "vera@example.com"}

    path = f"/tickets/{ticket_id}"
    pending = api.ok("PATCH", path, body={"status": "pending", "assignee": "alice", "version": 1})
    assert (pending["status"], pending["assignee"], pending["version"]) == ("pending", "alice", 2)
    comment = api.ok("POST", f"{path}/comments", body={"text": "Asked the courier for proof."}, status=201)
    assert (comment["author_id"], comment["author_name"], comment["text"]) == (
        "alice", "Alice Chen", "Asked the courier for proof.")
    assert api.ok("PATCH", path, "bob", {"status": "solved"})["next_statuses"] == ["closed", "open"]
    closed = api.ok("PATCH", path, "carol", {"status": "closed", "priority": "normal"})
    assert (closed["status"], closed["version"], closed["comment_count"], closed["next_statuses"]) == (
        "closed", 4, 1, [])

    detail = api.ok("GET", path, "bob")
    assert [c["comment_id"] for c in detail["comments"]] == [comment["comment_id"]]
    assert [(h["field"], h["from"], h["to"], h["by"]) for h in detail["history"]] == [
        ("assignee", None, "alice", "alice"), ("status", "open", "pending", "alice"),
        ("status", "pending", "solved", "bob"),
        ("priority", "high", "normal", "carol"), ("status", "solved", "closed", "carol")]
    assert detail["history"][0]["by_name"] == "Alice Chen"
    times = [h["at"] for h in detail["history"]]
    assert times == sorted(times) and detail["updated_at"] == times[-1]


def test_a_solved_ticket_reopens_and_setting_what_it_already_has_changes_nothing(api: Api) -> None:
    ticket = console_ticket(api)
    path = f"/tickets/{ticket['ticket_id']}"
    api.ok("PATCH", path, body={"status": "solved"})
    reopened = api.ok("PATCH", path, body={"status": "open"})
    assert (reopened["status"], reopened["version"]) == ("open", 3)
    same = api.ok("PATCH", path, body={"status": "open", "priority": "normal", "subject": "Refund not received"})
    assert same["version"] == 3
    assigned = api.ok("PATCH", path, body={"assignee": "bob"})
    assert (assigned["assignee"], assigned["version"]) == ("bob", 4)
    unassigned = api.ok("PATCH", path, body={"assignee": None})
    assert (unassigned["assignee"], unassigned["version"]) == (None, 5)
    assert [t["ticket_id"] for t in api.ok("GET", "/tickets?assignee=bob", "carol")["tickets"]] == []


# -- bad inputs ----------------------------------------------------------------------------------------

def test_a_transition_the_workflow_does_not_have_is_refused_naming_the_allowed_ones(api: Api) -> None:
    path = f"/tickets/{console_ticket(api)['ticket_id']}"
    body = error(api("PATCH", path, body={"status": "closed"}), 409, "invalid_transition", "status")
    assert (body["from"], body["to"], body["allowed"]) == ("open", "closed", ["pending", "solved"])
    assert body["message"] == "the ticket is open and cannot become closed; it can become pending or solved"
    api.ok("PATCH", path, body={"status": "pending"})
    assert error(api("PATCH", path, body={"status": "closed"}), 409, "invalid_transition", "status")["allowed"] == [
        "open", "solved"]
    api.ok("PATCH", path, body={"status": "solved"})
    api.ok("PATCH", path, body={"status": "closed"})
    for status in ("open", "pending", "solved"):
        refused = error(api("PATCH", path, body={"status": status}), 409, "invalid_transition", "status")
        assert refused["allowed"] == []
        assert refused["message"].endswith("it is final")
    error(api("PATCH", path, body={"priority": "urgent"}), 409, "ticket_closed")
    error(api("POST", f"{path}/comments", body={"text": "one more thing"}), 409, "ticket_closed")
    error(api("PATCH", path, body={"status": "archived"}), 400, "invalid_body", "status")
    assert api.ok("GET", path)["version"] == 4  # nothing refused was written


def test_bad_bodies_are_refused_naming_the_field(api: Api) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"customer": {"id": "v_sam"}, "group_id": "general"}, "subject", "'subject' is required"),
        ({"subject": "  ", "customer": {"id": "v_sam"}, "group_id": "general"}, "subject",
         "'subject' must be a non-empty string"),
        ({"subject": "x" * 201, "customer": {"id": "v_sam"}, "group_id": "general"}, "subject",
         "'subject' may be at most 200 characters"),
        ({"subject": "Refund", "description": "x" * 5001, "customer": {"id": "v_sam"}, "group_id": "general"},
         "description", "'description' may be at most 5000 characters"),
        ({"subject": "Refund", "priority": "asap", "customer": {"id": "v_sam"}, "group_id": "general"}, "priority",
         "'priority' must be one of low, normal, high, urgent"),
        ({"subject": "Refund", "customer": {"id": "v_sam"}, "group_id": "general", "due": "tomorrow"}, "due",
         "'due' is not a known field"),
        ({"subject": "Refund", "customer": {"id": "v_sam", "email": "s@x"}, "group_id": "general"},
         "customer.email", "'customer.email' is not a known field"),
        ({"subject": "Refund", "customer": "Sam", "group_id": "general"}, "customer",
         "'customer' must be an object with id, name or contact"),
        ({"subject": "Refund", "customer": {"contact": "c" * 201}, "group_id": "general"}, "customer.contact",
         "'customer.contact' may be at most 200 characters"),
        ({"subject": "Refund", "group_id": "general"}, "customer",
         "'customer' is required without a session: give its id, name or contact"),
        ({"subject": "Refund", "customer": {"name": "Sam"}}, "group_id", "'group_id' is required without a session"),
        ({"subject": "Refund", "customer": {"name": "Sam"}, "group_id": "bags"}, "group_id", "no group 'bags'"),
        ({"subject": "Refund", "customer": {"name": "Sam"}, "group_id": "general", "order_ref": "SO 42"},
         "order_ref", "'order_ref' has an invalid format"),
        ({"subject": "Refund", "customer": {"name": "Sam"}, "group_id": "general", "assignee": "zed"},
         "assignee", "'assignee' must be an agent of a group ('zed' is none)"),
        ({"subject": "Refund", "session_id": "s_00000000000000000000"}, "session_id",
         "no session 's_00000000000000000000'"),
    ]
    for body, field, message in cases:
        assert error(api("POST", "/tickets", body=body), 400, "invalid_body", field)["message"] == message, body
    error(api("POST", "/tickets", raw="{not json"), 400, "invalid_body")

    path = f"/tickets/{console_ticket(api)['ticket_id']}"
    patches: list[tuple[dict[str, Any], str | None, str]] = [
        ({}, None, "nothing to change: give status, assignee, priority, subject or description"),
        ({"version": 1}, None, "nothing to change: give status, assignee, priority, subject or description"),
        ({"status": None}, "status", "'status' may not be null"),
        ({"subject": ""}, "subject", "'subject' must be a non-empty string"),
        ({"group_id": "shoes"}, "group_id", "'group_id' is not a known field"),
        ({"status": "pending", "version": True}, "version",
         "'version' must be a positive integer (the version you read)"),
        ({"assignee": "carol"}, "assignee", "'assignee' must be an agent of a group ('carol' is none)"),
    ]
    for patch, patch_field, message in patches:
        assert error(api("PATCH", path, body=patch), 400, "invalid_body", patch_field)["message"] == message, patch
    error(api("POST", f"{path}/comments", body={}), 400, "invalid_body", "text")
    error(api("POST", f"{path}/comments", body={"text": "x" * 5001}), 400, "invalid_body", "text")
    error(api("POST", f"{path}/comments", body={"text": "hi", "internal": True}), 400, "invalid_body", "internal")
    assert api.ok("GET", path)["version"] == 1


def test_an_unknown_ticket_is_404(api: Api) -> None:
    for method, path, body in [("GET", f"/tickets/{UNKNOWN}", None),
                               ("PATCH", f"/tickets/{UNKNOWN}", {"status": "pending"}),
                               ("POST", f"/tickets/{UNKNOWN}/comments", {"text": "hello"}),
                               ("GET", "/tickets/not-a-ticket-id", None)]:
        error(api(method, path, body=body), 404, "not_found")


# -- who may do what ------------------------------------------------------------------------------------

def test_visitors_are_refused_everywhere(api: Api) -> None:
    ticket_id = console_ticket(api)["ticket_id"]
    for method, path, body in [("POST", "/tickets", {"subject": "x"}), ("GET", "/tickets", None),
                               ("GET", f"/tickets/{ticket_id}", None),
                               ("PATCH", f"/tickets/{ticket_id}", {"status": "closed"}),
                               ("POST", f"/tickets/{ticket_id}/comments", {"text": "hi"})]:
        assert error(api(method, path, "visitor", body), 403, "forbidden")["message"] == "tickets are for staff"
    response = api.client.http.request("GET", "/tickets", headers={})
    assert (response.status_code, response.json_body["error"]["code"]) == (401, "missing_token")


def test_an_agent_sees_and_changes_only_its_groups_tickets_and_those_assigned_to_it(api: Api, svc: Services) -> None:
    shoes = console_ticket(api, "bob", group_id="shoes", subject="Sizes run small")
    path = f"/tickets/{shoes['ticket_id']}"
    for method, target, body in [("GET", path, None), ("PATCH", path, {"status": "pending"}),
                                 ("POST", f"{path}/comments", {"text": "mine now"})]:
        assert error(api(method, target, body=body), 403, "forbidden")["message"] == (
            "this ticket belongs to a group you are not in")
    error(api("GET", "/tickets?group_id=shoes"), 403, "forbidden", "group_id")
    error(api("POST", "/tickets", body={"subject": "x", "customer": {"name": "Sam"}, "group_id": "shoes"}),
          403, "forbidden")
    assert api.ok("GET", path, "carol")["group_id"] == "shoes"  # supervisors see every group
    assert api.ok("GET", path, "admin")["group_id"] == "shoes"

    api.ok("PATCH", path, "bob", {"assignee": "alice"})
    assert api.ok("GET", path)["assignee"] == "alice"  # assigned to alice: hers to see and work on
    api.ok("POST", f"{path}/comments", body={"text": "On it."}, status=201)
    assert [t["ticket_id"] for t in api.ok("GET", "/tickets")["tickets"]] == [shoes["ticket_id"]]

    # Only a chat's own agent makes tickets from it.
    session = chat_with_alice(svc)
    error(api("POST", "/tickets", "bob", {"session_id": session.session_id, "subject": "x"}), 403, "forbidden")


# -- listing -------------------------------------------------------------------------------------------

def test_listing_filters_and_pages_newest_first_without_duplicates(api: Api, svc: Services) -> None:
    made = [console_ticket(api, "bob", subject=f"ticket {i}", priority=("low", "high")[i % 2],
                           group_id=("general", "shoes")[i % 3 == 0], customer={"id": f"v_{i % 2}"})
            for i in range(8)]
    ids = [t["ticket_id"] for t in made]
    newest_first = ids[::-1]

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = api.ok("GET", "/tickets?limit=3" + (f"&cursor={cursor}" if cursor else ""), "carol")
        seen += [t["ticket_id"] for t in page["tickets"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert (seen, pages) == (newest_first, 3)

    # A change moves a ticket to the top.
    api.ok("PATCH", f"/tickets/{ids[2]}", "bob", {"status": "pending"})
    assert api.ok("GET", "/tickets?limit=1", "carol")["tickets"][0]["ticket_id"] == ids[2]

    def listed(query: str, who: str = "carol") -> list[str]:
        return [t["ticket_id"] for t in api.ok("GET", f"/tickets?{query}", who)["tickets"]]

    assert listed("status=pending") == [ids[2]]
    assert listed("status=open&priority=high") == [ids[i] for i in (7, 5, 3, 1)]
    assert listed("group_id=shoes") == [ids[6], ids[3], ids[0]]
    assert listed("group_id=shoes&priority=low") == [ids[6], ids[0]]
    assert listed("customer_id=v_1") == [ids[i] for i in (7, 5, 3, 1)]
    assert listed("source=chat") == []
    assert listed("source=console&limit=2") == [ids[2], ids[7]]
    api.ok("PATCH", f"/tickets/{ids[0]}", "bob", {"assignee": "alice"})
    assert listed("assignee=alice") == [ids[0]]
    # alice: general's tickets and the shoes ticket assigned to her, merged newest first.
    assert listed("", "alice") == [ids[0], ids[2], ids[7], ids[5], ids[4], ids[1]]
    assert listed("limit=2", "alice") == [ids[0], ids[2]]
    second = api.ok("GET", "/tickets?limit=2", "alice")["next_cursor"]
    assert listed(f"limit=2&cursor={second}", "alice") == [ids[7], ids[5]]
    for i in (3, 4):
        api.ok("PATCH", f"/tickets/{ids[i]}", "bob", {"assignee": "bob"})
    assert listed("assignee=bob") == [ids[4], ids[3]]
    assert listed("assignee=bob", "alice") == [ids[4]]  # bob's shoes ticket is not alice's to see

    error(api("GET", "/tickets?cursor=bm9wZQ"), 400, "invalid_body", "cursor")
    error(api("GET", "/tickets?status=done"), 400, "invalid_body", "status")
    error(api("GET", "/tickets?limit=101"), 400, "invalid_body", "limit")
    error(api("GET", "/tickets?sort=oldest"), 400, "invalid_body", "sort")
    for who in ("alice", "admin"):  # an empty group id is no DynamoDB key: refused before the query
        error(api("GET", "/tickets?group_id=", who), 400, "invalid_body", "group_id")


# -- left messages --------------------------------------------------------------------------------------

def test_a_left_message_becomes_an_open_ticket_that_the_groups_agents_list_and_work(
        api: Api, svc: Services, sender: RecordingSender) -> None:
    svc.presence.connect("c-carol", CAROL)
    svc.dashboard.subscribe("c-carol")
    vera = Identity("v_vera", "visitor", "Vera", channel="web")
    svc.sessions.current_or_new(vera, svc.presence.connect("c-v_vera", vera))
    text = "Do you ship to Macau?\nMy order is SO-77 and I need it by Friday."
    left = svc.routing.leave_message(vera, text, "+853 6000 0000", "closed")

    listed = api.ok("GET", "/left-messages")["left_messages"]
    assert [m["ticket_id"] for m in listed] == [left.message_id]
    assert {k: listed[0][k] for k in ("message_id", "group_id", "visitor_id", "visitor_name", "text", "contact",
                                      "reason", "status", "assignee")} == {
        "message_id": left.message_id, "group_id": "general", "visitor_id": "v_vera", "visitor_name": "Vera",
        "text": text, "contact": "+853 6000 0000", "reason": "closed", "status": "open", "assignee": None}
    pushed = sender.frames("c-carol", "dashboard.left_message")
    assert [(f["group_id"], f["ticket_id"], f["message_id"]) for f in pushed] == [
        ("general", left.message_id, left.message_id)]

    ticket = api.ok("GET", f"/tickets/{left.message_id}")
    assert (ticket["subject"], ticket["source"], ticket["reason"], ticket["created_by"]) == (
        "Do you ship to Macau?", "left_message", "closed", "v_vera")
    assert [t["ticket_id"] for t in api.ok("GET", "/tickets?source=left_message")["tickets"]] == [left.message_id]
    api.ok("PATCH", f"/tickets/{left.message_id}", body={"status": "solved", "assignee": "alice"})
    assert api.ok("GET", "/left-messages", "bob")["left_messages"][0]["status"] == "solved"
    assert console_ticket(api)["ticket_id"] not in [m["ticket_id"] for m in
                                                    api.ok("GET", "/left-messages", "carol")["left_messages"]]
    error(api("GET", "/left-messages", "visitor"), 403, "forbidden")


def test_a_left_messages_subject_is_its_first_line_cut_short() -> None:
    assert subject_of("  Where   is\tmy parcel?  \n second line") == "Where is my parcel?"
    long = subject_of("word " * 40)
    assert len(long) == 80 and long.endswith("…")
    assert subject_of("\n \n") == "(no text)"


# -- concurrency ---------------------------------------------------------------------------------------

class RacingTickets(TicketService):
    """Holds the first two reads of a ticket until both have happened: two updates decided on the same
    version, as when two agents press a button at once."""

    def __init__(self, sessions: SessionService, config: Callable[[], RoutingConfig]) -> None:
        super().__init__(sessions, config)
        self.barrier = threading.Barrier(2, timeout=10)
        self.lock = threading.Lock()
        self.reads = 0

    def _read(self, ticket_id: str) -> Ticket:
        ticket = super()._read(ticket_id)
        with self.lock:
            self.reads += 1
            first_two = self.reads <= 2
        if first_two:
            self.barrier.wait()
        return ticket


@pytest.fixture
def atomic_moto() -> Iterator[None]:
    # moto is not atomic across threads; DynamoDB is (local/dynamodb_atomic.py).
    dynamodb_atomic.install()
    yield
    dynamodb_atomic.uninstall()


def test_two_updates_from_the_same_status_one_wins_the_other_conflicts(svc: Services, atomic_moto: None) -> None:
    ticket = svc.tickets.create(BOB, Draft("Broken zip", customer=Customer(id="v_sam"), group_id="shoes"))
    racing = RacingTickets(svc.sessions, lambda: CONFIG)

    def attempt(who: Identity, status: str) -> Ticket | TicketError:
        try:
            return racing.update(who, ticket.ticket_id, Changes(status=status))
        except TicketError as err:
            return err

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(attempt, [BOB, CAROL], ["pending", "solved"]))
    won = [r for r in results if isinstance(r, Ticket)]
    lost = [r for r in results if isinstance(r, TicketError)]
    assert len(won) == len(lost) == 1
    assert (lost[0].code, lost[0].field, lost[0].details["current_version"], lost[0].details["current_status"]) == (
        "conflict", "version", 2, won[0].status)
    detail = svc.tickets.get(CAROL, ticket.ticket_id)
    assert (detail.ticket.status, detail.ticket.version) == (won[0].status, 2)
    assert [(h.field, h.old, h.new) for h in detail.history] == [("status", "open", won[0].status)]


def test_an_update_from_an_old_version_is_a_conflict(api: Api) -> None:
    path = f"/tickets/{console_ticket(api)['ticket_id']}"
    assert api.ok("PATCH", path, body={"status": "pending", "version": 1})["version"] == 2
    stale = error(api("PATCH", path, "bob", {"status": "solved", "version": 1}), 409, "conflict", "version")
    assert (stale["current_version"], stale["current_status"]) == (2, "pending")
    assert stale["message"] == "the ticket changed since you read it (it is pending at version 2 now): read it again"
    # A comment is not an edit: it never makes a later edit from the same reading conflict.
    api.ok("POST", f"{path}/comments", body={"text": "Waiting for the customer."}, status=201)
    assert api.ok("PATCH", path, "bob", {"status": "solved", "version": 2})["version"] == 3
