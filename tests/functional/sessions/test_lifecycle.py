"""Session lifecycle on moto: the idle timeout (warning, then close), the agent's resolution, the
visitor's end, a dropped visitor (reconnecting, offline, resumed), one survey per session, transfers.

A session's timer is a due time on its item; each test runs the step the clock's sweep would run once it is
due, or the sweep itself (tests/e2e runs the real clock)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib.auth.identity import Identity
from chalicelib.channel.errors import ImError
from chalicelib.config.model import Rule, SessionPolicy, SurveyPolicy
from chalicelib.im.models import MESSAGE_SK_PREFIX, Message, message_sk
from chalicelib.im.schemas import MessageRef, SendFrame
from chalicelib.routing import queue as q
from chalicelib.routing.models import TRANSFERRED, Agent, QueueEntry, queue_key
from chalicelib.routing.service import AGENT_GONE_NOTE, AGENT_GONE_NOTICE
from chalicelib.sessions import models as sm
from chalicelib.sessions.lifecycle import LifecycleService
from chalicelib.sessions.models import TIMER_SHARDS, Session
from chalicelib.sessions.timers import shard_of, timer_state
from local import dynamodb_atomic
from tests.conftest import RecordingSender, RecordingTimer, group, routing_config
from tests.functional.routing.test_service import Clock, World, active_of, queue_order, use


@pytest.fixture
def atomic_moto() -> Iterator[None]:
    # moto is not atomic across threads; DynamoDB is (local/dynamodb_atomic.py).
    dynamodb_atomic.install()
    yield
    dynamodb_atomic.uninstall()


POLICY = SessionPolicy(idle_warn_seconds=60, idle_close_seconds=30, reconnect_grace_seconds=20,
                       agent_grace_seconds=40)


@pytest.fixture
def world(aws: None, sender: RecordingSender, timer: RecordingTimer) -> World:
    return World(sender, timer, Clock(), [routing_config(default_capacity=2, sessions=POLICY)])


def chat(world: World, visitor: int = 1, agent: str = "alice") -> tuple[Identity, Identity, Session]:
    """An agent online and a visitor it serves."""
    who = world.agent(agent)
    vis = world.visitor(visitor)
    session = world.ask(vis)
    assert session.status == sm.ACTIVE and session.agent_id == agent
    return vis, who, session


def say(world: World, who: Identity, session_id: str, text: str) -> None:
    world.clock.tick(0.001)
    world.svc.im.send(who, f"c-{who.user_id}", SendFrame(session_id, f"m{world.clock.now}", "text", {"text": text}))


def current(session_id: str) -> Session:
    return Session.get(session_id, consistent_read=True)


def due_in(world: World, session_id: str) -> float | None:
    """Seconds until the session's timer is due (None: disarmed)."""
    due = current(session_id).timer_due_at
    return None if due is None else (int(due) - int(world.clock.now * 1000)) / 1000


def state_of(world: World, session_id: str) -> dict[str, Any]:
    """What a wake of the session's timer gets, with ``wait_seconds`` until it is due."""
    session = current(session_id)
    assert session.timer is not None and session.timer_due_at is not None
    return timer_state(session_id, session.timer, POLICY, round(due_in(world, session_id) or 0))


def wake(world: World, state: dict[str, Any]) -> dict[str, Any]:
    """Sleep ``wait_seconds``, then run the step."""
    world.clock.tick(state["wait_seconds"])
    return world.svc.lifecycle.step(state)


def sweep(world: World) -> int:
    """One round of the clock: every shard swept."""
    return sum(world.svc.lifecycle.sweep(shard) for shard in range(TIMER_SHARDS))


# -- the timer -------------------------------------------------------------------------------------

def test_each_assignment_arms_its_timer_for_when_a_warning_could_first_be_due(world: World) -> None:
    _, _, session = chat(world)
    armed = current(session.session_id)
    assert armed.timer and armed.timer_shard == f"t{shard_of(session.session_id)}"
    assert int(armed.timer_due_at or 0) == int(armed.assigned_at or 0) + 60_000  # in the assignment's own write
    assert state_of(world, session.session_id) == {
        "session_id": session.session_id, "timer": armed.timer, "warn_seconds": 60, "close_seconds": 30,
        "grace_seconds": 20, "agent_grace_seconds": 40, "wait_seconds": 60, "done": False}


