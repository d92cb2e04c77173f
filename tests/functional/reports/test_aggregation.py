"""The reports' aggregates, kept from moto's real stream of the sessions table: what each kind of conversation adds,
a window given again counted once, a close racing a transfer counted once, a rating after the close, and a report
that reads the same few items whatever the number of conversations."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from threading import Barrier
from typing import Any

import pytest

from chalicelib.auth.identity import Identity
from chalicelib.config.model import Rule
from chalicelib.platform.clock import Clock
from chalicelib.reports.figures import HOUR_MS
from chalicelib.reports.schemas import ReportQuery
from chalicelib.reports.store import ReportStore
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session
from chalicelib.sessions.stream import SessionStream
from chalicelib.wiring import Services, build
from local import dynamodb_atomic
from local.streams import StreamPoller
from tests.conftest import RecordingSender, RecordingTimer, count_aws_calls, group, routing_config

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC).timestamp()
CONFIG = routing_config([group("general", ["alice", "bob"]), group("shoes", ["alice"])],
                        rules=(Rule("Shoes", "shoes", category=frozenset({"shoes"})),))
ADMIN = Identity(user_id="admin", role="admin")


@dataclass
class World:
    sender: RecordingSender
    timer: RecordingTimer
    now: list[float] = field(default_factory=lambda: [START])
    svc: Services = field(init=False)
    stream: StreamPoller = field(init=False)
    events: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.svc = build(self.sender, self.timer, config=lambda: CONFIG, clock=Clock(lambda: self.now[0]))
        self.stream = StreamPoller(str(Session.Meta.table_name), self._handle)
        self.stream.open()

    def _handle(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        return self.svc.session_stream.handle(event)

    def tick(self, seconds: float) -> None:
        self.now[0] += seconds

    def agent(self, agent_id: str) -> Identity:
        who = Identity(user_id=agent_id, role="agent", name=agent_id.capitalize())
        self.svc.presence.connect(f"c-{agent_id}", who)
        self.svc.routing.set_agent_status(who, "online")
        return who

    def visitor(self, n: int, **attrs: Any) -> Identity:
        who = Identity(user_id=f"v_{n:016x}", role="visitor", name=f"Visitor {n}",
                       channel=attrs.pop("channel", "web"), **attrs)
        self.svc.sessions.current_or_new(who, self.svc.presence.connect(f"c-v{n}", who))
        return who

    def served(self, n: int, agent: Identity, wait: float = 0, reply_after: float = 12, handle: float = 300,
               **attrs: Any) -> tuple[Identity, Session]:
        """A visitor asks for a person, gets ``agent`` (after ``wait`` s if the agent is busy: here at once), the
        agent replies after ``reply_after`` s and resolves after ``handle`` s."""
        visitor = self.visitor(n, **attrs)
        session = self.svc.routing.request_agent(visitor)
        assert session.agent_id == agent.user_id
        self.tick(reply_after)
        self.svc.im.next_seq(agent, session.session_id)
        self.tick(handle - reply_after)
        self.svc.sessions.resolve(agent, session.session_id)
        return visitor, session

    def report(self, who: Identity = ADMIN, **query: str) -> dict[str, Any]:
        self.stream.drain()
        params = {"from": "2026-12-07", "to": "2026-12-07", "granularity": "hour", **query}
        return self.svc.reports.report(who, ReportQuery.model_validate(params))


@pytest.fixture
def world(aws: None, sender: RecordingSender, timer: RecordingTimer) -> World:
    return World(sender, timer)


@pytest.fixture
def atomic_moto() -> Iterator[None]:
    dynamodb_atomic.install()  # moto is not atomic across threads; DynamoDB is
    yield
    dynamodb_atomic.uninstall()


def hour_of(report: dict[str, Any], at: float) -> dict[str, Any]:
    start = int(at * 1000) // HOUR_MS * HOUR_MS
    (bucket,) = [b for b in report["buckets"] if b["start"] == start]
    return bucket


def test_a_served_chat_counts_in_the_hour_it_ended_in_each_of_its_scopes(world: World) -> None:
    alice = world.agent("alice")
    world.served(1, alice, category="shoes", channel="app")
    total = world.report()["total"]
    assert (total["conversations"], total["handed_off"], total["served"], total["robot_only"]) == (1, 1, 1, 0)
    assert (total["handoff_rate"], total["robot_resolution_rate"], total["abandoned"]) == (1.0, 0.0, 0)
    assert (total["wait_mean_seconds"], total["first_response_mean_seconds"], total["handle_mean_seconds"]) == (
        0.0, 12.0, 300.0)
    assert total["first_response_p90_seconds"] == 14.5  # 90% into the 10-15 s bucket
    assert (total["sla_share"], total["resolved"], total["surveys"]) == (1.0, 1, 1)
    # Ended at 09:05: the 09:00 bucket, in every scope of the chat.
    assert hour_of(world.report(), START)["conversations"] == 1
    for dimension, value in (("group", "shoes"), ("agent", "alice"), ("channel", "app"), ("category", "shoes")):
        assert world.report(**{dimension: value})["total"]["conversations"] == 1, dimension
    assert world.report(group="general")["total"]["conversations"] == 0
    assert world.report(sla_seconds="10")["total"]["sla_share"] == 0.0


def test_robot_only_chats_left_messages_and_abandoned_queues_are_told_apart(world: World) -> None:
    # No agent online: the first visitor waits in the queue, then gives up; the second leaves a message.
    waiting = world.visitor(1)
    session = world.svc.routing.request_agent(waiting)
    assert session.status == sm.WAITING
    world.tick(40)
    world.svc.sessions.end_session(waiting, session.session_id)
    leaving = world.visitor(2)
    world.svc.routing.leave_message(leaving, "please call me back", "138-0000-0000", None)
    robot_only = world.visitor(3)
    mine = world.svc.sessions.current(robot_only)
    assert mine is not None
    world.svc.sessions.end_session(robot_only, mine.session_id)
    total = world.report()["total"]
    assert (total["conversations"], total["robot_only"], total["handed_off"]) == (2, 1, 1)
    assert (total["abandoned"], total["abandonment_rate"], total["left_messages"]) == (1, 1.0, 1)
    assert total["robot_resolution_rate"] == 0.5
    assert world.report(group="general")["total"]["left_messages"] == 1


def test_a_window_given_again_is_counted_once(world: World) -> None:
    alice = world.agent("alice")
    world.served(1, alice)
    world.stream.drain()
    (event,) = world.events
    # Lambda gives a failed window again: the same records, the same shard.
    world.svc.session_stream.handle(event)
    world.svc.session_stream.handle(event)
    assert world.report()["total"]["conversations"] == 1
    # A retry after some items were written adds only the others.
    ReportStore().apply({"all|1": {"n": 1}}, event["shardId"], "0" * 40, "1".zfill(40))
    world.svc.session_stream.handle(event)
    assert world.report()["total"]["conversations"] == 1
    # The next window of the shard is new, and counted.
    world.tick(60)
    world.served(2, alice)
    assert world.report()["total"]["conversations"] == 2


def test_a_window_carried_over_several_calls_writes_once_at_its_end(world: World) -> None:
    alice = world.agent("alice")
    stream = SessionStream()
    writes: list[dict[str, Any]] = []

    class Recording(ReportStore):
        def apply(self, sums: Any, shard_id: str, first_seq: str, last_seq: str) -> Any:
            writes.append(dict(sums))
            return super().apply(sums, shard_id, first_seq, last_seq)

    from chalicelib.reports.aggregator import ReportAggregator
    stream.register("reports", ReportAggregator(Recording()))
    world.served(1, alice)
    world.served(2, alice)
    world.stream.drain()
    first, second = world.events[0]["Records"][:1], world.events[0]["Records"][1:]
    base = {k: v for k, v in world.events[0].items() if k != "Records"}
    carried = stream.handle({**base, "Records": first, "isFinalInvokeForWindow": False})
    assert writes == [] and carried["state"]
    stream.handle({**base, "Records": second, "state": carried["state"], "isFinalInvokeForWindow": True})
    assert len(writes) == 1 and writes[0]["all|" + str(int(START * 1000) // HOUR_MS)]["n"] == 2


def test_a_close_racing_a_transfer_is_counted_once_with_the_agent_that_closed_it(
        world: World, atomic_moto: None) -> None:
    alice, bob = world.agent("alice"), world.agent("bob")
    for n in range(6):
        visitor = world.visitor(n)
        session = world.svc.routing.request_agent(visitor)
        if session.agent_id != "alice":
            world.svc.sessions.resolve(bob, session.session_id)
            continue
        world.svc.im.next_seq(alice, session.session_id)
        barrier = Barrier(2)

        def close(sid: str = session.session_id, barrier: Barrier = barrier) -> str:
            barrier.wait()
            try:
                world.svc.sessions.resolve(alice, sid)
                return "closed"
            except Exception as err:
                return type(err).__name__

        def transfer(sid: str = session.session_id, barrier: Barrier = barrier) -> str:
            barrier.wait()
            try:
                world.svc.routing.transfer(alice, sid, None, to_agent="bob")
                return "transferred"
            except Exception as err:
                return type(err).__name__

        with ThreadPoolExecutor(2) as pool:
            outcomes = [f.result() for f in [pool.submit(close), pool.submit(transfer)]]
        after = Session.get(session.session_id, consistent_read=True)
        if "transferred" in outcomes:
            assert after.status == sm.ACTIVE and after.agent_id == "bob"
            world.svc.sessions.resolve(bob, session.session_id)
        else:
            assert after.status == sm.CLOSED and after.agent_id == "alice"
    stored = [Session.get(s.session_id) for s in Session.scan()]
    closed_by = {"alice": 0, "bob": 0}
    for s in stored:
        closed_by[str(s.agent_id)] += 1
    report = world.report()
    assert report["total"]["conversations"] == len(stored) == 6
    assert report["total"]["transfers"] == sum(int(s.transfers or 0) for s in stored)
    for agent_id, count in closed_by.items():
        assert world.report(agent=agent_id)["total"]["conversations"] == count


def test_a_rating_after_the_close_counts_in_the_hour_and_scopes_of_the_close(world: World) -> None:
    alice = world.agent("alice")
    visitor, session = world.served(1, alice, category="shoes")
    assert world.report()["total"]["ratings"] == 0
    world.tick(2 * 3600)  # answered two hours later
    world.svc.survey.rate(visitor, session.session_id, 4, [], None)
    report = world.report(agent="alice")
    assert hour_of(report, START)["ratings"] == 1
    total = report["total"]
    assert (total["csat_mean"], total["csat_satisfied_share"], total["csat_answer_rate"]) == (4.0, 1.0, 1.0)
    assert world.report(group="shoes")["total"]["csat_mean"] == 4.0
    assert world.report()["total"]["conversations"] == 1  # the rating added no conversation


def test_days_follow_the_time_zone_asked_for(world: World) -> None:
    alice = world.agent("alice")
    world.tick(7 * 3600)  # 16:00 UTC: 2026-12-08 00:00 in Shanghai
    world.served(1, alice)
    utc = world.report(**{"granularity": "day", "to": "2026-12-08"})
    shanghai = world.report(**{"granularity": "day", "to": "2026-12-08", "tz": "Asia/Shanghai"})
    assert [b["conversations"] for b in utc["buckets"]] == [1, 0]
    assert [b["conversations"] for b in shanghai["buckets"]] == [0, 1]


def test_a_report_reads_the_same_items_whatever_the_number_of_conversations(world: World) -> None:
    alice = world.agent("alice")
    query = ReportQuery.model_validate({"from": "2026-12-01", "to": "2026-12-31", "granularity": "day"})
    world.served(1, alice)
    world.stream.drain()
    calls = count_aws_calls()
    one = world.svc.reports.report(ADMIN, query)
    few = calls()
    for n in range(2, 6):
        world.served(n, alice)
    world.stream.drain()
    calls()
    five = world.svc.reports.report(ADMIN, query)
    assert calls() == few == 1  # one Query of one scope
    assert (one["total"]["conversations"], five["total"]["conversations"]) == (1, 5)


def test_the_agents_first_reply_is_stamped_once_in_the_write_that_takes_its_sequence_number(world: World) -> None:
    alice = world.agent("alice")
    visitor = world.visitor(1)
    session = world.svc.routing.request_agent(visitor)
    world.tick(30)
    calls = count_aws_calls()
    world.svc.im.next_seq(alice, session.session_id)
    assert calls() == 1  # the UpdateItem that takes the sequence number, nothing more
    world.tick(30)
    world.svc.im.next_seq(alice, session.session_id)
    world.svc.im.next_seq(visitor, session.session_id)
    stored = Session.get(session.session_id, consistent_read=True)
    assert int(stored.first_response_at) == int((START + 30) * 1000)
    assert int(stored.last_agent_at) == int((START + 60) * 1000)
    assert int(stored.handoff_at) == int(stored.first_assigned_at) == int(START * 1000)
