"""Opening sessions and the interim pairing (any online agent; waiting sessions go to the next one)."""

from __future__ import annotations

from chalicelib.auth.identity import Identity
from chalicelib.im.models import Presence
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session
from chalicelib.wiring import build
from tests.conftest import RecordingSender, RecordingTimer

VISITOR = Identity(user_id="v_9", role="visitor", name="Ann", channel="app", source="/p/1", category="shoes")
ALICE = Identity(user_id="alice", role="agent", name="Alice Chen")
BOB = Identity(user_id="bob", role="agent", name="Bob Li")


def test_a_visitor_keeps_its_open_session_across_connections(aws: None, sender: RecordingSender,
                                                             timer: RecordingTimer) -> None:
    svc = build(sender, timer)
    first = svc.sessions.current_or_new(VISITOR, svc.presence.connect("c1", VISITOR))
    second = svc.sessions.current_or_new(VISITOR, svc.presence.connect("c2", VISITOR))
    assert first.session_id == second.session_id
    assert (first.status, first.channel, first.source, first.category) == (sm.BOT, "app", "/p/1", "shoes")
    Session(first.session_id).update(actions=[Session.status.set(sm.CLOSED)])
    third = svc.sessions.current_or_new(VISITOR, svc.presence.connect("c3", VISITOR))
    assert third.session_id != first.session_id


def test_with_no_agent_online_the_visitor_waits_then_the_next_agent_takes_it(
        aws: None, sender: RecordingSender, timer: RecordingTimer) -> None:
    svc = build(sender, timer)
    svc.sessions.current_or_new(VISITOR, svc.presence.connect("cv", VISITOR))
    waiting = svc.sessions.request_agent(VISITOR)
    assert waiting.status == sm.WAITING
    assert sender.frames("cv", "session")[-1]["session"]["status"] == "waiting"
    svc.presence.connect("ca", ALICE)
    taken = svc.sessions.backfill(ALICE.user_id)
    assert [s.session_id for s in taken] == [waiting.session_id]
    assert sender.frames("cv", "session")[-1]["session"]["agent_id"] == "alice"
    assert sender.frames("ca", "session")[-1]["session"]["status"] == "active"
    assert svc.sessions.backfill(BOB.user_id) == []  # already taken: never assigned twice


def test_an_offline_agent_is_not_picked(aws: None, sender: RecordingSender, timer: RecordingTimer) -> None:
    svc = build(sender, timer)
    svc.presence.connect("ca", ALICE)
    svc.sessions.set_status(ALICE, "offline")
    svc.presence.connect("cb", BOB)
    svc.sessions.current_or_new(VISITOR, svc.presence.connect("cv", VISITOR))
    assert svc.sessions.request_agent(VISITOR).agent_id == "bob"
    assert Presence.get("alice").status == "offline"


def test_agent_sessions_list_active_ones(aws: None, sender: RecordingSender, timer: RecordingTimer) -> None:
    svc = build(sender, timer)
    svc.presence.connect("ca", ALICE)
    svc.sessions.current_or_new(VISITOR, svc.presence.connect("cv", VISITOR))
    session = svc.sessions.request_agent(VISITOR)
    assert [s.session_id for s in svc.sessions.of_agent("alice")] == [session.session_id]
