"""What a finished conversation adds to the reports, and what a report's sums say: pure functions, no I/O.

A conversation is counted once, when it ends, in the hour it ended, in each of its scopes: everything
(``all``), its group (``g#``), its last agent (``a#``), its channel (``c#``) and its product category (``k#``). A
rating is added later to the same hour and scopes (its close's), so a CSAT answer rate compares the answers with
the surveys the same conversations were sent. A left message counts in the hour it was left. Durations go to
histograms with fixed buckets, so a p90 over any range is read from sums.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session
from chalicelib.sessions.stream import SessionChange

HOUR_MS = 3_600_000
# Upper edges of the duration histograms (seconds); one more bucket holds everything above the last. A service
# level (answered within N seconds) is read exactly when N is one of these (schemas.SLA_SECONDS).
EDGES: tuple[int, ...] = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600)
BUCKETS = len(EDGES) + 1
WRAPUP_PREFIX = "wu:"
DIMENSIONS = {"group": "g#", "agent": "a#", "channel": "c#", "category": "k#"}
ALL = "all"
NO_CHANNEL = "-"

Counts = dict[str, int]


def scope(dimension: str, value: str) -> str:
    return DIMENSIONS[dimension] + value


def bucket_of(seconds: float) -> int:
    """The histogram bucket of a duration: the first whose edge it does not exceed."""
    for i, edge in enumerate(EDGES):
        if seconds <= edge:
            return i
    return len(EDGES)


def _duration(counts: Counts, prefix: str, start: float | None, end: float | None, histogram: bool) -> None:
    if start is None or end is None:
        return
    ms = max(0, int(end) - int(start))
    counts[prefix + "n"] = counts.get(prefix + "n", 0) + 1
    counts[prefix + "s"] = counts.get(prefix + "s", 0) + ms
    if histogram:
        key = f"{prefix}{bucket_of(ms / 1000)}"
        counts[key] = counts.get(key, 0) + 1


def _scopes(session: Session, group: str | None, agent: str | None) -> list[str]:
    out = [ALL, scope("channel", session.channel or NO_CHANNEL)]
    if group:
        out.append(scope("group", group))
    if agent:
        out.append(scope("agent", agent))
    if session.category:
        out.append(scope("category", session.category))
    return out


def closed_counts(s: Session) -> Counts:
    """What the end of conversation ``s`` adds to each of its scopes."""
    counts: Counts = {"n": 1}
    handed = s.handoff_at is not None or bool(s.robot_off)
    if handed:
        counts["ho"] = 1
    elif s.left_message_at is None:
        counts["bot"] = 1  # ended without a person, a hand-off request or a left message: the robot resolved it
    if s.first_assigned_at is not None:
        counts["srv"] = 1
    elif s.handoff_at is not None and s.left_message_at is None:
        counts["ab"] = 1  # asked for a person, left before one came, and left no message
    _duration(counts, "w", s.handoff_at, s.first_assigned_at, histogram=True)
    _duration(counts, "f", s.handoff_at, s.first_response_at, histogram=True)
    _duration(counts, "h", s.first_assigned_at, s.closed_at if s.first_assigned_at is not None else None,
              histogram=False)
    if s.transfers:
        counts["tr"] = int(s.transfers)
        counts["trs"] = 1
    if s.close_reason == sm.RESOLVED:
        counts["res"] = 1
    if s.wrapup:
        counts[WRAPUP_PREFIX + s.wrapup] = 1
    if s.survey_sent_at is not None:
        counts["sv"] = 1
    if s.rating is not None:  # a rating can only follow the close; counted here if the image already has it
        counts.update(_rating_counts(int(s.rating)))
    return counts


def _rating_counts(stars: int) -> Counts:
    return {"rt": 1, "rs": stars, f"r{stars}": 1}


def deltas(changes: Iterable[SessionChange]) -> dict[tuple[str, int], Counts]:
    """The sums a batch of changes adds, per (scope, hour): a close, a rating, a left message each counted by
    the one write that made it (a stream record given twice is the caller's to skip)."""
    out: dict[tuple[str, int], Counts] = {}

    def add(scopes: list[str], at: float, counts: Counts) -> None:
        hour = int(at) // HOUR_MS
        for name in scopes:
            target = out.setdefault((name, hour), {})
            for key, value in counts.items():
                target[key] = target.get(key, 0) + value

    for change in changes:
        s = change.new
        if s is None:
            continue
        if change.closed and s.closed_at is not None:
            add(_scopes(s, s.group_id, s.agent_id), s.closed_at, closed_counts(s))
        elif change.became("rated_at") and s.status == sm.CLOSED and s.closed_at is not None and s.rating:
            add(_scopes(s, s.group_id, s.agent_id), s.closed_at, _rating_counts(int(s.rating)))
        if change.became("left_message_at") and s.left_message_at is not None:
            add(_scopes(s, s.left_message_group, None), s.left_message_at, {"lm": 1})
    return out


def merge(into: dict[str, Counts], more: Mapping[tuple[str, int], Counts]) -> None:
    """Add ``more`` to ``into`` (keyed ``scope|hour``: the shape the window's JSON state keeps)."""
    for (name, hour), counts in more.items():
        target = into.setdefault(f"{name}|{hour}", {})
        for key, value in counts.items():
            target[key] = target.get(key, 0) + value


def add_counts(into: Counts, item: Mapping[str, Any]) -> None:
    for key, value in item.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            into[key] = into.get(key, 0) + int(value)


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _seconds(total_ms: int, n: int) -> float | None:
    return round(total_ms / n / 1000, 1) if n else None


def quantile(counts: Counts, prefix: str, q: float) -> float | None:
    """The ``q`` quantile (seconds) of a histogram, linear within its bucket; the open last bucket answers its
    lower edge (a p90 "over an hour")."""
    total = sum(counts.get(f"{prefix}{i}", 0) for i in range(BUCKETS))
    if not total:
        return None
    rank = q * total
    seen = 0
    for i in range(BUCKETS):
        here = counts.get(f"{prefix}{i}", 0)
        if here and seen + here >= rank:
            low = EDGES[i - 1] if i else 0
            if i == len(EDGES):
                return float(low)
            return round(low + (EDGES[i] - low) * (rank - seen) / here, 1)
        seen += here
    return float(EDGES[-1])


def within(counts: Counts, prefix: str, seconds: int) -> float | None:
    """The share of a histogram at or under ``seconds`` (one of EDGES: exact)."""
    total = sum(counts.get(f"{prefix}{i}", 0) for i in range(BUCKETS))
    if not total:
        return None
    under = sum(counts.get(f"{prefix}{i}", 0) for i in range(bucket_of(seconds) + 1))
    return round(under / total, 4)


def figures(c: Counts, sla_seconds: int) -> dict[str, Any]:
    """A report's figures from its sums."""
    n, ho, srv, ab, rt = c.get("n", 0), c.get("ho", 0), c.get("srv", 0), c.get("ab", 0), c.get("rt", 0)
    return {
        "conversations": n,
        "robot_only": c.get("bot", 0),
        "handed_off": ho,
        "left_messages": c.get("lm", 0),
        "served": srv,
        "robot_resolution_rate": _ratio(c.get("bot", 0), n),
        "handoff_rate": _ratio(ho, n),
        "abandoned": ab,
        "abandonment_rate": _ratio(ab, ab + srv),
        "wait_mean_seconds": _seconds(c.get("ws", 0), c.get("wn", 0)),
        "wait_p90_seconds": quantile(c, "w", 0.9),
        "first_response_mean_seconds": _seconds(c.get("fs", 0), c.get("fn", 0)),
        "first_response_p90_seconds": quantile(c, "f", 0.9),
        "sla_share": within(c, "f", sla_seconds),
        "handle_mean_seconds": _seconds(c.get("hs", 0), c.get("hn", 0)),
        "transfers": c.get("tr", 0),
        "transferred": c.get("trs", 0),
        "resolved": c.get("res", 0),
        "wrapup": {k[len(WRAPUP_PREFIX):]: v for k, v in sorted(c.items()) if k.startswith(WRAPUP_PREFIX) and v},
        "surveys": c.get("sv", 0),
        "ratings": rt,
        "csat_mean": round(c.get("rs", 0) / rt, 2) if rt else None,
        "csat_satisfied_share": _ratio(c.get("r4", 0) + c.get("r5", 0), rt),
        "csat_answer_rate": _ratio(rt, c.get("sv", 0)),
    }


def hours_between(start_ms: int, end_ms: int) -> tuple[int, int]:
    """The first and last hour keys of [start_ms, end_ms)."""
    return start_ms // HOUR_MS, math.ceil(end_ms / HOUR_MS) - 1
