"""Load benchmark: many visitors and agents chat at a human pace on the local stack, and every message is
accounted for by its ``client_msg_id``.

The run (over real sockets on 127.0.0.1, as the web widget and the console speak):

1. The local stack starts (``python -m local``, production ACK wait of 5 s) on a copy of config/ where the
   general group is served by the demo agents ``load01``..``loadNN`` only, each with ``CAPACITY`` slots.
2. The agents sign in (``POST /api/auth/login``) and connect; the visitors get tokens, connect, send ``hello``
   and ``request_agent``, and wait until an agent is assigned (a visitor may be queued while agents come
   online).
3. For ``seconds`` seconds each visitor sends a text at a human pace (its first within the first mean gap, so
   arrivals are spread, then one every ``VISITOR_GAP_SECONDS``, uniformly drawn), and its agent answers each
   visitor message after ``AGENT_REPLY_SECONDS`` of reading and typing. Every ``message`` is ACKed at once by
   its recipient. Nothing is sent after the deadline, and each visitor sends at most ``max_messages``.
4. The run waits (at most ``DRAIN_SECONDS``) until every message sent has its outcome (``delivered`` or
   ``send_failed``), then reads the stack's counters and every session's history, and closes everything.

Every message is followed by its ``client_msg_id``: sent, received by the recipient (and how often),
``delivered``, ``send_failed``, ``stored``, found in the session's history; lost = sent - delivered - failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.relay import agent_names, percentile
from local.harness import Stack, agent_token, run_stack, visitor_token

VISITORS = 200
AGENTS = 40
SECONDS = 60.0
CAPACITY = 5  # sessions per agent: 200 visitors on 40 agents
ACK_WAIT_SECONDS = 5  # production's wait before a delivery is retried
# Human pace: a visitor types a line every 10 to 30 s (mean 20 s); an agent reads it and answers in 2 to 6 s.
VISITOR_GAP_SECONDS = (10.0, 30.0)
AGENT_REPLY_SECONDS = (2.0, 6.0)
# After the deadline: three unACKed attempts take 3 x ACK_WAIT_SECONDS before send_failed; then a margin.
DRAIN_SECONDS = 3 * ACK_WAIT_SECONDS + 30.0
SETUP_SECONDS = 300.0  # every client connected and every visitor assigned, or the run goes on without the rest
CONNECT_CONCURRENCY = 10  # clients signing in and connecting at the same time
REQUEST_TIMEOUT_SECONDS = 60.0
SEED = 20261124

VISITOR_TEXTS = (
    "Hi, my order has not arrived yet. Can you check it?",
    "How long does delivery take within mainland China?",
    "Can I return these shoes if they do not fit?",
    "How long does a refund take?",
    "Can I change the delivery address of my order?",
    "Do you accept Alipay?",
    "The parcel tracking has not moved for three days.",
    "Thanks, and is there a warranty on this phone?",
)
AGENT_TEXTS = (
    "Let me check that for you, one moment please.",
    "I have found your order; it left our warehouse yesterday.",
    "Yes, returns are free within 7 days of delivery.",
    "The refund reaches your account within 3 to 5 working days.",
    "I have updated it for you. Anything else I can help with?",
)


# -- pure logic ------------------------------------------------------------------------------------------

def max_messages(seconds: float, gap: tuple[float, float] = VISITOR_GAP_SECONDS) -> int:
    """The most messages one visitor's schedule can hold in ``seconds``: the bound on each client."""
    return math.floor(seconds / gap[0]) + 1


def visitor_schedule(rng: random.Random, seconds: float, gap: tuple[float, float] = VISITOR_GAP_SECONDS,
                     limit: int | None = None) -> list[float]:
    """When one visitor sends, in seconds from the start: the first message within the first mean gap (so
    arrivals are spread over it), then gaps drawn uniformly from ``gap``; all before ``seconds``, at most
    ``limit`` (default ``max_messages``)."""
    low, high = gap
    if not 0 < low <= high:
        raise ValueError(f"gap must be 0 < low <= high, got {gap}")
    limit = max_messages(seconds, gap) if limit is None else limit
    at = rng.uniform(0.0, (low + high) / 2)
    offsets: list[float] = []
    while at < seconds and len(offsets) < limit:
        offsets.append(at)
        at += rng.uniform(low, high)
    return offsets


