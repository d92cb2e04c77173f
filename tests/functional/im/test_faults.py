"""Faults on the message path, on moto: 300 messages while 30% of deliveries fail (410s and lost posts), clients
drop and come back, and their network stalls (frames lost on a socket the server still holds) for longer than the
delivery retries. Every message must end exactly once: delivered and stored once, or reported
``send_failed`` to its sender; none lost silently, none shown twice.

The delivery state machine is played by ``Engine`` exactly as infra/statemachines/delivery.asl.json runs it
(wait, read the status, resend up to the third attempt, then give up); the clients behave as
web/static/imclient.js does (ACK every delivery, show each message once, resume and resend what is unconfirmed
after a reconnect)."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from chalicelib.auth.identity import Identity
from chalicelib.channel.errors import ImError
from chalicelib.channel.models import Connection
from chalicelib.channel.presence import CONNECTING_SECONDS
from chalicelib.im.models import MESSAGE_SK_PREFIX, Message
from chalicelib.im.schemas import MessageRef, SendFrame, parse_message_id
from chalicelib.platform.ws import PostResult
from chalicelib.routing.models import Agent
from chalicelib.settings import MAX_DELIVERY_ATTEMPTS
from chalicelib.wiring import Services, build
from tests.conftest import RecordingSender, RecordingTimer, routing_config

# 300 messages are enough to prove "each ends exactly once": every fault happens many times over (about 1,000
# posts: over 100 answered 410 and over 100 lost; over 100 reconnects, each resuming and resending; messages
# delivered on a retry and messages given up after the third attempt), and the seeds are fixed, so every run is
# this same run; the assertions below check that each fault and both ends occurred. 1,000 messages took minutes
# of moto and reached no case that 300 do not.
MESSAGES = 300
FAILURE_RATE = 0.30
DROP_RATE = 0.03  # each client, each round: its connection drops and it reconnects next round
STALL_RATE = 0.02  # each client, each round: its network stalls for STALL_ROUNDS, then it reconnects
STALL_ROUNDS = MAX_DELIVERY_ATTEMPTS + 2  # longer than the retries: what is sent to it meanwhile fails


class FlakyNetwork:
    """The @connections API with faults: of all posts, half of FAILURE_RATE answer 410 (the connection is
    really gone: its client must reconnect) and half fail with another error (the frame is lost)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.alive: set[str] = set()
        self.inbox: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.results: Counter[str] = Counter()

    def post(self, connection_id: str, frame: Mapping[str, Any]) -> PostResult:
        if connection_id not in self.alive:
            self.results["gone"] += 1
            return PostResult.GONE
        roll = self.rng.random()
        if roll < FAILURE_RATE / 2:
            self.alive.discard(connection_id)
            self.results["410"] += 1
            return PostResult.GONE
        if roll < FAILURE_RATE:
            self.results["error"] += 1
            return PostResult.ERROR
        self.inbox[connection_id].append(dict(frame))
        self.results["ok"] += 1
        return PostResult.OK


class Engine:
    """The delivery state machine, one wait at a time for every running delivery."""

    def __init__(self, svc: Services, timer: RecordingTimer) -> None:
        self.svc = svc
        self.timer = timer
        self.running: list[tuple[str, str, int]] = []
        self.taken = 0

    def wake(self) -> None:
        self.running += [(sid, sk, 1) for sid, sk, _ in self.timer.started[self.taken:]]
        self.taken = len(self.timer.started)
        still: list[tuple[str, str, int]] = []
        for session_id, sk, attempt in self.running:
            try:
                status = Message.get(session_id, sk, consistent_read=True).status
            except Message.DoesNotExist:
                continue
            if status != "pending":
                continue
            if attempt >= MAX_DELIVERY_ATTEMPTS:
                self.svc.im.fail(session_id, sk)
                continue
            still.append((session_id, sk, self.svc.im.resend(session_id, sk, attempt)))
        self.running = still