def test_messages_cost_the_timer_nothing_and_it_sleeps_until_a_warning_could_be_due(world: World) -> None:
    vis, agent, session = chat(world)
    armed = current(session.session_id).timer_due_at
    for i in range(5):
        say(world, vis, session.session_id, f"q{i}")
        say(world, agent, session.session_id, f"a{i}")
    stored = current(session.session_id)
    assert stored.timer_due_at == armed  # no write, no signal per message
    assert int(stored.last_agent_at or 0) > int(stored.last_visitor_at or 0)
    world.clock.tick(10)
    state = world.svc.lifecycle.step(state_of(world, session.session_id))
    # The agent spoke last, 10 s ago: the warning is due 50 s from now.
    assert state["done"] is False and state["wait_seconds"] == 50
    assert world.frames(vis.user_id, "idle_warning") == []


def test_idle_visitor_is_warned_then_the_session_closes_with_one_survey(world: World) -> None:
    vis, agent, session = chat(world)
    say(world, vis, session.session_id, "hello?")
    say(world, agent, session.session_id, "Can I have your order number?")
    state = wake(world, {**state_of(world, session.session_id), "wait_seconds": 60})
    warning = world.last(vis.user_id, "idle_warning")
    assert world.last(agent.user_id, "idle_warning") == warning
    assert warning["closes_at"] == int(world.clock.now * 1000) + 30_000
    assert state["wait_seconds"] == 30 and current(session.session_id).status == sm.ACTIVE
    state = wake(world, state)
    assert state["done"] is True
    closed = current(session.session_id)
    assert (closed.status, closed.close_reason, closed.closed_by) == (sm.CLOSED, sm.IDLE_TIMEOUT, "system")
    assert active_of("alice") == 0
    events = [f["event"] for c, f in world.sender.posts if c == f"c-{vis.user_id}" and f["event"] in
              ("survey", "session")]
    assert events[-2:] == ["survey", "session"]  # the survey comes before the close
    assert len(world.frames(vis.user_id, "survey")) == 1
    assert (closed.timer_due_at, closed.timer_shard) == (None, None)  # disarmed by the close's own write


def test_the_clocks_sweep_wakes_what_is_due_and_only_that(world: World) -> None:
    vis, agent, session = chat(world)
    _, _, other = chat(world, visitor=2)
    say(world, agent, session.session_id, "Can I have your order number?")
    world.clock.tick(59)
    assert sweep(world) == 0  # nothing due yet: the index's range stops short of it
    world.clock.tick(1)
    assert sweep(world) == 2  # both warnings due (the other chat's agent never spoke: its first look)
    assert len(world.frames(vis.user_id, "idle_warning")) == 1 and not world.frames("v_2", "idle_warning")
    assert due_in(world, session.session_id) == 30  # re-armed for the close
    assert due_in(world, other.session_id) == 60  # nothing unanswered there: a full period on
    world.clock.tick(30)
    assert sweep(world) == 1
    closed = current(session.session_id)
    assert (closed.status, closed.close_reason, closed.timer_due_at) == (sm.CLOSED, sm.IDLE_TIMEOUT, None)
    assert sweep(world) == 0 and current(other.session_id).status == sm.ACTIVE