def config_edit(agents: list[str], visitors: int, capacity: int = CAPACITY) -> Callable[[dict[str, Any]], None]:
    """Edits config/ for the run: the general group (always open, the default route) is served by ``agents``
    only, each with ``capacity`` slots, and its queue holds every visitor."""

    def edit(documents: dict[str, Any]) -> None:
        pool = documents["groups"]["agents"]
        pool["max_capacity"] = max(int(pool.get("max_capacity", 20)), capacity)
        pool["default_capacity"] = capacity
        pool["capacity"] = {name: capacity for name in agents}
        general = next(g for g in documents["groups"]["groups"] if g["id"] == documents["routing"]["default_group"])
        general["hours"] = "always"
        general["members"] = list(agents)
        general.pop("overflow", None)
        general["queue"] = {**general.get("queue", {}), "max_waiting": max(visitors, 1),
                            "timeout_seconds": max(int(general.get("queue", {}).get("timeout_seconds", 0)), 3600)}
        # Every visitor goes to the default group.
        documents["routing"]["rules"] = []

    return edit


def latency_summary(values_s: list[float]) -> dict[str, float | int]:
    """p50, p95, p99 and max in milliseconds of latencies given in seconds."""
    ms = [v * 1000 for v in values_s]
    return {"count": len(ms), "p50": round(percentile(ms, 0.50), 1), "p95": round(percentile(ms, 0.95), 1),
            "p99": round(percentile(ms, 0.99), 1), "max": round(max(ms), 1) if ms else 0.0}


@dataclass
class Record:
    """One message, followed by its ``client_msg_id``; times from ``time.perf_counter()``."""

    client_msg_id: str
    sender: str  # "visitor" or "agent"
    session_id: str
    sent_at: float
    received_at: float | None = None  # the recipient's first copy
    receipts: int = 0  # copies the recipient got (a retry crossing an ACK, a resume)
    received_ids: set[str] = field(default_factory=set)  # distinct message_ids the recipient was shown
    delivered_at: float | None = None
    delivered_frames: int = 0
    delivered_id: str | None = None
    failed_at: float | None = None
    stored_at: float | None = None


