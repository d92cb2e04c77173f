"""Peak capacity model: what each kind of event costs, measured on the local stack, projected onto a peak
profile and set against the AWS limits that would bind (``python -m bench --only peak``; writes
``bench/results/peak.json`` and ``docs/capacity.md``).

1. **Measure.** The metered local stack (``bench/metered.py``: the queue tick off, configuration cached as on
   AWS) runs each kind of event on its own, over real sockets, a few times: chat start, robot turn, arrival
   straight to an agent and into a queue, chat message and its ACK, close (resolve and survey), leaving,
   reconnect, resolves that free a slot with 0, 1, 50 and 5,000 waiting, and one tick. Each event's window
   opens and closes on a quiet stack: no handler running, no Express execution running (a message's window
   waits for its delivery execution's read), no AWS call for a moment. What a window holds is that event's:
   AWS calls by operation, DynamoDB read and write units by partition (table or index, and key value), frames
   in, ``@connections`` posts, REST requests and new connections, Step Functions starts (by state machine and
   type), transitions and Lambda tasks, handler milliseconds by route, and FAQ search queries. Kinds not
   measured directly are differences: an assignment from the queue is (resolve with 1 waiting) - (resolve with
   none), a queue move is (resolve with 5,000 waiting) - (resolve with 1).
2. **Attribute.** Each partition key is given a role (``role_of``): the event's group's counters (every shard),
   queue partition, memberships and free-agents index; a session item, an agent item, presence items...;
   keys it cannot place are reported as ``other`` as they are. A role's units are kept per concrete key, so a
   role of several keys (a group's counters and their shards) is judged by its most loaded key.
3. **Project.** Each kind's rate at the profile (``rates``). A key many events share (a group's, the dashboard
   item, a FAQ) takes the sum over kinds of rate x units per event on it, at the hot group's rate for the hot
   group's keys, and the most loaded key of the role counts; a session's or agent's own items take the event's
   units on all of them at the per-session or per-agent rate. Then each limit: demand, limit, headroom (limit /
   demand), and the same once the adjustable limits are raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from bench.metered import ROUTE_FUNCTIONS, action, memory_mb, metered_stack, stats
from local.harness import ROOT, Peer, Stack, agent_token, connect, in_process_environment, visitor_token

DOC = ROOT / "docs" / "capacity.md"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
TEMPLATE = ROOT / "infra" / "template.json"
SEARCH_BEGIN, SEARCH_END = "<!-- search:begin -->", "<!-- search:end -->"
QUOTAS_BEGIN, QUOTAS_END = "<!-- quota-increases:begin -->", "<!-- quota-increases:end -->"


# -- the profile -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Profile:
    """The peak the platform is sized for (a shopping festival's evening)."""

    concurrent_chats: int = 50_000
    messages_per_s: float = 3_000.0  # chat messages between visitors and agents, half each way
    requests_per_s: float = 300.0  # visitors asking for a person
    hot_group_share: float = 0.4  # of them, to one group
    hot_group_stress_per_s: float = 300.0  # and what one group must hold when every visitor asks it (overflow)
    agents: int = 5_000
    groups: int = 10
    hot_group_waiting: int = 5_000
    robot_questions_per_minute: float = 20_000.0
    reconnect_share_per_minute: float = 0.10  # of connections reconnecting within one minute
    connection_max_seconds: float = 7_200.0  # API Gateway closes every connection after 2 hours
    agent_capacity: int = 5  # chats an agent serves at once (config/groups.json default_capacity)
    tick_seconds: float = 60.0  # the queue tick's schedule (EventBridge, rate(1 minute))
    config_max_age_seconds: float = 60.0  # each Lambda container reads the configuration this often


# -- event kinds and their rates ---------------------------------------------------------------------------

KINDS: dict[str, str] = {
    "connect": "chat start: a token (REST), the socket's `$connect`, `hello` (a new session)",
    "robot_turn": "robot turn: a visitor's question and the robot's answer",
    "arrival_direct": "arrival (`request_agent`) assigned at once to a free agent",
    "arrival_queued": "arrival (`request_agent`) queued behind others",
    "chat_message": "chat message: `send`, its post to the recipient and its delivery execution",
    "ack": "ACK of a chat message and `delivered` to its sender",
    "assignment_from_queue": "assignment from a queue: the head taken when a slot frees (resolve with 1 waiting "
                             "- resolve with none)",
    "queue_move": "queue move: what the rest of the queue adds to that (resolve with the profile's queue waiting - "
                  "with 1)",
    "close": "close: the agent's `resolve` with nobody waiting, the survey and its answer (`rate`)",
    "leave": "leaving: the visitor's socket closes (`$disconnect`) after the survey",
    "reconnect": "reconnect: the socket drops (`$disconnect`), a new socket, `hello`, `resume`",
    "tick": "tick: every scheduled function once and what it starts (a minute's clock: timer sweeps, queue ticks), "
            "the hot queue in place",
}


@dataclass(frozen=True)
class Rate:
    """How often a kind of event happens at the profile, and how often one key of each scope sees it."""

    total: float  # per second, platform-wide
    hot_group: float  # of them in the hot group: what that group's keys see
    other_group: float  # in one other group
    per_session: float  # what one session's own items see
    per_agent: float  # what one agent's own items see
    how: str


def rates(p: Profile) -> dict[str, Rate]:
    """Each kind's rate at the profile (see ``how``); the hot group has ``1 / groups`` of the agents, the other
    groups share the rest of the traffic equally."""
    others = max(1, p.groups - 1)
    agents_per_group = p.agents / p.groups
    hot_arrivals = p.requests_per_s * p.hot_group_share
    other_arrivals = p.requests_per_s - hot_arrivals
    messages_per_session = p.messages_per_s / p.concurrent_chats
    robot = p.robot_questions_per_minute / 60
    reconnects = p.reconnect_share_per_minute * p.concurrent_chats / 60 + p.concurrent_chats / p.connection_max_seconds
    tick = 1 / p.tick_seconds

    def spread(total: float, how: str, per_agent: float | None = None) -> Rate:
        """A kind that happens in every group in proportion to its arrivals."""
        return Rate(total, total * p.hot_group_share, total * (1 - p.hot_group_share) / others,
                    total / p.concurrent_chats,
                    per_agent if per_agent is not None else total * p.hot_group_share / agents_per_group, how)

    return {
        "connect": spread(p.requests_per_s, "chat starts = visitors asking for a person (steady state: every "
                                            "chat that starts ends); robot-only chats are not in the profile"),
        "robot_turn": spread(robot, "robot questions a minute / 60"),
        "arrival_direct": Rate(other_arrivals, 0.0, other_arrivals / others, other_arrivals / p.concurrent_chats,
                               other_arrivals / others / agents_per_group,
                               "arrivals outside the hot group, whose queues are empty: requests x (1 - hot share)"),
        "arrival_queued": Rate(hot_arrivals, hot_arrivals, 0.0, hot_arrivals / p.concurrent_chats,
                               hot_arrivals / agents_per_group,
                               "arrivals to the hot group, whose queue is never empty: requests x hot share"),
        "chat_message": spread(p.messages_per_s, "messages/s; one session sees messages/s / chats, one agent its "
                                                 f"{p.agent_capacity} chats'",
                               per_agent=messages_per_session * p.agent_capacity),
        "ack": spread(p.messages_per_s, "one per chat message", per_agent=messages_per_session * p.agent_capacity),
        "assignment_from_queue": Rate(hot_arrivals, hot_arrivals, 0.0, hot_arrivals / p.concurrent_chats,
                                      hot_arrivals / agents_per_group,
                                      "= arrivals to the hot group (its queue holds steady)"),
        "queue_move": Rate(hot_arrivals, hot_arrivals, 0.0, hot_arrivals / p.concurrent_chats,
                           hot_arrivals / agents_per_group, "= assignments from the queue"),
        "close": spread(p.requests_per_s, "= arrivals (steady state); each group's at its arrivals' rate",
                        per_agent=hot_arrivals / agents_per_group),
        "leave": spread(p.requests_per_s, "= closes"),
        "reconnect": spread(reconnects, f"{p.reconnect_share_per_minute:.0%} of chats / 60 s + chats / "
                                        f"{p.connection_max_seconds:,.0f} s (API Gateway's 2-hour close)",
                            per_agent=reconnects / p.concurrent_chats * p.agent_capacity),
        "tick": Rate(tick, tick, tick, tick / p.concurrent_chats, tick / p.agents,
                     f"one run every {p.tick_seconds:g} s, over every group"),
    }


# -- per-event usage: nested numbers -----------------------------------------------------------------------

Usage = dict[str, Any]  # numbers, dicts of them, and partition units as [read, write]


def combine(a: Any, b: Any, sign: float = 1.0) -> Any:
    """``a + sign * b`` over nested dicts of numbers and [read, write] pairs (missing entries are zero)."""
    if isinstance(a, dict) or isinstance(b, dict):
        a, b = a or {}, b or {}
        return {k: combine(a.get(k), b.get(k), sign) for k in {**a, **b}}
    if isinstance(a, list) or isinstance(b, list):
        a, b = a or [0.0, 0.0], b or [0.0, 0.0]
        return [x + sign * y for x, y in zip(a, b, strict=True)]
    return (a or 0) + sign * (b or 0)


def scale(a: Any, factor: float) -> Any:
    if isinstance(a, dict):
        return {k: scale(v, factor) for k, v in a.items()}
    if isinstance(a, list):
        return [x * factor for x in a]
    return a * factor


def partition_key(table: str, index: str, key: str) -> str:
    """A partition as one string: ``table|index|key`` (index empty for the table itself)."""
    return f"{table}|{index}|{key}"


def split_partition(name: str) -> tuple[str, str, str]:
    table, index, key = name.split("|", 2)
    return table, index, key


PER_CONTAINER_CALL = "ssm.GetParametersByPath"


def _machine(name: str) -> str:
    """``cs-local-delivery`` -> ``delivery``: the machine's name without the stage's prefix."""
    return name.rsplit("-", 1)[-1]


def usage_between(before: Mapping[str, Any], after: Mapping[str, Any]) -> Usage:
    """What happened between two ``/_local/stats`` read-outs (with ``capacity_by_partition`` and
    ``search_requests``)."""
    def change(key: str, group: Mapping[str, Any], earlier: Mapping[str, Any]) -> float:
        return float(group.get(key, 0) or 0) - float(earlier.get(key, 0) or 0)

    # The configuration's reads are a container's, once a minute whatever it handles: counted per container.
    calls = {op: n - before["aws_calls"].get(op, 0) for op, n in after["aws_calls"].items()
             if n != before["aws_calls"].get(op, 0) and op != PER_CONTAINER_CALL}
    gateway = {k: change(k, after["gateway"], before["gateway"]) for k in after["gateway"]}
    # Handlers the gateway ran by route, and state machines' Lambda tasks by function (``task/{name}``).
    ran = {**after["handlers"], **{f"task/{n}": t for n, t in (after.get("tasks") or {}).items()}}
    earlier = {**before["handlers"], **{f"task/{n}": t for n, t in (before.get("tasks") or {}).items()}}
    lambda_ms = {r: h["ms"] - earlier.get(r, {}).get("ms", 0.0) for r, h in ran.items()}
    invocations = {r: h["invocations"] - earlier.get(r, {}).get("invocations", 0) for r, h in ran.items()}
    starts: dict[str, float] = {}
    by_machine: dict[str, float] = {}
    transitions: dict[str, float] = {}
    tasks = 0.0
    earlier_machines = before["stepfunctions"].get("by_machine", {})
    for name, m in after["stepfunctions"].get("by_machine", {}).items():
        was = earlier_machines.get(name, {})
        kind = str(m["type"]).lower()
        started = change("executions", m, was)
        starts[kind] = starts.get(kind, 0.0) + started
        by_machine[f"{_machine(name)} ({kind})"] = started
        transitions[kind] = transitions.get(kind, 0.0) + change("transitions", m, was)
        tasks += change("lambda_tasks", m, was)
    units: dict[str, list[float]] = {}
    for table, index, key, read, write in after.get("capacity_by_partition", ()):
        units[partition_key(table, index, key)] = [read, write]
    for table, index, key, read, write in before.get("capacity_by_partition", ()):
        name = partition_key(table, index, key)
        now = units.get(name, [0.0, 0.0])
        units[name] = [now[0] - read, now[1] - write]
    return {
        "calls": {k: v for k, v in calls.items() if v},
        "gateway": {k: v for k, v in gateway.items() if v},
        "lambda_ms": {k: v for k, v in lambda_ms.items() if v},
        "invocations": {k: v for k, v in invocations.items() if v},
        "sfn": {"starts": starts, "starts_by_machine": {k: v for k, v in by_machine.items() if v},
                "transitions": transitions, "lambda_tasks": tasks},
        "search_requests": float(after.get("search_requests") or 0) - float(before.get("search_requests") or 0),
        "partitions": {k: v for k, v in units.items() if v[0] or v[1]},
    }


# -- roles of partition keys -------------------------------------------------------------------------------

GROUP = "group"  # keys of the event's group: the hot group's at its rate, another group's at its rate
GLOBAL = "global"  # keys every event of the kind may meet: the kind's whole rate
SESSION = "session"  # one session's own items: the per-session rate
AGENT = "agent"  # one agent's own items: the per-agent rate


@dataclass(frozen=True)
class Role:
    name: str
    scope: str
    shared: bool  # many events on the same keys: the most loaded key counts; else one item per session/agent


# (table, index) -> role of a key of the event's group; the same keys of other groups are "... of other groups".
GROUP_ROLES = {("group-state", ""): "group counters", ("queue", ""): "queue partition",
               ("members", ""): "group memberships", ("members", "available"): "free-agents index"}
OWN_ROLES = {("sessions", ""): ("session item", SESSION),
             ("sessions", "sessions-by-visitor"): ("visitor's sessions index", SESSION),
             ("sessions", "sessions-by-agent"): ("agent's sessions index", AGENT),
             ("messages", ""): ("session's messages", SESSION), ("agents", ""): ("agent item", AGENT),
             ("connections", ""): ("connection item", SESSION), ("limits", ""): ("rate-limit counter", SESSION),
             ("idempotency", ""): ("idempotency record", SESSION)}
SHARED_ROLES = {("sessions", "sessions-timer-due"): "timer-due index shards", ("faqs", ""): "FAQ item",
                ("robot-settings", ""): "robot settings item"}
DASHBOARD_KEY = "#dashboard"


def shards_of(table: str) -> int:
    """How many keys each group's items in ``table`` are spread over (imported late, as the models name their
    tables from the environment when first imported)."""
    from chalicelib.routing.models import COUNTER_SHARDS, MEMBER_SHARDS, QUEUE_SHARDS
    return {"group-state": COUNTER_SHARDS, "queue": QUEUE_SHARDS, "members": MEMBER_SHARDS}[table]


def in_group(key: str, group: str) -> bool:
    """The group's own key or one of its shards (``general``, ``general#3``)."""
    return key == group or key.startswith(f"{group}#")


def role_of(table: str, index: str, key: str, group: str, agents: Iterable[str]) -> Role:
    """The role a partition key plays in an event of ``group`` whose agents are ``agents``."""
    if table == "group-state" and key == DASHBOARD_KEY:
        return Role("dashboard subscribers item", GLOBAL, True)
    if (table, index) in GROUP_ROLES:
        name = GROUP_ROLES[(table, index)]
        return Role(name, GROUP, True) if in_group(key, group) else Role(f"{name} of other groups", GLOBAL, True)
    if table == "presence" and index == "":
        return Role("agent presence", AGENT, False) if key in set(agents) else Role("visitor presence", SESSION,
                                                                                      False)
    if (table, index) in OWN_ROLES:
        name, scope = OWN_ROLES[(table, index)]
        return Role(name, scope, False)
    if (table, index) in SHARED_ROLES:
        return Role(SHARED_ROLES[(table, index)], GLOBAL, True)
    return Role(f"other: {table}{'@' + index if index else ''}/{key}", GLOBAL, True)


def spread_shards(per_key: Mapping[str, float]) -> dict[str, float]:
    """A group's shard keys (``general#3``) with their demand spread evenly over the table's shards, as the hash
    of thousands of sessions or agents spreads it at the peak. (The few events measured land on a few shards: the
    most loaded one measured would count a hash's luck, not the design.) The group's own key keeps its own."""
    out: dict[str, float] = {}
    for pk, demand in per_key.items():
        table, index, key = split_partition(pk)
        if "#" not in key:
            out[pk] = out.get(pk, 0.0) + demand
            continue
        shards = shards_of(table)
        spread = partition_key(table, index, f"{key.split('#', 1)[0]}#(each of {shards})")
        out[spread] = out.get(spread, 0.0) + demand / shards
    return out


def role_units(partitions: Mapping[str, list[float]], group: str, agents: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Units per event by role: the most loaded key of a shared role, the sum over the keys of a role each
    session or agent has its own of. Differences of measurements may leave a key below zero: a role is never."""
    agents = set(agents)
    found: dict[str, dict[str, Any]] = {}
    for name, (read, write) in partitions.items():
        role = role_of(*split_partition(name), group, agents)
        entry = found.setdefault(role.name, {"rcu": 0.0, "wcu": 0.0, "keys": 0, "scope": role.scope,
                                             "per_key": "max" if role.shared else "sum"})
        if read > 0 or write > 0:
            entry["keys"] += 1
        if role.shared:
            entry["rcu"], entry["wcu"] = max(entry["rcu"], read), max(entry["wcu"], write)
        else:
            entry["rcu"] += read
            entry["wcu"] += write
    for entry in found.values():
        entry["rcu"], entry["wcu"] = max(0.0, entry["rcu"]), max(0.0, entry["wcu"])
    return found


def table_units(partitions: Mapping[str, list[float]]) -> dict[str, list[float]]:
    """Units per event by table, its indexes included."""
    tables: dict[str, list[float]] = {}
    for name, (read, write) in partitions.items():
        table = split_partition(name)[0]
        units = tables.setdefault(table, [0.0, 0.0])
        units[0] += read
        units[1] += write
    return {t: [max(0.0, r), max(0.0, w)] for t, (r, w) in tables.items()}


# -- limits ------------------------------------------------------------------------------------------------

PARTITION_WCU, PARTITION_RCU = 1_000.0, 3_000.0  # per partition key, per second: fixed
TABLE_WCU, TABLE_RCU = 4_000.0, 12_000.0  # what a new on-demand table takes at once
WARM_WCU, WARM_RCU = 40_000.0, 120_000.0  # assumed warm throughput set on each table before the peak
# After: what to request for a peak of this profile (about 2x its demand; the account quota is raised on request,
# as AWS support does for shops' sales days; an assumption until granted).
APIGW_RPS, APIGW_AFTER = 10_000.0, 40_000.0
NEW_CONNECTIONS, NEW_CONNECTIONS_AFTER = 500.0, 2_000.0
LAMBDA_CONCURRENCY, LAMBDA_AFTER = 1_000.0, 10_000.0
EXPRESS_STARTS, EXPRESS_AFTER = 6_000.0, 12_000.0
STANDARD_STARTS, STANDARD_STARTS_AFTER = 300.0, 1_500.0  # the bucket's refill
STANDARD_STOPS, STANDARD_STOPS_AFTER = 200.0, 1_000.0
SSM_BY_PATH, SSM_BY_PATH_AFTER = 40.0, 100.0  # 100: Parameter Store's higher throughput setting
SEARCH_PER_NODE = 50.0  # assumed queries/s one t3.small.search node sustains (not measured: no OpenSearch here)
# The domain a peak needs (docs/capacity.md, Search): the template's most nodes of a larger type, each assumed to
# answer this many queries a second (not measured either: confirm with a load test against a real domain).
PEAK_SEARCH_TYPE, PEAK_SEARCH_PER_NODE = "m6g.xlarge.search", 1_000.0
LAMBDA_FULL_VCPU_MB = 1_769  # a Lambda function gets one vCPU at 1,769 MB, proportionally less below


@dataclass(frozen=True)
class SearchDomain:
    """The FAQ search domain as infra/template.json deploys it by default."""

    instance_type: str
    nodes: int
    max_nodes: int


def search_domain(path: Path = TEMPLATE) -> SearchDomain:
    parameters = json.loads(path.read_text())["Parameters"]
    count = parameters["SearchInstanceCount"]
    return SearchDomain(str(parameters["SearchInstanceType"]["Default"]), int(count["Default"]),
                        int(max(count.get("AllowedValues", [count["Default"]]))))


def cpu_factor(route: str) -> float:
    """How much longer a route's handler (or a state machine's task, ``task/{function}``) runs on its Lambda
    than here: the function's share of a vCPU, with one core here taken as one Lambda vCPU (never below 1)."""
    function = route[len("task/"):] if route.startswith("task/") else ROUTE_FUNCTIONS.get(route, "api_handler")
    return max(1.0, LAMBDA_FULL_VCPU_MB / memory_mb(function))


def lambda_seconds(event: Usage) -> float:
    """One event's Lambda time at the functions' memory sizes: its handlers' and its state machines' tasks'."""
    return float(sum(v / 1000 * cpu_factor(route) for route, v in event.get("lambda_ms", {}).items()))


def requests(event: Usage) -> float:
    """API Gateway requests of one event: frames in, ``@connections`` posts (410s included) and REST calls."""
    gateway = event.get("gateway", {})
    return float(gateway.get("frames_in", 0) + gateway.get("posts", 0) + gateway.get("posts_gone", 0)
                 + event.get("invocations", {}).get("rest", 0))


def limit(name: str, demand: float, value: float, adjustable: bool, after: float, note: str = "") -> dict[str, Any]:
    return {"name": name, "demand_per_s": round(demand, 4), "limit_per_s": value,
            "headroom": round(value / demand, 2) if demand > 0 else None, "adjustable": adjustable,
            "limit_after_increase": after, "note": note}


def project(profile: Profile, events: Mapping[str, Usage], group: str, agents: Iterable[str],
            domain: SearchDomain) -> list[dict[str, Any]]:
    """Every limit with the profile's demand on it. ``events``: each kind's usage per event."""
    agents = set(agents)
    rate = rates(profile)
    kinds = [k for k in rate if k in events]
    out: list[dict[str, Any]] = []
    # DynamoDB per partition: every role seen, the hot group's and another group's keys apart. A shared role's
    # keys are the same in every kind (the group's counters and their shards...): each key's demand is summed
    # over the kinds, and the most loaded key counts. A session's or agent's own items differ from event to
    # event: one item's demand is the kinds' units on all of them, each at the per-session or per-agent rate.
    placed = {k: {pk: role_of(*split_partition(pk), group, agents) for pk in events[k]["partitions"]} for k in kinds}
    roles: dict[str, dict[str, dict[str, Any]]] = {k: role_units(events[k]["partitions"], group, agents)
                                                   for k in kinds}
    names = sorted({name for found in roles.values() for name in found})
    for name in names:
        scope = next(found[name]["scope"] for found in roles.values() if name in found)
        variants = [("hot group", "hot_group"), ("another group", "other_group")] if scope == GROUP else \
            [("", {GLOBAL: "total", SESSION: "per_session", AGENT: "per_agent"}[scope])]
        for label, field_name in variants:
            title = f"{name} ({label})" if label else name
            for column, unit, cap in ((1, "wcu", PARTITION_WCU), (0, "rcu", PARTITION_RCU)):
                if scope in (GROUP, GLOBAL):
                    per_key: dict[str, float] = {}
                    for k in kinds:
                        for pk, units in events[k]["partitions"].items():
                            if placed[k][pk].name == name:
                                per_key[pk] = per_key.get(pk, 0.0) + getattr(rate[k], field_name) * units[column]
                    if scope == GROUP:
                        per_key = spread_shards(per_key)
                    hottest = max(per_key, key=lambda pk: per_key[pk], default="")
                    demand = max(0.0, per_key.get(hottest, 0.0))
                    where = f"most loaded key: {split_partition(hottest)[2]}" if hottest else ""
                else:
                    demand = sum(getattr(rate[k], field_name) * roles[k][name][unit] for k in kinds
                                 if name in roles[k])
                    where = f"one {scope}'s items"
                out.append(limit(f"DynamoDB per-partition {unit.upper()}: {title}", demand, cap, False, cap,
                                 f"{where}; fixed by DynamoDB"))
    # DynamoDB per table, against a new on-demand table's throughput.
    tables: dict[str, list[float]] = {}
    for k in kinds:
        for table, (read, write) in table_units(events[k]["partitions"]).items():
            totals = tables.setdefault(table, [0.0, 0.0])
            totals[0] += rate[k].total * read
            totals[1] += rate[k].total * write
    for table, (read, write) in sorted(tables.items()):
        out.append(limit(f"DynamoDB table WCU: {table}", write, TABLE_WCU, True, WARM_WCU,
                         "new on-demand table; after: warm throughput set before the peak (assumed)"))
        out.append(limit(f"DynamoDB table RCU: {table}", read, TABLE_RCU, True, WARM_RCU,
                         "new on-demand table; after: warm throughput set before the peak (assumed)"))

    def total(per_event: Callable[[Usage], float]) -> float:
        return sum(rate[k].total * per_event(events[k]) for k in kinds)

    out.append(limit("API Gateway requests/s (frames in + @connections posts + REST)", total(requests), APIGW_RPS,
                     True, APIGW_AFTER, "account, per Region"))
    out.append(limit("API Gateway new WebSocket connections/s",
                     total(lambda e: float(e.get("gateway", {}).get("connections", 0))), NEW_CONNECTIONS, True,
                     NEW_CONNECTIONS_AFTER, "account, per Region"))
    concurrency = total(lambda_seconds)
    out.append(limit("Lambda concurrent executions (rate x duration)", concurrency, LAMBDA_CONCURRENCY, True,
                     LAMBDA_AFTER, f"executions at once, not per second; handler time here x {LAMBDA_FULL_VCPU_MB} MB "
                     "/ the function's memory"))
    out.append(limit("Step Functions Express StartExecution/s",
                     total(lambda e: float(e.get("sfn", {}).get("starts", {}).get("express", 0))), EXPRESS_STARTS,
                     True, EXPRESS_AFTER, "delivery"))
    out.append(limit("Step Functions Standard StartExecution/s (bucket refill)",
                     total(lambda e: float(e.get("sfn", {}).get("starts", {}).get("standard", 0))), STANDARD_STARTS,
                     True, STANDARD_STARTS_AFTER, "lifecycle timers; a bucket of 1,300 absorbs a burst"))
    out.append(limit("Step Functions StopExecution/s (bucket refill)",
                     total(lambda e: float(e.get("calls", {}).get("stepfunctions.StopExecution", 0))), STANDARD_STOPS,
                     True, STANDARD_STOPS_AFTER, "lifecycle timers stopped"))
    # Each container reads the configuration once per max age; containers ~ concurrent executions.
    out.append(limit("SSM GetParametersByPath/s", concurrency / profile.config_max_age_seconds, SSM_BY_PATH, True,
                     SSM_BY_PATH_AFTER, f"one per container per {profile.config_max_age_seconds:g} s; containers = "
                     "Lambda concurrency; after: higher throughput"))
    out.append(limit(f"OpenSearch search requests/s ({domain.nodes} x {domain.instance_type})",
                     total(lambda e: float(e.get("search_requests", 0))), domain.nodes * SEARCH_PER_NODE, True,
                     domain.max_nodes * PEAK_SEARCH_PER_NODE,
                     f"assumed {SEARCH_PER_NODE:g}/s per node; after: {domain.max_nodes} x {PEAK_SEARCH_TYPE} "
                     f"(SearchInstanceType, SearchInstanceCount), assumed {PEAK_SEARCH_PER_NODE:,.0f}/s each"))
    return out


def hot_group_stress(profile: Profile, usages: Mapping[str, Usage], group: str, agents: Iterable[str],
                     domain: SearchDomain) -> dict[str, Any]:
    """The hot group's own keys when it takes ``hot_group_stress_per_s`` arrivals a second (every visitor asking
    for a person sent to one group, as when the others overflow into it): the per-key limits only, as the
    account-wide ones see the same total traffic as at the profile."""
    share = min(1.0, profile.hot_group_stress_per_s / profile.requests_per_s)
    stressed = project(replace(profile, hot_group_share=share), usages, group, agents, domain)
    keys = [x for x in stressed if x["name"].endswith("(hot group)")]
    fixed = [x["headroom"] for x in keys if x["headroom"] is not None]
    return {"arrivals_per_s": profile.requests_per_s * share,
            "limits": sorted(keys, key=lambda x: (x["headroom"] is None, x["headroom"] or 0.0)),
            "min_headroom": min(fixed) if fixed else None}


def headrooms(limits: Iterable[dict[str, Any]]) -> tuple[float | None, float | None]:
    """(the lowest headroom over the limits that cannot be raised, the lowest over all once raised)."""
    limits = list(limits)
    fixed = [x["headroom"] for x in limits if not x["adjustable"] and x["headroom"] is not None]
    after = [x["limit_after_increase"] / x["demand_per_s"] for x in limits if x["demand_per_s"] > 0]
    return (min(fixed) if fixed else None), (round(min(after), 2) if after else None)


def quota_requests(limits: Iterable[dict[str, Any]], margin: float = 2.0) -> list[dict[str, Any]]:
    """The adjustable limits whose headroom is below ``margin``: what to ask for (``margin`` x demand, rounded
    up to two significant figures), and whether the increase the model assumes covers it."""
    asks = []
    for x in limits:
        if not x["adjustable"] or x["headroom"] is None or x["headroom"] >= margin:
            continue
        wanted = margin * x["demand_per_s"]
        magnitude = 10 ** max(0, math.floor(math.log10(wanted)) - 1)
        asks.append({"name": x["name"], "demand_per_s": x["demand_per_s"], "limit_per_s": x["limit_per_s"],
                     "request": math.ceil(wanted / magnitude) * magnitude,
                     "enough_after_increase": x["limit_after_increase"] >= wanted})
    return asks


# -- the measurement -----------------------------------------------------------------------------------------

GROUP_ID = "general"  # the default group: every visitor's route once the rules are gone (config_edit)
AGENTS = ("load01", "load02")  # the measured group's only members (demo agents, password "demo")
CAPACITY = 5
GRACE_SECONDS = 3  # a dropped visitor's grace: short, so the timers reconnects arm are due by the measured tick
ACK_FIRST_WAIT_SECONDS = 3  # long enough to read the stack between a message and its ACK without a resend
ACK_WAIT_SECONDS = 5
REPEAT = {"connect": 5, "robot_turn": 6, "chat_message": 10, "close": 4, "reconnect": 3, "assignment": 4,
          "arrival_queued": 8, "queue_move": 5, "turn": 4}
# Frames per chat message under the conversational pattern: a turn is 2 to 3 lines (TURN_LINES measured). Typed,
# a turn's lines leave seconds apart, beyond the clients' ACK window (ACK_WINDOW_MS), so each is ACKed alone: the
# single message's cost, which the API Gateway demand takes. Lines that arrive within the window (cards sent
# together, pasted lines) are ACKed as the clients do (the first at once, the others in one frame: "burst"); a
# resumed backlog is ACKed in one frame ("backlog").
TURN_LINES = 3
ACK_WINDOW_MS = 100
SMALL_QUEUE = 50
SETTLE_SECONDS = 180.0  # a scheduled run may start an execution that lasts its whole period
QUIET_SECONDS = 0.25
BASE: tuple[str, ...] = ()  # stats with the base counters only: for polling
FULL = ("capacity_by_partition", "search_requests", "tasks")
# The clock as on AWS (chalicelib/settings.py's defaults): one execution a minute, rounds every 5 s, the queue
# tick every 15 s. The local stack would otherwise stretch it over its own (here: never) tick interval.
CLOCK_ENV = {"CLOCK_PERIOD_SECONDS": "60", "CLOCK_ROUND_SECONDS": "5", "CLOCK_TICK_SECONDS": "15"}
QUESTIONS = ("How long does delivery take within mainland China?", "What is your return policy?",
             "How long does a refund take?")
TEXTS = ("Hi, my order has not arrived yet. Can you check it?", "Let me check that for you, one moment please.",
         "The parcel tracking has not moved for three days.", "I have found your order; it left our warehouse "
         "yesterday.")


def config_edit(documents: dict[str, Any]) -> None:
    """The default group (always open, every visitor's route) is served by ``AGENTS`` only, its queue holds the
    profile's wait, nobody is timed out or warned during the run, and a dropped visitor's grace is short."""
    groups = documents["groups"]
    groups["agents"]["default_capacity"] = CAPACITY
    groups["agents"]["capacity"] = {}
    if documents["routing"]["default_group"] != GROUP_ID:
        raise ValueError(f"config/routing.json's default group is not {GROUP_ID}: measure that one instead")
    general = next(g for g in groups["groups"] if g["id"] == GROUP_ID)
    general.update(hours="always", members=list(AGENTS))
    general.pop("overflow", None)
    general["queue"] = {**general.get("queue", {}), "max_waiting": 10_000, "timeout_seconds": 86_400}
    documents["routing"]["rules"] = []
    groups["sessions"] = {**groups.get("sessions", {}), "idle_warn_seconds": 86_400, "idle_close_seconds": 86_400,
                          "reconnect_grace_seconds": GRACE_SECONDS, "agent_grace_seconds": 0}


def schedule_seconds(expression: str) -> float | None:
    """``rate(5 minutes)`` -> 300; None for a cron expression."""
    units = {"minute": 60, "hour": 3600, "day": 86400}
    if not expression.startswith("rate(") or not expression.endswith(")"):
        return None
    value, unit = expression[5:-1].split()
    return float(value) * units[unit.rstrip("s")]


def _running(found: Mapping[str, Any], kind: str) -> int:
    return sum(int(m["running"]) for m in found["stepfunctions"].get("by_machine", {}).values() if m["type"] == kind)


def _activity(found: Mapping[str, Any]) -> tuple[Any, ...]:
    """What changes whenever anything happens on the stack."""
    return (sum(found["aws_calls"].values()), tuple(sorted(found["gateway"].items())),
            sum(h["invocations"] for h in found["handlers"].values()))


@dataclass
class Visitor:
    peer: Peer
    token: str
    session_id: str


@dataclass
class Recorder:
    """Sums each kind's windows and counts its events."""

    sums: dict[str, Usage] = field(default_factory=dict)
    events: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, before: Mapping[str, Any], after: Mapping[str, Any], events: int = 1) -> None:
        self.sums[kind] = combine(self.sums.get(kind), usage_between(before, after))
        self.events[kind] += events

    def per_event(self, kind: str) -> Usage:
        found: Usage = scale(self.sums[kind], 1 / max(1, self.events[kind]))
        return found


