"""Lifecycle timers as data: a session that needs waking carries its due time (``timer_due_at``) and a shard,
and a sparse index lists the due sessions of each shard. The clock (chalicelib/platform/ticks.py) sweeps every
shard every few seconds; what a wake does is chalicelib/sessions/lifecycle.py.

Why not one Step Functions execution per session: at a peak of 300 assignments a second that is 300 Standard
starts a second (the default refill rate) and as many stops at the closes (200 a second): the quota, not the
code, would decide when a chat times out. A due time is one more attribute in writes that happen anyway.
"""

from __future__ import annotations

import secrets
import zlib
from typing import Any

from chalicelib.config.model import SessionPolicy
from chalicelib.sessions.models import TIMER_SHARDS, Session

TimerState = dict[str, Any]
"""A wake's input and the step's output: ``session_id``, ``timer`` (the name of the session's timer: a newer
one makes an older wake a no-op), ``warn_seconds``, ``close_seconds``, ``grace_seconds``,
``agent_grace_seconds`` (from the configuration), ``wait_seconds`` (until the next wake) and ``done``."""


def timer_name(session_id: str, at_ms: int) -> str:
    """A new timer's name: unique per (re)arming, and telling whose."""
    return f"{session_id}-{at_ms}-{secrets.token_hex(3)}"


def timer_state(session_id: str, name: str, policy: SessionPolicy, wait_seconds: int = 0) -> TimerState:
    return {"session_id": session_id, "timer": name, "warn_seconds": policy.idle_warn_seconds,
            "close_seconds": policy.idle_close_seconds, "grace_seconds": policy.reconnect_grace_seconds,
            "agent_grace_seconds": policy.agent_grace_seconds, "wait_seconds": max(0, wait_seconds),
            "done": False}


def shard_of(session_id: str) -> int:
    return zlib.crc32(session_id.encode()) % TIMER_SHARDS


def shard_key(shard: int) -> str:
    return f"t{shard}"


def timer_due(session_id: str, due_ms: int) -> list[Any]:
    """Actions for a write that (re)arms a session's timer: it is swept once ``due_ms`` has passed."""
    return [Session.timer_shard.set(shard_key(shard_of(session_id))), Session.timer_due_at.set(due_ms)]


def timer_off() -> list[Any]:
    """Actions for a write after which the session needs no waking (closed, back in a queue)."""
    return [Session.timer_shard.remove(), Session.timer_due_at.remove()]


def visitor_silent_since(session: Session) -> Any:
    """The condition that the visitor has sent nothing since ``session`` was read (its idle clock still runs)."""
    if session.last_visitor_at is None:
        return Session.last_visitor_at.does_not_exist()
    return Session.last_visitor_at == session.last_visitor_at