class Ledger:
    """Every message of the run by ``client_msg_id``, and what each party saw of it."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.unknown_receipts = 0  # message frames that match no message sent here (e.g. the robot's)
        self.unknown_outcomes = 0  # delivered/send_failed/stored for a client_msg_id not sent here

    def sent(self, client_msg_id: str, sender: str, session_id: str, at: float) -> None:
        self.records[client_msg_id] = Record(client_msg_id, sender, session_id, at)

    def unsent(self, client_msg_id: str) -> None:
        """The frame never left (the socket failed): not a message of the run."""
        self.records.pop(client_msg_id, None)

    def received(self, client_msg_id: str | None, message_id: str, at: float) -> bool:
        """The recipient got a copy; True if it is the first copy of this message shown to it."""
        record = self.records.get(client_msg_id or "")
        if record is None:
            self.unknown_receipts += 1
            return False
        record.receipts += 1
        first = message_id not in record.received_ids
        record.received_ids.add(message_id)
        if record.received_at is None:
            record.received_at = at
        return first

    def _outcome(self, client_msg_id: str) -> Record | None:
        record = self.records.get(client_msg_id)
        if record is None:
            self.unknown_outcomes += 1
        return record

    def delivered(self, client_msg_id: str, message_id: str, at: float) -> None:
        record = self._outcome(client_msg_id)
        if record is not None:
            record.delivered_frames += 1
            record.delivered_id = record.delivered_id or message_id
            if record.delivered_at is None:
                record.delivered_at = at

    def failed(self, client_msg_id: str, at: float) -> None:
        record = self._outcome(client_msg_id)
        if record is not None and record.failed_at is None:
            record.failed_at = at

    def stored(self, client_msg_id: str, at: float) -> None:
        record = self._outcome(client_msg_id)
        if record is not None and record.stored_at is None:
            record.stored_at = at

    def outstanding(self) -> int:
        """Messages with no outcome yet."""
        return sum(1 for r in self.records.values() if r.delivered_at is None and r.failed_at is None)

    def summary(self, history: Mapping[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
        """The accounting. ``history``: each session's stored messages (``GET /sessions/{id}/messages``), if
        read, to check that every delivered message is stored exactly once and no failed one is."""
        records = list(self.records.values())
        delivered = [r for r in records if r.delivered_at is not None]
        failed = [r for r in records if r.failed_at is not None]
        out: dict[str, Any] = {
            "sent": len(records),
            "delivered": len(delivered),
            "failed": len(failed),
            "stored": sum(1 for r in records if r.stored_at is not None),
            "lost": sum(1 for r in records if r.delivered_at is None and r.failed_at is None),
            "delivered_and_failed": sum(1 for r in records if r.delivered_at is not None and r.failed_at is not None),
            "delivered_not_received": sum(1 for r in delivered if r.received_at is None),
            "failed_but_received": sum(1 for r in failed if r.received_at is not None),
            "delivered_id_mismatch": sum(1 for r in delivered if r.delivered_id not in r.received_ids
                                         and r.received_ids),
            "repeated_delivered_frames": sum(max(0, r.delivered_frames - 1) for r in records),
            "unknown_receipts": self.unknown_receipts,
            "unknown_outcomes": self.unknown_outcomes,
            # Copies beyond the first (ACK every copy, show once by message_id) ...
            "duplicates_raw": sum(max(0, r.receipts - 1) for r in records),
            # ... and what a client that dedupes by message_id still shows twice: one message, two ids.
            "duplicates_after_dedup": sum(max(0, len(r.received_ids) - 1) for r in records),
            "by_sender": {
                sender: {"sent": sum(1 for r in records if r.sender == sender),
                         "delivered": sum(1 for r in delivered if r.sender == sender),
                         "failed": sum(1 for r in failed if r.sender == sender)}
                for sender in ("visitor", "agent")
            },
            "latency_ms": {
                "send_to_received": latency_summary([r.received_at - r.sent_at for r in records
                                                     if r.received_at is not None]),
                "send_to_delivered": latency_summary([r.delivered_at - r.sent_at for r in delivered
                                                      if r.delivered_at is not None]),
            },
        }
        if history is not None:
            counts: Counter[tuple[str, str]] = Counter()
            for session_id, messages in history.items():
                for message in messages:
                    counts[(session_id, str(message.get("client_msg_id")))] += 1
            found = [counts[(r.session_id, r.client_msg_id)] for r in records]
            out["history"] = {
                "sessions_read": len(history),
                "messages_stored": sum(1 for n in found if n),
                "delivered_missing": sum(1 for r, n in zip(records, found, strict=True)
                                         if r.delivered_at is not None and n == 0),
                "failed_stored": sum(1 for r, n in zip(records, found, strict=True)
                                     if r.failed_at is not None and n > 0),
                "stored_twice": sum(1 for n in found if n > 1),
            }
        return out


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time a process has used (Linux ``/proc``), or None where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # utime and stime are fields 14 and 15 of stat(5); here counted after the command's closing parenthesis.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def delta(after: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, float]:
    """Numeric counters that moved between two ``/_local/stats`` read-outs."""
    return {k: v - before.get(k, 0) for k, v in sorted(after.items())
            if isinstance(v, int | float) and v != before.get(k, 0)}


# -- the clients -----------------------------------------------------------------------------------------

@dataclass
class Problems:
    """What went wrong on the clients' side, across all clients."""

    error_codes: Counter[str] = field(default_factory=Counter)  # error frames, by "code" (and action)
    error_examples: list[dict[str, Any]] = field(default_factory=list)
    connection_errors: Counter[str] = field(default_factory=Counter)
    frames: Counter[str] = field(default_factory=Counter)  # every frame received, by event

    def error(self, frame: dict[str, Any]) -> None:
        code = str(frame.get("code") or "internal_server_error")
        self.error_codes[f"{code} ({frame.get('action', '?')})"] += 1
        if len(self.error_examples) < 5:
            self.error_examples.append(frame)