class Run:
    """One pass over every kind of event on one metered stack."""

    def __init__(self, http: aiohttp.ClientSession, stack: Stack, profile: Profile) -> None:
        self.http = http
        self.stack = stack
        self.profile = profile
        self.recorder = Recorder()
        self.agents: dict[str, Peer] = {}
        self.active: list[tuple[Visitor, str]] = []  # assigned sessions and their agents, oldest first
        self.waiting: list[Visitor] = []  # queued, head first
        self.notes: list[str] = []
        self.extra: dict[str, Any] = {}
        self._visitors = 0

    # -- the stack ----------------------------------------------------------------------------------------

    async def settle(self, express: int | None = 0, standard_at_most: int | None = None,
                     disconnects: int | None = None) -> dict[str, Any]:
        """The stats once nothing runs: no handler, ``express`` Express executions (None: any), at most
        ``standard_at_most`` Standard ones, ``disconnects`` seen, and no change for a moment."""
        deadline = time.monotonic() + SETTLE_SECONDS
        last: dict[str, Any] | None = None
        while True:
            found = await stats(self.http, self.stack, only=BASE)
            ready = (found["handlers_running"] == 0 and (express is None or _running(found, "EXPRESS") == express)
                     and (standard_at_most is None or _running(found, "STANDARD") <= standard_at_most)
                     and (disconnects is None or found["gateway"].get("disconnects", 0) >= disconnects))
            if ready and last is not None and _activity(found) == _activity(last):
                full = await stats(self.http, self.stack, only=FULL)
                if _activity(full) == _activity(found) and full["handlers_running"] == 0:
                    return full
            if time.monotonic() > deadline:
                self.notes.append(f"a window closed unsettled (express {_running(found, 'EXPRESS')}, standard "
                                  f"{_running(found, 'STANDARD')}, handlers {found['handlers_running']})")
                return await stats(self.http, self.stack, only=FULL)
            last = found if ready else None
            await asyncio.sleep(QUIET_SECONDS)

    # -- clients ------------------------------------------------------------------------------------------

    async def agent(self, username: str) -> Peer:
        # ACKs are sent by hand, so a message's and its ACK's windows can be read apart.
        # Protocol 2, as the web clients: a `delivered` may cover several messages ACKed together.
        peer = await connect(self.http, self.stack, await agent_token(self.http, self.stack.base, username),
                             should_ack=lambda f: False, protocol=2)
        await peer.request({"action": "hello"}, "welcome")
        self.agents[username] = peer
        return peer

    async def visitor(self) -> Visitor:
        self._visitors += 1
        token = await visitor_token(self.http, self.stack.base, f"Peak {self._visitors}")
        # The widget ACKs what people send; robot messages need none.
        peer = await connect(self.http, self.stack, token, should_ack=lambda f: False, protocol=2)
        welcome = await peer.request({"action": "hello"}, "welcome")
        return Visitor(peer, token, welcome["session"]["session_id"])

    async def request_agent(self, visitor: Visitor, expect: str) -> dict[str, Any]:
        got = await visitor.peer.request({"action": "request_agent"}, "session", timeout=30)
        session: dict[str, Any] = got["session"]
        if session["status"] != expect:
            raise RuntimeError(f"request_agent: expected {expect}, got {got}")
        if expect == "active":
            self.active.append((visitor, str(session["agent_id"])))
        else:
            self.waiting.append(visitor)
        return session

    @staticmethod
    def _assigned(visitor: Visitor) -> Callable[[Peer], bool]:
        return lambda p: any(f["session"]["session_id"] == visitor.session_id and f["session"]["status"] == "active"
                             for f in p.by_event["session"])

    # -- events -------------------------------------------------------------------------------------------

    async def chat_starts(self) -> list[Visitor]:
        started = []
        for _ in range(REPEAT["connect"]):
            before = await self.settle()
            started.append(await self.visitor())
            self.recorder.add("connect", before, await self.settle())
        return started

    async def robot_turns(self, visitors: list[Visitor]) -> None:
        def robot(p: Peer) -> int:
            return sum(f["message"].get("sender_role") == "robot" for f in p.by_event["message"])

        for turn in range(REPEAT["robot_turn"]):
            visitor = visitors[turn % len(visitors)]
            seen = robot(visitor.peer)
            before = await self.settle()
            await visitor.peer.text(visitor.session_id, QUESTIONS[turn % len(QUESTIONS)])
            await visitor.peer.wait_for(lambda p, n=seen: robot(p) > n, 30)  # type: ignore[misc]
            self.recorder.add("robot_turn", before, await self.settle())

    async def arrivals_direct(self, visitors: list[Visitor]) -> None:
        for visitor in visitors:
            before = await self.settle()
            session = await self.request_agent(visitor, "active")
            await self.agents[str(session["agent_id"])].wait_for(self._assigned(visitor))
            self.recorder.add("arrival_direct", before, await self.settle())

    async def message(self, sender: Peer, recipient: Peer, session_id: str, text: str,
                      record: bool = True) -> int:
        """One chat message, read in three windows: the send until the recipient has it, its ACK until the
        sender has ``delivered``, and the delivery execution's read after its wait. Returns how many more
        copies than one the recipient got (a resend: the ACK missed the first wait)."""
        before = await self.settle()
        cmid = await sender.text(session_id, text)

        def mine(p: Peer) -> list[dict[str, Any]]:
            return [f for f in p.by_event["message"] if f["message"].get("client_msg_id") == cmid]

        await recipient.wait_for(lambda p: bool(mine(p)), 30)
        sent = await self.settle(express=1)
        await recipient.send({"action": "ack", "message_id": mine(recipient)[0]["message"]["message_id"]})
        await sender.wait_for(lambda p: any(f["client_msg_id"] == cmid for f in p.by_event["delivered"]), 30)
        acked = await self.settle(express=1)
        after = await self.settle()
        if record:
            self.recorder.add("chat_message", before, sent)
            self.recorder.add("chat_message", acked, after, events=0)
            self.recorder.add("ack", sent, acked)
        return len(mine(recipient)) - 1

    async def chat(self) -> None:
        """Messages both ways in one session."""
        visitor, agent_id = self.active[0]
        agent = self.agents[agent_id]
        repeats = 0
        for i in range(REPEAT["chat_message"]):
            sender, recipient = (visitor.peer, agent) if i % 2 == 0 else (agent, visitor.peer)
            repeats += await self.message(sender, recipient, visitor.session_id, TEXTS[i % len(TEXTS)])
        if repeats:
            self.notes.append(f"{repeats} chat messages were posted again (an ACK missed the first wait)")

    async def turn(self, sender: Peer, recipient: Peer, session_id: str, kind: str) -> None:
        """TURN_LINES lines sent back to back, read as ``message``: the sends until the recipient has them all,
        their ACKs until the sender has every ``delivered``, and the delivery executions' reads. ``kind``
        ``burst`` ACKs as the clients do lines that arrive within their window (the first at once, the others in
        one frame), ``backlog`` all in one frame (a resumed backlog). Recorded per message, as ``{kind}_message``
        and ``{kind}_ack``, outside the projection."""
        before = await self.settle()
        ids = {await sender.text(session_id, TEXTS[i % len(TEXTS)]) for i in range(TURN_LINES)}

        def mine(p: Peer) -> list[str]:
            return list(dict.fromkeys(f["message"]["message_id"] for f in p.by_event["message"]
                                      if f["message"].get("client_msg_id") in ids))

        await recipient.wait_for(lambda p: len(mine(p)) == TURN_LINES, 30)
        sent = await self.settle(express=TURN_LINES)
        got = mine(recipient)
        if kind == "burst":
            await recipient.send({"action": "ack", "message_id": got[0]})
            await recipient.ack_all(got[1:])
        else:
            await recipient.ack_all(got)
        await sender.wait_for(lambda p: len({d["client_msg_id"] for d in p.delivered()} & ids) == TURN_LINES, 30)
        acked = await self.settle(express=TURN_LINES)
        after = await self.settle()
        self.recorder.add(f"{kind}_message", before, sent, events=TURN_LINES)
        self.recorder.add(f"{kind}_message", acked, after, events=0)
        self.recorder.add(f"{kind}_ack", sent, acked, events=TURN_LINES)

    async def turns(self) -> None:
        """Turns of several lines both ways in one session, ACKed as a burst and as a backlog."""
        visitor, agent_id = self.active[0]
        agent = self.agents[agent_id]
        for i in range(REPEAT["turn"]):
            sender, recipient = (visitor.peer, agent) if i % 2 == 0 else (agent, visitor.peer)
            for kind in ("burst", "backlog"):
                await self.turn(sender, recipient, visitor.session_id, kind)

    async def warm_up(self) -> None:
        """Every path once, unmeasured: the first call of each in a fresh process pays its imports and caches,
        which a warm container has paid already. (Cold starts are measured apart.)"""
        visitor = await self.visitor()
        await visitor.peer.text(visitor.session_id, QUESTIONS[0])
        await visitor.peer.wait_for(lambda p: any(f["message"].get("sender_role") == "robot"
                                                  for f in p.by_event["message"]), 30)
        session = await self.request_agent(visitor, "active")
        self.active.remove((visitor, str(session["agent_id"])))
        agent = self.agents[str(session["agent_id"])]
        await self.message(visitor.peer, agent, visitor.session_id, TEXTS[0], record=False)
        await self.message(agent, visitor.peer, visitor.session_id, TEXTS[1], record=False)
        await agent.request({"action": "resolve", "session_id": visitor.session_id}, "session")
        await visitor.peer.wait_for(lambda p: bool(p.by_event["survey"]))
        await visitor.peer.request({"action": "rate", "session_id": visitor.session_id, "stars": 5}, "rated")
        await visitor.peer.close()
        await self.settle()

    async def closes(self) -> None:
        """Sessions resolved with nobody waiting, the survey answered, the visitor gone."""
        for _ in range(REPEAT["close"]):
            visitor, agent_id = self.active.pop(0)
            before = await self.settle()
            await self.agents[agent_id].request({"action": "resolve", "session_id": visitor.session_id}, "session")
            await visitor.peer.wait_for(lambda p: bool(p.by_event["survey"]))
            resolved = await self.settle()
            rated = await visitor.peer.request({"action": "rate", "session_id": visitor.session_id, "stars": 5,
                                                "tags": ["quick"]}, "rated")
            if rated.get("event") != "rated":
                raise RuntimeError(f"survey answer refused: {rated}")
            answered = await self.settle()
            self.recorder.add("resolve_0", before, resolved)
            self.recorder.add("rate", resolved, answered)
            await visitor.peer.close()
            gone = await self.settle(disconnects=int(answered["gateway"].get("disconnects", 0)) + 1)
            self.recorder.add("leave", answered, gone)

    async def reconnects(self) -> None:
        # The first, unmeasured, warms the away and back paths.
        for n, (visitor, _) in enumerate(self.active[:REPEAT["reconnect"] + 1]):
            before = await self.settle()
            timers = _running(before, "STANDARD")
            await visitor.peer.close()
            await self.settle(disconnects=int(before["gateway"].get("disconnects", 0)) + 1)
            peer = await connect(self.http, self.stack, visitor.token, should_ack=lambda f: False)
            welcome = await peer.request({"action": "hello"}, "welcome")
            last_seq = int((welcome.get("session") or {}).get("last_seq") or 0)
            await peer.request({"action": "resume", "session_id": visitor.session_id, "after_seq": last_seq},
                               "resumed")
            visitor.peer = peer
            # The grace timer started at the drop wakes after GRACE_SECONDS and ends: part of the reconnect.
            self.recorder.add("reconnect" if n else "warm_up", before, await self.settle(standard_at_most=timers))

    async def resolve_with_queue(self, kind: str) -> None:
        """The oldest active session is resolved; its agent's freed slot takes the head of the queue."""
        visitor, agent_id = self.active.pop(0)
        head = self.waiting.pop(0)
        before = await self.settle()
        await self.agents[agent_id].request({"action": "resolve", "session_id": visitor.session_id}, "session")
        await head.peer.wait_for(self._assigned(head), 30)
        self.recorder.add(kind, before, await self.settle())
        self.active.append((head, agent_id))
        await visitor.peer.close()

    async def tick(self, kind: str) -> dict[str, Any]:
        """Every scheduled function once (and what it starts, to the end): their schedules."""
        before = await self.settle()
        ran = await action(self.http, self.stack, "tick")
        self.recorder.add(kind, before, await self.settle())
        return {"schedules": {name: x["schedule"] for name, x in ran.items()}}

    # -- the pass -----------------------------------------------------------------------------------------

    async def run(self) -> None:
        for username in AGENTS:
            await self.agent(username)
        await self.warm_up()
        started = await self.chat_starts()
        await self.robot_turns(started)
        more = [await self.visitor() for _ in range(len(AGENTS) * CAPACITY - len(started))]
        await self.arrivals_direct(started + more)
        await self.chat()
        await self.turns()
        await self.closes()
        for _ in range(REPEAT["close"]):  # every slot taken again
            await self.request_agent(await self.visitor(), "active")
        await self.reconnects()
        for round_ in range(REPEAT["assignment"] + 1):  # the first, unmeasured, warms the drain's path
            await self.request_agent(await self.visitor(), "waiting")
            await self.resolve_with_queue("resolve_1" if round_ else "warm_up")
        await self.request_agent(await self.visitor(), "waiting")  # from here the queue is never empty
        for _ in range(REPEAT["arrival_queued"]):
            visitor = await self.visitor()
            before = await self.settle()
            await self.request_agent(visitor, "waiting")
            self.recorder.add("arrival_queued", before, await self.settle())
        while len(self.waiting) < SMALL_QUEUE:
            await self.request_agent(await self.visitor(), "waiting")
        for _ in range(REPEAT["queue_move"]):
            await self.resolve_with_queue("resolve_50")
        self.extra["tick_small"] = {"waiting": len(self.waiting), **await self.tick("tick_small")}
        target = self.profile.hot_group_waiting
        started_at = time.perf_counter()
        seeded = await action(self.http, self.stack, "seed_waiting",
                              {"group": GROUP_ID, "count": target - len(self.waiting)}, timeout=1800)
        self.extra["seed"] = {**seeded, "seconds": round(time.perf_counter() - started_at, 1)}
        for _ in range(REPEAT["queue_move"]):
            await self.resolve_with_queue("resolve_big")
        waiting = len(self.waiting) + int(seeded["queued"])
        self.extra["tick"] = {"waiting": waiting, "connected": len(self.waiting), **await self.tick("tick")}
        for name, expression in self.extra["tick"]["schedules"].items():
            if schedule_seconds(expression) != self.profile.tick_seconds:
                self.notes.append(f"{name} runs on {expression}, not every {self.profile.tick_seconds:g} s as the "
                                  "profile's tick rate assumes")


