"""ACKs of several messages in one frame (``ack {message_ids}``) on moto, through the frame handler: every id
answered as it would be alone, one ``delivered`` per sender connection of protocol 2, refusals one error frame
per code, the batch bound, the budget of ACKs that changed nothing counted per id, and the calls it costs."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.auth.identity import Identity
from chalicelib.edge.frames import handle_frame
from chalicelib.im.models import Message, message_sk
from chalicelib.im.ratelimit import REFUSED_ACK_BURST, RateLimiter
from chalicelib.im.schemas import MAX_ACK_IDS, SendFrame
from chalicelib.platform import metering
from chalicelib.wiring import Services, build
from tests.conftest import RecordingSender, RecordingTimer, count_aws_calls, routing_config

AGENT = Identity(user_id="alice", role="agent", name="Alice Chen", protocol=2)
NEW = Identity(user_id="v_new", role="visitor", name="Nia", channel="web", protocol=2)  # protocol 2
OLD = Identity(user_id="v_old", role="visitor", name="Olga", channel="web")  # protocol 1: a client of before


class FrozenClock:
    def __call__(self) -> float:
        return 100.0


@dataclass
class Desk:
    svc: Services
    sender: RecordingSender
    sessions: dict[str, str]  # visitor id -> session id
    said: int = 0

    def say(self, who: Identity, conn: str, n: int) -> list[str]:
        """``n`` texts from ``who``; returns their message ids, in order."""
        sid = self.sessions[who.user_id]
        for i in range(n):
            self.said += 1
            self.svc.im.send(who, conn, SendFrame(sid, f"{who.user_id}-{self.said}", "text", {"text": f"line {i}"}))
        return [f["message"]["message_id"] for c, f in self.sender.posts
                if f.get("event") == "message" and f["message"]["session_id"] == sid
                and f["message"]["sender_id"] == who.user_id][-n:]

    def ack(self, conn: str, **fields: Any) -> None:
        handle_frame(self.svc, conn, json.dumps({"action": "ack", **fields}))

    def errors(self, conn: str) -> dict[str, dict[str, Any]]:
        found = self.sender.frames(conn, "error")
        by_code = {f["code"]: f for f in found}
        assert len(by_code) == len(found), found  # one frame per code
        return by_code


@pytest.fixture
def desk(aws: None, sender: RecordingSender, timer: RecordingTimer) -> Desk:
    svc = dataclasses.replace(build(sender, timer, config=lambda: routing_config()),
                              limiter=RateLimiter(clock=FrozenClock()))
    svc.presence.connect("ca1", AGENT)
    svc.routing.agent_connected(AGENT)
    sessions = {}
    for who, conn in ((NEW, "cv-new"), (OLD, "cv-old")):
        presence = svc.presence.connect(conn, who)
        session = svc.sessions.current_or_new(who, presence)
        svc.routing.request_agent(who)
        sessions[who.user_id] = session.session_id
    assert {svc.sessions.get(s).agent_id for s in sessions.values()} == {"alice"}  # type: ignore[union-attr]
    sender.posts.clear()
    return Desk(svc, sender, sessions)


def statuses(desk: Desk, who: Identity) -> list[str]:
    return [str(m.status) for m in Message.query(desk.sessions[who.user_id], Message.sk.startswith("m#"))]


def test_one_ack_delivers_every_id_and_the_sender_gets_one_delivered_for_them(desk: Desk) -> None:
    ids = desk.say(NEW, "cv-new", 3)
    desk.ack("ca1", message_ids=ids)
    assert statuses(desk, NEW) == ["delivered"] * 3
    [frame] = desk.sender.frames("cv-new", "delivered")
    assert [m["message_id"] for m in frame["messages"]] == ids  # in sequence order
    assert [m["client_msg_id"] for m in frame["messages"]] == ["v_new-1", "v_new-2", "v_new-3"]
    assert all(m["delivered_at"] for m in frame["messages"])
    # The top-level fields are the first message's: the frame keeps version 1's shape.
    assert {k: frame[k] for k in ("client_msg_id", "message_id", "seq")} == {
        k: frame["messages"][0][k] for k in ("client_msg_id", "message_id", "seq")}
    assert desk.sender.frames("ca1", "error") == []


def test_a_sender_of_protocol_1_gets_one_delivered_per_message_as_before(desk: Desk) -> None:
    ids = desk.say(OLD, "cv-old", 3)
    desk.ack("ca1", message_ids=ids)
    frames = desk.sender.frames("cv-old", "delivered")
    assert [f["message_id"] for f in frames] == ids
    assert all("messages" not in f for f in frames)


def test_a_single_id_ack_is_answered_as_before(desk: Desk) -> None:
    [first] = desk.say(NEW, "cv-new", 1)
    desk.ack("ca1", message_id=first)
    [frame] = desk.sender.frames("cv-new", "delivered")
    assert frame["message_id"] == first and "messages" not in frame
    desk.ack("ca1", message_id=first[:-1] + "99")  # no such message: the one-id error, with its message_id
    [error] = desk.sender.frames("ca1", "error")
    assert (error["code"], error["message_id"]) == ("unknown_message", first[:-1] + "99")
    assert "message_ids" not in error


def test_each_id_of_a_batch_gets_what_it_would_alone(desk: Desk) -> None:
    fresh, repeat = desk.say(NEW, "cv-new", 2)
    desk.ack("ca1", message_id=repeat)  # delivered already
    desk.svc.im.send(AGENT, "ca1", SendFrame(desk.sessions[NEW.user_id], "from-alice", "text", {"text": "hello"}))
    own = desk.sender.frames("cv-new", "message")[-1]["message"]["message_id"]  # alice's: not hers to ACK
    sid = desk.sessions[NEW.user_id]
    desk.sender.posts.clear()
    desk.ack("ca1", message_ids=[fresh, repeat, f"{sid}.99", "m-1", f"{sid}.0", own, fresh])
    assert statuses(desk, NEW) == ["delivered", "delivered", "pending"]  # alice's own message still pending
    [told] = desk.sender.frames("cv-new", "delivered")  # the fresh one, once; the repeat is not told again
    assert told["message_id"] == fresh and "messages" not in told
    errors = desk.errors("ca1")
    assert set(errors) == {"unknown_message", "forbidden"}
    assert errors["unknown_message"]["message_ids"] == ["m-1", f"{sid}.0", f"{sid}.99"]
    assert errors["forbidden"]["message_ids"] == [own]
    assert all(e["action"] == "ack" for e in errors.values())


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({"message_ids": ["s_00000000000000000000.1"] * (MAX_ACK_IDS + 1)}, "invalid_frame", "message_ids"),
    ({"message_ids": []}, "invalid_frame", "message_ids"),
    ({"message_ids": "s_00000000000000000000.1"}, "invalid_frame", "message_ids"),
    ({"message_ids": ["s_00000000000000000000.1", 7]}, "invalid_frame", "message_ids[1]"),
    ({"message_ids": ["x" * 65]}, "invalid_frame", "message_ids[0]"),
    ({}, "invalid_frame", "message_id"),
    ({"message_id": "s_00000000000000000000.1", "message_ids": ["s_00000000000000000000.2"]}, "invalid_frame",
     "message_id"),
])
def test_a_malformed_batch_is_refused_whole_and_nothing_in_it_is_acked(desk: Desk, fields: dict[str, Any],
                                                                      code: str, field: str) -> None:
    [mid] = desk.say(NEW, "cv-new", 1)
    if isinstance(fields.get("message_ids"), list) and len(fields["message_ids"]) > MAX_ACK_IDS:
        fields = {"message_ids": [mid] * (MAX_ACK_IDS + 1)}  # a real id in it: still not taken
    desk.ack("ca1", **fields)
    [error] = desk.sender.frames("ca1", "error")
    assert (error["code"], error["field"], error["action"]) == (code, field, "ack")
    assert statuses(desk, NEW) == ["pending"]
    assert desk.sender.frames("cv-new", "delivered") == []


def test_the_batch_limit_is_a_resume_page_and_the_largest_batch_is_taken(desk: Desk) -> None:
    sid = desk.sessions[NEW.user_id]
    ids = desk.say(NEW, "cv-new", 2)
    desk.ack("ca1", message_ids=ids + [f"{sid}.{900 + i}" for i in range(MAX_ACK_IDS - 2)])
    assert statuses(desk, NEW) == ["delivered"] * 2
    assert len(desk.errors("ca1")["unknown_message"]["message_ids"]) == MAX_ACK_IDS - 2


def test_one_ack_across_sessions_tells_each_sender_connection_in_its_own_version(desk: Desk) -> None:
    new_ids = desk.say(NEW, "cv-new", 2)
    old_ids = desk.say(OLD, "cv-old", 2)
    desk.ack("ca1", message_ids=[old_ids[0], new_ids[0], old_ids[1], new_ids[1]])
    assert statuses(desk, NEW) == statuses(desk, OLD) == ["delivered"] * 2
    [batch] = desk.sender.frames("cv-new", "delivered")
    assert [m["message_id"] for m in batch["messages"]] == new_ids
    assert [f["message_id"] for f in desk.sender.frames("cv-old", "delivered")] == old_ids


def test_when_the_sending_connection_is_gone_its_other_connections_are_told_one_frame_each(desk: Desk) -> None:
    ids = desk.say(NEW, "cv-new", 2)
    desk.svc.presence.connect("cv-new-2", dataclasses.replace(NEW, protocol=1))  # its other tab, an old client
    desk.sender.gone.add("cv-new")
    desk.ack("ca1", message_ids=ids)
    assert [f["message_id"] for f in desk.sender.frames("cv-new-2", "delivered")] == ids


def test_ids_that_change_nothing_draw_on_the_budget_one_each_and_deliveries_still_go_through(desk: Desk) -> None:
    sid = desk.sessions[NEW.user_id]
    stale = [f"{sid}.{500 + i}" for i in range(int(REFUSED_ACK_BURST) + 10)]  # more than the budget at once
    desk.ack("ca1", message_ids=stale)
    assert desk.errors("ca1")["unknown_message"]["message_ids"] == stale  # each written (refused) once
    desk.sender.posts.clear()
    fresh = desk.say(NEW, "cv-new", 2)
    desk.ack("ca1", message_ids=[*fresh, *stale[:3]])  # overdrawn: read first, only the deliveries go on
    assert statuses(desk, NEW) == ["delivered"] * 2
    [told] = desk.sender.frames("cv-new", "delivered")
    assert [m["message_id"] for m in told["messages"]] == fresh
    limited = desk.errors("ca1")["rate_limited"]
    assert limited["message_ids"] == stale[:3] and limited["retry_after_ms"] > 0


def test_a_batch_costs_one_write_per_message_and_one_batched_read_for_all_it_refused(desk: Desk) -> None:
    sid = desk.sessions[NEW.user_id]
    ids = desk.say(NEW, "cv-new", 5)
    count_aws_calls()
    metering.reset()
    desk.ack("ca1", message_ids=[*ids, f"{sid}.98", f"{sid}.99"])
    calls = {op.rsplit(".", 1)[-1]: n for op, n in metering.snapshot().items()}
    assert calls.get("UpdateItem") == 7  # DynamoDB has no conditional batch write
    assert calls.get("BatchGetItem") == 1  # why the two refused changed nothing, in one read
    assert "GetItem" not in calls and "Query" not in calls
    assert Message.get(sid, message_sk(5)).status == "delivered"