class Client:
    """One visitor's or agent's socket: it ACKs every ``message`` at once and feeds the ledger."""

    def __init__(self, name: str, role: str, ws: aiohttp.ClientWebSocketResponse, ledger: Ledger,
                 problems: Problems) -> None:
        self.name = name
        self.role = role
        self.ws = ws
        self.ledger = ledger
        self.problems = problems
        self.session_id: str | None = None  # a visitor's session
        self.agent_id: str | None = None  # a visitor's agent, once assigned
        self.queued = False  # a visitor that was queued before it was assigned
        self.assigned = asyncio.Event()
        self.welcome: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.on_message: Callable[[Client, dict[str, Any]], None] | None = None
        self.sent = 0
        self.closing = False
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                at = time.perf_counter()
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    self.problems.error({"code": "not_json", "message": str(msg.data)[:200]})
                    continue
                await self._frame(frame if isinstance(frame, dict) else {"value": frame}, at)
        except (aiohttp.ClientError, ConnectionError) as err:
            self.problems.connection_errors[f"read: {type(err).__name__}"] += 1
        if not self.closing:
            self.problems.connection_errors[f"closed by the server ({self.ws.close_code})"] += 1

    async def _frame(self, frame: dict[str, Any], at: float) -> None:
        event = str(frame.get("event", "none"))
        self.problems.frames[event] += 1
        if event == "message":
            message = frame["message"]
            # ACK every copy first, as the protocol asks; then show it once.
            await self.send({"action": "ack", "message_id": message["message_id"]})
            first = self.ledger.received(message.get("client_msg_id"), message["message_id"], at)
            if first and self.on_message is not None:
                self.on_message(self, message)
        elif event == "delivered":
            self.ledger.delivered(frame["client_msg_id"], frame["message_id"], at)
        elif event == "send_failed":
            self.ledger.failed(frame["client_msg_id"], at)
        elif event == "stored":
            self.ledger.stored(frame["client_msg_id"], at)
        elif event == "welcome":
            if not self.welcome.done():
                self.welcome.set_result(frame)
        elif event == "session" and self.role == "visitor":
            session = frame["session"]
            if session["status"] == "waiting":
                self.queued = True
            elif session["status"] == "active":
                self.session_id, self.agent_id = session["session_id"], session["agent_id"]
                self.assigned.set()
        elif event == "error" or "event" not in frame:
            self.problems.error(frame)

    async def send(self, frame: dict[str, Any]) -> bool:
        try:
            await self.ws.send_str(json.dumps(frame))
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as err:
            self.problems.connection_errors[f"send: {type(err).__name__}"] += 1
            return False
        return True

    async def text(self, session_id: str, text: str) -> None:
        client_msg_id = f"{self.name}-{uuid.uuid4().hex[:16]}"
        self.ledger.sent(client_msg_id, self.role, session_id, time.perf_counter())
        if await self.send({"action": "send", "session_id": session_id, "client_msg_id": client_msg_id,
                            "type": "text", "content": {"text": text}}):
            self.sent += 1
        else:
            self.ledger.unsent(client_msg_id)

    async def close(self) -> None:
        self.closing = True
        with contextlib.suppress(Exception):
            await self.ws.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, 10)


# -- the run ---------------------------------------------------------------------------------------------

