"""Typing indicators and read receipts on moto, through the frame handler: ``typing`` relayed to the other side's
connections only (nobody while the robot has the session, never stored, over-rate answered ``rate_limited``),
and ``read`` recorded once, forward only, delivering what it reads, told once per sending connection, refused
for messages not sent to the reader, and carried by history and resume."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.auth.identity import Identity
from chalicelib.edge.frames import handle_frame
from chalicelib.im.models import Message, message_sk
from chalicelib.im.ratelimit import TYPING_BURST, RateLimiter
from chalicelib.im.schemas import SendFrame
from chalicelib.platform import metering
from chalicelib.wiring import Services, build
from tests.conftest import RecordingSender, RecordingTimer, count_aws_calls, routing_config
from tests.functional.im.test_ack_batch import FrozenClock

AGENT = Identity(user_id="alice", role="agent", name="Alice Chen", protocol=2)
BOB = Identity(user_id="bob", role="agent", name="Bob", protocol=2)
NEW = Identity(user_id="v_new", role="visitor", name="Nia", channel="web", protocol=2)
OLD = Identity(user_id="v_old", role="visitor", name="Olga", channel="web")  # protocol 1: never told `read`
BOT = Identity(user_id="v_bot", role="visitor", name="Ben", channel="web", protocol=2)  # with the robot


@dataclass
class Desk:
    svc: Services
    sender: RecordingSender
    sessions: dict[str, str]  # visitor id -> session id
    said: int = 0

    def say(self, who: Identity, conn: str, n: int, to: str | None = None) -> list[str]:
        """``n`` texts from ``who`` (staff: to visitor ``to``); returns their message ids, in order."""
        sid = self.sessions[to or who.user_id]
        for _ in range(n):
            self.said += 1
            self.svc.im.send(who, conn, SendFrame(sid, f"{who.user_id}-{self.said}", "text", {"text": "hi"}))
        # Each message reaches every tab of the recipient: once each here.
        return list(dict.fromkeys(f["message"]["message_id"] for _, f in self.sender.posts
                                  if f.get("event") == "message" and f["message"]["session_id"] == sid
                                  and f["message"]["sender_id"] == who.user_id))[-n:]

    def frame(self, conn: str, action: str, **fields: Any) -> None:
        handle_frame(self.svc, conn, json.dumps({"action": action, **fields}))

    def errors(self, conn: str) -> dict[str, dict[str, Any]]:
        found = self.sender.frames(conn, "error")
        by_code = {f["code"]: f for f in found}
        assert len(by_code) == len(found), found
        return by_code


@pytest.fixture
def desk(aws: None, sender: RecordingSender, timer: RecordingTimer) -> Desk:
    svc = dataclasses.replace(build(sender, timer, config=lambda: routing_config()),
                              limiter=RateLimiter(clock=FrozenClock()))
    svc.presence.connect("ca1", AGENT)
    svc.presence.connect("ca2", AGENT)  # a second console tab
    svc.presence.connect("cb1", BOB)
    svc.routing.agent_connected(AGENT)
    sessions = {}
    for who, conn in ((NEW, "cv-new"), (OLD, "cv-old"), (BOT, "cv-bot")):
        presence = svc.presence.connect(conn, who)
        session = svc.sessions.current_or_new(who, presence)
        if who is not BOT:
            svc.routing.request_agent(who)
        sessions[who.user_id] = session.session_id
    svc.presence.connect("cv-new2", NEW)  # the visitor's second tab
    sender.posts.clear()
    return Desk(svc, sender, sessions)


def posted(desk: Desk, event: str) -> list[tuple[str, dict[str, Any]]]:
    return [(c, f) for c, f in desk.sender.posts if f.get("event") == event]


# -- typing ------------------------------------------------------------------------------------------------

def test_typing_reaches_the_other_sides_connections_only_and_is_never_stored(desk: Desk) -> None:
    sid = desk.sessions[NEW.user_id]
    desk.frame("cv-new", "typing", session_id=sid, state="start")
    got = posted(desk, "typing")
    assert sorted(c for c, _ in got) == ["ca1", "ca2"]  # alice's two tabs; not bob, not the visitor's tabs
    assert got[0][1] == {"event": "typing", "session_id": sid, "state": "start", "sender_role": "visitor",
                         "ttl_ms": 6000}
    desk.sender.posts.clear()
    desk.frame("ca1", "typing", session_id=sid, state="stop")
    got = posted(desk, "typing")
    assert sorted(c for c, _ in got) == ["cv-new", "cv-new2"]
    assert got[0][1]["state"] == "stop" and got[0][1]["sender_role"] == "agent"
    assert [m for m in Message.query(sid) if m.sk.startswith("m#")] == []  # nothing in history
    assert desk.sender.frames("ca1", "error") == [] and desk.sender.frames("cv-new", "error") == []


def test_nobody_is_told_while_the_robot_has_the_session(desk: Desk) -> None:
    desk.frame("cv-bot", "typing", session_id=desk.sessions[BOT.user_id], state="start")
    assert desk.sender.posts == []  # no relay, no answer: a valid frame with nobody to tell


@pytest.mark.parametrize(("who", "fields", "code", "field"), [
    ("cb1", {"state": "start"}, "forbidden", None),  # bob does not serve the session
    ("cv-bot", {"state": "start"}, "forbidden", None),  # another visitor's session
    ("cv-new", {"state": "typing"}, "invalid_frame", "state"),
    ("cv-new", {}, "invalid_frame", "state"),
    ("cv-new", {"state": "start", "ttl": 5}, "invalid_frame", "ttl"),
])
def test_bad_typing_frames_get_their_structured_error(desk: Desk, who: str, fields: dict[str, Any], code: str,
                                                       field: str | None) -> None:
    desk.frame(who, "typing", session_id=desk.sessions[NEW.user_id], **fields)
    [error] = desk.sender.frames(who, "error")
    assert (error["code"], error.get("field"), error["action"]) == (code, field, "typing")
    assert posted(desk, "typing") == []


def test_typing_for_no_such_or_a_closed_session(desk: Desk) -> None:
    desk.frame("cv-new", "typing", session_id="s_" + "0" * 20, state="start")
    desk.frame("cv-new", "typing", session_id="nope", state="start")
    assert [e["code"] for e in desk.sender.frames("cv-new", "error")] == ["not_found", "not_found"]
    desk.sender.posts.clear()
    sid = desk.sessions[NEW.user_id]
    desk.svc.sessions.end_session(NEW, sid)
    desk.sender.posts.clear()
    desk.frame("cv-new", "typing", session_id=sid, state="start")
    [error] = desk.sender.frames("cv-new", "error")
    assert error["code"] == "session_closed" and posted(desk, "typing") == []


def test_typing_over_its_rate_is_answered_rate_limited_and_not_relayed(desk: Desk) -> None:
    sid = desk.sessions[NEW.user_id]
    for _ in range(int(TYPING_BURST) + 1):
        desk.frame("cv-new", "typing", session_id=sid, state="start")
    assert len([c for c, _ in posted(desk, "typing") if c == "ca1"]) == int(TYPING_BURST)
    [error] = desk.sender.frames("cv-new", "error")
    assert error["code"] == "rate_limited" and error["retry_after_ms"] > 0 and error["session_id"] == sid


def test_a_typing_frame_costs_two_reads_and_one_post_per_connection_and_no_write(desk: Desk) -> None:
    sid = desk.sessions[NEW.user_id]
    desk.frame("cv-new", "typing", session_id=sid, state="start")  # the connection's identity is cached now
    count_aws_calls()
    metering.reset()
    desk.sender.posts.clear()
    desk.frame("cv-new", "typing", session_id=sid, state="start")
    calls = {op.rsplit(".", 1)[-1]: n for op, n in metering.snapshot().items()}
    assert calls == {"GetItem": 2}  # the session, and the agent's connections
    assert len(posted(desk, "typing")) == 2  # one per console tab


# -- read receipts --------------------------------------------------------------------------------------------

def test_read_is_recorded_once_and_the_sending_connection_told_once(desk: Desk) -> None:
    ids = desk.say(NEW, "cv-new", 3)
    desk.frame("ca1", "ack", message_ids=ids)
    desk.sender.posts.clear()
    sid = desk.sessions[NEW.user_id]
    desk.frame("ca1", "read", message_ids=ids[:2])
    [frame] = desk.sender.frames("cv-new", "read")
    assert [m["message_id"] for m in frame["messages"]] == ids[:2]
    assert [m["client_msg_id"] for m in frame["messages"]] == ["v_new-1", "v_new-2"]
    first_at = frame["read_at"]
    assert desk.sender.frames("cv-new2", "read") == []  # the sending connection only
    desk.sender.posts.clear()
    desk.frame("ca1", "read", message_ids=ids)  # two repeats and the third
    [frame] = desk.sender.frames("cv-new", "read")
    assert [m["message_id"] for m in frame["messages"]] == ids[2:]
    reads = {m.seq: m.read_at for m in Message.query(sid, Message.sk.startswith("m#"))}
    assert reads[1] == first_at and reads[2] == first_at  # never moved
    assert desk.sender.frames("ca1", "error") == []  # repeats are harmless and unanswered


def test_read_implies_delivered_one_frame_instead_of_two(desk: Desk) -> None:
    ids = desk.say(NEW, "cv-new", 2)
    desk.sender.posts.clear()
    desk.frame("ca1", "read", message_ids=ids)
    sid = desk.sessions[NEW.user_id]
    rows = [m for m in Message.query(sid, Message.sk.startswith("m#"))]
    assert [(m.status, m.read_at is not None) for m in rows] == [("delivered", True)] * 2
    [delivered] = desk.sender.frames("cv-new", "delivered")
    assert [m["message_id"] for m in delivered["messages"]] == ids
    [read] = desk.sender.frames("cv-new", "read")
    assert [m["message_id"] for m in read["messages"]] == ids
    assert [f["event"] for f in desk.sender.frames("cv-new")] == ["delivered", "read"]


def test_nobody_marks_read_what_was_not_sent_to_them(desk: Desk) -> None:
    [own] = desk.say(AGENT, "ca1", 1, to=NEW.user_id)  # alice's own message to the visitor
    [theirs] = desk.say(OLD, "cv-old", 1)
    sid = desk.sessions[NEW.user_id]
    desk.sender.posts.clear()
    desk.frame("ca1", "read", message_ids=[own, f"{sid}.99", "m-1"])
    desk.frame("cb1", "read", message_ids=[theirs])  # bob is not the recipient
    errors = desk.errors("ca1")
    assert errors["forbidden"]["message_ids"] == [own]
    assert errors["unknown_message"]["message_ids"] == ["m-1", f"{sid}.99"]
    assert desk.errors("cb1")["forbidden"]["message_ids"] == [theirs]
    assert all(m.read_at is None for s in desk.sessions.values() for m in Message.query(s))
    assert posted(desk, "read") == []


def test_a_sender_of_protocol_1_is_not_told_but_history_carries_the_read(desk: Desk) -> None:
    ids = desk.say(OLD, "cv-old", 2)
    desk.frame("ca1", "ack", message_ids=ids)
    desk.sender.posts.clear()
    desk.frame("ca1", "read", message_ids=ids)
    assert desk.sender.frames("cv-old", "read") == []
    sid = desk.sessions[OLD.user_id]
    page = desk.svc.im.history(OLD, sid, 0, 50)
    assert all(m["read_at"] for m in page["messages"])
    desk.frame("cv-old", "resume", session_id=sid, after_seq=0)
    [resumed] = desk.sender.frames("cv-old", "resumed")
    assert [bool(m.get("read_at")) for m in resumed["messages"]] == [True, True]


def test_unread_messages_carry_no_read_at(desk: Desk) -> None:
    desk.frame("ca1", "ack", message_ids=desk.say(NEW, "cv-new", 1))
    page = desk.svc.im.history(NEW, desk.sessions[NEW.user_id], 0, 50)
    assert "read_at" not in page["messages"][0]


@pytest.mark.parametrize(("fields", "field"), [
    ({}, "message_ids"), ({"message_ids": []}, "message_ids"), ({"message_ids": "x"}, "message_ids"),
    ({"message_ids": [5]}, "message_ids[0]"), ({"message_ids": ["a"] * 101}, "message_ids"),
    ({"message_ids": ["a"], "message_id": "a"}, "message_id"),
])
def test_a_malformed_read_is_refused_whole(desk: Desk, fields: dict[str, Any], field: str) -> None:
    desk.frame("ca1", "read", **fields)
    [error] = desk.sender.frames("ca1", "error")
    assert (error["code"], error["field"], error["action"]) == ("invalid_frame", field, "read")


def test_a_read_of_delivered_messages_costs_one_write_each(desk: Desk) -> None:
    ids = desk.say(NEW, "cv-new", 3)
    desk.frame("ca1", "ack", message_ids=ids)
    count_aws_calls()
    metering.reset()
    desk.frame("ca1", "read", message_ids=ids)
    calls = {op.rsplit(".", 1)[-1]: n for op, n in metering.snapshot().items()}
    assert calls == {"UpdateItem": 3}
    assert Message.get(desk.sessions[NEW.user_id], message_sk(3)).read_at is not None