class FailingOnce:
    """Routing's side of an agent gone, failing its first hand-back (DynamoDB down for a moment)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.calls = 0

    def agent_disconnected(self, agent_id: str) -> None:
        self.world.svc.routing.agent_disconnected(agent_id)

    def hand_back(self, session: Session) -> bool:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("DynamoDB unavailable")
        return self.world.svc.routing.hand_back(session)


def test_a_wake_that_fails_leaves_its_timer_due_for_the_next_round(world: World) -> None:
    _, alice, session = chat(world)
    staffing = FailingOnce(world)
    lifecycle = LifecycleService(world.svc.presence, world.svc.sessions, staffing, world.svc.config,
                                 clock=world.svc.clock)
    world.svc.presence.disconnect(f"c-{alice.user_id}")
    world.clock.tick(POLICY.agent_grace_seconds)
    due = current(session.session_id).timer_due_at
    assert sum(lifecycle.sweep(k) for k in range(TIMER_SHARDS)) == 0  # failed: logged, left as it was
    assert current(session.session_id).timer_due_at == due and current(session.session_id).status == sm.ACTIVE
    assert sum(lifecycle.sweep(k) for k in range(TIMER_SHARDS)) == 1  # the next round
    back = current(session.session_id)
    assert (back.status, back.timer_due_at, staffing.calls) == (sm.WAITING, None, 2)


def test_a_visitor_reply_after_the_warning_keeps_the_session_open(world: World) -> None:
    vis, agent, session = chat(world)
    say(world, agent, session.session_id, "anything else?")
    state = wake(world, {**state_of(world, session.session_id), "wait_seconds": 60})
    assert world.frames(vis.user_id, "idle_warning")
    say(world, vis, session.session_id, "yes, one more thing")
    state = wake(world, state)
    assert state["done"] is False
    assert current(session.session_id).status == sm.ACTIVE
    # The agent answers: the clock starts again, a full period from its message.
    say(world, agent, session.session_id, "sure")
    assert world.svc.lifecycle.step(state)["wait_seconds"] == 60
    assert len(world.frames(vis.user_id, "idle_warning")) == 1


def test_a_timer_ends_when_its_session_closed_or_has_a_newer_timer(world: World) -> None:
    vis, _, session = chat(world)
    state = state_of(world, session.session_id)
    assert world.svc.lifecycle.step({**state, "timer": "someone-else"})["done"] is True
    world.svc.sessions.end_session(vis, session.session_id)
    assert world.svc.lifecycle.step(state)["done"] is True


def test_the_close_frees_the_agents_slot_at_once_and_backfills_the_queue(world: World) -> None:
    use(world, routing_config(default_capacity=1, sessions=POLICY))
    _, agent, session = chat(world)
    waiting = world.ask(world.visitor(2))
    assert waiting.status == sm.WAITING
    world.svc.sessions.resolve(agent, session.session_id)
    assert current(waiting.session_id).status == sm.ACTIVE
    assert current(waiting.session_id).agent_id == "alice" and active_of("alice") == 1
    assert current(session.session_id).timer_due_at is None and current(waiting.session_id).timer_due_at


# -- the three ends and their race -----------------------------------------------------------------

@pytest.mark.parametrize(("ender", "reason"), [("agent-resolves", sm.RESOLVED), ("agent-ends", sm.AGENT_ENDED),
                                           ("visitor-ends", sm.VISITOR_ENDED)])
def test_each_end_closes_once_with_its_reason_and_one_survey(world: World, ender: str, reason: str) -> None:
    vis, agent, session = chat(world)
    if ender == "agent-resolves":
        world.svc.sessions.resolve(agent, session.session_id)
    else:
        world.svc.sessions.end_session(agent if ender == "agent-ends" else vis, session.session_id)
    closed = current(session.session_id)
    assert (closed.status, closed.close_reason) == (sm.CLOSED, reason)
    assert len(world.frames(vis.user_id, "survey")) == 1
    assert world.last(agent.user_id, "session")["session"]["close_reason"] == reason
    with pytest.raises(ImError) as err:
        world.svc.sessions.resolve(agent, session.session_id)
    assert err.value.code == "session_closed"


def test_a_close_reads_its_agent_once_and_the_survey_names_it(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    vis, agent, session = chat(world)
    reads: list[str] = []
    read = world.svc.agents.get

    def recorded(agent_id: str) -> Any:
        reads.append(agent_id)
        return read(agent_id)

    monkeypatch.setattr(world.svc.agents, "get", recorded)
    world.svc.sessions.resolve(agent, session.session_id)
    assert reads == ["alice"]  # freeing the slot reads it; the survey frame takes its name from that read
    (survey,) = world.frames(vis.user_id, "survey")
    assert survey["agent"] == {"id": "alice", "name": read("alice").name}


def test_only_the_sessions_agent_resolves_it(world: World) -> None:
    vis, _, session = chat(world)
    for who in (vis, world.agent("bob")):
        with pytest.raises(ImError) as err:
            world.svc.sessions.resolve(who, session.session_id)
        assert err.value.code == "forbidden"


def test_resolve_racing_the_timeout_closes_once_with_one_survey(world: World, atomic_moto: None) -> None:
    vis, agent, session = chat(world)
    say(world, agent, session.session_id, "bye?")
    state = wake(world, {**state_of(world, session.session_id), "wait_seconds": 60})  # warned
    world.clock.tick(30)
    with ThreadPoolExecutor(2) as pool:
        timeout = pool.submit(world.svc.lifecycle.step, state)
        resolve = pool.submit(world.svc.sessions.resolve, agent, session.session_id)
        assert timeout.result()["done"] is True
        resolve_error = resolve.exception()
    closed = current(session.session_id)
    assert closed.status == sm.CLOSED and closed.close_reason in (sm.RESOLVED, sm.IDLE_TIMEOUT)
    if resolve_error is not None:
        assert isinstance(resolve_error, ImError) and resolve_error.code == "session_closed"
    assert len(world.frames(vis.user_id, "survey")) == 1
    assert active_of("alice") == 0
    assert int(q.state_of("general").handled) == 1


def test_robot_only_sessions_get_a_survey_only_if_configured(world: World) -> None:
    vis = world.visitor(1)
    session = world.svc.sessions.current(vis)
    assert session is not None
    world.svc.sessions.end_session(vis, session.session_id)
    assert world.frames(vis.user_id, "survey") == []
    use(world, routing_config(sessions=SessionPolicy(survey=SurveyPolicy(robot_sessions=True))))
    vis2 = world.visitor(2)
    second = world.svc.sessions.current(vis2)
    assert second is not None
    world.svc.sessions.end_session(vis2, second.session_id)
    survey = world.last(vis2.user_id, "survey")
    assert survey["agent"] is None
    assert survey["tags"] == ["quick", "friendly", "solved my problem", "slow", "unclear", "not solved"]


# -- the survey's answer ---------------------------------------------------------------------------

def closed_chat(world: World, visitor: int = 1) -> tuple[Identity, Identity, Session]:
    vis, agent, session = chat(world, visitor)
    world.svc.sessions.resolve(agent, session.session_id)
    return vis, agent, session


def test_an_answer_is_stored_once_and_counted_for_the_agent_and_group(world: World) -> None:
    vis, _, session = closed_chat(world)
    rated = world.svc.survey.rate(vis, session.session_id, 4, ["quick", "friendly"], "thanks!")
    assert (rated["event"], rated["stars"]) == ("rated", 4)
    stored = current(session.session_id)
    assert (stored.rating, list(stored.rating_tags or []), stored.rating_comment) == (4, ["quick", "friendly"],
                                                                                      "thanks!")
    with pytest.raises(ImError) as err:
        world.svc.survey.rate(vis, session.session_id, 1, [], None)
    assert err.value.code == "already_rated"
    assert current(session.session_id).rating == 4
    group_figures = next(g for g in world.svc.dashboard.snapshot()["groups"] if g["id"] == "general")
    assert group_figures["csat"] == {"avg": 4.0, "count": 1}
    assert next(a for a in world.svc.dashboard.snapshot()["agents"] if a["id"] == "alice")["csat"] == \
        {"avg": 4.0, "count": 1}


def test_duplicate_answers_sent_at_once_count_once(world: World, atomic_moto: None) -> None:
    vis, _, session = closed_chat(world)

    def answer(stars: int) -> str:
        try:
            world.svc.survey.rate(vis, session.session_id, stars, [], None)
            return "ok"
        except ImError as err:
            return err.code

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(answer, [5] * 8))
    assert sorted(results) == ["already_rated"] * 7 + ["ok"]
    assert int(q.state_of("general").csat_count) == 1 and int(Agent.get("alice").csat_count) == 1


def test_late_foreign_and_unsent_answers_are_refused_with_their_reason(world: World) -> None:
    vis, _, session = closed_chat(world)
    other = world.visitor(2)
    with pytest.raises(ImError) as err:
        world.svc.survey.rate(other, session.session_id, 5, [], None)
    assert err.value.code == "not_found"
    with pytest.raises(ImError) as err:
        world.svc.survey.rate(vis, session.session_id, 5, ["not a tag"], None)
    assert (err.value.code, err.value.field) == ("invalid_frame", "tags")
    world.clock.tick(SurveyPolicy().answer_within_seconds + 1)
    with pytest.raises(ImError) as err:
        world.svc.survey.rate(vis, session.session_id, 5, [], None)
    assert err.value.code == "survey_expired"
    robot_only = world.svc.sessions.current(other)
    assert robot_only is not None
    with pytest.raises(ImError) as err:
        world.svc.survey.rate(other, robot_only.session_id, 5, [], None)
    assert err.value.code == "no_survey"


# -- transfer --------------------------------------------------------------------------------------

def test_transfer_to_an_agent_moves_the_load_and_the_note_and_keeps_the_history(world: World) -> None:
    vis, alice, session = chat(world)
    bob = world.agent("bob")
    say(world, vis, session.session_id, "my parcel is late")
    world.svc.im.ack(alice, MessageRef(session.session_id, 1))
    world.svc.routing.transfer(alice, session.session_id, "VIP, order 1234 lost", to_agent="bob")
    moved = current(session.session_id)
    assert (moved.agent_id, moved.transferred_from, moved.transfers) == ("bob", "alice", 1)
    assert (active_of("alice"), active_of("bob")) == (0, 1)
    to_bob = world.last("bob", "session")
    assert to_bob["session"]["transfer"] == {"from": "alice", "note": "VIP, order 1234 lost"}
    to_visitor = world.last(vis.user_id, "session")
    assert "transfer" not in to_visitor["session"] and "Bob" in to_visitor["notice"]
    assert world.last("alice", "session")["session"]["status"] == "transferred"
    history = world.svc.im.history(bob, session.session_id, 0, 50)["messages"]
    assert [m["content"]["text"] for m in history] == ["my parcel is late"]
    say(world, bob, session.session_id, "I have it from here")
    assert world.last(vis.user_id, "message")["message"]["sender_id"] == "bob"
    assert moved.timer == session.timer  # the idle clock goes on


def test_transfer_to_a_full_or_offline_agent_is_refused_and_changes_nothing(world: World) -> None:
    use(world, routing_config(default_capacity=1, sessions=POLICY))
    _, alice, session = chat(world)
    _, _, _ = chat(world, visitor=2, agent="bob")  # bob full
    for target in ("bob", "carol"):
        with pytest.raises(ImError) as err:
            world.svc.routing.transfer(alice, session.session_id, None, to_agent=target)
        assert err.value.code == "agent_unavailable"
    assert current(session.session_id).agent_id == "alice"
    assert (active_of("alice"), active_of("bob")) == (1, 1)


def test_transfer_to_a_group_requeues_ahead_of_new_arrivals_and_frees_the_slot(world: World) -> None:
    vip_rule = Rule(name="VIP", group="vip", tier=frozenset({"vip"}))
    use(world, routing_config([group("general", ["alice"]), group("vip", ["bob"])], rules=(vip_rule,),
                              default_capacity=1, sessions=POLICY))
    bob = world.agent("bob")
    busy = world.ask(world.visitor(2, tier="vip"))
    assert (busy.status, busy.agent_id) == (sm.ACTIVE, "bob")  # bob is full: a transfer must wait
    already_waiting = world.ask(world.visitor(3, tier="vip"))
    assert already_waiting.status == sm.WAITING
    vis, alice, session = chat(world)
    world.svc.routing.transfer(alice, session.session_id, "needs a VIP specialist", to_group="vip")
    moved = current(session.session_id)
    assert (moved.status, moved.group_id, moved.agent_id) == (sm.WAITING, "vip", None)
    # Ahead of the VIP who was already waiting, let alone new arrivals.
    assert queue_order("vip") == [session.session_id, already_waiting.session_id]
    assert QueueEntry.get(queue_key("vip", moved.session_id), moved.queue_sk).priority_class == TRANSFERRED
    assert active_of("alice") == 0 and (moved.timer, moved.timer_due_at) == (None, None)
    assert "Vip" in world.last(vis.user_id, "session")["notice"]
    assert world.last(vis.user_id, "queue")["position"] == 1
    world.svc.sessions.resolve(bob, busy.session_id)  # bob frees up: the transfer goes first
    served = current(session.session_id)
    assert (served.status, served.agent_id) == (sm.ACTIVE, "bob")
    to_bob = [f for f in world.frames("bob", "session") if f["session"]["session_id"] == session.session_id]
    assert to_bob[-1]["session"]["transfer"]["note"] == "needs a VIP specialist"
    assert queue_order("vip") == [already_waiting.session_id]


def test_transfer_to_the_sessions_own_group_requeues_it(world: World) -> None:
    # Its queue and its load are one group state item: counted in one write, not two in one transaction.
    _, alice, session = chat(world)
    world.svc.routing.set_agent_status(alice, "busy")  # takes no new sessions, this one included
    world.svc.routing.transfer(alice, session.session_id, "a colleague, please", to_group="general")
    moved = current(session.session_id)
    assert (moved.status, moved.agent_id, moved.group_id, moved.transfers) == (sm.WAITING, None, "general", 1)
    state = q.state_of("general")
    assert (int(state.waiting or 0), int(state.active or 0)) == (1, 0)
    world.agent("bob")  # a colleague comes online and takes it
    served = current(session.session_id)
    assert (served.status, served.agent_id) == (sm.ACTIVE, "bob")


def test_only_the_sessions_agent_transfers_it(world: World) -> None:
    vis, _, session = chat(world)
    bob = world.agent("bob")
    for who in (vis, bob):
        with pytest.raises(ImError) as err:
            world.svc.routing.transfer(who, session.session_id, None, to_agent="bob")
        assert err.value.code == "forbidden"
    with pytest.raises(ImError) as err:
        world.svc.routing.transfer(Identity("alice", "agent"), session.session_id, None, to_group="nope")
    assert (err.value.code, err.value.field) == ("invalid_frame", "to_group")


# -- the visitor's connection ----------------------------------------------------------------------

def test_a_dropped_visitor_is_reconnecting_then_offline_and_messages_wait_for_them(world: World) -> None:
    vis, agent, session = chat(world)
    world.svc.presence.disconnect(f"c-{vis.user_id}")
    away = current(session.session_id)
    assert away.visitor_away_at is not None and away.timer == session.timer
    told = world.last(agent.user_id, "visitor_presence")
    assert (told["state"], told["offline_at"]) == ("reconnecting", int(away.visitor_away_at) + 20_000)
    state = state_of(world, session.session_id)
    assert state["wait_seconds"] == 20  # re-armed for the end of the grace period (sooner than a warning)
    # The agent keeps writing: kept for the visitor, not retried, not failed.
    say(world, agent, session.session_id, "I'll wait for you")
    assert world.last(agent.user_id, "stored")["reason"] == "recipient_offline"
    assert [m.status for m in Message.query(session.session_id) if m.sk.startswith(MESSAGE_SK_PREFIX)] == ["stored"]
    state = wake(world, state)
    assert world.last(agent.user_id, "visitor_presence")["state"] == "offline"
    assert current(session.session_id).status == sm.ACTIVE  # the session goes on
    # The visitor comes back: online again, and resume hands over what was kept.
    presence = world.svc.presence.connect(f"c2-{vis.user_id}", vis)
    world.svc.lifecycle.visitor_back(world.svc.sessions.current_or_new(vis, presence))
    assert world.last(agent.user_id, "visitor_presence")["state"] == "online"
    resumed = world.svc.im.resume(vis, session.session_id, 0)
    assert [m["content"]["text"] for m in resumed["messages"]] == ["I'll wait for you"]
    world.svc.im.ack(vis, MessageRef(session.session_id, 1))
    assert world.last(agent.user_id, "delivered")["seq"] == 1
    assert world.svc.lifecycle.step(state)["done"] is False


def test_messages_to_an_agent_whose_console_is_closed_wait_for_it_instead_of_failing(world: World) -> None:
    vis, agent, session = chat(world)
    world.svc.presence.disconnect(f"c-{agent.user_id}")  # the console closed: no connection left
    started = len(world.timer.started)
    say(world, vis, session.session_id, "are you still there?")
    # Kept, not posted into the void, retried and failed: no delivery execution, no send_failed.
    assert world.last(vis.user_id, "stored")["reason"] == "recipient_offline"
    assert len(world.timer.started) == started and not world.frames(vis.user_id, "send_failed")
    assert [m.status for m in Message.query(session.session_id) if m.sk.startswith(MESSAGE_SK_PREFIX)] == ["stored"]
    # The console opens again: its resume hands the message over, and the ACK tells the visitor.
    world.svc.presence.connect(f"c2-{agent.user_id}", agent)
    resumed = world.svc.im.resume(agent, session.session_id, 0)
    assert [(m["content"]["text"], m["status"]) for m in resumed["messages"]] == [("are you still there?", "stored")]
    world.svc.im.ack(agent, MessageRef(session.session_id, 1))
    assert world.last(vis.user_id, "delivered")["seq"] == 1
    assert current(session.session_id).status == sm.ACTIVE
    # Online again, the next message is delivered as usual.
    world.svc.im.send(vis, f"c-{vis.user_id}", SendFrame(session.session_id, "m-next", "text", {"text": "ok"}))
    assert world.sender.frames(f"c2-{agent.user_id}", "message")[-1]["message"]["seq"] == 2
    assert len(world.timer.started) == started + 1


def test_an_agent_away_past_its_grace_period_hands_its_sessions_back_to_the_queue(world: World) -> None:
    vis, alice, session = chat(world)
    world.svc.presence.disconnect(f"c-{alice.user_id}")  # alice's console is gone
    away = current(session.session_id)
    assert away.agent_away_at is not None and away.timer == session.timer
    state = state_of(world, session.session_id)
    assert state["wait_seconds"] == POLICY.agent_grace_seconds  # re-armed for the end of the grace period
    say(world, vis, session.session_id, "hello?")  # kept for alice meanwhile
    assert world.last(vis.user_id, "stored")["reason"] == "recipient_offline"
    assert wake(world, state)["done"] is True
    back = current(session.session_id)
    assert (back.status, back.agent_id, back.agent_away_at) == (sm.WAITING, None, None)
    entry = QueueEntry.get(queue_key("general", back.session_id), back.queue_sk)
    assert entry.priority_class == TRANSFERRED  # ahead of new arrivals
    assert active_of("alice") == 0
    assert world.last(vis.user_id, "session")["notice"] == AGENT_GONE_NOTICE
    # The next agent gets it with the note and the whole history, the kept message included.
    bob = world.agent("bob")
    served = current(session.session_id)
    assert (served.status, served.agent_id) == (sm.ACTIVE, "bob")
    to_bob = [f for f in world.frames("bob", "session") if f["session"]["session_id"] == session.session_id]
    assert to_bob[-1]["session"]["transfer"]["note"] == AGENT_GONE_NOTE
    assert [m["content"]["text"] for m in world.svc.im.history(bob, session.session_id, 0, 10)["messages"]] == [
        "hello?"]
    # Kept for alice, it is bob's now: his console's resume offers it and his ACK tells the visitor.
    resumed = world.svc.im.resume(bob, session.session_id, 0)
    assert [(m["content"]["text"], m["status"]) for m in resumed["messages"]] == [("hello?", "stored")]
    world.svc.im.ack(bob, MessageRef(session.session_id, 1))
    assert world.last(vis.user_id, "delivered")["seq"] == 1
    assert Message.get(session.session_id, message_sk(1)).recipient_id == "bob"
    # Alice, back later, can no longer ACK it.
    with pytest.raises(ImError) as refused:
        world.svc.im.ack(alice, MessageRef(session.session_id, 1))
    assert refused.value.code == "forbidden"


def test_an_agent_back_within_its_grace_period_keeps_its_sessions(world: World) -> None:
    vis, alice, session = chat(world)
    world.svc.presence.disconnect(f"c-{alice.user_id}")
    state = state_of(world, session.session_id)
    world.clock.tick(POLICY.agent_grace_seconds / 2)
    world.svc.presence.connect(f"c2-{alice.user_id}", alice)  # a page reload, a network blip
    after = wake(world, state)
    kept = current(session.session_id)
    assert (kept.status, kept.agent_id, kept.agent_away_at) == (sm.ACTIVE, "alice", None)
    assert after["done"] is False and not world.frames(vis.user_id, "session")[-1].get("notice")


def test_with_no_agent_grace_sessions_stay_with_an_agent_who_left(world: World) -> None:
    use(world, routing_config(default_capacity=2, sessions=dataclasses.replace(POLICY, agent_grace_seconds=0)))
    _, alice, session = chat(world)
    armed = current(session.session_id)
    world.svc.presence.disconnect(f"c-{alice.user_id}")
    kept = current(session.session_id)
    assert (kept.timer_due_at, kept.agent_away_at, kept.agent_id) == (armed.timer_due_at, None, "alice")


def test_a_connection_forgotten_twice_tells_the_agent_once(world: World) -> None:
    vis, agent, session = chat(world)
    world.clock.tick(60)  # long past its $connect
    world.svc.presence.disconnect(f"c-{vis.user_id}")  # its $disconnect
    # Then a post still addressed to it (a receipt to the message's sender connection) gets a 410.
    world.sender.gone.add(f"c-{vis.user_id}")
    assert not world.svc.presence.post(f"c-{vis.user_id}", {"event": "pong", "ts": 0}, vis.user_id)
    assert [f["state"] for f in world.frames(agent.user_id, "visitor_presence")] == ["reconnecting"]
    assert due_in(world, session.session_id) == 0  # its warning was due before the grace would end: it stands


def test_a_visitor_back_within_the_grace_period_is_never_shown_offline(world: World) -> None:
    vis, agent, session = chat(world)
    world.svc.presence.disconnect(f"c-{vis.user_id}")
    state = state_of(world, session.session_id)
    presence = world.svc.presence.connect(f"c2-{vis.user_id}", vis)
    world.svc.lifecycle.visitor_back(world.svc.sessions.current_or_new(vis, presence))
    wake(world, state)
    states = [f["state"] for f in world.frames(agent.user_id, "visitor_presence")]
    assert states == ["reconnecting", "online"]
    assert current(session.session_id).visitor_away_at is None


def test_a_departure_landing_after_the_reconnect_leaves_the_visitor_online(world: World) -> None:
    """The handlers of a dropped connection and of the reconnect run side by side: when the departure's away
    mark lands after the reconnect's visitor_back read the session, the visitor, connected again, must not be
    left marked away (every agent message would be kept as ``stored`` instead of delivered)."""
    vis, agent, session = chat(world)
    presence = world.svc.presence.connect(f"c2-{vis.user_id}", vis)
    world.svc.lifecycle.visitor_back(world.svc.sessions.current_or_new(vis, presence))  # nothing to clear yet
    world.svc.lifecycle.visitor_gone(vis.user_id, session.session_id)  # the old connection's departure, late
    assert current(session.session_id).visitor_away_at is None
    states = [f["state"] for f in world.frames(agent.user_id, "visitor_presence")]
    assert states == ["reconnecting", "online"]
    say(world, agent, session.session_id, "still here?")
    assert not world.frames(agent.user_id, "stored")
    assert world.last(vis.user_id, "message")["message"]["content"]["text"] == "still here?"


def test_a_supervisor_oversees_its_groups_sessions_only(world: World) -> None:
    vis, alice, session = chat(world)
    say(world, vis, session.session_id, "hello")
    world.svc.im.ack(alice, MessageRef(session.session_id, 1))
    carol = Identity("carol", "supervisor", groups=("general",))
    dave = Identity("dave", "supervisor", groups=("vip",))
    assert [m["content"]["text"] for m in world.svc.im.history(carol, session.session_id, 0, 10)["messages"]] == \
        ["hello"]
    with pytest.raises(ImError) as err:
        world.svc.im.history(dave, session.session_id, 0, 10)
    assert err.value.code == "forbidden"
    with pytest.raises(ImError) as err:  # observing is reading: a supervisor does not resume as a participant
        world.svc.im.resume(carol, session.session_id, 0)
    assert err.value.code == "forbidden"
    with pytest.raises(ImError) as err:
        world.svc.routing.transfer(dave, session.session_id, None, to_agent="bob")
    assert err.value.code == "forbidden"
    world.agent("bob")
    world.svc.routing.transfer(carol, session.session_id, "taking over from alice", to_agent="bob")
    moved = current(session.session_id)
    assert (moved.agent_id, moved.transferred_from) == ("bob", "alice")
    assert (active_of("alice"), active_of("bob")) == (0, 1)
    assert world.last("alice", "session")["session"]["status"] == "transferred"


def test_a_step_run_twice_warns_once(world: World) -> None:
    vis, agent, session = chat(world)
    say(world, agent, session.session_id, "still there?")
    state = {**state_of(world, session.session_id), "wait_seconds": 60}
    world.clock.tick(60)
    first = world.svc.lifecycle.step(state)
    second = world.svc.lifecycle.step(state)  # Lambda runs at least once: the same wake again
    assert len(world.frames(vis.user_id, "idle_warning")) == 1
    assert first["wait_seconds"] == second["wait_seconds"] == 30