async def _stats(http: aiohttp.ClientSession, stack: Stack) -> dict[str, Any]:
    async with http.get(f"{stack.base}/_local/stats") as r:
        found: dict[str, Any] = await r.json()
        return found


async def _history(http: aiohttp.ClientSession, stack: Stack, token: str, session_id: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        async with http.get(f"{stack.base}/api/sessions/{session_id}/messages",
                            params={"after_seq": str(after), "limit": "100"},
                            headers={"Authorization": f"Bearer {token}"}) as r:
            if r.status != 200:
                raise RuntimeError(f"history of {session_id}: HTTP {r.status} {await r.text()}")
            page = await r.json()
        messages.extend(page["messages"])
        after = page.get("next_after_seq")
    return messages


class _Run:
    def __init__(self, stack: Stack, http: aiohttp.ClientSession, visitors: int, agents: int, seconds: float,
                 rng: random.Random) -> None:
        self.stack, self.http, self.rng = stack, http, rng
        self.visitor_count, self.agent_names, self.seconds = visitors, agent_names(agents), seconds
        self.ledger = Ledger()
        self.problems = Problems()
        self.agents: list[Client] = []
        self.visitors: list[Client] = []
        self.visitor_tokens: dict[str, str] = {}
        self.limit = max_messages(seconds)
        self.deadline = math.inf
        self.replies: Counter[str] = Counter()  # agent replies per session
        self.reply_tasks: set[asyncio.Task[None]] = set()
        self.gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def _open(self, name: str, role: str, token: str) -> Client | None:
        try:
            ws = await self.http.ws_connect(f"{self.stack.ws_url}?token={token}", max_msg_size=1 << 20,
                                            timeout=aiohttp.ClientWSTimeout(ws_close=10))
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            self.problems.connection_errors[f"connect: {type(err).__name__}"] += 1
            return None
        client = Client(name, role, ws, self.ledger, self.problems)
        try:
            await client.send({"action": "hello"})
            await asyncio.wait_for(client.welcome, REQUEST_TIMEOUT_SECONDS)
        except TimeoutError:
            self.problems.connection_errors["no welcome"] += 1
        return client

    async def _agent(self, name: str) -> None:
        async with self.gate:
            client = await self._open(name, "agent", await agent_token(self.http, self.stack.base, name))
        if client is not None:
            client.on_message = self._answer
            self.agents.append(client)

    async def _visitor(self, index: int, until: float) -> None:
        name = f"v{index:03d}"
        async with self.gate:
            token = await visitor_token(self.http, self.stack.base, f"Load visitor {index}")
            client = await self._open(name, "visitor", token)
            if client is None:
                return
            self.visitors.append(client)
            self.visitor_tokens[name] = token
            await client.send({"action": "request_agent"})
        # Queued visitors wait outside the gate: agents free no slots here, but late agents come online.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(client.assigned.wait(), max(0.0, until - time.monotonic()))

    def _answer(self, agent: Client, message: dict[str, Any]) -> None:
        """An agent answers each visitor message it is shown, after reading and typing, before the deadline."""
        if message.get("sender_role") != "visitor":
            return
        session_id = str(message["session_id"])
        delay = self.rng.uniform(*AGENT_REPLY_SECONDS)
        if time.perf_counter() + delay >= self.deadline or self.replies[session_id] >= self.limit:
            return
        self.replies[session_id] += 1

        async def reply() -> None:
            await asyncio.sleep(delay)
            if time.perf_counter() < self.deadline:
                await agent.text(session_id, self.rng.choice(AGENT_TEXTS))

        task = asyncio.create_task(reply())
        self.reply_tasks.add(task)
        task.add_done_callback(self.reply_tasks.discard)

    async def _talk(self, visitor: Client, start: float, offsets: list[float]) -> None:
        assert visitor.session_id is not None
        for offset in offsets:
            await asyncio.sleep(max(0.0, start + offset - time.perf_counter()))
            if time.perf_counter() >= self.deadline:
                return
            await visitor.text(visitor.session_id, self.rng.choice(VISITOR_TEXTS))

    async def run(self) -> dict[str, Any]:
        load_before = os.getloadavg()
        setup_started = time.monotonic()
        until = setup_started + SETUP_SECONDS
        await asyncio.gather(*(self._agent(name) for name in self.agent_names))
        agents_seconds = time.monotonic() - setup_started
        await asyncio.gather(*(self._visitor(i, until) for i in range(1, self.visitor_count + 1)))
        setup_seconds = time.monotonic() - setup_started
        assigned = [v for v in self.visitors if v.assigned.is_set()]
        per_agent = Counter(v.agent_id for v in assigned)
        before = await _stats(self.http, self.stack)
        stack_cpu_before, client_cpu_before = cpu_seconds(self.stack.process.pid), time.process_time()

        start = time.perf_counter()
        self.deadline = start + self.seconds
        schedules = {v.name: visitor_schedule(self.rng, self.seconds, limit=self.limit) for v in assigned}
        await asyncio.gather(*(self._talk(v, start, schedules[v.name]) for v in assigned))
        await asyncio.sleep(max(0.0, self.deadline - time.perf_counter()))
        for task in list(self.reply_tasks):
            task.cancel()
        load_during = os.getloadavg()
        traffic_end = time.perf_counter()
        stack_cpu_after, client_cpu_after = cpu_seconds(self.stack.process.pid), time.process_time()
        drain_until = traffic_end + DRAIN_SECONDS
        while self.ledger.outstanding() and time.perf_counter() < drain_until:
            await asyncio.sleep(0.25)
        drain_seconds = time.perf_counter() - traffic_end
        # The last delivery timers read after their wait: let them, so every message's calls are counted.
        await asyncio.sleep(ACK_WAIT_SECONDS + 1.5)
        after = await _stats(self.http, self.stack)
        history = {}
        for visitor in assigned:
            assert visitor.session_id is not None
            history[visitor.session_id] = await _history(self.http, self.stack, self.visitor_tokens[visitor.name],
                                                         visitor.session_id)
        for client in self.visitors + self.agents:
            await client.close()

        summary = self.ledger.summary(history)
        delivered_times = [r.delivered_at for r in self.ledger.records.values() if r.delivered_at is not None]
        last_delivered = max(delivered_times, default=start)
        calls = {k: int(v) for k, v in delta(after["aws_calls"], before["aws_calls"]).items()}
        sent = max(summary["sent"], 1)
        sfn = delta(after["stepfunctions"], before["stepfunctions"])
        handlers = {route: {"invocations": h["invocations"] - before["handlers"].get(route, {}).get("invocations", 0),
                            "ms": round(h["ms"] - before["handlers"].get(route, {}).get("ms", 0.0), 1)}
                    for route, h in sorted(after["handlers"].items())
                    if h["invocations"] != before["handlers"].get(route, {}).get("invocations", 0)}
        traffic_seconds = traffic_end - start
        stack_cpu = (None if stack_cpu_before is None or stack_cpu_after is None
                     else round((stack_cpu_after - stack_cpu_before) / traffic_seconds, 2))
        log_problems = [line.rstrip() for line in self.stack.output
                        if "Traceback" in line or " ERROR " in line or "Error:" in line]
        return {
            "visitors": self.visitor_count,
            "agents": len(self.agent_names),
            "capacity": CAPACITY,
            "seconds": self.seconds,
            "ack_wait_seconds": ACK_WAIT_SECONDS,
            "pace": {"visitor_gap_seconds": list(VISITOR_GAP_SECONDS),
                     "agent_reply_seconds": list(AGENT_REPLY_SECONDS),
                     "max_messages_per_visitor": self.limit, "drain_seconds_max": DRAIN_SECONDS},
            "setup": {
                "seconds": round(setup_seconds, 1),
                "agents_seconds": round(agents_seconds, 1),
                "agents_connected": len(self.agents),
                "visitors_connected": len(self.visitors),
                "visitors_assigned": len(assigned),
                "visitors_queued_first": sum(1 for v in assigned if v.queued),
                "visitors_unassigned": self.visitor_count - len(assigned),
                "max_sessions_per_agent": max(per_agent.values(), default=0),
                "agents_over_capacity": sum(1 for n in per_agent.values() if n > CAPACITY),
            },
            "messages": {k: v for k, v in summary.items() if k != "latency_ms"},
            "latency_ms": summary["latency_ms"],
            "rate": {
                "offered_msgs_per_s": round(summary["sent"] / self.seconds, 1),
                "delivered_msgs_per_s": round(summary["delivered"] / max(last_delivered - start, 1e-9), 1),
                "last_delivered_after_seconds": round(last_delivered - start, 1),
            },
            "drain_seconds": round(drain_seconds, 1),
            "errors": dict(sorted(self.problems.error_codes.items())),
            "error_examples": self.problems.error_examples,
            "connection_errors": dict(sorted(self.problems.connection_errors.items())),
            "frames_received": dict(sorted(self.problems.frames.items())),
            "aws_calls": calls,
            "aws_calls_per_message": {k: round(v / sent, 2) for k, v in calls.items()},
            "aws_calls_per_message_total": round(sum(calls.values()) / sent, 2),
            "stepfunctions": {"executions": int(sfn.get("executions", 0)),
                              "executions_per_message": round(sfn.get("executions", 0) / sent, 2),
                              "lambda_tasks": int(sfn.get("lambda_tasks", 0)),
                              "standard_executions": int(after["stepfunctions"].get("standard_executions", 0)),
                              "running_after": int(after["stepfunctions"].get("running", 0))},
            "gateway": {k: int(v) for k, v in delta(after["gateway"], before["gateway"]).items()},
            "handlers": handlers,
            # CPU seconds per second of traffic: the stack's process (one Python process, so about 1.0 at most
            # while the GIL is the limit) and this benchmark's clients.
            "cpu_cores_used": {"stack": stack_cpu,
                               "clients": round((client_cpu_after - client_cpu_before) / traffic_seconds, 2)},
            "stack_log_problems": {"lines": len(log_problems), "first": log_problems[:5]},
            "load_average": {"before": [round(x, 2) for x in load_before],
                             "end_of_traffic": [round(x, 2) for x in load_during],
                             "after": [round(x, 2) for x in os.getloadavg()]},
        }


async def _main(stack: Stack, visitors: int, agents: int, seconds: float, seed: int) -> dict[str, Any]:
    # No per-host limit on connections: every client keeps its socket open.
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        return await _Run(stack, http, visitors, agents, seconds, random.Random(seed)).run()


def run(state_dir: Path, visitors: int = VISITORS, agents: int = AGENTS, seconds: float = SECONDS,
        seed: int = SEED) -> dict[str, Any]:
    if agents * CAPACITY < visitors:
        raise ValueError(f"{agents} agents x {CAPACITY} slots cannot serve {visitors} visitors at once")
    started = time.monotonic()
    edit = config_edit(agent_names(agents), visitors)
    with run_stack(state_dir, ack_wait_seconds=ACK_WAIT_SECONDS, config_edit=edit) as stack:
        result = asyncio.run(_main(stack, visitors, agents, seconds, seed))
    result["run_seconds"] = round(time.monotonic() - started, 1)
    result["seed"] = seed
    return result


# -- the doc table ---------------------------------------------------------------------------------------

def table(r: dict[str, Any]) -> str:
    m, lat, rate, setup = r["messages"], r["latency_ms"], r["rate"], r["setup"]
    recv, dlv = lat["send_to_received"], lat["send_to_delivered"]
    history = m.get("history", {})
    errors = ", ".join(f"`{k}` {v}" for k, v in r["errors"].items()) or "none"
    conn_errors = ", ".join(f"{k}: {v}" for k, v in r["connection_errors"].items()) or "none"
    load = r["load_average"]
    rows = [
        f"{r['visitors']} visitors and {r['agents']} agents ({r['capacity']} sessions each) for {r['seconds']:g} s; "
        f"a visitor writes every {r['pace']['visitor_gap_seconds'][0]:g} to {r['pace']['visitor_gap_seconds'][1]:g} s, "
        f"its agent answers each message after {r['pace']['agent_reply_seconds'][0]:g} to "
        f"{r['pace']['agent_reply_seconds'][1]:g} s; ACK wait {r['ack_wait_seconds']} s.",
        "",
        "| | visitor -> agent | agent -> visitor | all |",
        "|---|---|---|---|",
        f"| sent | {m['by_sender']['visitor']['sent']} | {m['by_sender']['agent']['sent']} | **{m['sent']}** |",
        f"| delivered (the sender got `delivered`) | {m['by_sender']['visitor']['delivered']} | "
        f"{m['by_sender']['agent']['delivered']} | **{m['delivered']}** |",
        f"| failed (`send_failed`) | {m['by_sender']['visitor']['failed']} | {m['by_sender']['agent']['failed']} | "
        f"**{m['failed']}** |",
        f"| **lost** (sent - delivered - failed) | | | **{m['lost']}** |",
        "",
        "| figure | value |",
        "|---|---|",
        f"| setup: agents connected, visitors assigned (queued first) | {setup['agents_connected']}, "
        f"{setup['visitors_assigned']} of {r['visitors']} ({setup['visitors_queued_first']}), "
        f"in {setup['seconds']} s |",
        f"| most sessions on one agent (capacity {r['capacity']}) | {setup['max_sessions_per_agent']} |",
        f"| `stored` (recipient offline) | {m['stored']} |",
        f"| duplicates received: raw copies / shown twice after dedup by `message_id` | {m['duplicates_raw']} / "
        f"{m['duplicates_after_dedup']} |",
        f"| in history: delivered and stored / delivered missing / failed but stored / stored twice | "
        f"{history.get('messages_stored', '-')} / {history.get('delivered_missing', '-')} / "
        f"{history.get('failed_stored', '-')} / {history.get('stored_twice', '-')} |",
        f"| failed although the recipient was shown it | {m['failed_but_received']} |",
        f"| send -> recipient receives, p50 / p95 / p99 / max (ms) | {recv['p50']} / {recv['p95']} / {recv['p99']} / "
        f"{recv['max']} |",
        f"| send -> `delivered`, p50 / p95 / p99 / max (ms) | {dlv['p50']} / {dlv['p95']} / {dlv['p99']} / "
        f"{dlv['max']} |",
        f"| messages per second: offered / delivered | {rate['offered_msgs_per_s']} / {rate['delivered_msgs_per_s']} |",
        f"| drain after the deadline (s) | {r['drain_seconds']} |",
        f"| error frames by code (action) | {errors} |",
        f"| connection errors | {conn_errors} |",
        f"| AWS calls per message | {r['aws_calls_per_message_total']} |",
        f"| Step Functions delivery executions (per message) | {r['stepfunctions']['executions']} "
        f"({r['stepfunctions']['executions_per_message']}) |",
        f"| stack log lines with errors | {r['stack_log_problems']['lines']} |",
        f"| CPU cores in use during the traffic: the stack's process / the benchmark's clients | "
        f"{r['cpu_cores_used']['stack']} / {r['cpu_cores_used']['clients']} |",
        "",
        f"Load average (1, 5, 15 min) before the run {', '.join(map(str, load['before']))}, at the end of the traffic "
        f"{', '.join(map(str, load['end_of_traffic']))}; run of {r.get('run_seconds', '-')} s in all "
        f"({r['date']}, {r['machine']['cpus']} CPUs).",
    ]
    return "\n".join(rows)
