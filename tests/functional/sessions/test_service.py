"""Opening sessions: one open session per visitor, robot first, carrying the visitor's context."""

from __future__ import annotations

from chalicelib.auth.identity import Identity
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session
from chalicelib.wiring import build
from tests.conftest import RecordingSender, RecordingTimer, routing_config

CONFIG = routing_config()
VISITOR = Identity(user_id="v_9", role="visitor", name="Ann", channel="app", source="/p/1", category="shoes",
                   tier="vip", language="zh-CN")


def test_a_visitor_keeps_its_open_session_across_connections(aws: None, sender: RecordingSender,
                                                             timer: RecordingTimer) -> None:
    svc = build(sender, timer, config=lambda: CONFIG)
    first = svc.sessions.current_or_new(VISITOR, svc.presence.connect("c1", VISITOR))
    second = svc.sessions.current_or_new(VISITOR, svc.presence.connect("c2", VISITOR))
    assert first.session_id == second.session_id
    assert (first.status, first.channel, first.source, first.category, first.tier, first.language) == (
        sm.BOT, "app", "/p/1", "shoes", "vip", "zh-CN")
    Session(first.session_id).update(actions=[Session.status.set(sm.CLOSED), Session.agent_id.set("bob")])
    third = svc.sessions.current_or_new(VISITOR, svc.presence.connect("c3", VISITOR))
    assert third.session_id != first.session_id
    assert third.last_agent_id == "bob"  # for sticky routing


def test_agent_sessions_list_active_ones(aws: None, sender: RecordingSender, timer: RecordingTimer) -> None:
    svc = build(sender, timer, config=lambda: CONFIG)
    alice = Identity(user_id="alice", role="agent", name="Alice Chen")
    svc.presence.connect("ca", alice)
    svc.routing.agent_connected(alice)
    svc.sessions.current_or_new(VISITOR, svc.presence.connect("cv", VISITOR))
    session = svc.routing.request_agent(VISITOR)
    assert [s.session_id for s in svc.sessions.of_agent("alice")] == [session.session_id]