# -- in the stack's process ----------------------------------------------------------------------------------

def register(actions: dict[str, Callable[[dict[str, Any]], Any]]) -> None:
    """Actions for ``bench.metered serve bench.peak``."""
    actions["seed_waiting"] = seed_waiting


def seed_waiting(body: dict[str, Any]) -> dict[str, Any]:
    """``count`` more visitors waiting in ``group``, behind those already there, written directly in batches as an
    enqueue leaves them: the session waiting under its queue entry, the entry, the visitor's presence (no
    connection: their frames go nowhere) and the waiting count on the counter shard the session picks. Then
    checked through routing's own readers, so a change in how queues are kept fails here, not silently. (Through
    ``request_agent`` one by one it took 8 minutes for 5,000: moto reads the whole queue for every head.)"""
    from chalicelib.channel.models import Presence
    from chalicelib.routing import queue as q
    from chalicelib.routing.models import NORMAL, GroupState, QueueEntry, counter, queue_key, queue_sk
    from chalicelib.sessions import models as sm
    from chalicelib.sessions.models import Session

    group, count = str(body["group"]), int(body["count"])
    waiting = int(q.state_of(group).waiting or 0)
    head = q.head(group)
    now = int(time.time() * 1000)
    shards: Counter[str] = Counter()
    with Session.batch_write() as sessions, QueueEntry.batch_write() as entries, Presence.batch_write() as people:
        for n in range(count):
            session_id, visitor_id, at = f"seeded-{n:05d}", f"seeded-visitor-{n:05d}", now + n
            sk = queue_sk(NORMAL, at, session_id)
            sessions.save(Session(session_id, visitor_id=visitor_id, visitor_name=f"Seeded {n}", status=sm.WAITING,
                                  channel="web", group_id=group, queue_sk=sk, requested_at=at, seq=0, created_at=at,
                                  updated_at=at))
            entries.save(QueueEntry(queue_key(group, session_id), sk, session_id=session_id, visitor_id=visitor_id,
                                    priority_class=NORMAL, requested_at=at))
            people.save(Presence(visitor_id, role="visitor", name=f"Seeded {n}", session_id=session_id,
                                 updated_at=at))
            shards[str(counter(group, session_id).group_id)] += 1
    for key, added in shards.items():
        GroupState(key).update(actions=[GroupState.waiting.add(added)])
    now_waiting = int(q.state_of(group).waiting or 0)
    first = q.head(group)
    if now_waiting != waiting + count or (head is not None and (first is None or first.sk != head.sk)):
        raise RuntimeError(f"seeding {count} into {group}: waiting {waiting} -> {now_waiting}, head "
                           f"{head.sk if head else None} -> {first.sk if first else None}")
    return {"queued": count}


