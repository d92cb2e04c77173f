"""Reports benchmark: what a report costs with 1,000 and with 1,000,000 conversations in its range, and what a
conversation adds to keep the reports. In-process, on moto.

- **Per report**: 30 days of hourly aggregates are written for one scope, holding 1,000 or 1,000,000 conversations
  between them (spread over the hours as a shop's day is, every hour holding all its counters), then the report is
  read hourly and daily as ``GET /reports`` reads it (``ReportService.report``). Its AWS calls and read units are
  counted; both sizes read the same 720 items.
- **Per conversation**: real chats (a visitor asks for a person, the agent replies, resolves, the visitor rates)
  end through the services; moto's stream of the sessions table is read and handed to the app's stream function
  (``sessions_stream``) as Lambda does, once as one tumbling window holding them all (a busy minute of a shard) and
  once per chat (a quiet shop: each chat alone in its window). The consumer's calls and write units are counted;
  the sessions' own writes are not (they happen with or without reports: the reports' new session attributes ride
  on writes that were made anyway).

Capacity units come from ``CapacityMeter`` (bench/capacity.py), DynamoDB's documented rules. Reading the stream
costs nothing on AWS (GetRecords calls made by Lambda for a DynamoDB trigger are free); the function's calls are
priced as Lambda requests and GB-seconds of its measured time at its memory.
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from local.harness import in_process_environment

# Set before chalicelib is imported: pynamodb reads table names and region when models are defined.
_STATE_DIR = tempfile.mkdtemp(prefix="cs-bench-reports-")
atexit.register(shutil.rmtree, _STATE_DIR, ignore_errors=True)
os.environ.update(in_process_environment("cs-bench", "bench", _STATE_DIR))

from moto import mock_aws  # noqa: E402

from bench.capacity import CapacityMeter, Units  # noqa: E402
from bench.cost import load_prices  # noqa: E402
from bench.metered import memory_mb  # noqa: E402
from bench.routing import FrameCounter, NoTimer, _meter, _prepare, routing_config  # noqa: E402
from chalicelib.auth.identity import Identity  # noqa: E402
from chalicelib.platform import aws as aws_clients  # noqa: E402
from chalicelib.platform import metering  # noqa: E402
from chalicelib.platform.clock import Clock  # noqa: E402
from chalicelib.reports.figures import BUCKETS, HOUR_MS, Counts  # noqa: E402
from chalicelib.reports.models import ReportHour  # noqa: E402
from chalicelib.reports.schemas import ReportQuery  # noqa: E402
from chalicelib.sessions.models import Session  # noqa: E402
from chalicelib.wiring import Services, build  # noqa: E402
from local.streams import StreamPoller  # noqa: E402

SIZES = (1_000, 1_000_000)
DAYS = 30
START = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp())
ADMIN = Identity(user_id="admin", role="admin")
CHATS = 40
# A shop's day: the share of its conversations in each hour (UTC+8 shoppers: quiet at night, busy evenings).
DAY_SHAPE = [1, 1, 1, 1, 2, 3, 5, 6, 7, 7, 7, 6, 6, 6, 7, 8, 9, 9, 8, 6, 4, 3, 2, 1]
WRAPUPS = ("logistics", "returns", "quality", "other")


def _hour_counts(conversations: int, rng: random.Random) -> Counts:
    """Every counter of an hour that held ``conversations``, in realistic proportions."""
    n = conversations
    handed = n * 6 // 10
    served = handed * 9 // 10
    rated = served // 3
    counts: Counts = {"n": n, "bot": n - handed, "ho": handed, "lm": max(1, n // 50), "srv": served,
                      "ab": handed - served, "wn": served, "ws": served * 25_000, "fn": served,
                      "fs": served * 40_000, "hn": served, "hs": served * 420_000, "tr": served // 10,
                      "trs": served // 12, "res": served * 8 // 10, "sv": served, "rt": rated, "rs": rated * 4}
    for prefix in ("w", "f"):
        left = served
        for i in range(BUCKETS - 1):
            share = min(left, rng.randint(0, max(1, served // 6)))
            counts[f"{prefix}{i}"] = share
            left -= share
        counts[f"{prefix}{BUCKETS - 1}"] = left
    for stars in range(1, 6):
        counts[f"r{stars}"] = rated // 5
    for code in WRAPUPS:
        counts["wu:" + code] = served // len(WRAPUPS)
    return {k: max(1, v) for k, v in counts.items()}  # every counter present: the largest item it can be


def seed(conversations: int) -> int:
    """30 days of hourly aggregates of the scope ``all`` holding ``conversations`` (an hour that held none has no
    item); returns the items written."""
    rng = random.Random(conversations)
    hours = DAYS * 24
    weight = sum(DAY_SHAPE) * DAYS
    exact = [conversations * DAY_SHAPE[h % 24] / weight for h in range(hours)]
    counts = [int(x) for x in exact]
    # The largest remainders take what flooring left, so the hours hold exactly ``conversations``.
    for h in sorted(range(hours), key=lambda h: exact[h] - counts[h], reverse=True)[:conversations - sum(counts)]:
        counts[h] += 1
    first = START * 1000 // HOUR_MS
    # Put whole, as the consumer's additions would have left them (moto parses a 60-counter UpdateItem slowly).
    items = [{"scope": {"S": "all"}, "hour": {"N": str(first + h)},
              **{k: {"N": str(v)} for k, v in _hour_counts(n, rng).items()}} for h, n in enumerate(counts) if n]
    client, table = aws_clients.client("dynamodb"), str(ReportHour.Meta.table_name)
    for start in range(0, len(items), 25):
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": i}} for i in items[start:start + 25]]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return len(items)


def measure(meter: CapacityMeter, action: Callable[[], Any]) -> tuple[Any, dict[str, Any], Units, float]:
    before_calls, before_units = metering.snapshot(), meter.snapshot()
    started = time.perf_counter()
    out = action()
    seconds = time.perf_counter() - started
    calls = {k: v - before_calls.get(k, 0) for k, v in metering.snapshot().items() if v > before_calls.get(k, 0)}
    return out, calls, meter.snapshot().plus(before_units, -1), seconds


def _report_costs(meter: CapacityMeter, prices: dict[str, float], size: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with mock_aws():
        _prepare(meter)
        svc = build(FrameCounter(), NoTimer(), config=lambda: routing_config(["alice"]))
        items = seed(size)
        for granularity in ("hour", "day"):
            query = ReportQuery.model_validate({"from": "2026-12-01", "to": "2026-12-30", "granularity": granularity})
            def read(q: ReportQuery = query) -> dict[str, Any]:
                return svc.reports.report(ADMIN, q)

            report, calls, units, _ = measure(meter, read)
            assert report["total"]["conversations"] == size, report["total"]["conversations"]
            out[f"{size}:{granularity}"] = {
                "conversations": report["total"]["conversations"], "items": items,
                "aws_calls": sum(calls.values()), "calls": calls, "read_units": round(units.read, 1),
                "items_read": units.items_read, "usd": units.read * prices["dynamodb_per_million_read_units"] / 1e6,
            }
    return out


def per_report(meter: CapacityMeter, prices: dict[str, float]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for size in SIZES:
        started = time.perf_counter()
        out.update(_report_costs(meter, prices, size))
        print(f"reports: {size:,} conversations, {time.perf_counter() - started:.1f} s", flush=True)
    return out


def _chats(svc: Services, now: list[float], count: int, between: Callable[[], Any]) -> None:
    """``count`` chats served by alice, resolved and rated 5; ``between()`` runs after each close and rating."""
    alice = Identity(user_id="alice", role="agent", name="Alice")
    svc.presence.connect("c-alice", alice)
    svc.routing.set_agent_status(alice, "online", capacity=5)
    for i in range(count):
        visitor = Identity(user_id=f"v_{i:016x}", role="visitor", name=f"V{i}", channel="web", category="shoes")
        svc.sessions.current_or_new(visitor, svc.presence.connect(f"c-v{i}", visitor))
        session = svc.routing.request_agent(visitor)
        now[0] += 15
        svc.im.next_seq(alice, session.session_id)
        now[0] += 240
        svc.sessions.resolve(alice, session.session_id)
        between()
        svc.survey.rate(visitor, session.session_id, 5, [], None)
        between()


def _conversation_costs(meter: CapacityMeter, prices: dict[str, float], quiet: bool) -> dict[str, Any]:
    memory = memory_mb("sessions_stream")
    with mock_aws():
        _prepare(meter)
        now = [float(START)]
        svc = build(FrameCounter(), NoTimer(), config=lambda: routing_config(["alice"]), clock=Clock(lambda: now[0]))
        invocations: list[int] = []

        def handler(event: dict[str, Any], context: Any) -> Any:
            invocations.append(len(event["Records"]))
            return svc.session_stream.handle(event)

        poller = StreamPoller(str(Session.Meta.table_name), handler)
        poller.open()
        calls: dict[str, int] = {}
        totals: list[Any] = [Units(), 0.0]

        def window() -> None:
            """What the stream holds now, as one tumbling window of Lambda's (its last call writes)."""
            _, c, u, s = measure(meter, poller.drain)
            for k, v in c.items():
                if not k.startswith("dynamodbstreams"):  # free for a Lambda trigger
                    calls[k] = calls.get(k, 0) + v
            totals[0], totals[1] = totals[0].plus(u), totals[1] + s

        # Busy: a minute of a shard holds every chat's close and rating. Quiet: each close and each rating alone
        # in its window (a small shop, or a rating given minutes later).
        _chats(svc, now, CHATS, window if quiet else lambda: None)
        if not quiet:
            window()
    units, seconds = totals[0], totals[1]
    usd = (units.write * prices["dynamodb_per_million_write_units"] / 1e6
           + len(invocations) * prices["lambda_per_million_requests"] / 1e6
           + seconds * memory / 1024 * prices["lambda_per_gb_second"])
    return {"conversations": CHATS, "consumer_calls_per_conversation": round(sum(calls.values()) / CHATS, 2),
            "calls": calls, "write_units_per_conversation": round(units.write / CHATS, 2),
            "lambda_invocations_per_conversation": round(len(invocations) / CHATS, 2),
            "usd_per_conversation": usd / CHATS, "usd_per_million_conversations": round(usd / CHATS * 1e6, 2)}