@dataclass
class Client:
    identity: Identity
    svc: Services
    net: FlakyNetwork
    session_id: str
    conn: str | None = None
    reconnects: int = 0
    unconfirmed: dict[str, SendFrame] = field(default_factory=dict)
    outcome: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    shown: Counter[str] = field(default_factory=Counter)  # message_id -> times shown (after dedup: 1)
    last_seq: int = 0
    late_acks: Counter[str] = field(default_factory=Counter)
    stalled: int = 0  # rounds left in a stall: frames to it are lost, it sends nothing
    stalls: int = 0

    def connect(self) -> None:
        self.reconnects += 1
        self.conn = f"{self.identity.user_id}-{self.reconnects}"
        self.net.alive.add(self.conn)
        presence = self.svc.presence.connect(self.conn, self.identity)
        if not self.identity.is_staff:
            self.svc.lifecycle.visitor_back(self.svc.sessions.current_or_new(self.identity, presence))
        resumed = self.svc.im.resume(self.identity, self.session_id, self.last_seq)
        for message in resumed["messages"]:
            self._receive(message)
        for frame in list(self.unconfirmed.values()):  # resent with their client ids: never stored twice
            self.svc.im.send(self.identity, self.conn, frame)

    def drop(self) -> None:
        if self.conn is not None:
            self.net.alive.discard(self.conn)
            self.svc.presence.disconnect(self.conn)
            self.conn = None
            self.stalled = 0

    def stall(self) -> None:
        self.stalled = STALL_ROUNDS
        self.stalls += 1

    def send(self, n: int) -> None:
        assert self.conn is not None
        frame = SendFrame(self.session_id, f"{self.identity.user_id}-m{n}", "text", {"text": f"message {n}"})
        self.unconfirmed[frame.client_msg_id] = frame
        self.svc.im.send(self.identity, self.conn, frame)

    def _receive(self, message: dict[str, Any]) -> None:
        if message["sender_id"] == self.identity.user_id:
            return
        if message["status"] in ("pending", "stored"):
            try:
                self.svc.im.ack(self.identity, MessageRef(message["session_id"], message["seq"]))
            except ImError as err:
                self.late_acks[err.code] += 1  # unknown_message: it failed meanwhile and its sender was told
        if self.shown[message["message_id"]] == 0:
            self.last_seq = max(self.last_seq, message["seq"])
        self.shown[message["message_id"]] += 1

    def read(self) -> None:
        if self.conn is None:
            return
        if self.stalled:
            self.net.inbox.pop(self.conn, None)  # posted to a socket the server still holds, lost on the way
            self.stalled -= 1
            if not self.stalled:  # the network is back and the client opens a new socket
                self.drop()
                self.connect()
            return
        if self.conn not in self.net.alive:  # a 410 took it: the socket closed, so reconnect
            self.svc.presence.disconnect(self.conn)
            self.connect()
        for frame in self.net.inbox.pop(self.conn, []):
            event = frame["event"]
            if event == "message":
                self._receive(frame["message"])
            elif event in ("delivered", "send_failed"):
                self.outcome[frame["client_msg_id"]].append(event)
                self.unconfirmed.pop(frame["client_msg_id"], None)


@pytest.fixture
def world(aws: None, timer: RecordingTimer) -> tuple[Services, FlakyNetwork, Engine]:
    net = FlakyNetwork(random.Random(20261124))
    svc = build(net, timer, config=lambda: routing_config())
    return svc, net, Engine(svc, timer)


