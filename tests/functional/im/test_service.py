"""The reliable-delivery rules on moto's DynamoDB, with a recording sender and timer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.auth.identity import Identity
from chalicelib.channel.errors import ImError
from chalicelib.channel.models import Connection
from chalicelib.channel.presence import CONNECTING_SECONDS, PresenceService
from chalicelib.im.models import Message, message_sk
from chalicelib.im.schemas import MessageRef, SendFrame
from chalicelib.im.service import RESUME_LOOKBACK, ImService
from chalicelib.routing.models import Agent
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session
from chalicelib.sessions.service import SessionService
from chalicelib.wiring import build
from tests.conftest import RecordingSender, RecordingTimer, routing_config

CONFIG = routing_config()

VISITOR = Identity(user_id="v_1", role="visitor", name="Vera", channel="web")
AGENT = Identity(user_id="alice", role="agent", name="Alice Chen")
OTHER = Identity(user_id="bob", role="agent", name="Bob Li")


@dataclass
class Chat:
    im: ImService
    sessions: SessionService
    presence: PresenceService
    sender: RecordingSender
    timer: RecordingTimer
    session_id: str

    def text(self, who: Identity, conn: str, cmid: str, text: str = "hi") -> None:
        self.im.send(who, conn, SendFrame(self.session_id, cmid, "text", {"text": text}))

    def stored(self) -> list[Message]:
        return [m for m in Message.query(self.session_id) if m.sk.startswith("m#")]


@pytest.fixture
def chat(aws: None, sender: RecordingSender, timer: RecordingTimer) -> Chat:
    svc = build(sender, timer, config=lambda: CONFIG)
    presence, sessions, im = svc.presence, svc.sessions, svc.im
    presence.connect("ca1", AGENT)
    svc.routing.agent_connected(AGENT)
    vp = presence.connect("cv1", VISITOR)
    session = sessions.current_or_new(VISITOR, vp)
    assigned = svc.routing.request_agent(VISITOR)
    assert assigned.agent_id == AGENT.user_id
    sender.posts.clear()
    return Chat(im, sessions, presence, sender, timer, session.session_id)


def _message(frames: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(frames) == 1, frames
    msg: dict[str, Any] = frames[0]["message"]
    return msg


def test_send_posts_to_recipient_starts_one_timer_and_stores_pending(chat: Chat) -> None:
    chat.text(VISITOR, "cv1", "c1", "where is my order?")
    msg = _message(chat.sender.frames("ca1", "message"))
    assert msg["content"] == {"text": "where is my order?"}
    assert msg["seq"] == 1 and msg["sender_id"] == "v_1" and msg["status"] == "pending"
    assert chat.timer.started == [(chat.session_id, message_sk(1), 1)]
    assert [m.status for m in chat.stored()] == ["pending"]
    assert chat.im.history(VISITOR, chat.session_id, 0, 50)["messages"] == []


def test_ack_persists_once_and_tells_the_sender(chat: Chat) -> None:
    chat.text(VISITOR, "cv1", "c1")
    msg = _message(chat.sender.frames("ca1", "message"))
    chat.im.ack(AGENT, MessageRef(chat.session_id, msg["seq"]))
    chat.im.ack(AGENT, MessageRef(chat.session_id, msg["seq"]))  # a repeated ACK changes nothing
    delivered = chat.sender.frames("cv1", "delivered")
    assert len(delivered) == 1
    assert delivered[0]["client_msg_id"] == "c1" and delivered[0]["message_id"] == msg["message_id"]
    history = chat.im.history(AGENT, chat.session_id, 0, 50)["messages"]
    assert [(m["seq"], m["status"]) for m in history] == [(1, "delivered")]


def test_ack_of_a_message_sent_to_someone_else_is_forbidden(chat: Chat) -> None:
    chat.text(VISITOR, "cv1", "c1")
    with pytest.raises(ImError) as err:
        chat.im.ack(VISITOR, MessageRef(chat.session_id, 1))  # the sender ACKing its own message
    assert err.value.code == "forbidden"
    assert chat.stored()[0].status == "pending"


def test_ack_of_an_unknown_message_is_refused(chat: Chat) -> None:
    with pytest.raises(ImError) as err:
        chat.im.ack(AGENT, MessageRef(chat.session_id, 99))
    assert err.value.code == "unknown_message"


def test_resend_makes_the_next_attempt_until_acked(chat: Chat) -> None:
    chat.text(AGENT, "ca1", "a1")
    sk = message_sk(1)
    assert chat.im.resend(chat.session_id, sk, 1) == 2
    assert [f["attempt"] for f in chat.sender.frames("cv1", "message")] == [1, 2]
    chat.im.ack(VISITOR, MessageRef(chat.session_id, 1))
    assert chat.im.resend(chat.session_id, sk, 2) == 2  # ACKed: nothing more is posted
    assert len(chat.sender.frames("cv1", "message")) == 2


def test_fail_deletes_the_message_and_reports_send_failed(chat: Chat) -> None:
    chat.text(AGENT, "ca1", "a1")
    assert chat.im.fail(chat.session_id, message_sk(1)) is True
    failed = chat.sender.frames("ca1", "send_failed")
    assert [(f["client_msg_id"], f["attempts"]) for f in failed] == [("a1", 3)]
    assert chat.stored() == []
    with pytest.raises(ImError) as err:  # a late ACK finds nothing to deliver
        chat.im.ack(VISITOR, MessageRef(chat.session_id, 1))
    assert err.value.code == "unknown_message"
    assert chat.sender.frames("ca1", "delivered") == []


def test_fail_after_ack_keeps_the_delivered_message(chat: Chat) -> None:
    chat.text(AGENT, "ca1", "a1")
    chat.im.ack(VISITOR, MessageRef(chat.session_id, 1))
    assert chat.im.fail(chat.session_id, message_sk(1)) is False
    assert [m.status for m in chat.stored()] == ["delivered"]
    assert chat.sender.frames("ca1", "send_failed") == []


def test_duplicate_client_id_never_stores_a_second_message(chat: Chat) -> None:
    chat.text(VISITOR, "cv1", "dup")
    chat.text(VISITOR, "cv1", "dup")  # resent while pending: no answer yet, no new message
    assert len(chat.stored()) == 1
    assert len(chat.timer.started) == 1
    assert len(chat.sender.frames("ca1", "message")) == 1
    chat.im.ack(AGENT, MessageRef(chat.session_id, 1))
    chat.text(VISITOR, "cv1", "dup")  # resent after delivery: told delivered again
    assert [f["seq"] for f in chat.sender.frames("cv1", "delivered")] == [1, 1]
    assert len(chat.stored()) == 1


def test_duplicate_of_a_failed_message_is_reported_failed(chat: Chat) -> None:
    chat.text(VISITOR, "cv1", "gone")
    chat.im.fail(chat.session_id, message_sk(1))
    chat.text(VISITOR, "cv1", "gone")
    assert [f["client_msg_id"] for f in chat.sender.frames("cv1", "send_failed")] == ["gone", "gone"]
    assert chat.stored() == []


def test_sequence_numbers_grow_per_session(chat: Chat) -> None:
    for i in range(3):
        chat.text(VISITOR, "cv1", f"c{i}")
    chat.text(AGENT, "ca1", "a0")
    assert [int(m.seq or 0) for m in chat.stored()] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("status", "who", "code"),
    [
        (sm.BOT, VISITOR, "no_agent"),
        (sm.CLOSED, VISITOR, "session_closed"),
        (sm.ACTIVE, OTHER, "forbidden"),
    ],
)
def test_send_refusals(chat: Chat, status: str, who: Identity, code: str) -> None:
    Session(chat.session_id).update(actions=[Session.status.set(status)])
    with pytest.raises(ImError) as err:
        chat.text(who, "cx", "c1")
    assert err.value.code == code
    assert chat.stored() == []


def test_send_to_unknown_session_is_not_found(chat: Chat) -> None:
    with pytest.raises(ImError) as err:
        chat.im.send(VISITOR, "cv1", SendFrame("s_" + "0" * 20, "c1", "text", {"text": "x"}))
    assert err.value.code == "not_found"


def test_resume_returns_what_was_missed_in_order(chat: Chat) -> None:
    chat.text(AGENT, "ca1", "a1")
    chat.im.ack(VISITOR, MessageRef(chat.session_id, 1))
    chat.text(AGENT, "ca1", "a2")  # still pending: owed to the visitor
    chat.text(VISITOR, "cv1", "v1")  # the visitor's own, in flight
    resumed = chat.im.resume(VISITOR, chat.session_id, 0)
    assert [(m["seq"], m["status"]) for m in resumed["messages"]] == [(1, "delivered"), (2, "pending"),
                                                                       (3, "pending")]
    assert resumed["last_seq"] == 3 and resumed["more"] is False
    later = chat.im.resume(VISITOR, chat.session_id, 2)
    assert [m["seq"] for m in later["messages"]] == [2, 3]  # 2 is still owed to the visitor: it comes again


def test_resume_sends_again_a_message_owed_below_the_highest_seq_shown(chat: Chat) -> None:
    """Frames arrive out of order: a client can show seq 3 without ever getting seq 2 (kept while it was away),
    and resumes after 3. What is still owed to it comes anyway; what it got does not come twice."""
    chat.text(VISITOR, "cv1", "cv-1")
    chat.im.ack(AGENT, MessageRef(chat.session_id, 1))
    chat.presence.disconnect("ca1")
    chat.text(VISITOR, "cv1", "cv-2")  # the agent's console is away: kept for it
    chat.presence.connect("ca2", AGENT)
    chat.text(VISITOR, "cv1", "cv-3")
    chat.im.ack(AGENT, MessageRef(chat.session_id, 3))
    assert [m.status for m in chat.stored()] == ["delivered", "stored", "delivered"]
    resumed = chat.im.resume(AGENT, chat.session_id, 3)
    assert [(m["seq"], m["status"]) for m in resumed["messages"]] == [(2, "stored")]
    chat.im.ack(AGENT, MessageRef(chat.session_id, 2))
    assert chat.im.resume(AGENT, chat.session_id, 3)["messages"] == []
    assert chat.im.resume(VISITOR, chat.session_id, 3)["messages"] == []  # nothing is owed to the sender


def test_resume_looks_back_a_bounded_number_of_messages(chat: Chat) -> None:
    chat.presence.disconnect("ca1")
    for n in range(RESUME_LOOKBACK + 2):
        chat.text(VISITOR, "cv1", f"cv-{n}")  # all kept for the away agent
    resumed = chat.im.resume(AGENT, chat.session_id, RESUME_LOOKBACK + 1)
    # seq 1 is past the look-back; 22 is after after_seq
    assert [m["seq"] for m in resumed["messages"]] == list(range(2, RESUME_LOOKBACK + 3))
    assert resumed["last_seq"] == RESUME_LOOKBACK + 2 and resumed["more"] is False


def test_resume_is_for_participants_and_history_also_for_staff_of_the_sessions_group(chat: Chat) -> None:
    stranger = Identity(user_id="carl", role="agent", name="Carl")  # serves no group of this session
    for call in (lambda: chat.im.resume(OTHER, chat.session_id, 0),
                 lambda: chat.im.history(stranger, chat.session_id, 0, 10)):
        with pytest.raises(ImError) as err:
            call()
        assert err.value.code == "forbidden"
    # bob serves the session's group: he reads its history (conversation search opens it), never resumes it.
    assert chat.im.history(OTHER, chat.session_id, 0, 10)["messages"] == []


def test_history_pages_through_delivered_messages(chat: Chat) -> None:
    for i in range(5):
        chat.text(VISITOR, "cv1", f"c{i}")
        chat.im.ack(AGENT, MessageRef(chat.session_id, i + 1))
    chat.text(VISITOR, "cv1", "pending-one")
    first = chat.im.history(AGENT, chat.session_id, 0, 2)
    assert [m["seq"] for m in first["messages"]] == [1, 2]
    second = chat.im.history(AGENT, chat.session_id, first["next_after_seq"], 2)
    assert [m["seq"] for m in second["messages"]] == [3, 4]
    third = chat.im.history(AGENT, chat.session_id, second["next_after_seq"], 2)
    assert [m["seq"] for m in third["messages"]] == [5]
    assert third["next_after_seq"] is None


def _age(connection_id: str, seconds: float) -> None:
    connected_at = int(Connection.get(connection_id).connected_at)
    Connection(connection_id).update(actions=[Connection.connected_at.set(connected_at - int(seconds * 1000))])


def test_a_gone_connection_is_forgotten(chat: Chat) -> None:
    _age("cv1", CONNECTING_SECONDS + 1)
    chat.sender.gone.add("cv1")
    chat.text(AGENT, "ca1", "a1")
    assert "cv1" not in chat.presence.connections_of(VISITOR.user_id)
    assert list(Connection.query("cv1")) == []


def test_a_410_while_the_connection_may_still_be_in_its_connect_keeps_it(chat: Chat) -> None:
    # API Gateway refuses posts until $connect has returned: a push racing a new connection must not end it.
    chat.sender.gone.add("cv1")
    chat.text(AGENT, "ca1", "a1")
    assert "cv1" in chat.presence.connections_of(VISITOR.user_id)
    assert chat.presence.identity("cv1") == VISITOR


def test_an_agent_goes_offline_with_its_last_connection(chat: Chat) -> None:
    chat.presence.connect("ca2", AGENT)
    chat.presence.disconnect("ca1")
    assert Agent.get(AGENT.user_id).status == "online"
    chat.presence.disconnect("ca2")
    agent = Agent.get(AGENT.user_id)
    assert (agent.status, agent.active) == ("offline", 1)  # its open session stays with it


def test_a_reply_sent_while_a_late_departure_mark_stands_reaches_the_connected_visitor(
        aws: None, sender: RecordingSender, timer: RecordingTimer) -> None:
    """The visitor reconnected and resumed, then its old connection's departure marked the session away (the two
    handlers run side by side; visitor_gone clears the mark again a moment later). A reply in that moment is
    judged "away": it must still reach the connection the visitor has, not wait for a resume that already ran."""
    svc = build(sender, timer, config=lambda: CONFIG)
    svc.presence.connect("ca1", AGENT)
    svc.routing.agent_connected(AGENT)
    session = svc.sessions.current_or_new(VISITOR, svc.presence.connect("cv1", VISITOR))
    assert svc.routing.request_agent(VISITOR).agent_id == AGENT.user_id
    svc.presence.connect("cv2", VISITOR)  # the reconnect, already resumed
    assert svc.im.resume(VISITOR, session.session_id, 0)["messages"] == []
    Session(session.session_id).update(actions=[Session.visitor_away_at.set(1)])  # the late mark
    svc.im.send(AGENT, "ca1", SendFrame(session.session_id, "a1", "text", {"text": "your parcel left today"}))
    assert [f["message"]["content"]["text"] for f in sender.frames("cv2", "message")] == ["your parcel left today"]
    assert Message.get(session.session_id, message_sk(1)).status == "pending"  # its ACK makes it delivered
    assert timer.started == [(session.session_id, message_sk(1), 1)]
    assert sender.frames("ca1", "stored") == []


def test_a_reply_kept_while_the_visitor_came_back_and_resumed_is_delivered_not_left_kept(
        aws: None, sender: RecordingSender, timer: RecordingTimer) -> None:
    """The race of a reply and a returning visitor: the reply is judged "visitor away" and, before it is saved,
    the visitor reconnects and resumes (finding nothing). Kept, it would wait for a resume that already ran."""
    svc = build(sender, timer, config=lambda: CONFIG)
    svc.presence.connect("ca1", AGENT)
    svc.routing.agent_connected(AGENT)
    session = svc.sessions.current_or_new(VISITOR, svc.presence.connect("cv1", VISITOR))
    assert svc.routing.request_agent(VISITOR).agent_id == AGENT.user_id
    svc.presence.disconnect("cv1")
    assert Session.get(session.session_id).visitor_away_at is not None
    resumed: list[dict[str, Any]] = []
    claim = svc.im.claim_client_id

    def visitor_returns_meanwhile(caller: Identity, frame: SendFrame, seq: int) -> bool:
        svc.lifecycle.visitor_back(svc.sessions.current_or_new(VISITOR, svc.presence.connect("cv2", VISITOR)))
        resumed.append(svc.im.resume(VISITOR, session.session_id, 0))
        return claim(caller, frame, seq)

    svc.im.claim_client_id = visitor_returns_meanwhile  # type: ignore[method-assign]
    svc.im.send(AGENT, "ca1", SendFrame(session.session_id, "a1", "text", {"text": "here is your refund"}))
    assert resumed[0]["messages"] == []  # the visitor's resume ran before the reply was saved
    assert [f["message"]["content"]["text"] for f in sender.frames("cv2", "message")] == ["here is your refund"]
    assert Message.get(session.session_id, message_sk(1)).status == "pending"  # its ACK makes it delivered
    assert timer.started == [(session.session_id, message_sk(1), 1)]
    assert sender.frames("ca1", "stored") == []
