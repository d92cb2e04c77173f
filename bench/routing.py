"""Routing benchmark: what one assignment costs in AWS calls and DynamoDB capacity units with 10, 100
and 1,000 agents in the group, straight to a free agent and from the queue. In-process, on moto.

moto reports fixed capacity figures (0.5 for any GetItem or UpdateItem whatever its consistency or size,
1 for any PutItem or Query, nothing for TransactWriteItems), so the units here come from
``CapacityMeter``: DynamoDB's documented rules applied to each request and to the items it touches,
read from moto's own tables (which makes no AWS call).
"""

from __future__ import annotations

import atexit
import copy
import math
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from botocore import handlers

from local.harness import in_process_environment

# Set before chalicelib is imported: pynamodb reads table names and region when models are defined.
_STATE_DIR = tempfile.mkdtemp(prefix="cs-bench-routing-")
atexit.register(shutil.rmtree, _STATE_DIR, ignore_errors=True)
os.environ.update(in_process_environment("cs-bench", "bench", _STATE_DIR))

from moto import mock_aws  # noqa: E402
from moto.core.models import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.dynamodb.models import dynamodb_backends  # noqa: E402

from chalicelib.auth.identity import Identity  # noqa: E402
from chalicelib.config.model import LEAST_LOADED, Group, Member, QueuePolicy, RoutingConfig  # noqa: E402
from chalicelib.platform import aws as aws_clients  # noqa: E402
from chalicelib.platform import metering  # noqa: E402
from chalicelib.platform.ws import PostResult  # noqa: E402
from chalicelib.routing import queue as q  # noqa: E402
from chalicelib.routing.models import BUSY, ONLINE  # noqa: E402
from chalicelib.schedule.hours import always_open  # noqa: E402
from chalicelib.sessions import models as sm  # noqa: E402
from chalicelib.sessions.models import Session  # noqa: E402
from chalicelib.settings import get_settings  # noqa: E402
from chalicelib.tables import ALL_MODELS  # noqa: E402
from chalicelib.wiring import Services, build  # noqa: E402

SIZES = (10, 100, 1000)
CAPACITY = 5
GROUP = "general"

# -- capacity units ------------------------------------------------------------------------------------

READ_BLOCK = 4096  # one strongly consistent read unit; eventually consistent costs half
WRITE_BLOCK = 1024  # one write unit
TRANSACTION_FACTOR = 2  # prepare and commit