def test_messages_through_failing_deliveries_and_drops_each_end_exactly_once(
        world: tuple[Services, FlakyNetwork, Engine]) -> None:
    svc, net, engine = world
    rng = random.Random(7)
    alice = Identity("alice", "agent", name="Alice")
    vera = Identity("v_vera", "visitor", name="Vera", channel="web")
    net.alive.update({"alice-0", "v_vera-0"})
    svc.presence.connect("alice-0", alice)
    svc.routing.set_agent_status(alice, "online")
    session = svc.sessions.current_or_new(vera, svc.presence.connect("v_vera-0", vera))
    assert svc.routing.request_agent(vera).agent_id == "alice"
    clients = [Client(vera, svc, net, session.session_id, conn="v_vera-0"),
               Client(alice, svc, net, session.session_id, conn="alice-0")]

    sent = 0
    for _ in range(2000):  # bounded: the exchange, then until every message has its end
        for client in clients:
            if client.conn is None:
                client.connect()
            elif not client.stalled and sent < MESSAGES and rng.random() < 0.9:
                client.send(sent)
                sent += 1
        for client in clients:
            client.read()
        engine.wake()
        for client in clients:
            roll = rng.random()
            if client.conn is None or client.stalled:
                continue
            if roll < DROP_RATE:
                client.drop()
            elif roll < DROP_RATE + STALL_RATE:
                client.stall()
        if sent == MESSAGES and not engine.running and not any(c.unconfirmed for c in clients):
            break
        if sent == MESSAGES and not engine.running:
            # Outcomes whose frame was lost: a client learns them by resending after its next reconnect.
            for client in clients:
                if client.unconfirmed:
                    client.drop()
    for client in clients:
        client.read()

    outcomes = {cmid: events for c in clients for cmid, events in c.outcome.items()}
    assert sent == MESSAGES and len(outcomes) == MESSAGES  # none lost silently
    assert not any(c.unconfirmed for c in clients)
    # Told more than once only by a resend's answer, and never both ways.
    assert all(len(set(events)) == 1 for events in outcomes.values()), \
        [e for e in outcomes.values() if len(set(e)) > 1][:3]
    delivered = {cmid for cmid, events in outcomes.items() if events[0] == "delivered"}
    failed = set(outcomes) - delivered
    stored = [m for m in Message.query(session.session_id, Message.sk.startswith(MESSAGE_SK_PREFIX),
                                       consistent_read=True)]
    by_client_id = Counter(m.client_msg_id for m in stored)
    assert set(by_client_id) == delivered and set(by_client_id.values()) == {1}  # stored once each, failures never
    assert {m.status for m in stored} == {"delivered"}
    # Each recipient showed every delivered message it was sent, once.
    for client in clients:
        received = {m.message_id for m in stored if m.recipient_id == client.identity.user_id}
        assert received <= set(client.shown)
        assert all(parse_message_id(mid).session_id == session.session_id for mid in client.shown)
    assert set().union(*(c.late_acks for c in clients)) <= {"unknown_message"}
    assert delivered and failed  # both ends happened
    assert net.results["410"] > 100 and net.results["error"] > 100  # the faults really happened
    assert sum(c.reconnects for c in clients) > 20 and all(c.stalls for c in clients)
    print(f"delivered {len(delivered)}, failed {len(failed)}, posts {dict(net.results)}, "
          f"reconnects {[c.reconnects for c in clients]}, stalls {[c.stalls for c in clients]}")


def test_a_stale_agent_connection_is_dropped_at_the_first_post_and_the_agent_goes_offline(
        aws: None, timer: RecordingTimer) -> None:
    """$disconnect never came (the socket died silently): the first post that gets a 410 cleans up."""
    net = FlakyNetwork(random.Random(1))
    svc = build(net, timer, config=lambda: routing_config())
    alice = Identity("alice", "agent", name="Alice")
    vera = Identity("v_vera", "visitor", name="Vera", channel="web")
    net.alive.update({"c-alice", "c-vera"})
    svc.presence.connect("c-alice", alice)
    svc.routing.set_agent_status(alice, "online")
    session = svc.sessions.current_or_new(vera, svc.presence.connect("c-vera", vera))
    svc.routing.request_agent(vera)
    net.alive.discard("c-alice")  # gone, with no $disconnect, well after its $connect returned
    connected_at = int(Connection.get("c-alice").connected_at)
    Connection("c-alice").update(actions=[Connection.connected_at.set(connected_at - CONNECTING_SECONDS * 1000 - 1)])
    net.rng = random.Random(0)
    svc.im.send(vera, "c-vera", SendFrame(session.session_id, "m1", "text", {"text": "hello?"}))
    assert svc.presence.connections_of("alice") == set()
    assert Agent.get("alice", consistent_read=True).status == "offline"


def test_state_machine_steps_run_twice_change_nothing_more(aws: None, timer: RecordingTimer) -> None:
    """Lambda runs a task at least once: the same delivery step twice makes no second state change."""
    sender = RecordingSender()
    svc = build(sender, timer, config=lambda: routing_config())
    alice = Identity("alice", "agent", name="Alice")
    vera = Identity("v_vera", "visitor", name="Vera", channel="web")
    svc.presence.connect("c-alice", alice)
    svc.routing.set_agent_status(alice, "online")
    session = svc.sessions.current_or_new(vera, svc.presence.connect("c-vera", vera))
    svc.routing.request_agent(vera)
    svc.im.send(vera, "c-vera", SendFrame(session.session_id, "m1", "text", {"text": "hello?"}))
    sk = f"{MESSAGE_SK_PREFIX}{1:012d}"
    assert svc.im.resend(session.session_id, sk, 1) == svc.im.resend(session.session_id, sk, 1) == 2
    assert int(Message.get(session.session_id, sk).attempts) == 2  # a repeated resend posts again, nothing more
    assert svc.im.fail(session.session_id, sk) is True
    assert svc.im.fail(session.session_id, sk) is False  # already given up: no second send_failed
    assert [f["client_msg_id"] for f in sender.frames("c-vera", "send_failed")] == ["m1"]
