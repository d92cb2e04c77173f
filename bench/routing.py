"""Routing benchmark: what one assignment costs in AWS calls and DynamoDB capacity units with 10, 100
and 1,000 agents in the group, straight to a free agent and from the queue. In-process, on moto.

Capacity units come from ``CapacityMeter`` (bench/capacity.py): DynamoDB's documented rules, since moto's own
figures are fixed per call.
"""

from __future__ import annotations

import atexit
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

from local.harness import in_process_environment

# Set before chalicelib is imported: pynamodb reads table names and region when models are defined.
_STATE_DIR = tempfile.mkdtemp(prefix="cs-bench-routing-")
atexit.register(shutil.rmtree, _STATE_DIR, ignore_errors=True)
os.environ.update(in_process_environment("cs-bench", "bench", _STATE_DIR))

from moto import mock_aws  # noqa: E402

from bench.capacity import CapacityMeter, Units  # noqa: E402
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