def number_size(text: str) -> int:
    """DynamoDB: one byte per two significant digits, plus one (leading and trailing zeros trimmed)."""
    mantissa = text.lstrip("+-").lower().split("e")[0].replace(".", "").strip("0")
    return math.ceil(max(1, len(mantissa)) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    """Size of one attribute value in DynamoDB's wire format (``{"S": "..."}``)."""
    (kind, v), = value.items()
    if kind == "S":
        return len(str(v).encode())
    if kind == "N":
        return number_size(str(v))
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(number_size(str(n)) for n in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    if kind == "L":
        return 3 + sum(1 + value_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(e) for k, e in v.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def blocks(size: int, block: int) -> int:
    """Units for ``size`` bytes: rounded up, and never less than one (a miss costs a read too)."""
    return max(1, math.ceil(size / block))


@dataclass
class _Index:
    name: str
    keys: tuple[str, ...]
    projection: str
    non_key: tuple[str, ...]

    def entry(self, item: Mapping[str, Any] | None, table_keys: tuple[str, ...]) -> dict[str, Any] | None:
        """The item as this index stores it, or None if the item is not in the (sparse) index."""
        if not item or any(k not in item for k in self.keys):
            return None
        if self.projection == "ALL":
            return dict(item)
        kept = set(self.keys) | set(table_keys) | (set(self.non_key) if self.projection == "INCLUDE" else set())
        return {k: v for k, v in item.items() if k in kept}


@dataclass
class _Table:
    keys: tuple[str, ...]
    indexes: dict[str, _Index]


@dataclass
class Units:
    read: float = 0.0
    write: float = 0.0  # table and index writes
    index_write: float = 0.0  # of ``write``: writes to global secondary indexes
    items_read: int = 0  # items read by GetItem, BatchGetItem, Query and Scan
    refused: int = 0  # writes and transactions refused by a condition (they cost capacity all the same)
    moto_reported: float = 0.0  # what moto put in ConsumedCapacity, for comparison only

    def plus(self, other: Units, sign: int = 1) -> Units:
        return Units(self.read + sign * other.read, self.write + sign * other.write,
                     self.index_write + sign * other.index_write, self.items_read + sign * other.items_read,
                     self.refused + sign * other.refused, self.moto_reported + sign * other.moto_reported)


# Outcomes that consume capacity: success, and writes refused by their condition.
_CHARGED = (None, "ConditionalCheckFailedException", "TransactionCanceledException")


class CapacityMeter:
    """Capacity units of every DynamoDB request, by DynamoDB's rules: a strongly consistent read is one
    unit per 4 KB (eventually consistent: half), a Query sums the sizes of the items it reads before
    rounding, a BatchGetItem rounds per item; a write is one unit per 1 KB of the larger of the item
    before and after it, twice that inside a transaction; a write that puts, changes or removes an
    item's entry in a global secondary index costs the index one unit per 1 KB of the entry (two when
    the index key changes), at the standard rate since indexes are updated after the transaction.

    Registered as botocore builtin handlers, so every client built afterwards is covered, pynamodb's too.
    """

    def __init__(self) -> None:
        self.units = Units()
        self._tables: dict[str, _Table] = {}

    def install(self) -> None:
        handlers.BUILTIN_HANDLERS.append(("before-parameter-build.dynamodb", self._before))
        handlers.BUILTIN_HANDLERS.append(("after-call.dynamodb", self._after))

    def snapshot(self) -> Units:
        return copy.copy(self.units)

    def reset_tables(self) -> None:
        """Forget table descriptions (a new moto backend)."""
        self._tables.clear()

    # -- moto's tables ---------------------------------------------------------------------------------

    @staticmethod
    def _backend() -> Any:
        return dynamodb_backends[DEFAULT_ACCOUNT_ID][get_settings().region]

    def _table(self, name: str) -> _Table:
        if name not in self._tables:
            table = self._backend().get_table(name)
            keys = tuple(k for k in (table.hash_key_attr, table.range_key_attr) if k)
            indexes = {i.name: _Index(i.name, tuple(k["AttributeName"] for k in i.schema),
                                      (i.projection or {}).get("ProjectionType", "ALL"),
                                      tuple((i.projection or {}).get("NonKeyAttributes", ())))
                       for i in table.global_indexes or ()}
            self._tables[name] = _Table(keys, indexes)
        return self._tables[name]

    def _item(self, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        """The whole stored item (a copy: moto changes items in place), whatever a request projects."""
        keys = self._table(table).keys
        found = self._backend().get_item(table, {k: key[k] for k in keys})
        return copy.deepcopy(found.to_json()["Attributes"]) if found is not None else None

    # -- handlers --------------------------------------------------------------------------------------

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if "ReturnConsumedCapacity" not in model.input_shape.members:
            return  # control-plane calls (CreateTable...)
        params["ReturnConsumedCapacity"] = "TOTAL"
        context["bench.params"] = params
        targets: list[tuple[str, dict[str, Any], bool]] = []  # table, key, transactional
        op = model.name
        if op in ("PutItem", "UpdateItem", "DeleteItem"):
            key = params["Item"] if op == "PutItem" else params["Key"]
            targets.append((params["TableName"], key, False))
        elif op == "TransactWriteItems":
            for action in params["TransactItems"]:
                (kind, body), = action.items()
                targets.append((body["TableName"], body["Item"] if kind == "Put" else body["Key"], True))
        elif op == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    put = request.get("PutRequest")
                    targets.append((table, put["Item"] if put else request["DeleteRequest"]["Key"], False))
        context["bench.writes"] = [(t, k, tx, self._item(t, k)) for t, k, tx in targets]

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        self.units.moto_reported += _reported(parsed.get("ConsumedCapacity"))
        params = context.get("bench.params")
        error = parsed.get("Error", {}).get("Code")
        if params is None or error not in _CHARGED:
            return
        self.units.refused += error is not None
        op = model.name
        for table, key, transactional, before in context.get("bench.writes", ()):
            self._write(table, before, self._item(table, key), transactional)
        if op == "GetItem":
            self._read([self._item(params["TableName"], params["Key"])], params.get("ConsistentRead", False),
                       summed=False)
        elif op in ("Query", "Scan"):
            table = params["TableName"]
            index = self._table(table).indexes.get(params.get("IndexName", ""))
            items = [self._item(table, found) for found in parsed.get("Items", ())]
            entries = [index.entry(i, self._table(table).keys) if index else i for i in items]
            self._read(entries, params.get("ConsistentRead", False), summed=True)
        elif op == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                self._read([self._item(table, k) for k in request["Keys"]], request.get("ConsistentRead", False),
                           summed=False)
        elif op == "TransactGetItems":
            for action in params["TransactItems"]:
                body = action["Get"]
                found = self._item(body["TableName"], body["Key"])
                self.units.read += TRANSACTION_FACTOR * blocks(item_size(found), READ_BLOCK)
                self.units.items_read += 1

    def _read(self, items: list[dict[str, Any] | None], consistent: bool, *, summed: bool) -> None:
        factor = 1.0 if consistent else 0.5
        if summed:
            self.units.read += factor * blocks(sum(item_size(i) for i in items), READ_BLOCK)
        else:
            self.units.read += sum(factor * blocks(item_size(i), READ_BLOCK) for i in items)
        self.units.items_read += sum(1 for i in items if i)

    def _write(self, table: str, before: dict[str, Any] | None, after: dict[str, Any] | None,
               transactional: bool) -> None:
        # A write whose condition fails still costs the table write (the item is unchanged).
        units = blocks(max(item_size(before), item_size(after)), WRITE_BLOCK)
        self.units.write += units * (TRANSACTION_FACTOR if transactional else 1)
        described = self._table(table)
        for index in described.indexes.values():
            old, new = index.entry(before, described.keys), index.entry(after, described.keys)
            if old is None and new is None:
                continue
            if old is None or new is None:
                cost = blocks(item_size(old or new), WRITE_BLOCK)
            elif any(old[k] != new[k] for k in index.keys):
                cost = blocks(item_size(old), WRITE_BLOCK) + blocks(item_size(new), WRITE_BLOCK)
            elif old != new:
                cost = blocks(max(item_size(old), item_size(new)), WRITE_BLOCK)
            else:
                cost = 0
            self.units.write += cost
            self.units.index_write += cost


def _reported(consumed: Any) -> float:
    if isinstance(consumed, dict):
        return float(consumed.get("CapacityUnits", 0.0))
    if isinstance(consumed, list):
        return sum(float(c.get("CapacityUnits", 0.0)) for c in consumed)
    return 0.0


# -- the scenario --------------------------------------------------------------------------------------

class FrameCounter:
    """Stands in for the @connections API: counts posts by event (each one a PostToConnection on AWS)."""

    def __init__(self) -> None:
        self.by_event: Counter[str] = Counter()

    def post(self, connection_id: str, frame: Mapping[str, Any]) -> PostResult:
        self.by_event[str(frame.get("event"))] += 1
        return PostResult.OK


class NoTimer:
    def start(self, session_id: str, sk: str, seq: int) -> None:
        raise AssertionError("routing starts no delivery timer")


def routing_config(agents: list[str]) -> RoutingConfig:
    """One always-open group of ``agents``, capacity 5 each, least loaded first."""
    group = Group(group_id=GROUP, name="General", schedule="always", allocation=LEAST_LOADED, sticky=False,
                  members=tuple(Member(a) for a in agents),
                  queue=QueuePolicy(max_waiting=1000, timeout_seconds=900, priority_tiers=frozenset({"vip"})))
    return RoutingConfig(groups={GROUP: group}, rules=(), default_group=GROUP, schedules={"always": always_open()},
                         default_capacity=CAPACITY)


def _request(visitor: Identity, svc: Services) -> Session:
    return svc.routing.request_agent(visitor)


def _end(agent: Identity, session_id: str, svc: Services) -> Session:
    return svc.sessions.end_session(agent, session_id)


@dataclass
class Tally:
    """What the measured operations cost, summed."""

    ops: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    units: Units = field(default_factory=Units)
    frames: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    setup_seconds: float = 0.0

    def per_op(self) -> dict[str, Any]:
        n = max(1, self.ops)
        return {
            "aws_calls_per_assignment": round(sum(self.calls.values()) / n, 2),
            "capacity_units_per_assignment": round((self.units.read + self.units.write) / n, 2),
            "read_units_per_assignment": round(self.units.read / n, 2),
            "write_units_per_assignment": round(self.units.write / n, 2),
            "index_write_units_per_assignment": round(self.units.index_write / n, 2),
            "items_read_per_assignment": round(self.units.items_read / n, 2),
            "refused_writes_per_assignment": round(self.units.refused / n, 2),
            "frames_per_assignment": round(sum(self.frames.values()) / n, 2),
            "frames_by_event": {k: round(v / n, 2) for k, v in sorted(self.frames.items())},
            "calls_by_operation": {k: round(v / n, 2) for k, v in sorted(self.calls.items())},
            "moto_reported_units_per_assignment": round(self.units.moto_reported / n, 2),
            "ms_per_assignment": round(self.seconds * 1000 / n, 1),
            "setup_seconds": round(self.setup_seconds, 1),
        }


class Scenario:
    def __init__(self, agents: int, meter: CapacityMeter) -> None:
        self.meter = meter
        self.sender = FrameCounter()
        self.agent_ids = [f"agent{i:04d}" for i in range(agents)]
        self.config = routing_config(self.agent_ids)
        self.svc = self.fresh()
        self._visitors = 0

    def fresh(self) -> Services:
        """Services as a new Lambda container builds them: no cached dashboard subscribers, so each
        measured call pays its own reads."""
        return build(self.sender, NoTimer(), config=lambda: self.config)

    def measure(self, tally: Tally, op: Callable[[Services], Session]) -> Session:
        svc = self.fresh()
        calls, units, frames = metering.snapshot(), self.meter.snapshot(), Counter(self.sender.by_event)
        started = time.perf_counter()
        result = op(svc)
        tally.seconds += time.perf_counter() - started
        tally.ops += 1
        tally.calls.update({k: v - calls.get(k, 0) for k, v in metering.snapshot().items() if v > calls.get(k, 0)})
        tally.units = tally.units.plus(self.meter.snapshot().plus(units, -1))
        tally.frames.update(self.sender.by_event - frames)
        return result

    def agent(self, agent_id: str) -> Identity:
        return Identity(user_id=agent_id, role="agent", name=agent_id)

    def visitor(self) -> Identity:
        self._visitors += 1
        who = Identity(user_id=f"v{self._visitors:05d}", role="visitor", name=f"Visitor {self._visitors}",
                       channel="web")
        self.svc.sessions.current_or_new(who, self.svc.presence.connect(f"c-{who.user_id}", who))
        return who

    def agents(self, agent_ids: list[str], status: str, *, connect: bool = True) -> None:
        for agent_id in agent_ids:
            who = self.agent(agent_id)
            if connect:
                self.svc.presence.connect(f"c-{agent_id}", who)
            self.svc.routing.set_agent_status(who, status)

    def direct(self, arrivals: int) -> Tally:
        """Every agent online and free, nobody waiting: each arrival goes straight to the best agent."""
        started = time.perf_counter()
        self.agents(self.agent_ids, ONLINE)
        visitors = [self.visitor() for _ in range(arrivals)]
        tally = Tally(setup_seconds=time.perf_counter() - started)
        for who in visitors:
            session = self.measure(tally, partial(_request, who))
            assert session.status == sm.ACTIVE, f"{who.user_id} was not assigned: {session.status}"
        return tally

    def from_queue(self, waiting: int) -> Tally:
        """``waiting`` visitors wait while the online agents are full; they end sessions one by one and
        each freed slot goes to the head of the queue.

        The other agents are busy: their memberships stay in the group and out of the free-agent index,
        which is all routing reads of a full agent, without filling thousands of slots first.
        """
        started = time.perf_counter()
        serving = self.agent_ids[:math.ceil(waiting / CAPACITY)]
        # Nothing is sent to a busy agent here, so its connection would only lengthen the setup.
        self.agents(self.agent_ids[len(serving):], BUSY, connect=False)
        self.agents(serving, ONLINE)
        queued = 0
        while queued < waiting:
            session = self.svc.routing.request_agent(self.visitor())
            if session.status == sm.WAITING:
                queued += 1
            else:
                assert session.status == sm.ACTIVE and session.agent_id in serving, session.status
        to_end = [s for a in serving for s in self.svc.sessions.of_agent(a)][:waiting]
        assert len(to_end) == waiting, f"{len(to_end)} sessions to end for {waiting} waiting"
        tally = Tally(setup_seconds=time.perf_counter() - started)
        for ending in to_end:
            head = q.head(GROUP)
            assert head is not None
            agent = self.agent(str(ending.agent_id))
            closed = self.measure(tally, partial(_end, agent, ending.session_id))
            assert closed.status == sm.CLOSED, closed.status
            taken = Session.get(head.session_id, consistent_read=True)
            assert taken.status == sm.ACTIVE and taken.agent_id == agent.user_id, (taken.status, taken.agent_id)
        assert q.head(GROUP) is None
        return tally


def _prepare(meter: CapacityMeter) -> None:
    get_settings.cache_clear()
    aws_clients.reset_clients()
    meter.reset_tables()
    for model in ALL_MODELS:
        model.create_table(wait=True)


_installed: list[CapacityMeter] = []


def _meter() -> CapacityMeter:
    if not _installed:
        metering.install()
        meter = CapacityMeter()
        meter.install()
        _installed.append(meter)
    return _installed[0]


def run(sizes: tuple[int, ...] = SIZES, arrivals: int = 30) -> dict[str, Any]:
    """Each path for each group size on a fresh moto (so one's setup does not slow the other's)."""
    meter = _meter()
    figures: dict[str, list[dict[str, Any]]] = {"direct": [], "from_queue": []}
    started = time.perf_counter()
    for size in sizes:
        for path, figures_of in figures.items():
            with mock_aws():
                _prepare(meter)
                scenario = Scenario(size, meter)
                tally = scenario.direct(arrivals) if path == "direct" else scenario.from_queue(arrivals)
            figures_of.append(tally.per_op())
            print(f"routing: {path}, {size} agents: setup {tally.setup_seconds:.1f} s", flush=True)

    def lists(per_size: list[dict[str, Any]]) -> dict[str, Any]:
        return {key: [f[key] for f in per_size] for key in per_size[0]}

    return {
        "agents": list(sizes),
        "arrivals": arrivals,
        "capacity": CAPACITY,
        **lists(figures["direct"]),
        "from_queue": {"waiting": arrivals, **lists(figures["from_queue"])},
        "capacity_units_method": "estimated from DynamoDB's documented rules (CapacityMeter in bench/routing.py); "
                                 "moto's own ConsumedCapacity is fixed per call and empty for transactions",
        "seconds": round(time.perf_counter() - started, 1),
    }
