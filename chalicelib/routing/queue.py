"""Per-group queues: FIFO within a priority class, the class first (transfers, then priority tiers,
then everyone else). Entries and counters change only in transactions with the session they belong to.

A queue is kept in QUEUE_SHARDS partitions (see ``QueueEntry``); every read here merges them in sort-key order,
which is the queue's order, so its cost grows with the shards, never with the queue's length.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from typing import Any

from chalicelib.config.model import Group
from chalicelib.routing.models import (
    ADDITIVE,
    NORMAL,
    PRIORITY_TIER,
    TRANSFERRED,
    GroupState,
    QueueEntry,
    counter_keys,
    queue_key,
    queue_keys,
)
from chalicelib.routing.schemas import GroupRef, QueueEvent

QUEUE_PREFIX = "q#"
_MIN_HANDLED_FOR_MEASURED = 5


def priority_class(group: Group, tier: str | None) -> int:
    tiers = {t.lower() for t in group.queue.priority_tiers}
    return PRIORITY_TIER if tier and tier.lower() in tiers else NORMAL


def state_of(group_id: str) -> GroupState:
    return states_of([group_id])[group_id]


def states_of(group_ids: Iterable[str]) -> dict[str, GroupState]:
    """Each group's counters, summed over its items (one BatchGetItem for up to 11 groups; strongly
    consistent, as capacity and overflow decisions read them)."""
    totals = {g: GroupState(g, last_alert_at=0) for g in group_ids}
    for total in totals.values():
        for name in ADDITIVE:
            setattr(total, name, 0)
    keys = [key for g in totals for key in counter_keys(g)]
    for item in GroupState.batch_get(keys, consistent_read=True):
        group_id = item.group_id.split("#", 1)[0]
        total = totals[group_id]
        for name in ADDITIVE:
            setattr(total, name, int(getattr(total, name) or 0) + int(getattr(item, name) or 0))
        if item.group_id == group_id:
            total.last_alert_at = item.last_alert_at
    return totals


def _heads(group_id: str, prefix: str = QUEUE_PREFIX) -> Iterator[QueueEntry]:
    """Each partition's first entry under ``prefix`` (one Query of one item per partition)."""
    for key in queue_keys(group_id):
        yield from QueueEntry.query(key, QueueEntry.sk.startswith(prefix), consistent_read=True, limit=1)


def head(group_id: str) -> QueueEntry | None:
    return min(_heads(group_id), key=lambda e: e.sk, default=None)


def entries(group_id: str) -> list[QueueEntry]:
    """The whole queue in service order (for the tick and the dashboard: never per queue move)."""
    return list(heapq.merge(*(QueueEntry.query(key, QueueEntry.sk.startswith(QUEUE_PREFIX), consistent_read=True)
                              for key in queue_keys(group_id)), key=lambda e: e.sk))


def position(entry: QueueEntry) -> int:
    """1 + how many wait ahead of ``entry``: a counting Query per partition over the entries ahead of it only
    (few for the classes served first; an arrival at the back takes its ticket instead)."""
    return max(1, sum(QueueEntry.count(key, QueueEntry.sk.between(QUEUE_PREFIX, entry.sk), consistent_read=True)
                      for key in queue_keys(entry.group_id)))


def ticket(state: GroupState) -> int:
    """The ticket of an arrival of the last class, with ``state`` read just before it queued: everyone waiting
    is ahead of it, and the group's departures so far are the tickets already called."""
    return int(state.dequeued or 0) + int(state.waiting or 0) + 1


def ticket_position(ticket: int, state: GroupState) -> int:
    """A ticket's place now: every departure since it was drawn moved it up one. Cheap (the counters alone,
    whatever the queue's length) and nearly exact: a departure from behind it counts as one from ahead, and
    priority arrivals since are left out, until the next full refresh (``entries``) sets the place exactly."""
    return max(1, min(ticket - int(state.dequeued or 0), int(state.waiting or 0)))


def entry_of(group_id: str, session_id: str, visitor_id: str, sk: str, requested_at: int) -> QueueEntry:
    """The queue entry a waiting session names (its ``queue_sk``), built without reading it."""
    return QueueEntry(queue_key(group_id, session_id), sk, session_id=session_id, visitor_id=visitor_id,
                      priority_class=int(sk.split("#")[1]), requested_at=requested_at)


def oldest_requested_at(group_id: str) -> int | None:
    """When the longest-waiting visitor asked: the oldest head among the priority classes and partitions."""
    return min((int(e.requested_at) for cls in (TRANSFERRED, PRIORITY_TIER, NORMAL)
                for e in _heads(group_id, f"{QUEUE_PREFIX}{cls}#")), default=None)


def handle_seconds(group: Group, state: GroupState) -> float:
    """Average time an agent spends on a session: measured once enough sessions ended, else configured."""
    handled = int(state.handled or 0)
    if handled >= _MIN_HANDLED_FOR_MEASURED:
        return int(state.handle_ms_total or 0) / handled / 1000
    return float(group.avg_handle_seconds)


def estimated_wait_seconds(position: int, group: Group, state: GroupState) -> int | None:
    """Slots free at ``online_capacity / handle_time`` per second, so the visitor at ``position`` waits
    about ``position * handle_time / online_capacity``. Unknown (None) while nobody is online."""
    capacity = int(state.online_capacity or 0)
    if capacity <= 0:
        return None
    return math.ceil((position * handle_seconds(group, state)) / capacity)


def position_frame(entry: QueueEntry, position: int, waiting: int, group: Group, state: GroupState,
                   now_ms: int) -> dict[str, Any]:
    return QueueEvent(session_id=entry.session_id, group=GroupRef.model_validate(group.ref()),
                      position=position, waiting=waiting,
                      estimated_wait_seconds=estimated_wait_seconds(position, group, state),
                      waited_seconds=max(0, (now_ms - int(entry.requested_at)) // 1000)).frame()