def per_conversation(meter: CapacityMeter, prices: dict[str, float]) -> dict[str, Any]:
    out = {}
    for mode in ("busy", "quiet"):
        started = time.perf_counter()
        out[mode] = _conversation_costs(meter, prices, quiet=mode == "quiet")
        print(f"reports: {mode} conversations, {time.perf_counter() - started:.1f} s", flush=True)
    return out


def run() -> dict[str, Any]:
    started = time.perf_counter()
    meter = _meter()
    prices = load_prices()["prices_usd"]
    return {"per_report": per_report(meter, prices), "per_conversation": per_conversation(meter, prices),
            "days": DAYS, "sizes": list(SIZES),
            "seconds": round(time.perf_counter() - started, 1)}


def table(r: dict[str, Any]) -> str:
    rep = r["per_report"]
    sizes = r["sizes"]
    head = "| 30-day report, one scope | " + " | ".join(f"{n:,} conversations" for n in sizes) + " |"
    rows = [head, "|---|" + "---|" * len(sizes)]
    for granularity, per in (("hour", "hourly"), ("day", "daily")):
        for label, key, fmt in (("AWS calls", "aws_calls", str), ("read units", "read_units", str),
                                ("items read", "items_read", str), ("dollars", "usd", lambda v: f"${v:.7f}")):
            cells = [fmt(rep[f"{n}:{granularity}"][key]) for n in sizes]
            rows.append(f"| {per}: {label} | " + " | ".join(cells) + " |")
    conv = r["per_conversation"]
    rows += [
        "",
        f"What a conversation adds to keep the reports ({conv['busy']['conversations']} chats, each served, resolved "
        "and rated; the sessions' own writes not counted, as they happen anyway):",
        "",
        "| | busy: one window holds them all | quiet: each chat alone in its window |",
        "|---|---|---|",
        *[f"| {label} | {conv['busy'][key]} | {conv['quiet'][key]} |" for label, key in (
            ("consumer's AWS calls (UpdateItem) per conversation", "consumer_calls_per_conversation"),
            ("write units per conversation", "write_units_per_conversation"),
            ("Lambda invocations per conversation", "lambda_invocations_per_conversation"),
            ("dollars per million conversations", "usd_per_million_conversations"))],
        "",
        f"A report reads one Query per scope whatever the number of conversations (a supervisor's whole view: one "
        f"per group); the daily report reads the same hourly items and sums them in the caller's time zone. Run "
        f"of {r['seconds']} s on moto ({r['date']}, {r['machine']['cpus']} CPUs); capacity units by DynamoDB's "
        "rules (bench/capacity.py); the stream's reads are free for a Lambda trigger.",
    ]
    return "\n".join(rows)
