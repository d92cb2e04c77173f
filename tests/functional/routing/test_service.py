"""Routing on moto: allocation methods, capacity under concurrent arrivals, queues, backfill, sticky,
service hours, overflow, leave-a-message and the dashboard's figures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.auth.identity import Identity
from chalicelib.channel.errors import ImError
from chalicelib.config.model import ROUND_ROBIN, OverflowPolicy, QueuePolicy, RoutingConfig, Rule, Schedule, Span
from chalicelib.platform.clock import SYSTEM_CLOCK
from chalicelib.platform.clock import Clock as ServiceClock
from chalicelib.routing import queue as q
from chalicelib.routing.models import QUEUE_SHARDS, Agent, GroupState, Member, QueueEntry, member_key, queue_key
from chalicelib.routing.reshard import Resharded, reshard
from chalicelib.routing.service import left_message_json
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session
from chalicelib.wiring import Services, build
from local import dynamodb_atomic
from tests.conftest import RecordingSender, RecordingTimer, count_aws_calls, group, routing_config


@dataclass
class Clock:
    now: float = 1_790_000_000.0  # 2026-09-21, a Monday

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += seconds


@dataclass
class World:
    sender: RecordingSender
    timer: RecordingTimer
    clock: Clock
    config: list[RoutingConfig]
    alerts: list[tuple[str, str]] = field(default_factory=list)
    svc: Services = field(init=False)

    def __post_init__(self) -> None:
        self.rebuild()

    def rebuild(self, real_clock: bool = False) -> None:
        self.svc = build(self.sender, self.timer, config=lambda: self.config[0],
                         clock=SYSTEM_CLOCK if real_clock else ServiceClock(self.clock),
                         publisher=lambda subject, body: self.alerts.append((subject, body)))

    def agent(self, agent_id: str, capacity: int | None = None) -> Identity:
        who = Identity(user_id=agent_id, role="agent", name=agent_id.capitalize())
        self.svc.presence.connect(f"c-{agent_id}", who)
        self.svc.routing.set_agent_status(who, "online", capacity)
        return who

    def visitor(self, n: int | str, **attrs: Any) -> Identity:
        who = Identity(user_id=f"v_{n}", role="visitor", name=f"Visitor {n}", channel=attrs.pop("channel", "web"),
                       **attrs)
        self.svc.sessions.current_or_new(who, self.svc.presence.connect(f"c-v_{n}", who))
        return who

    def ask(self, who: Identity) -> Session:
        self.clock.tick(0.001)
        return self.svc.routing.request_agent(who)

    def frames(self, user_id: str, event: str) -> list[dict[str, Any]]:
        return self.sender.frames(f"c-{user_id}", event)

    def last(self, user_id: str, event: str) -> dict[str, Any]:
        found = self.frames(user_id, event)
        assert found, f"{user_id} got no {event} frame"
        return found[-1]


@pytest.fixture
def world(aws: None, sender: RecordingSender, timer: RecordingTimer) -> World:
    return World(sender, timer, Clock(), [routing_config(default_capacity=2)])


def use(world: World, config: RoutingConfig) -> None:
    world.config[0] = config


def active_of(agent_id: str) -> int:
    return int(Agent.get(agent_id, consistent_read=True).active)


def queue_order(group_id: str) -> list[str]:
    return [e.session_id for e in q.entries(group_id)]


# -- allocation ------------------------------------------------------------------------------------

def test_least_loaded_takes_the_lowest_share_of_capacity_and_ties_go_to_the_longest_idle(world: World) -> None:
    use(world, routing_config(default_capacity=4, agent_capacity={"bob": 2}))
    world.agent("alice")
    world.clock.tick(5)
    world.agent("bob")
    picks = [world.ask(world.visitor(i)).agent_id for i in range(4)]
    # Both at 0: alice changed longest ago. Then alice 1/4 vs bob 0/2 -> bob; 1/4 vs 1/2 -> alice;
    # 2/4 vs 1/2 tie -> bob's last change is older than alice's.
    assert picks == ["alice", "bob", "alice", "bob"]
    assert (active_of("alice"), active_of("bob")) == (2, 2)


def test_round_robin_stays_fair_when_agents_come_and_go(world: World) -> None:
    use(world, routing_config([group("general", ["alice", "bob", "carol"], allocation=ROUND_ROBIN)],
                              default_capacity=10))
    for name in ("alice", "bob", "carol"):
        world.agent(name)
    picks = [world.ask(world.visitor(i)).agent_id for i in range(3)]
    assert picks == ["alice", "bob", "carol"]
    bob = Identity("bob", "agent")
    world.svc.routing.set_agent_status(bob, "offline")
    assert [world.ask(world.visitor(10 + i)).agent_id for i in range(4)] == ["alice", "carol", "alice", "carol"]
    world.svc.routing.set_agent_status(bob, "online")
    # bob kept its place in the rotation: assigned longest ago, so it is next, then the turn goes on.
    assert [world.ask(world.visitor(20 + i)).agent_id for i in range(3)] == ["bob", "alice", "carol"]


def test_priority_levels_fill_the_first_level_before_the_second(world: World) -> None:
    use(world, routing_config([group("general", [("alice", 2), ("bob", 1)])], default_capacity=2))
    world.agent("alice")
    world.agent("bob")
    picks = [world.ask(world.visitor(i)).agent_id for i in range(4)]
    assert picks == ["bob", "bob", "alice", "alice"]


def test_a_busy_agent_keeps_its_chats_and_takes_no_new_ones(world: World) -> None:
    alice = world.agent("alice")
    first = world.ask(world.visitor(1))
    assert first.agent_id == "alice"
    world.svc.routing.set_agent_status(alice, "busy")
    second = world.ask(world.visitor(2))
    assert second.status == sm.WAITING
    assert Session.get(first.session_id).status == sm.ACTIVE
    world.svc.routing.set_agent_status(alice, "online")  # a free slot again: the queue drains at once
    assert Session.get(second.session_id).agent_id == "alice"


def test_raising_capacity_takes_the_next_waiting_visitor(world: World) -> None:
    use(world, routing_config(default_capacity=1))
    alice = world.agent("alice")
    world.ask(world.visitor(1))
    waiting = world.ask(world.visitor(2))
    assert waiting.status == sm.WAITING
    world.svc.routing.set_agent_status(alice, "online", capacity=2)
    assert Session.get(waiting.session_id).agent_id == "alice"
    with pytest.raises(ImError) as err:
        world.svc.routing.set_agent_status(alice, "online", capacity=21)
    assert err.value.field == "capacity"


# -- capacity under concurrency --------------------------------------------------------------------

@pytest.fixture
def atomic_moto() -> Iterator[None]:
    # moto is not atomic across threads; DynamoDB is (local/dynamodb_atomic.py).
    dynamodb_atomic.install()
    yield
    dynamodb_atomic.uninstall()


def test_100_arrivals_at_once_fill_exactly_the_online_capacity_and_queue_the_rest_in_order(
        world: World, atomic_moto: None) -> None:
    agents = [f"a{i:02d}" for i in range(10)]
    use(world, routing_config([group("general", agents)], default_capacity=3))
    for agent_id in agents:
        world.agent(agent_id)
    assert int(q.state_of("general").online_capacity) == 30
    visitors = [world.visitor(i, tier="vip" if i % 10 == 3 else None) for i in range(100)]
    world.rebuild(real_clock=True)  # arrival order is the order requests reach the service
    with ThreadPoolExecutor(max_workers=16) as pool:
        sessions = list(pool.map(world.svc.routing.request_agent, visitors))
    stored = {s.session_id: Session.get(s.session_id, consistent_read=True) for s in sessions}
    active = [s for s in stored.values() if s.status == sm.ACTIVE]
    waiting = [s for s in stored.values() if s.status == sm.WAITING]
    assert (len(active), len(waiting)) == (30, 70)
    per_agent = {a: sum(1 for s in active if s.agent_id == a) for a in agents}
    assert per_agent == dict.fromkeys(agents, 3)
    assert all(active_of(a) == 3 for a in agents)
    assert len({s.session_id for s in active}) == 30  # no session twice
    order = queue_order("general")
    vip = {v.user_id for v in visitors if v.tier == "vip"}
    classes = [stored[sid].visitor_id in vip for sid in order]
    assert classes == sorted(classes, reverse=True)  # every waiting VIP ahead of everyone else
    within = [(stored[sid].visitor_id not in vip, int(stored[sid].requested_at), sid) for sid in order]
    assert within == sorted(within)  # arrival order within each class
    assert int(q.state_of("general").waiting) == 70

    # Sessions end one at a time: each frees a slot that goes at once to the head of the queue.
    for s in active:
        world.svc.sessions.end_session(Identity(str(s.agent_id), "agent"), s.session_id)
    served = [Session.get(sid, consistent_read=True) for sid in order[:30]]
    assert all(s.status == sm.ACTIVE for s in served)
    assigned_at = [int(s.assigned_at) for s in served]
    assert assigned_at == sorted(assigned_at)  # served in queue order
    assert queue_order("general") == order[30:]
    assert all(active_of(a) == 3 for a in agents)
    assert int(q.state_of("general").waiting) == 40


def test_a_groups_visitors_spread_its_counter_writes_over_its_shards(world: World) -> None:
    use(world, routing_config([group("general", ["alice"])], default_capacity=2))
    world.agent("alice")
    visitors = [world.visitor(i) for i in range(40)]
    for v in visitors:
        world.ask(v)
    shards = {item.group_id: item for item in GroupState.scan() if item.group_id.startswith("general#")}
    # Every arrival wrote one shard, not the group's one item: no key takes most of a hot group's writes.
    per_shard = sorted(int(item.waiting or 0) + int(item.assigned or 0) for item in shards.values())
    assert sum(per_shard) == 40 and len(per_shard) >= 6 and per_shard[-1] <= 15
    assert GroupState.get("general").waiting in (None, 0)  # the group's own item: agents' capacity only
    state = q.state_of("general")
    assert (int(state.waiting), int(state.assigned), int(state.online_capacity)) == (38, 2, 2)


def test_a_groups_queue_and_free_agents_spread_over_their_shards_and_keep_one_order(world: World) -> None:
    # alice and carol keep their memberships under one key of the group, bob and dave under the other.
    assert member_key("general", "alice") == member_key("general", "carol") != member_key("general", "bob") \
        == member_key("general", "dave")
    use(world, routing_config([group("general", ["alice", "bob", "carol", "dave"])], default_capacity=1))
    for name in ("alice", "bob"):
        world.agent(name)
    world.clock.tick(5)
    world.agent("carol")
    served = [world.ask(world.visitor(i)) for i in range(3)]
    # The longest idle first, wherever its membership is kept: one ranking over both keys.
    assert [s.agent_id for s in served] == ["alice", "bob", "carol"]
    waiting = [world.ask(world.visitor(10 + i)) for i in range(40)]
    keys = {queue_key("general", s.session_id) for s in waiting}
    per_key = [sum(1 for s in waiting if queue_key("general", s.session_id) == k) for k in sorted(keys)]
    # Arrivals write QUEUE_SHARDS partitions, none most of them...
    assert len(keys) == QUEUE_SHARDS and max(per_key) <= 20
    # ...and the queue is still one line in arrival order, served from its head.
    assert queue_order("general") == [s.session_id for s in waiting]
    world.agent("dave")
    assert Session.get(waiting[0].session_id, consistent_read=True).agent_id == "dave"
    world.svc.sessions.end_session(Identity("alice", "agent"), served[0].session_id)
    assert Session.get(waiting[1].session_id, consistent_read=True).agent_id == "alice"
    assert queue_order("general") == [s.session_id for s in waiting[2:]]


def test_reshard_moves_a_stack_whose_groups_kept_one_key_each_and_every_visitor_keeps_its_place(
        world: World) -> None:
    use(world, routing_config([group("general", ["alice", "bob"])], default_capacity=1))
    alice, _ = world.agent("alice"), world.agent("bob")
    for i in range(2):
        world.ask(world.visitor(i))
    waiting = [world.ask(world.visitor(10 + i)) for i in range(3)]
    # As a stack deployed before the shards left them: everything under the group's own id.
    for m in Member.scan():
        Member("general", m.agent_id, **{k: getattr(m, k) for k in ("priority", "status", "capacity", "active",
                                                                     "agent_seq")}).save()
        m.delete()
    for e in QueueEntry.scan():
        QueueEntry("general", e.sk, session_id=e.session_id, visitor_id=e.visitor_id,
                   priority_class=e.priority_class, requested_at=e.requested_at).save()
        e.delete()
    assert q.head("general") is None  # invisible to the new layout

    assert reshard(world.svc.agents) == Resharded(agents=2, memberships=2, entries=3)
    assert {m.key for m in Member.scan()} == {member_key("general", "alice"), member_key("general", "bob")}
    assert queue_order("general") == [s.session_id for s in waiting]
    world.svc.routing.set_agent_status(alice, "online", capacity=2)  # a free slot takes the head, as before
    assert Session.get(waiting[0].session_id, consistent_read=True).agent_id == "alice"
    assert reshard(world.svc.agents) == Resharded(agents=0, memberships=0, entries=0)  # once is enough


def test_concurrent_drains_never_assign_a_session_twice_or_exceed_capacity(world: World, atomic_moto: None) -> None:
    use(world, routing_config([group("general", ["alice", "bob"])], default_capacity=3))
    visitors = [world.visitor(i) for i in range(20)]
    for v in visitors:
        world.ask(v)
    assert int(q.state_of("general").waiting) == 20
    for name in ("alice", "bob"):
        world.agent(name)  # each comes online and drains
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: world.svc.routing.drain("general"), range(16)))
    active = [s for s in Session.scan() if s.status == sm.ACTIVE]
    assert len(active) == 6
    assert (active_of("alice"), active_of("bob")) == (3, 3)
    assert int(q.state_of("general").waiting) == 14
    assert len(queue_order("general")) == 14


# -- sticky ----------------------------------------------------------------------------------------

def _returning_visitor(world: World, n: int, last_agent: str) -> Identity:
    who = world.visitor(n)
    session = world.svc.sessions.current(who)
    assert session is not None
    session.update(actions=[Session.last_agent_id.set(last_agent)])
    return who


def test_sticky_goes_back_to_the_last_agent_when_it_is_free(world: World) -> None:
    use(world, routing_config([group("general", ["alice", "bob"], sticky=True)], default_capacity=3))
    world.agent("alice")
    world.agent("bob")
    world.ask(world.visitor(1))  # alice now has one session: least-loaded alone would pick bob
    assert world.ask(_returning_visitor(world, 2, "alice")).agent_id == "alice"


def test_sticky_skips_an_offline_agent(world: World) -> None:
    use(world, routing_config([group("general", ["alice", "bob"], sticky=True)]))
    world.agent("bob")
    Agent("alice", status="offline", capacity=2, active=0).save()
    assert world.ask(_returning_visitor(world, 1, "alice")).agent_id == "bob"


def test_sticky_skips_a_full_or_busy_agent(world: World) -> None:
    use(world, routing_config([group("general", ["alice", "bob"], sticky=True)], default_capacity=1))
    alice = world.agent("alice")
    world.agent("bob")
    assert world.ask(world.visitor(1)).agent_id == "alice"
    assert world.ask(_returning_visitor(world, 2, "alice")).agent_id == "bob"  # alice is full
    world.svc.routing.set_agent_status(alice, "busy")
    world.svc.sessions.end_session(alice, next(iter(Session.scan(Session.agent_id == "alice"))).session_id)
    waiting = world.ask(_returning_visitor(world, 3, "alice"))
    assert waiting.status == sm.WAITING  # alice has a free slot but is busy; bob is full


def test_sticky_is_ignored_where_the_group_is_not_sticky(world: World) -> None:
    use(world, routing_config([group("general", ["alice", "bob"])], default_capacity=3))
    world.agent("alice")
    world.agent("bob")
    world.ask(world.visitor(1))
    assert world.ask(_returning_visitor(world, 2, "alice")).agent_id == "bob"


# -- rules and hours -------------------------------------------------------------------------------

def test_rules_send_visitors_to_their_group(world: World) -> None:

    use(world, routing_config(
        [group("general", ["alice"]), group("shoes", ["bob"]), group("vip", ["carol"])],
        rules=(Rule("vip", "vip", tier=frozenset({"vip"})), Rule("shoes", "shoes", category=frozenset({"shoes"}))),
    ))
    for name in ("alice", "bob", "carol"):
        world.agent(name)
    assert world.ask(world.visitor(1, category="shoes")).agent_id == "bob"
    assert world.ask(world.visitor(2, category="shoes", tier="vip")).agent_id == "carol"
    routed = world.ask(world.visitor(3, category="bags"))
    assert (routed.agent_id, routed.group_id, routed.rule) == ("alice", "general", None)
    assert Session.get(routed.session_id).group_id == "general"


def test_outside_hours_the_visitor_is_told_the_hours_and_offered_leave_a_message(world: World) -> None:
    shanghai = Schedule("standard", "Asia/Shanghai", ((Span(480, 1440),),) * 7,
                        closed_message="Happy holidays!")
    use(world, routing_config([group("general", ["alice"], schedule="standard")],
                              schedules={"standard": shanghai}))
    world.agent("alice")
    world.clock.now = datetime(2026, 9, 22, 23, 30, tzinfo=UTC).timestamp()  # 07:30 in Shanghai
    session = world.ask(world.visitor(1))
    assert session.status == sm.BOT and session.agent_id is None
    offer = world.last("v_1", "leave_message_offered")
    assert offer["reason"] == "closed"
    assert offer["hours"]["open"] is False and offer["hours"]["today"] == ["08:00-24:00"]
    assert offer["hours"]["next_open"].startswith("2026-09-23T08:00:00+08:00")
    assert offer["message"].startswith("Happy holidays! We are closed now.")
    world.clock.now = datetime(2026, 9, 23, 0, 0, tzinfo=UTC).timestamp()  # 08:00 in Shanghai
    assert world.ask(world.visitor(1)).agent_id == "alice"


def test_a_left_message_is_an_open_ticket_listed_for_the_group(world: World) -> None:
    world.agent("alice")  # connected: told at once; bob, also of the group, is not connected
    who = world.visitor(1)
    left = world.svc.routing.leave_message(who, "Please call me about order 42", "+86 138 0000 0000", "closed")
    listed = world.svc.routing.left_messages(["general"])
    assert [m.message_id for m in listed] == [left.message_id]
    shown = left_message_json(listed[0])
    assert (shown["ticket_id"], shown["text"], shown["contact"], shown["reason"], shown["visitor_id"],
            shown["status"]) == (left.message_id, "Please call me about order 42", "+86 138 0000 0000", "closed",
                                 "v_1", "open")
    assert world.svc.routing.left_messages(["shoes"]) == []
    told = world.last("alice", "left_message")
    assert (told["group_id"], told["ticket_id"]) == ("general", left.message_id)


# -- queue -----------------------------------------------------------------------------------------

def test_positions_and_waits_reach_each_waiting_visitor_and_change_as_the_queue_moves(world: World) -> None:
    use(world, routing_config([group("general", ["alice"], avg_handle_seconds=120)], default_capacity=1))
    alice = world.agent("alice")
    first = world.ask(world.visitor(0))
    assert first.agent_id == "alice"
    waiting = [world.visitor(i) for i in (1, 2, 3)]
    for v in waiting:
        world.ask(v)
    assert [world.last(v.user_id, "queue")["position"] for v in waiting] == [1, 2, 3]
    assert [world.last(v.user_id, "queue")["estimated_wait_seconds"] for v in waiting] == [120, 240, 360]
    assert world.frames("v_0", "queue") == []
    vip = world.visitor(9, tier="vip")
    world.ask(vip)
    assert world.last("v_9", "queue")["position"] == 1
    # Those behind learn of it at the next refresh (the tick), not from the arrival.
    assert [world.last(v.user_id, "queue")["position"] for v in waiting] == [1, 2, 3]
    world.svc.routing.tick()
    assert [world.last(v.user_id, "queue")["position"] for v in waiting] == [2, 3, 4]
    world.svc.sessions.end_session(alice, first.session_id)
    assert world.svc.sessions.current(vip).agent_id == "alice"  # type: ignore[union-attr]
    # The new head is told at once that it is next; the others at the tick.
    assert [world.last(v.user_id, "queue")["position"] for v in waiting] == [1, 3, 4]
    assert world.last("v_9", "session")["session"]["status"] == "active"
    world.svc.routing.tick()
    assert [world.last(v.user_id, "queue")["position"] for v in waiting] == [1, 2, 3]
    # The head leaving the queue: the next one is told at once.
    world.svc.routing.leave_queue(waiting[0])
    assert [world.last(v.user_id, "queue")["position"] for v in waiting[1:]] == [1, 3]
    assert world.last("v_1", "session")["session"]["status"] == "bot"
    world.svc.routing.leave_queue(waiting[2])  # not the head: nobody is told
    assert world.last("v_2", "queue")["position"] == 1
    world.svc.routing.request_agent(waiting[1])  # asking again gives a fresh place
    assert (world.last("v_2", "queue")["position"], world.last("v_2", "queue")["waiting"]) == (1, 1)
    with pytest.raises(ImError) as err:
        world.svc.routing.leave_queue(waiting[0])
    assert err.value.code == "not_found"


def test_a_queue_move_costs_the_same_frames_and_aws_calls_with_40_waiting_as_with_4(world: World) -> None:
    use(world, routing_config([group("small", ["alice"]), group("big", ["bob"])], default_capacity=1,
                              rules=(Rule("small", "small", category=frozenset({"small"})),), default_group="big"))
    agents = {"small": world.agent("alice"), "big": world.agent("bob")}
    first = {name: world.ask(world.visitor(f"{name}-0", category=name))
             for name in agents}
    for name, waiting in (("small", 4), ("big", 40)):
        for i in range(1, waiting + 1):
            world.ask(world.visitor(f"{name}-{i}", category=name))
    assert [int(q.state_of(g).waiting) for g in ("small", "big")] == [4, 40]
    calls = count_aws_calls()
    cost = {}
    for name, agent in agents.items():
        world.rebuild()  # each move on fresh services, as on a new container: the same caches to fill
        posts = len(world.sender.posts)
        calls()
        world.svc.sessions.end_session(agent, first[name].session_id)
        cost[name] = (len(world.sender.posts) - posts, calls())
    assert world.svc.sessions.current(world.visitor("big-1", category="big")).status == "active"  # type: ignore[union-attr]
    assert world.last("v_big-2", "queue")["position"] == 1
    assert cost["small"][1] > 0
    assert cost["big"] == cost["small"]


def test_asking_again_while_waiting_answers_from_the_ticket_at_the_same_cost_with_40_ahead_as_with_4(
        world: World) -> None:
    use(world, routing_config([group("small", ["alice"]), group("big", ["bob"])], default_capacity=1,
                              rules=(Rule("small", "small", category=frozenset({"small"})),), default_group="big"))
    for name, waiting in (("small", 4), ("big", 40)):
        for i in range(1, waiting + 1):
            world.ask(world.visitor(f"{name}-{i}", category=name))
    calls = count_aws_calls()
    cost = {}
    for name, last in (("small", 4), ("big", 40)):
        world.rebuild()
        visitor = world.visitor(f"{name}-{last}", category=name)
        calls()
        world.svc.routing.request_agent(visitor)
        cost[name] = calls()
        assert world.last(f"v_{name}-{last}", "queue")["position"] == last
    assert cost["big"] == cost["small"]  # no count of the queue ahead: its counters only
    # Departures from the head move every ticket up: two served, one left.
    bob = world.agent("bob", capacity=2)
    world.svc.routing.leave_queue(world.visitor("big-3", category="big"))
    assert [world.svc.sessions.current(world.visitor(f"big-{i}", category="big")).status  # type: ignore[union-attr]
            for i in (1, 2)] == ["active", "active"] and bob.user_id == "bob"
    world.svc.routing.request_agent(world.visitor("big-40", category="big"))
    assert (world.last("v_big-40", "queue")["position"], world.last("v_big-40", "queue")["waiting"]) == (37, 37)


def test_the_wait_estimate_is_unknown_with_nobody_online(world: World) -> None:
    use(world, routing_config([group("general", ["alice"])]))
    world.ask(world.visitor(1))
    assert world.last("v_1", "queue")["estimated_wait_seconds"] is None


def test_queue_timeout_offers_leave_a_message_once(world: World) -> None:
    policy = QueuePolicy(max_waiting=100, timeout_seconds=60, priority_tiers=frozenset())
    use(world, routing_config([group("general", ["alice"], queue=policy)]))
    world.ask(world.visitor(1))  # nobody online: offered at once, and offered again when the wait runs out
    assert [f["reason"] for f in world.frames("v_1", "leave_message_offered")] == ["no_agents"]
    world.clock.tick(30)
    world.svc.routing.tick()
    assert [f["reason"] for f in world.frames("v_1", "leave_message_offered")] == ["no_agents"]
    world.clock.tick(31)
    assert world.svc.routing.tick() == {"timeout_offers": 1}
    assert world.last("v_1", "leave_message_offered")["reason"] == "queue_timeout"
    assert world.svc.routing.tick() == {"timeout_offers": 0}
    assert world.last("v_1", "queue")["waited_seconds"] == 61
    # Leaving a message takes the visitor out of the queue.
    world.svc.routing.leave_message(world.visitor(1), "call me", None, "queue_timeout")
    assert queue_order("general") == []
    assert int(q.state_of("general").waiting) == 0


# -- never stranded --------------------------------------------------------------------------------

def test_with_nobody_online_the_visitor_keeps_a_place_and_is_offered_leave_a_message_at_once(world: World) -> None:
    use(world, routing_config([group("general", ["alice"])], default_capacity=1))
    visitor = world.visitor(1)
    assert world.ask(visitor).status == sm.WAITING
    frames = [f["event"] for f in world.sender.frames("c-v_1") if f["event"] in ("session", "leave_message_offered")]
    assert frames[-2:] == ["session", "leave_message_offered"]  # the offer after "waiting": the form stays shown
    offer = world.last("v_1", "leave_message_offered")
    assert (offer["reason"], offer["group"]["id"]) == ("no_agents", "general")
    assert "No one is online" in offer["message"]
    world.agent("alice")  # someone comes online: the waiting visitor is served at once
    assert world.svc.sessions.current(visitor).agent_id == "alice"  # type: ignore[union-attr]
    # With someone online, nobody is offered anything.
    world.ask(world.visitor(2))
    assert world.frames("v_2", "leave_message_offered") == []


def test_with_nobody_online_a_backup_with_someone_online_takes_the_visitor(world: World) -> None:
    use(world, routing_config([group("shoes", ["alice"], overflow=OverflowPolicy(to=("empty", "general"))),
                               group("empty", ["carol"]), group("general", ["bob"])], default_group="shoes"))
    world.agent("bob")
    session = world.ask(world.visitor(1))
    # "empty" has nobody online either: skipped, like shoes.
    assert (session.status, session.group_id, session.agent_id) == (sm.ACTIVE, "general", "bob")
    assert world.frames("v_1", "leave_message_offered") == []
    assert int(q.state_of("shoes").overflow_events) == 1
    world.svc.routing.set_agent_status(Identity("bob", "agent"), "offline")
    # Nobody online anywhere: queued where the rules sent it, and offered to leave a message.
    waiting = world.ask(world.visitor(2))
    assert (waiting.status, waiting.group_id) == (sm.WAITING, "shoes")
    assert world.last("v_2", "leave_message_offered")["reason"] == "no_agents"


def test_leaving_the_queue_is_confirmed_with_an_offer_to_leave_a_message(world: World) -> None:
    use(world, routing_config([group("general", ["alice"])], default_capacity=1))
    world.agent("alice")
    world.ask(world.visitor(1))
    visitor = world.visitor(2)
    world.ask(visitor)
    world.svc.routing.leave_queue(visitor)
    frames = [f for f in world.sender.frames("c-v_2") if f["event"] in ("session", "leave_message_offered")]
    assert [f["event"] for f in frames[-2:]] == ["session", "leave_message_offered"]
    assert frames[-2]["session"]["status"] == "bot"
    assert (frames[-1]["reason"], frames[-1]["message"]) == (
        "left_queue", "You have left the queue. Leave a message and we will get back to you.")
    left = world.svc.routing.leave_message(visitor, "please call me", None, "left_queue")
    assert left.ticket.ticket_id


# -- overflow --------------------------------------------------------------------------------------

def _overflow_world(world: World, policy: OverflowPolicy, max_waiting: int = 100) -> None:
    queue = QueuePolicy(max_waiting=max_waiting, timeout_seconds=900, priority_tiers=frozenset())
    use(world, routing_config([group("shoes", ["alice"], overflow=policy, queue=queue),
                               group("general", ["bob"])], default_group="shoes", default_capacity=1))
    world.agent("alice")
    world.agent("bob")
    world.ask(world.visitor("s0"))  # alice is now full


def test_overflow_on_waiting_count_spills_to_the_backup_group(world: World) -> None:
    _overflow_world(world, OverflowPolicy(waiting_at_least=2, to=("general",)))
    world.ask(world.visitor(1))
    world.ask(world.visitor(2))
    spilled = world.ask(world.visitor(3))
    assert (spilled.group_id, spilled.agent_id) == ("general", "bob")
    assert int(q.state_of("shoes").overflow_events) == 1
    assert len(world.alerts) == 1 and "Shoes" in world.alerts[0][0]


def test_overflow_relative_to_online_capacity(world: World) -> None:
    _overflow_world(world, OverflowPolicy(waiting_per_online_slot=2.0, to=("general",)))
    world.ask(world.visitor(1))
    world.ask(world.visitor(2))  # 2 waiting for 1 online slot
    assert world.ask(world.visitor(3)).group_id == "general"


def test_overflow_on_longest_wait(world: World) -> None:
    _overflow_world(world, OverflowPolicy(longest_wait_seconds=60, to=("general",)))
    world.ask(world.visitor(1))
    world.clock.tick(30)
    assert world.ask(world.visitor(2)).status == sm.WAITING
    world.clock.tick(31)
    assert world.ask(world.visitor(3)).group_id == "general"


def test_a_full_queue_with_no_backup_offers_leave_a_message_and_notifies_supervisors(world: World) -> None:
    _overflow_world(world, OverflowPolicy(waiting_at_least=50), max_waiting=1)
    supervisor = Identity("carol", "supervisor")
    world.svc.presence.connect("c-carol", supervisor)
    world.svc.dashboard.subscribe("c-carol")
    world.ask(world.visitor(1))
    refused = world.ask(world.visitor(2))
    assert refused.status == sm.BOT
    assert world.last("v_2", "leave_message_offered")["reason"] == "overflow"
    alert = world.last("carol", "dashboard.overflow")
    assert (alert["group_id"], alert["reason"], alert["to"]) == ("shoes", "queue_full", None)
    world.ask(world.visitor(3))
    assert len(world.alerts) == 1  # one SNS alert per group per interval, however many spill


def test_backup_groups_are_tried_in_order_skipping_closed_and_overflowing_ones(world: World) -> None:
    closed = Schedule("never", "UTC", ((),) * 7)
    from chalicelib.schedule.hours import always_open

    use(world, routing_config([
        group("shoes", ["alice"], overflow=OverflowPolicy(waiting_at_least=0, to=("night", "busy", "general"))),
        group("night", ["carol"], schedule="never"),
        group("busy", ["dave"], overflow=OverflowPolicy(waiting_at_least=0)),
        group("general", ["bob"]),
    ], default_group="shoes", schedules={"always": always_open(), "never": closed}))
    world.agent("bob")
    assert world.ask(world.visitor(1)).group_id == "general"


# -- dashboard -------------------------------------------------------------------------------------

GENERAL = {"en": "General", "zh-CN": "综合服务"}  # a group named in both languages

def test_dashboard_figures_and_live_pushes(world: World, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)  # the local stack turns metrics off
    use(world, routing_config([group("general", ["alice", "bob"], name=GENERAL)], default_capacity=1))
    world.agent("alice")
    world.agent("bob")
    world.svc.routing.set_agent_status(Identity("bob", "agent"), "busy")
    world.svc.presence.connect("c-carol", Identity("carol", "supervisor"))
    snapshot = world.svc.dashboard.subscribe("c-carol")
    assert snapshot["event"] == "dashboard.snapshot"
    # The group's name in English (what `name` always meant) and in every language, for the page to pick its own.
    assert (snapshot["groups"][0]["name"], snapshot["groups"][0]["names"]) == ("General", GENERAL)
    world.ask(world.visitor(1))
    world.clock.tick(1)
    world.ask(world.visitor(2))
    world.clock.tick(10)
    world.ask(world.visitor(3))
    world.clock.tick(20)
    # Changes are not pushed one by one: the clock's next round pushes each changed group once.
    assert world.frames("carol", "dashboard.group") == []
    assert world.svc.dashboard.push_changes() == 1
    pushed = world.frames("carol", "dashboard.group")
    assert len(pushed) == 1 and pushed[-1]["group"]["waiting"] == 2
    assert pushed[-1]["group"]["names"] == GENERAL
    assert world.svc.dashboard.push_changes() == 0  # nothing changed since: nothing sent
    figures = world.svc.dashboard.snapshot()["groups"][0]
    assert (figures["waiting"], figures["longest_wait_seconds"], figures["current_average_wait_seconds"]) == (
        2, 30, 25.0)
    assert figures["agents"] == {"online": 1, "busy": 1, "offline": 0}
    assert (figures["active_sessions"], figures["online_capacity"], figures["load"]) == (1, 1, 1.0)
    capsys.readouterr()
    world.svc.routing.tick()
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    waiting = [m for m in emf if m.get("group") == "general"]
    assert waiting and (waiting[0]["Waiting"], waiting[0]["LongestWait"]) == ([2.0], [30.0])
    assert world.last("carol", "dashboard.snapshot")["groups"][0]["waiting"] == 2
    world.ask(world.visitor(4))
    assert world.svc.dashboard.push_changes() == 1
    assert [f["group"]["waiting"] for f in world.frames("carol", "dashboard.group")] == [2, 3]


def test_membership_follows_the_configuration(world: World) -> None:
    alice = world.agent("alice")
    assert {m.group_id for m in Member.scan()} == {"general"}
    use(world, routing_config([group("general", ["bob"]), group("shoes", ["alice"])]))
    world.svc.routing.set_agent_status(alice, "online")
    assert {(m.group_id, m.agent_id) for m in Member.scan()} == {("shoes", "alice")}
    assert int(q.state_of("general").online_capacity) == 0
    assert int(q.state_of("shoes").online_capacity) == 2



def test_a_stale_index_entry_costs_a_retry_never_a_visitor_or_a_slot(world: World) -> None:
    use(world, routing_config([group("general", ["alice", "bob"])], default_capacity=1))
    world.agent("alice")
    world.ask(world.visitor(1))
    waiting = world.ask(world.visitor(2))
    assert waiting.status == sm.WAITING
    # The index still lists full alice as free (on AWS a GSI may lag its table).
    key = member_key("general", "alice")
    Member(key, "alice").update(actions=[Member.avail_group.set(key), Member.rank.set("0#stale")])
    assert world.svc.routing.drain("general") == 0
    assert Session.get(waiting.session_id, consistent_read=True).status == sm.WAITING
    assert queue_order("general") == [waiting.session_id]
    assert active_of("alice") == 1
    world.agent("bob")  # a real free slot: the same visitor is served, once
    assert Session.get(waiting.session_id, consistent_read=True).agent_id == "bob"
    assert queue_order("general") == []


def test_a_reconnect_racing_the_last_disconnect_keeps_the_agent_online(world: World) -> None:
    alice = world.agent("alice")  # connection c-alice
    world.svc.presence.connect("c-alice-2", alice)  # the new socket registers first...
    world.svc.presence.disconnect("c-alice")  # ...then the old one's $disconnect runs
    assert Agent.get("alice", consistent_read=True).status == "online"
    world.svc.presence.disconnect("c-alice-2")
    assert Agent.get("alice", consistent_read=True).status == "offline"
    assert int(q.state_of("general").online_capacity) == 0


def test_an_agents_own_capacity_lasts_its_shift_and_the_configured_one_returns_next_time(world: World) -> None:
    alice = world.agent("alice")
    world.svc.routing.set_agent_status(alice, "online", capacity=7)
    world.svc.routing.set_agent_status(alice, "busy")
    assert int(Agent.get("alice").capacity) == 7
    world.svc.routing.set_agent_status(alice, "offline")
    use(world, routing_config(default_capacity=3))
    world.svc.routing.set_agent_status(alice, "online")
    assert int(Agent.get("alice").capacity) == 3
    assert int(q.state_of("general").online_capacity) == 3


def test_an_overflow_alert_reaches_the_sns_topic(aws: None, sender: RecordingSender, timer: RecordingTimer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    from chalicelib.settings import get_settings

    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="cs-test-alerts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="supervisors")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    monkeypatch.setenv("ALERTS_TOPIC_ARN", topic)
    get_settings.cache_clear()
    config = routing_config([group("general", ["alice"], queue=QueuePolicy(1, 900, frozenset()))])
    svc = build(sender, timer, config=lambda: config)  # no publisher given: the real SNS client
    for n in (1, 2):
        who = Identity(user_id=f"v_{n}", role="visitor", channel="web")
        svc.sessions.current_or_new(who, svc.presence.connect(f"c{n}", who))
        svc.routing.request_agent(who)
    got = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(got[0]["Body"])
    assert len(got) == 1
    # Chinese first, then English: what a shop's team reads (the test group has one name for both).
    assert body["Subject"] == "General排队溢出 / Queue overflow in General"
    chinese, english = body["Message"].split("\n\n")
    assert "queue_full" in chinese and "留言" in chinese
    assert "queue_full" in english and "leave-a-message" in english


def test_the_session_says_when_the_visitor_asked_as_well_as_when_an_agent_took_it(world: World) -> None:
    queued = world.ask(world.visitor(1))  # nobody online: the visitor waits
    assert queued.status == sm.WAITING
    asked = int(queued.requested_at or 0)
    assert world.last("v_1", "session")["session"]["requested_at"] == asked
    world.clock.tick(42)
    world.agent("alice")  # online: the queue's head is hers
    view = world.last("alice", "session")["session"]
    # The console counts the visitor's wait from requested_at: the 42 s in the queue are part of it.
    assert view["requested_at"] == asked and view["assigned_at"] - asked >= 42_000
