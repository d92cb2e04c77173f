"""The frames of a transfer reach each side in the order a person reads them: the visitor's notice rides on the
session frame that comes before anything of the next agent's (the clients show the notice first, docs/protocol.md
2.7), and a transfer to a group tells the visitor before the queue is drained into an agent."""

from __future__ import annotations

from chalicelib.auth.identity import Identity
from chalicelib.wiring import Services, build
from tests.conftest import RecordingSender, RecordingTimer, group, routing_config

CONFIG = routing_config([group("general", ["alice", "bob"]), group("vip", ["alice"])])


def online(svc: Services, agent_id: str) -> Identity:
    who = Identity(agent_id, "agent", name=f"{agent_id.capitalize()} Li")
    svc.presence.connect(f"c-{agent_id}", who)
    svc.routing.set_agent_status(who, "online")
    return who


def visitor_events(sender: RecordingSender, since: int) -> list[tuple[str, str | None, str | None]]:
    """(event, session status, notice) of each frame the visitor got after ``since`` posts."""
    return [(f["event"], (f.get("session") or {}).get("status"), f.get("notice"))
            for conn, f in sender.posts[since:] if conn == "c-v_1"]


def test_to_an_agent_the_visitor_gets_one_frame_with_the_notice_and_the_new_agent(
        aws: None, sender: RecordingSender, timer: RecordingTimer) -> None:
    svc = build(sender, timer, config=lambda: CONFIG)
    bob = online(svc, "bob")
    vera = Identity("v_1", "visitor", name="Vera", channel="web")
    svc.sessions.current_or_new(vera, svc.presence.connect("c-v_1", vera))
    session = svc.routing.request_agent(vera)
    assert session.agent_id == "bob"
    online(svc, "alice")
    since = len(sender.posts)
    svc.routing.transfer(bob, session.session_id, "parcel late", to_agent="alice")
    got = visitor_events(sender, since)
    assert len(got) == 1
    event, status, notice = got[0]
    assert (event, status) == ("session", "active") and notice and "Alice Li" in notice
    # Alice learns of it, with the note; bob is told it left him.
    alice_frame = sender.frames("c-alice", "session")[-1]
    assert alice_frame["session"]["transfer"] == {"from": "bob", "note": "parcel late"}
    assert sender.frames("c-bob", "session")[-1]["session"]["status"] == "transferred"


def test_to_a_group_the_notice_comes_before_the_place_and_the_next_agents_arrival(
        aws: None, sender: RecordingSender, timer: RecordingTimer) -> None:
    svc = build(sender, timer, config=lambda: CONFIG)
    bob = online(svc, "bob")
    vera = Identity("v_1", "visitor", name="Vera", channel="web")
    svc.sessions.current_or_new(vera, svc.presence.connect("c-v_1", vera))
    session = svc.routing.request_agent(vera)
    online(svc, "alice")
    svc.routing.set_agent_status(Identity("alice", "agent", name="Alice Li"), "busy")
    since = len(sender.posts)
    svc.routing.transfer(bob, session.session_id, None, to_group="vip")
    # Nobody free in vip: the visitor is told, then given its place.
    got = visitor_events(sender, since)
    assert [(e, s) for e, s, _ in got] == [("session", "waiting"), ("queue", None)]
    assert got[0][2] and "Vip" in got[0][2]
    # Alice comes back: the assignment's frame comes after them.
    svc.routing.set_agent_status(Identity("alice", "agent", name="Alice Li"), "online")
    got = visitor_events(sender, since)
    assert [(e, s) for e, s, _ in got][:3] == [("session", "waiting"), ("queue", None), ("session", "active")]
    assert got[2][2] is None  # the arrival carries no second notice


def test_a_chinese_visitor_reads_the_groups_chinese_name_and_the_frames_carry_every_language(
        aws: None, sender: RecordingSender, timer: RecordingTimer) -> None:
    vip_names = {"en": "VIP service", "zh-CN": "VIP 专属服务"}
    config = routing_config([group("general", ["bob"]), group("vip", ["alice"], name=vip_names)])
    svc = build(sender, timer, config=lambda: config)
    bob = online(svc, "bob")
    mei = Identity("v_1", "visitor", name="Mei", channel="app", language="zh-CN")
    svc.sessions.current_or_new(mei, svc.presence.connect("c-v_1", mei))
    session = svc.routing.request_agent(mei)
    since = len(sender.posts)
    svc.routing.transfer(bob, session.session_id, None, to_group="vip")  # nobody online in vip: it waits there
    told = next(f for conn, f in sender.posts[since:] if conn == "c-v_1" and f["event"] == "session")
    assert told["notice"] and "VIP 专属服务" in told["notice"]
    assert told["transferred"] == {"from": "bob", "group": "VIP service", "group_names": vip_names}
    queued = sender.frames("c-v_1", "queue")[-1]
    assert queued["group"] == {"id": "vip", "name": "VIP service", "names": vip_names}