# -- cold start ----------------------------------------------------------------------------------------------

COLD_RUNS = 3
COLD_ROUTE = "$default"  # the function whose first reply is measured (the robot answers on it)
COLD_GOAL_MS = 1_000.0  # the most a cold container may add before a visitor's first reply, on the Lambda
# Not measurable here. AWS's SnapStart documentation: "as low as sub-second startup performance"; the REPORT line
# of a restored container gives its "Restore Duration" (docs.aws.amazon.com/lambda/latest/dg/snapstart.html,
# snapstart-monitoring.html).
SNAPSTART_RESTORE = ("not measured here: AWS documents SnapStart startup as low as sub-second; each restored "
                     "container's REPORT line gives its Restore Duration")


def _cold_environment(state_dir: Path) -> dict[str, str]:
    basics = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "XDG_CACHE_HOME")}
    return {**basics, **in_process_environment("cs-cold", "cold", str(state_dir)), "PYTHONPATH": str(ROOT),
            "SEARCH_BACKEND": "embedded", "FAQ_MODEL_BUCKET": "cs-cold-models", "POWERTOOLS_METRICS_DISABLED": "true"}


def cold_start(runs: int = COLD_RUNS) -> dict[str, Any]:
    """A new container of the robot's function, each part in fresh processes: its init (importing the app, alone;
    then the warm-up ``chalicelib/edge/coldstart.py`` runs at init: onnxruntime, the model, the classifier from its
    snapshot, one scoring pass), then what a visitor waits for once it is initialised (SnapStart's after-restore
    hook and the first answer). Under SnapStart the init runs once per published version; without it, at every
    cold start. Times are scaled to the function's CPU share as the other Lambda times are. Each is run ``runs``
    times; the run of median total counts."""
    with tempfile.TemporaryDirectory(prefix="cs-bench-cold-") as state:
        env = _cold_environment(Path(state))
        code = "import time; t = time.perf_counter(); import app; print((time.perf_counter() - t) * 1000)"
        imports = sorted(float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                                              capture_output=True, text=True).stdout.split()[-1])
                         for _ in range(runs))
        children = [json.loads(subprocess.run([sys.executable, "-m", "bench.peak", "cold-start"], cwd=ROOT, env=env,
                                              check=True, capture_output=True, text=True).stdout.strip()
                               .splitlines()[-1]) for _ in range(runs)]
    steps: dict[str, Any] = sorted(children, key=lambda c: sum(c[k] for k in (*COLD_INIT_STEPS, *COLD_AFTER_STEPS))
                                   )[len(children) // 2]
    factor = cpu_factor(COLD_ROUTE)
    init = {"import_app_ms": round(imports[len(imports) // 2], 1), **{k: steps[k] for k in COLD_INIT_STEPS}}
    after = {k: steps[k] for k in COLD_AFTER_STEPS}
    added = round(sum(after.values()), 1)
    return {"route": COLD_ROUTE, "cpu_factor": round(factor, 2), "goal_ms": COLD_GOAL_MS,
            "added_before_first_reply_ms": added, "added_before_first_reply_scaled_ms": round(added * factor, 1),
            "after_init_ms": after,
            "init_ms": round(sum(init.values()), 1), "init_scaled_ms": round(sum(init.values()) * factor, 1),
            "init_breakdown_ms": init,
            "warm_answer_ms": steps["warm_answer_ms"],
            "snapstart": {"functions": "APIHandler, WebsocketMessage (infra/build.py SNAPSTART_FUNCTIONS)",
                          "init_paid": "once per published version, not by a visitor",
                          "restore": SNAPSTART_RESTORE},
            "classifier_from": steps["classifier_from"],
            "local_index_build_ms": steps["local_index_build_ms"],
            "runs": runs, "import_runs_ms": [round(x, 1) for x in imports],
            "rest_runs_ms": sorted(round(sum(c[k] for k in (*COLD_INIT_STEPS, *COLD_AFTER_STEPS)), 1)
                                   for c in children),
            "onnxruntime_imported_by_app": steps["onnxruntime_imported_by_app"]}


COLD_INIT_STEPS = ("onnxruntime_import_ms", "embedding_model_load_ms", "classifier_ms", "warm_up_ms")
COLD_AFTER_STEPS = ("after_restore_hook_ms", "first_answer_ms")


def _cold_start_child() -> dict[str, Any]:
    """``python -m bench.peak cold-start``: what a new container does after its import (timed apart), on moto.
    Set up first, untimed, as another container would have left it on AWS: the FAQ table, a filled search
    index and the classifier's snapshot in S3. (On AWS the index lives in OpenSearch; the embedded one here
    is built from the per-user vector cache: ``local_index_build_ms``, not part of a cold start there.) Then the
    init's warm-up as the Lambda runs it, SnapStart's after-restore hook, and a first and a second answer."""
    importlib.import_module("app")
    out: dict[str, Any] = {"onnxruntime_imported_by_app": "onnxruntime" in sys.modules}
    from moto import mock_aws

    mock_aws().start()
    from chalicelib.edge import coldstart
    from chalicelib.faq.embed import MiniLmEmbedder
    from chalicelib.faq.kb import KnowledgeBase
    from chalicelib.faq.search.embedded import EmbeddedBackend
    from chalicelib.faq.store import FaqStore
    from chalicelib.faq.transfer import Source, plan_import
    from chalicelib.platform import aws
    from chalicelib.settings import get_settings
    from chalicelib.tables import ALL_MODELS
    from local.embed_cache import CachingEmbedder
    from local.stack import DEMO_FAQS, embed_cache_path

    for model in ALL_MODELS:
        model.create_table(wait=True)
    aws.client("s3").create_bucket(Bucket=get_settings().faq_model_bucket)
    store = FaqStore()
    store.put_many(plan_import([Source(DEMO_FAQS.name, DEMO_FAQS.read_text(), "jsonl")], store.get_many).faqs)
    backend = EmbeddedBackend()
    started = time.perf_counter()
    KnowledgeBase(FaqStore(), backend, CachingEmbedder(MiniLmEmbedder(), embed_cache_path()),
                  load_on_first_use=True).matcher()
    out["local_index_build_ms"] = round((time.perf_counter() - started) * 1000, 1)
    aws.reset_clients()  # the set-up's clients: the container builds its own
    kb = KnowledgeBase(FaqStore(), backend, MiniLmEmbedder(), load_on_first_use=False)

    def timed(name: str, step: Callable[[], Any]) -> Any:
        began = time.perf_counter()
        result = step()
        out[name] = round((time.perf_counter() - began) * 1000, 1)
        return result

    warmed = coldstart.warm(kb)
    if warmed.failed:
        raise RuntimeError(f"the init warm-up failed at {warmed.failed}")
    out.update(warmed.steps_ms)
    out["classifier_from"] = warmed.classifier
    timed("after_restore_hook_ms", lambda: coldstart.refresh_after_restore(kb))
    timed("first_answer_ms", lambda: kb.matcher().decide(QUESTIONS[0]))  # checks the snapshot again, as restored
    timed("warm_answer_ms", lambda: kb.matcher().decide(QUESTIONS[1]))
    return out


# -- the result ----------------------------------------------------------------------------------------------

def _nonnegative(values: Mapping[str, float], digits: int = 2) -> dict[str, float]:
    return {k: round(max(0.0, v), digits) for k, v in sorted(values.items()) if round(max(0.0, v), digits)}


def describe(kind: str, usage: Usage, group: str, agents: Iterable[str], measured: int) -> dict[str, Any]:
    """One kind's figures per event, for peak.json."""
    roles = role_units(usage["partitions"], group, agents)
    tables = table_units(usage["partitions"])
    gateway = usage.get("gateway", {})
    sfn = usage.get("sfn", {})
    calls = _nonnegative(usage.get("calls", {}))
    return {
        "label": KINDS[kind],
        "measured_events": measured,
        "calls": calls,
        "calls_total": round(sum(calls.values()), 2),
        "rcu_by_role": _nonnegative({r: v["rcu"] for r, v in roles.items()}),
        "wcu_by_role": _nonnegative({r: v["wcu"] for r, v in roles.items()}),
        "keys_by_role": {r: v["keys"] for r, v in sorted(roles.items()) if v["keys"]},
        "rcu_by_table": _nonnegative({t: u[0] for t, u in tables.items()}),
        "wcu_by_table": _nonnegative({t: u[1] for t, u in tables.items()}),
        "rcu_total": round(sum(u[0] for u in tables.values()), 2),
        "wcu_total": round(sum(u[1] for u in tables.values()), 2),
        "frames": {"in": round(max(0.0, gateway.get("frames_in", 0)), 2),
                   "posts": round(max(0.0, gateway.get("posts", 0) + gateway.get("posts_gone", 0)), 2),
                   "rest": round(max(0.0, usage.get("invocations", {}).get("rest", 0)), 2),
                   "new_connections": round(max(0.0, gateway.get("connections", 0)), 2)},
        "sfn_starts": {**_nonnegative(sfn.get("starts", {})),
                       "by_machine": _nonnegative(sfn.get("starts_by_machine", {}))},
        "sfn_transitions": _nonnegative(sfn.get("transitions", {})),
        "sfn_stops": calls.get("stepfunctions.StopExecution", 0.0),
        "lambda_ms": _nonnegative(usage.get("lambda_ms", {}), 1),
        "lambda_seconds_on_aws": round(max(0.0, lambda_seconds(usage)), 4),
        "lambda_tasks": round(max(0.0, sfn.get("lambda_tasks", 0.0)), 2),
        "search_requests": round(max(0.0, usage.get("search_requests", 0.0)), 2),
    }


def tick_at_peak(tick: Usage, waiting: int, connected: int, frames_per_waiting: float = 1.0) -> Usage:
    """The tick with the hot queue in place, as if every waiting visitor had a socket: each gets
    ``frames_per_waiting`` ``queue`` frames per run (one per queue tick in it; the seeded visitors have no
    connection, so theirs were never posted here)."""
    missing = round(max(0, waiting - connected) * frames_per_waiting)
    found: Usage = combine(tick, {"gateway": {"posts": missing},
                                  "calls": {"apigatewaymanagementapi.PostToConnection": missing}})
    return found


def frames_per_waiting(small_tick: Usage, small: Mapping[str, Any]) -> float:
    """How many frames one waiting visitor got in the run with a small queue, everyone connected (the clock
    runs the queue tick several times a run)."""
    waiting = int(small.get("waiting") or 0)
    posts = float(small_tick.get("gateway", {}).get("posts", 0))
    return max(1.0, round(posts / waiting)) if waiting else 1.0


def move_summary(usage: Usage) -> dict[str, Any]:
    gateway = usage.get("gateway", {})
    tables = table_units(usage["partitions"])
    return {"frames": round(gateway.get("frames_in", 0) + gateway.get("posts", 0) + gateway.get("posts_gone", 0), 2),
            "posts": round(gateway.get("posts", 0) + gateway.get("posts_gone", 0), 2),
            "aws_calls": round(sum(usage.get("calls", {}).values()), 2),
            "calls": _nonnegative(usage.get("calls", {})),
            "rcu": round(sum(u[0] for u in tables.values()), 2), "wcu": round(sum(u[1] for u in tables.values()), 2),
            "lambda_ms": round(sum(usage.get("lambda_ms", {}).values()), 1)}


def assemble(profile: Profile, recorder: Recorder, extra: Mapping[str, Any], notes: list[str],
             cold: Mapping[str, Any], domain: SearchDomain, group: str = GROUP_ID,
             agents: tuple[str, ...] = AGENTS) -> dict[str, Any]:
    """peak.json from what was measured."""
    per = {k: recorder.per_event(k) for k in recorder.sums}
    count = recorder.events
    tick = extra.get("tick", {})
    events: dict[str, tuple[Usage, int]] = {
        "connect": (per["connect"], count["connect"]),
        "robot_turn": (per["robot_turn"], count["robot_turn"]),
        "arrival_direct": (per["arrival_direct"], count["arrival_direct"]),
        "arrival_queued": (per["arrival_queued"], count["arrival_queued"]),
        "chat_message": (per["chat_message"], count["chat_message"]),
        "ack": (per["ack"], count["ack"]),
        "assignment_from_queue": (combine(per["resolve_1"], per["resolve_0"], -1), count["resolve_1"]),
        "queue_move": (combine(per["resolve_big"], per["resolve_1"], -1), count["resolve_big"]),
        "close": (combine(per["resolve_0"], per["rate"]), count["resolve_0"]),
        "leave": (per["leave"], count["leave"]),
        "reconnect": (per["reconnect"], count["reconnect"]),
        "tick": (tick_at_peak(per["tick"], int(tick.get("waiting", 0)), int(tick.get("connected", 0)),
                              frames_per_waiting(per["tick_small"], extra.get("tick_small", {}))), count["tick"]),
    }
    usages = {k: u for k, (u, _) in events.items()}
    limits = project(profile, usages, group, agents, domain)
    fixed, after = headrooms(limits)
    stress = hot_group_stress(profile, usages, group, agents, domain)
    frames = frames_per_message(per)
    return {
        "profile": asdict(profile),
        "rates": {k: asdict(r) for k, r in rates(profile).items()},
        "events": {k: describe(k, u, group, agents, n) for k, (u, n) in events.items()},
        "limits": sorted(limits, key=lambda x: (x["headroom"] is None, x["headroom"] or 0.0)),
        "min_headroom_fixed": fixed,
        "min_headroom_after_increase": after,
        "quota_requests": quota_requests(limits),
        "hot_group_stress": stress,
        "queue_move": {"nobody_waiting": move_summary(per["resolve_0"]), "waiting_1": move_summary(per["resolve_1"]),
                       "waiting_50": move_summary(per["resolve_50"]),
                       f"waiting_{profile.hot_group_waiting}": move_summary(per["resolve_big"]),
                       "measured_each": REPEAT["queue_move"],
                       "tick": {"small_queue": {"waiting": extra.get("tick_small", {}).get("waiting"),
                                                **move_summary(per["tick_small"])},
                                "profile_queue": {"waiting": tick.get("waiting"), "connected": tick.get("connected"),
                                                  **move_summary(per["tick"])}},
                       "seeding": extra.get("seed", {})},
        "cold_start": dict(cold),
        **frames,
        "assumptions": {
            "measured_group": group, "measured_agents": list(agents), "agent_capacity": CAPACITY,
            "lambda_cpu_factor": {route: round(cpu_factor(route), 2) for route in sorted(
                set(ROUTE_FUNCTIONS) | {route for u in usages.values() for route in u.get("lambda_ms", {})})},
            "lambda_cpu": f"one core here = one Lambda vCPU; a function gets {LAMBDA_FULL_VCPU_MB} MB's worth at "
                          "most, so its time here is scaled by 1,769 / its memory (AWS calls included: moto's CPU "
                          "here stands in for the network wait there, so an upper bound)",
            "search_per_node_per_s": SEARCH_PER_NODE, "search_domain": asdict(domain),
            "dynamodb_table_after_increase": f"warm throughput {WARM_WCU:,.0f} WCU / {WARM_RCU:,.0f} RCU per table",
            "ssm": "one GetParametersByPath per container per config max age; containers = Lambda concurrency",
            "ack_first_wait_seconds": ACK_FIRST_WAIT_SECONDS, "reconnect_grace_seconds": GRACE_SECONDS,
            "schedules": tick.get("schedules", {}), "clock": CLOCK_ENV,
            "frames_per_chat_message": FRAMES_ASSUMPTION,
        },
        "notes": notes,
    }


FRAMES_ASSUMPTION = (
    f"a turn is 2 to 3 lines, typed: each line leaves seconds after the last, beyond the clients' {ACK_WINDOW_MS} ms "
    "ACK window, so each is ACKed alone (an `ack` in, one `delivered` out): the single message's frames, which the "
    "API Gateway demand counts at the profile's message rate. Lines that arrive within the window (cards sent "
    f"together, pasted lines; measured as turns of {TURN_LINES}) are ACKed the first at once and the others in one "
    "frame (`burst`), a resumed backlog in one frame (`backlog`); neither is in the demand, as the profile does not "
    "say how many turns come so")


def _frames(usage: Usage | None) -> float | None:
    """Frames in and posts (410s included) of one event, as ``describe`` counts them."""
    if usage is None:
        return None
    gateway = usage.get("gateway", {})
    return round(max(0.0, float(gateway.get("frames_in", 0)))
                 + max(0.0, float(gateway.get("posts", 0)) + float(gateway.get("posts_gone", 0))), 2)


def frames_per_message(per: Mapping[str, Usage]) -> dict[str, Any]:
    """peak.json's frames per chat message (WebSocket frames in and ``@connections`` posts): the single
    message's, which the demand uses (``frames_per_chat_message``, parts: the message and its ACK), and per message
    of a turn of TURN_LINES lines ACKed as a burst and as a backlog (``frames_per_chat_message_by_pattern``; None
    where not measured)."""
    parts = {"message": _frames(per["chat_message"]), "ack": _frames(per["ack"])}
    single = round(float(parts["message"] or 0) + float(parts["ack"] or 0), 2)
    patterns: dict[str, Any] = {"single": {"frames": single, "parts": parts, "pattern": "one line, ACKed alone"}}
    for kind, how in (("burst", f"{TURN_LINES} lines within the ACK window: the first ACKed at once, the others in "
                                "one frame; one `delivered` per ACK frame"),
                      ("backlog", f"{TURN_LINES} lines ACKed in one frame (a resumed backlog); one `delivered`")):
        turn = {"message": _frames(per.get(f"{kind}_message")), "ack": _frames(per.get(f"{kind}_ack"))}
        total = None if None in turn.values() else round(float(turn["message"] or 0) + float(turn["ack"] or 0), 2)
        patterns[kind] = {"frames": total, "parts": turn, "lines": TURN_LINES, "pattern": how}
    return {"frames_per_chat_message": single, "frames_per_chat_message_parts": parts,
            "frames_per_chat_message_by_pattern": patterns}


def peak_stack(state_dir: Path) -> contextlib.AbstractContextManager[Stack]:
    """The metered local stack every peak measurement runs on."""
    return metered_stack(state_dir, ack_wait_seconds=ACK_WAIT_SECONDS, config_edit=config_edit,
                         extensions=("bench.peak",),
                         extra_env={**CLOCK_ENV, "ACK_FIRST_WAIT_SECONDS": str(ACK_FIRST_WAIT_SECONDS),
                                    # No journal compaction (a full scan under the tables' lock) inside a window.
                                    "LOCAL_JOURNAL_MAX_BYTES": str(1 << 32)})


def run(state_dir: Path, profile: Profile | None = None) -> dict[str, Any]:
    profile = profile or Profile()
    started = time.perf_counter()

    async def measure(stack: Stack) -> Run:
        # No cap on open connections (aiohttp's default is 100): the run holds about 80 sockets.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            one = Run(http, stack, profile)
            await one.run()
            return one

    with peak_stack(state_dir) as stack:
        measured = asyncio.run(measure(stack))
    cold = cold_start()
    result = assemble(profile, measured.recorder, measured.extra, measured.notes, cold, search_domain())
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


# -- docs/capacity.md ----------------------------------------------------------------------------------------

SEARCH_PLACEHOLDER = f"""{SEARCH_BEGIN}
## Search

The search domain's sizing goes here (kept as it is when this file is generated again).
{SEARCH_END}"""


FAR = 100.0  # limits with more headroom than this are left out of the doc's table (not out of peak.json)


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}".rstrip("0").rstrip(".") if value else "0"


def _headroom(value: float | None) -> str:
    if value is None:
        return "-"
    text = _num(value)
    return f"**{text}**" if value < 2 else text


# The reports' aggregates (chalicelib/reports, infra/build.py's stream mapping): at most this many sums per window of
# a shard (chalicelib/reports/aggregator.py MAX_HELD) and write units per aggregate write (an item with every
# counter and a few shards' marks stays under 2 KB).
REPORT_CHANNELS, REPORT_CATEGORIES, REPORT_ITEM_WCU = 3, 20, 2.0


def reports_lines(r: Mapping[str, Any]) -> list[str]:
    """The reports' writes at the profile: not measured on the local stack (whose stream reader makes every read a
    window of its own) but derived from the deployed mapping: one write per aggregate item per shard per window."""
    from chalicelib.reports.aggregator import MAX_HELD
    from infra.build import STREAM_WINDOW_SECONDS

    p = r["profile"]
    closes = float(r["rates"]["close"]["total"])
    sessions_wcu = next((x["demand_per_s"] for x in r["limits"] if x["name"] == "DynamoDB table WCU: sessions"), 0.0)
    # A stream has a shard per partition of its table; at least one per 1,000 write units, twice that after splits.
    shards = max(1, 2 * math.ceil(sessions_wcu / PARTITION_WCU))
    per_window = closes * STREAM_WINDOW_SECONDS / shards  # chats a shard's window holds
    items = min(MAX_HELD, 1 + p["groups"] + min(p["agents"], per_window) + REPORT_CHANNELS + REPORT_CATEGORIES)
    # A rating comes later, in another window: the same items again, at most.
    table_wcu = 2 * shards * items / STREAM_WINDOW_SECONDS * REPORT_ITEM_WCU
    key_wcu = 2 * shards / STREAM_WINDOW_SECONDS * REPORT_ITEM_WCU
    return [
        "## Reports",
        "",
        "The reports' aggregates are kept by the sessions table's stream (`chalicelib/sessions/stream.py`), not on "
        "any request path, so none of the figures above include them; the local stack's benchmarks run without its "
        f"reader. On AWS the mapping's tumbling window ({STREAM_WINDOW_SECONDS} s) makes each shard's minute one "
        "write per aggregate item, whatever the number of chats in it; ratings, given later, touch the same items in "
        f"a later window. At this profile ({_num(closes)} closes a second, the sessions table's "
        f"{_num(sessions_wcu)} WCU a second in at least {shards} stream shards):",
        "",
        "| | at the profile | limit | headroom |",
        "|---|---|---|---|",
        f"| chats a shard's window holds | {_num(per_window)} | | |",
        f"| aggregate items written per shard and window (all, groups, agents, channels, categories) | "
        f"{_num(items)} | {_num(MAX_HELD)} held at most, then written early | |",
        f"| DynamoDB table WCU: reports (a second) | {_num(table_wcu)} | {_num(TABLE_WCU)} | "
        f"{_headroom(TABLE_WCU / table_wcu)} |",
        f"| DynamoDB per-partition WCU: the hottest item (everything, or the hot group, this hour; a second) | "
        f"{_num(key_wcu)} | "
        f"{_num(PARTITION_WCU)} | {_headroom(PARTITION_WCU / key_wcu)} |",
        f"| Lambda concurrency of the stream's function | {shards} (one per shard) | 1,000 | "
        f"{_headroom(1000 / shards)} |",
        "",
        "So the \"all\" scope needs no sharding: its writes grow with the stream's shards, not with the closes. "
        "`python -m bench --only reports` measures the writes per conversation and the cost of a report.",
        "",
    ]


def render(r: Mapping[str, Any], search_section: str = SEARCH_PLACEHOLDER) -> str:
    """docs/capacity.md from peak.json (``search_section``: the Search block as it stands in the file)."""
    p, cold = r["profile"], r["cold_start"]
    moves = r["queue_move"]
    shown = [x for x in r["limits"] if x["headroom"] is not None and x["headroom"] < FAR]
    big = f"waiting_{p['hot_group_waiting']}"
    lines = [
        "# Capacity at a peak",
        "",
        "Generated by `python -m bench --only peak` (`bench/peak.py`) from `bench/results/peak.json` "
        f"({r['date']}, {r['machine']['cpus']} CPUs, {r['seconds']:g} s); edit the benchmark, not this file. The "
        "Search section at the end is kept as it is.",
        "",
        "Each kind of event is measured on its own on the local stack, over real sockets, a few times (calls, "
        "DynamoDB units by partition key, frames, Step Functions starts, Lambda time), then multiplied by its rate "
        "at the profile below and set against the AWS limits that bind at a peak. Headroom is limit / demand; "
        "below 2 is in **bold**.",
        "",
        "## The profile",
        "",
        "| | |",
        "|---|---|",
        f"| concurrent chats | {p['concurrent_chats']:,} |",
        f"| chat messages per second (half each way) | {p['messages_per_s']:,.0f} |",
        f"| visitors asking for a person per second | {p['requests_per_s']:,.0f}, {p['hot_group_share']:.0%} of them "
        "to one group (the hot group) |",
        f"| agents, groups | {p['agents']:,} in {p['groups']} groups, {p['agent_capacity']} chats each |",
        f"| waiting in the hot group | {p['hot_group_waiting']:,} |",
        f"| robot questions per minute | {p['robot_questions_per_minute']:,.0f} |",
        f"| connections reconnecting within a minute | {p['reconnect_share_per_minute']:.0%}, and API Gateway closes "
        f"every connection after {p['connection_max_seconds'] / 3600:g} h |",
        f"| queue tick; configuration read by each container | every {p['tick_seconds']:g} s; every "
        f"{p['config_max_age_seconds']:g} s |",
        "",
        "## Rates",
        "",
        "| event | per second | hot group | another group | one session | one agent | how |",
        "|---|---|---|---|---|---|---|",
        *[f"| {KINDS[k]} | {_num(x['total'])} | {_num(x['hot_group'])} | {_num(x['other_group'])} | "
          f"{_num(x['per_session'], 4)} | {_num(x['per_agent'], 4)} | {x['how']} |" for k, x in r["rates"].items()],
        "",
        "A key of the hot group (its counters and their shards, its queue partition, its memberships and its part "
        "of the free-agents index) sees the hot group's rate of each event; one session's items (session, "
        "messages, presence, connection) the per-session rate; one agent's items the per-agent rate. Keys every "
        "event may meet (a FAQ, the dashboard's subscribers) see the whole rate.",
        "",
        "## Limits",
        "",
        f"Lowest headroom over the limits that cannot be raised (DynamoDB's per partition key): "
        f"**{_num(r['min_headroom_fixed'])}**. Lowest over every limit once the adjustable ones are raised as "
        f"assumed below: **{_num(r['min_headroom_after_increase'])}**.",
        "",
        "| limit | demand/s | limit/s | headroom | adjustable | after increase | note |",
        "|---|---|---|---|---|---|---|",
        *[f"| {x['name']} | {_num(x['demand_per_s'])} | {_num(x['limit_per_s'])} | {_headroom(x['headroom'])} | "
          f"{'yes' if x['adjustable'] else 'no'} | {_num(x['limit_after_increase'])} | {x['note']} |"
          for x in shown],
        "",
        f"{len(r['limits']) - len(shown)} more limits have a headroom over {FAR:g} (or no demand): they are in "
        "`limits` of peak.json.",
        "",
        f"### One group taking {_num(r['hot_group_stress']['arrivals_per_s'])} arrivals a second",
        "",
        "When every visitor asking for a person goes to one group (the others closed or overflowing into it), "
        "that group's own keys carry the whole rate. Its counters, queue and memberships are each spread over "
        "several keys (`chalicelib/routing/models.py`), so the lowest headroom over them is "
        f"**{_num(r['hot_group_stress']['min_headroom'])}**:",
        "",
        "| key | demand/s | limit/s | headroom |",
        "|---|---|---|---|",
        *[f"| {x['name']} | {_num(x['demand_per_s'])} | {_num(x['limit_per_s'])} | {_headroom(x['headroom'])} |"
          for x in r["hot_group_stress"]["limits"] if x["demand_per_s"] > 0],
        "",
        "## Quota increases to request before a peak",
        "",
        *quota_lines(r),
        "",
        "## What one event costs",
        "",
        "Per event, measured (capacity units by DynamoDB's rules; Lambda time as measured here; search: queries "
        "to the FAQ index):",
        "",
        "| event | AWS calls | RCU | WCU | frames in | posts | Express / Standard starts | stops | Lambda ms | "
        "search |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *[f"| {k} | {_num(e['calls_total'])} | {_num(e['rcu_total'])} | {_num(e['wcu_total'])} | "
          f"{_num(e['frames']['in'])} | {_num(e['frames']['posts'])} | {_num(e['sfn_starts'].get('express', 0))} / "
          f"{_num(e['sfn_starts'].get('standard', 0))} | {_num(e['sfn_stops'])} | "
          f"{_num(sum(e['lambda_ms'].values()), 1)} | {_num(e['search_requests'])} |" for k, e in r["events"].items()],
        "",
        "Write units per event on the hot keys (a shared role: its most loaded key; a session's or agent's own "
        "items: all of the event's):",
        "",
        *_role_table(r),
        "",
        "## Queue move",
        "",
        "An agent resolves a session while visitors wait: the freed slot takes the head of the queue and the new "
        "head is told it is next. Per resolve (the close included):",
        "",
        "| waiting | frames | posts | AWS calls | RCU | WCU | Lambda ms |",
        "|---|---|---|---|---|---|---|",
        *[f"| {label} | {_num(moves[key]['frames'])} | {_num(moves[key]['posts'])} | {_num(moves[key]['aws_calls'])} "
          f"| {_num(moves[key]['rcu'])} | {_num(moves[key]['wcu'])} | {_num(moves[key]['lambda_ms'], 1)} |"
          for label, key in (("nobody", "nobody_waiting"), ("1", "waiting_1"), ("50", "waiting_50"),
                             (f"{p['hot_group_waiting']:,}", big))],
        "",
        f"The first {SMALL_QUEUE} waiting are real visitors with sockets, queued by `request_agent`; the rest of the "
        f"{p['hot_group_waiting']:,} are written directly behind them as an enqueue leaves them "
        f"({moves['seeding'].get('seconds', '-')} s; `seed_waiting`). Calls, units and frames do not grow with the "
        "queue; handler time does here, because moto reads a whole partition for a Query with a limit of 1, which "
        "DynamoDB does not. "
        f"A minute's tick, which tells everyone their place, read {_num(moves['tick']['profile_queue']['rcu'])} "
        f"units with {moves['tick']['profile_queue']['waiting']:,} waiting (against "
        f"{_num(moves['tick']['small_queue']['rcu'])} with {moves['tick']['small_queue']['waiting']}); each queue "
        "tick in it posts a frame to every waiting visitor (at the profile: "
        f"{_num(r['events']['tick']['frames']['posts'])} a minute).",
        "",
        "## Cold start",
        "",
        f"A new container of the robot's function (`{cold['route']}`), each part in a fresh process on this machine "
        f"(the run of median total of {cold.get('runs', 1)}); on the Lambda x{_num(cold['cpu_factor'])} (its CPU "
        "share, as every Lambda time here). Its init loads everything the first answer needs "
        "(`chalicelib/edge/coldstart.py`); under SnapStart that runs once per published version, not for a visitor:",
        "",
        "| init step | ms here | ms on the Lambda |",
        "|---|---|---|",
        *[f"| {COLD_LABELS.get(k, k)} | {_num(v, 1)} | {_num(v * cold['cpu_factor'], 0)} |"
          for k, v in cold["init_breakdown_ms"].items()],
        f"| **init** | **{_num(cold['init_ms'], 1)}** | **{_num(cold['init_scaled_ms'], 0)}** |",
        "",
        "What a visitor then waits for on a new container:",
        "",
        "| after init | ms here | ms on the Lambda |",
        "|---|---|---|",
        *[f"| {COLD_LABELS.get(k, k)} | {_num(v, 1)} | {_num(v * cold['cpu_factor'], 0)} |"
          for k, v in cold["after_init_ms"].items()],
        f"| **added before the first reply** | **{_num(cold['added_before_first_reply_ms'], 1)}** | "
        f"**{_num(cold['added_before_first_reply_scaled_ms'], 0)}** (goal: at most {_num(cold['goal_ms'], 0)}) |",
        "",
        f"Plus SnapStart's restore of the snapshot: {cold['snapstart']['restore']}. Without SnapStart a cold start "
        f"adds the init too ({_num(cold['init_scaled_ms'], 0)} ms on the Lambda, billed since August 2025). A second "
        f"answer takes {_num(cold['warm_answer_ms'], 1)} ms here. Not counted: the Lambda runtime's own start and "
        "the connection to OpenSearch (locally the index is in the process; building it from the cached vectors "
        f"took {_num(cold['local_index_build_ms'], 1)} ms, which a container in front of OpenSearch does not do).",
        "",
        "## Frames per chat message",
        "",
        f"**{_num(r['frames_per_chat_message'])}** WebSocket frames in and `@connections` posts per chat message, "
        "the figure the API Gateway demand uses: "
        f"{_num(r['frames_per_chat_message_parts']['message'])} for the message (the `send` in, the post to the "
        f"recipient) and {_num(r['frames_per_chat_message_parts']['ack'])} for its ACK (the `ack` in, `delivered` "
        f"out). The pattern it assumes: {r['assumptions'].get('frames_per_chat_message', FRAMES_ASSUMPTION)}.",
        "",
        *_pattern_lines(r),
        "",
        TYPING_READ_NOTE,
        "",
        *reports_lines(r),
        "## How it is measured, and what it leaves out",
        "",
        "- The stack is `bench/metered.py`'s (the local stack with meters); its schedule is off and run once on "
        "purpose, with the clock as on AWS (one execution a minute, rounds every 5 s, the queue tick every 15 s), so "
        "the tick event is a whole minute's work; timers the other events arm are swept there. Configuration is "
        "cached 60 s as on AWS. A window opens and closes when no handler runs, no Express execution runs (a "
        "message's includes its delivery execution's read after the ACK wait) and nothing has happened for a "
        "moment.",
        f"- The measured group (`{r['assumptions']['measured_group']}`) has two agents of capacity "
        f"{r['assumptions']['agent_capacity']}; its keys stand for the hot group's, and for another group's at that "
        "group's rates.",
        "- Capacity units follow DynamoDB's rules (`bench/capacity.py`), charged to each partition key; a group's "
        "counters are several items (shards): their most loaded key counts, summed over the kinds of event, so a "
        "few measured events over several shards overstate that key somewhat.",
        f"- Lambda: {r['assumptions']['lambda_cpu']}. Factors: "
        + ", ".join(f"`{k}` x{v:g}" for k, v in r["assumptions"]["lambda_cpu_factor"].items()) + ".",
        f"- Search: {r['assumptions']['search_per_node_per_s']:g} requests/s per "
        f"`{r['assumptions']['search_domain']['instance_type']}` node is an assumption (no OpenSearch runs here); "
        f"the node count is infra/template.json's default ({r['assumptions']['search_domain']['nodes']}).",
        f"- After an increase: {r['assumptions']['dynamodb_table_after_increase']}; the other adjustable quotas at "
        "the values in the table (assumed grants, not promises). SSM: "
        f"{r['assumptions']['ssm']}.",
        "- One process here is one warm container: per-container caches (configuration 60 s, the dashboard's "
        "subscribers 2 s, robot settings 30 s, the identity of a connection) are missed more often across many "
        "containers than these figures show. Agents' own events (sign-in, status, transfers), tickets and left "
        "messages are not in the profile.",
        *([f"- Notes from the run: {'; '.join(r['notes'])}."] if r["notes"] else []),
        "",
        search_section,
        "",
    ]
    return "\n".join(lines)


# Typing indicators and read receipts (docs/protocol.md, section 3) are not measured here, nor in the demand.
TYPING_READ_NOTE = (
    "Not in these figures nor in the demand: typing indicators and read receipts (docs/protocol.md, \"Typing\" "
    "and \"Read receipts\"). The reference clients send one `typing` per 4 s of typing (relayed as one post per "
    "tab of the other side: 2 frames for a line typed in under 4 s; two DynamoDB reads, no write) and one `read` "
    "for the lines shown together (one `read` out per sending connection; one conditional write per message). A "
    "line typed, sent and read alone therefore costs up to 8 frames instead of 4: with both in use the API Gateway "
    "demand of chat messages would double, so a peak that counts on them needs the quota raised to match, or the "
    "clients told to leave them off.")


def _pattern_lines(r: Mapping[str, Any]) -> list[str]:
    patterns = r.get("frames_per_chat_message_by_pattern") or {}
    if not patterns:
        return []
    return ["| lines arrive | frames per message | message | ACK |", "|---|---|---|---|",
            *[f"| {p['pattern']} | {_num(p['frames'])} | {_num(p['parts']['message'])} | {_num(p['parts']['ack'])} |"
              for p in patterns.values()]]


COLD_LABELS = {"import_app_ms": "import the app module (`app.py` and what it imports)",
               "onnxruntime_import_ms": "import onnxruntime",
               "embedding_model_load_ms": "load the embedding model (ONNX) and its tokenizer, and run it once",
               "classifier_ms": "FAQ matcher ready: the intent classifier from its snapshot (S3)",
               "warm_up_ms": "one scoring pass (the classifier's inverse, the spelling vocabulary)",
               "after_restore_hook_ms": "SnapStart's after-restore hook (new AWS clients, random state)",
               "first_answer_ms": "the first robot answer (embed, search, classify; a look for a newer snapshot)"}


def _role_table(r: Mapping[str, Any]) -> list[str]:
    kinds = list(r["events"])
    names = sorted({name for e in r["events"].values() for name in e["wcu_by_role"]})
    return ["| role | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds),
            *[f"| {name} | " + " | ".join(_num(r["events"][k]["wcu_by_role"].get(name, 0)) for k in kinds) + " |"
              for name in names]]


def quota_lines(r: Mapping[str, Any]) -> list[str]:
    asks = r["quota_requests"]
    if not asks:
        return ["Nothing adjustable is below a headroom of 2 at this profile."]
    short = " (more than this model assumes a request gets)"
    return ["Adjustable limits with a headroom below 2 at the peak profile of [capacity.md](capacity.md), and what "
            "to ask for (twice the demand; none is granted at once, so ask weeks ahead):", "",
            *[f"- {a['name']}: demand {_num(a['demand_per_s'])} against {_num(a['limit_per_s'])}; request "
              f"{_num(a['request'])}{'' if a['enough_after_increase'] else short}" for a in asks]]


def write_doc(r: Mapping[str, Any], path: Path = DOC) -> None:
    """docs/capacity.md, keeping its Search block as it is."""
    section = SEARCH_PLACEHOLDER
    if path.exists():
        text = path.read_text()
        if SEARCH_BEGIN in text and SEARCH_END in text:
            section = SEARCH_BEGIN + text.split(SEARCH_BEGIN, 1)[1].split(SEARCH_END, 1)[0] + SEARCH_END
    path.write_text(render(r, section))


def write_quotas(r: Mapping[str, Any], path: Path = DEPLOY_DOC) -> None:
    """The quota-increase list in docs/deploy.md, between its markers."""
    text = path.read_text()
    if QUOTAS_BEGIN not in text or QUOTAS_END not in text:
        raise ValueError(f"{path}: no {QUOTAS_BEGIN} ... {QUOTAS_END} block")
    head, rest = text.split(QUOTAS_BEGIN, 1)
    path.write_text(head + QUOTAS_BEGIN + "\n" + "\n".join(quota_lines(r)) + "\n" + QUOTAS_END
                    + rest.split(QUOTAS_END, 1)[1])


def summary(r: Mapping[str, Any]) -> str:
    """The short section of docs/benchmarks.md: the headline figures and a link to capacity.md."""
    worst = [x for x in r["limits"] if x["headroom"] is not None][:5]
    return "\n".join([
        f"Lowest headroom at the peak profile: **{_num(r['min_headroom_fixed'])}** over the limits that cannot be "
        f"raised, **{_num(r['min_headroom_after_increase'])}** once the adjustable ones are; "
        f"{_num(r['frames_per_chat_message'])} frames per chat message; a new container adds "
        f"{_num(r['cold_start']['added_before_first_reply_scaled_ms'], 0)} ms (on the Lambda) before the first robot "
        "reply, its init running once per version under SnapStart. The tightest limits:",
        "",
        "| limit | demand/s | limit/s | headroom |",
        "|---|---|---|---|",
        *[f"| {x['name']} | {_num(x['demand_per_s'])} | {_num(x['limit_per_s'])} | {_headroom(x['headroom'])} |"
          for x in worst],
        "",
        "The whole model (profile, rates, every limit, queue move, cold start): [capacity.md](capacity.md).",
    ])


def run_frames(state_dir: Path) -> dict[str, Any]:
    """Only the frames per chat message (``python -m bench.peak frames``, about a minute and a half): the agents,
    a visitor assigned to one, the single messages and the turns of the full run, on the same metered stack."""
    async def measure(stack: Stack) -> Run:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            one = Run(http, stack, Profile())
            for username in AGENTS:
                await one.agent(username)
            await one.warm_up()
            await one.request_agent(await one.visitor(), "active")
            await one.chat()
            await one.turns()
            return one

    with peak_stack(state_dir) as stack:
        measured = asyncio.run(measure(stack))
    per = {k: measured.recorder.per_event(k) for k in measured.recorder.sums}
    return {**frames_per_message(per), "assumption": FRAMES_ASSUMPTION, "notes": measured.notes}


if __name__ == "__main__":
    if sys.argv[1:] == ["cold-start"]:
        print(json.dumps(_cold_start_child()))
    elif sys.argv[1:] == ["cold"]:  # the cold-start section alone, printed (peak.json and the docs are untouched)
        print(json.dumps(cold_start(), indent=1))
    elif sys.argv[1:] == ["frames"]:  # the frames per chat message alone, printed (peak.json is untouched)
        with tempfile.TemporaryDirectory(prefix="cs-bench-frames-") as state:
            print(json.dumps(run_frames(Path(state)), indent=1))
    else:
        sys.exit("usage: python -m bench.peak cold | frames   (one section alone, printed; the benchmark itself: "
                 "python -m bench --only peak)")
