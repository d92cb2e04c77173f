"""Internal notes on moto, through the frame handler: written by the session's agent, a supervisor of its group or an
admin; stored in place (the session's next seq) as kind ``note``, status ``internal``; told to the author's tabs,
the session's agent and those mentioned (a supervisor only where its token's groups reach); never to the visitor,
live, on resume or in history; and every bad input or caller answered with its structured error."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.auth.identity import Identity
from chalicelib.edge.frames import handle_frame
from chalicelib.im.models import Message, message_sk
from chalicelib.im.ratelimit import BURST, RateLimiter
from chalicelib.im.schemas import SendFrame
from chalicelib.sessions.models import Session
from chalicelib.wiring import Services, build
from tests.conftest import RecordingSender, RecordingTimer, count_aws_calls, group, routing_config
from tests.functional.im.test_ack_batch import FrozenClock

ALICE = Identity("alice", "agent", name="Alice Chen", groups=("general",), protocol=2)
BOB = Identity("bob", "agent", name="Bob Li", groups=("general",))
CAROL = Identity("carol", "supervisor", name="Carol Wang", groups=("general",))
DAVE = Identity("dave", "supervisor", name="Dave", groups=("shoes",))  # supervises another group only
ADMIN = Identity("admin", "admin", name="Site Admin")
VERA = Identity("v_vera", "visitor", name="Vera", channel="web", protocol=2)
CONFIG = routing_config([group("general", ["alice", "bob"]), group("shoes", ["bob"])])
STAFF_CONNS = {"ca1": ALICE, "ca2": ALICE, "cb1": BOB, "cc1": CAROL, "cd1": DAVE, "cx1": ADMIN}
VISITOR_CONNS = ("cv1", "cv2")


@dataclass
class Desk:
    svc: Services
    sender: RecordingSender
    sid: str
    n: int = 0

    def frame(self, conn: str, action: str, **fields: Any) -> None:
        handle_frame(self.svc, conn, json.dumps({"action": action, **fields}))

    def note(self, conn: str, text: str = "check order SO-88121", **fields: Any) -> None:
        self.n += 1
        self.frame(conn, "note", **{"session_id": self.sid, "client_msg_id": f"n-{self.n}", "text": text, **fields})

    def error(self, conn: str) -> dict[str, Any]:
        [error] = self.sender.frames(conn, "error")
        return error

    def notes_to(self, conn: str) -> list[dict[str, Any]]:
        return self.sender.frames(conn, "note")

    def visitor_saw(self) -> list[dict[str, Any]]:
        return [f for c in VISITOR_CONNS for f in self.sender.frames(c)]


@pytest.fixture
def desk(aws: None, sender: RecordingSender, timer: RecordingTimer) -> Desk:
    svc = dataclasses.replace(build(sender, timer, config=lambda: CONFIG), limiter=RateLimiter(clock=FrozenClock()))
    for conn, who in STAFF_CONNS.items():
        svc.presence.connect(conn, who)
    svc.routing.set_agent_status(ALICE, "online")
    session = svc.sessions.current_or_new(VERA, svc.presence.connect("cv1", VERA))
    svc.presence.connect("cv2", VERA)  # the visitor's second tab
    assert svc.routing.request_agent(VERA).agent_id == "alice"
    sender.posts.clear()
    return Desk(svc, sender, session.session_id)


def stored(sid: str) -> list[Message]:
    return [m for m in Message.query(sid) if m.sk.startswith("m#")]


# -- writing and telling ----------------------------------------------------------------------------------

def test_the_agent_s_note_is_stored_in_place_and_reaches_only_its_own_tabs(desk: Desk) -> None:
    desk.svc.im.send(VERA, "cv1", SendFrame(desk.sid, "v1", "text", {"text": "Where is my parcel?"}))
    before = Session.get(desk.sid)
    desk.sender.posts.clear()
    desk.note("ca1", "parcel stuck at the depot")
    [note] = [m for m in stored(desk.sid) if m.kind == "note"]
    assert (note.seq, note.status, note.recipient_id, note.sender_id, note.sender_name) == (
        2, "internal", None, "alice", "Alice Chen")
    assert note.content.as_dict() == {"text": "parcel stuck at the depot"}
    for conn in ("ca1", "ca2"):  # every tab of the author, the session's agent
        [frame] = desk.notes_to(conn)
        assert frame["message"]["type"] == "note" and frame["message"]["status"] == "internal"
        assert frame["message"]["message_id"] == f"{desk.sid}.2" and "mentioned" not in frame
    assert desk.visitor_saw() == [] and desk.notes_to("cb1") == [] and desk.notes_to("cc1") == []
    assert [c for c, f in desk.sender.posts if f["event"] != "note"] == []
    # A note is no reply to the visitor: the idle clock is where the visitor's message left it.
    after = Session.get(desk.sid)
    assert (after.last_agent_at, after.updated_at, after.seq) == (before.last_agent_at, before.updated_at, 2)


def test_a_supervisor_s_note_mentioning_the_agent_reaches_the_agent_with_the_session(desk: Desk) -> None:
    desk.note("cc1", "@alice offer the 20 yuan coupon", mentions=["alice"])
    [own] = desk.notes_to("cc1")
    assert "mentioned" not in own and own["message"]["sender_role"] == "supervisor"
    for conn in ("ca1", "ca2"):
        [frame] = desk.notes_to(conn)
        assert frame["mentioned"] is True and frame["session"]["session_id"] == desk.sid
        assert frame["message"]["content"] == {"text": "@alice offer the 20 yuan coupon", "mentions": ["alice"]}
    assert desk.visitor_saw() == []


def test_a_mentioned_supervisor_is_told_only_where_its_token_reaches_the_group(desk: Desk) -> None:
    desk.note("ca1", "@carol @dave refund above 500?", mentions=["carol", "dave", "admin"])
    [frame] = desk.notes_to("cc1")
    assert frame["mentioned"] is True and frame["session"]["agent_id"] == "alice"
    assert desk.notes_to("cd1") == []  # dave supervises shoes: nothing about a general session
    assert desk.notes_to("cx1")[0]["mentioned"] is True  # an admin reads every session
    assert [f.get("mentioned") for f in desk.notes_to("ca1")] == [None]


def test_an_admin_writes_in_any_session(desk: Desk) -> None:
    desk.note("cx1", "audit: fine")
    assert desk.notes_to("cx1") and desk.notes_to("ca1") and desk.visitor_saw() == []


def test_a_resend_of_the_client_id_is_answered_with_the_note_kept_once(desk: Desk) -> None:
    fields = {"session_id": desk.sid, "client_msg_id": "n-same", "text": "once"}
    desk.frame("ca1", "note", **fields)
    desk.frame("ca1", "note", **fields)
    assert [m.kind for m in stored(desk.sid)] == ["note"]
    assert [f["message"]["seq"] for f in desk.notes_to("ca1")] == [1, 1]


# -- never to the visitor ---------------------------------------------------------------------------------

def test_a_visitor_never_gets_a_note_live_on_resume_or_in_history(desk: Desk) -> None:
    desk.svc.im.send(VERA, "cv1", SendFrame(desk.sid, "v1", "text", {"text": "hello"}))
    desk.note("ca1", "VIP, be quick", mentions=None)
    desk.svc.im.send(ALICE, "ca1", SendFrame(desk.sid, "a1", "text", {"text": "Hi Vera"}))
    desk.note("cc1", "@alice nice", mentions=["alice"])
    desk.frame("ca1", "ack", message_id=f"{desk.sid}.1")
    desk.frame("cv1", "ack", message_id=f"{desk.sid}.3")
    kinds = [f["event"] for f in desk.visitor_saw()]
    assert "note" not in kinds and all(f["message"]["type"] != "note" for f in desk.visitor_saw()
                                       if f["event"] == "message")
    # Resume from anywhere: from the start, from just before a note, and the lookback below after_seq.
    for after in (0, 1, 2, 4):
        desk.sender.posts.clear()
        desk.frame("cv1", "resume", session_id=desk.sid, after_seq=after)
        [resumed] = desk.sender.frames("cv1", "resumed")
        assert all(m["type"] != "note" for m in resumed["messages"]), after
        assert resumed["last_seq"] == 4
    history = desk.svc.im.history(VERA, desk.sid, 0, 50)
    assert [m["seq"] for m in history["messages"]] == [1, 3]
    # Page by page too: a page that starts at a note skips it.
    assert [m["seq"] for m in desk.svc.im.history(VERA, desk.sid, 1, 1)["messages"]] == [3]
    # Staff who read notes get them in place, in history and on resume.
    assert [m["type"] for m in desk.svc.im.history(ALICE, desk.sid, 0, 50)["messages"]] == [
        "text", "note", "text", "note"]
    assert [m["type"] for m in desk.svc.im.history(CAROL, desk.sid, 0, 50)["messages"]] == [
        "text", "note", "text", "note"]
    desk.sender.posts.clear()
    desk.frame("ca1", "resume", session_id=desk.sid, after_seq=0)
    assert [m["seq"] for m in desk.sender.frames("ca1", "resumed")[0]["messages"] if m["type"] == "note"] == [2, 4]


def test_a_visitor_s_ack_or_read_of_a_note_is_forbidden_and_tells_nothing(desk: Desk) -> None:
    desk.note("ca1", "secret")
    desk.sender.posts.clear()
    desk.frame("cv1", "ack", message_id=f"{desk.sid}.1")
    assert desk.error("cv1")["code"] == "forbidden"
    desk.sender.posts.clear()
    desk.frame("cv1", "read", message_ids=[f"{desk.sid}.1"])
    assert desk.error("cv1")["code"] == "forbidden"
    assert "secret" not in json.dumps(desk.sender.posts)
    assert Message.get(desk.sid, message_sk(1)).status == "internal"


# -- refusals --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("conn", "code"), [
    ("cv1", "forbidden"),  # the session's own visitor
    ("cb1", "forbidden"),  # an agent who does not serve it
    ("cd1", "forbidden"),  # a supervisor of another group
])
def test_callers_without_access_are_refused(desk: Desk, conn: str, code: str) -> None:
    desk.note(conn)
    error = desk.error(conn)
    assert (error["code"], error["action"], error["client_msg_id"]) == (code, "note", "n-1")
    assert stored(desk.sid) == [] and desk.notes_to("ca1") == []


def test_the_agent_who_transferred_the_session_away_can_no_longer_write(desk: Desk) -> None:
    desk.svc.routing.set_agent_status(BOB, "online")
    desk.svc.routing.transfer(ALICE, desk.sid, None, to_agent="bob", to_group=None)
    desk.sender.posts.clear()
    desk.note("ca1")
    assert desk.error("ca1")["code"] == "forbidden"
    desk.note("cb1", "taken over")
    assert desk.notes_to("cb1") and desk.notes_to("ca1") == []


def test_no_such_session_and_a_closed_one(desk: Desk) -> None:
    desk.frame("ca1", "note", session_id="s_" + "0" * 20, client_msg_id="n-x", text="hi")
    assert desk.error("ca1")["code"] == "not_found"
    desk.sender.posts.clear()
    desk.svc.sessions.end_session(VERA, desk.sid)
    desk.sender.posts.clear()
    desk.note("cc1")
    assert desk.error("cc1")["code"] == "session_closed" and stored(desk.sid) == []


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({"text": None}, "invalid_frame", "text"),
    ({"text": "   "}, "invalid_frame", "text"),
    ({"text": 5}, "invalid_frame", "text"),
    ({"text": "x" * 1001}, "content_too_large", "text"),
    ({"client_msg_id": None}, "invalid_frame", "client_msg_id"),
    ({"client_msg_id": "no spaces"}, "invalid_frame", "client_msg_id"),
    ({"session_id": "nope"}, "not_found", "session_id"),
    ({"mentions": "carol"}, "invalid_frame", "mentions"),
    ({"mentions": []}, "invalid_frame", "mentions"),
    ({"mentions": ["a", "b", "c", "d", "e", "f"]}, "invalid_frame", "mentions"),
    ({"mentions": ["carol", "carol"]}, "invalid_frame", "mentions"),
    ({"mentions": [7]}, "invalid_frame", "mentions[0]"),
    ({"mentions": ["carol", "v_96c08369a014436c"]}, "invalid_frame", "mentions[1]"),
    ({"mentions": ["c:1001"]}, "invalid_frame", "mentions[0]"),
    ({"mentions": ["robot"]}, "invalid_frame", "mentions[0]"),
    ({"mentions": ["alice"]}, "invalid_frame", "mentions[0]"),  # the author
    ({"mentions": ["carol", "zed"]}, "invalid_frame", "mentions[1]"),  # never signed in
    ({"mentions": ["bob"]}, "invalid_frame", "mentions[0]"),  # an agent who cannot open the session
    ({"colour": "yellow"}, "invalid_frame", "colour"),
])
def test_bad_notes_get_their_structured_error_and_store_nothing(desk: Desk, fields: dict[str, Any], code: str,
                                                                field: str) -> None:
    frame = {"session_id": desk.sid, "client_msg_id": "n-bad", "text": "hi", **fields}
    desk.frame("ca1", "note", **{k: v for k, v in frame.items() if v is not None})
    error = desk.error("ca1")
    assert (error["code"], error.get("field"), error["action"]) == (code, field, "note"), error
    assert stored(desk.sid) == [] and desk.notes_to("ca1") == []


def test_notes_are_rate_limited_like_chat_messages(desk: Desk) -> None:
    for _ in range(int(BURST)):
        desk.note("ca1", "burst")
    assert desk.sender.frames("ca1", "error") == []
    desk.note("ca1", "one too many")
    error = desk.error("ca1")
    assert (error["code"], error["client_msg_id"]) == ("rate_limited", f"n-{int(BURST) + 1}")
    assert error["retry_after_ms"] > 0 and len(stored(desk.sid)) == int(BURST)


def test_a_note_costs_five_aws_calls_and_a_mention_one_more(desk: Desk) -> None:
    calls = count_aws_calls()
    desk.note("ca1", "plain")
    # The session read, its seq, the client id marker, the note, the author's and agent's connections.
    assert calls() == 5
    desk.note("ca1", "@carol look", mentions=["carol"])
    # The mentioned presence (role and connections) in one batch; carol's token's groups are in this container's
    # cache since her connection opened here (elsewhere one read of her connection more).
    assert calls() == 6
