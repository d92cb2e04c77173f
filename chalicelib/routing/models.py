"""Routing tables: agents (status, capacity, load), their group memberships (the index that finds a
free agent without reading the group), and per-group queue entries and counters. (Left messages
are tickets: chalicelib/tickets.)

Finding an agent is one Query of the sparse ``available`` index: a membership item carries
``avail_group`` only while its agent is online with a free slot, and ``rank`` orders the group's
free agents best first. The agent item's own condition (``active < capacity``) is what keeps
capacity, so a stale index entry can cost a retry but never an extra session.
"""

from __future__ import annotations

import zlib
from typing import Any

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.platform.modelbase import index_meta, meta

ONLINE = "online"  # takes new sessions while it has a free slot
BUSY = "busy"  # keeps its current sessions, takes no new ones
OFFLINE = "offline"
AGENT_STATUSES = (ONLINE, BUSY, OFFLINE)

# Queue priority classes: lower is served first.
TRANSFERRED = 0
PRIORITY_TIER = 1
NORMAL = 2


class Agent(Model):
    """One item per agent. ``active`` counts its open sessions; ``seq`` orders updates to its memberships."""

    Meta = meta("agents")
    agent_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default=OFFLINE)
    capacity = NumberAttribute(default=5)
    active = NumberAttribute(default=0)
    groups = UnicodeSetAttribute(null=True)  # the groups its memberships were written for
    last_assigned_at = NumberAttribute(default=0)
    last_activity_at = NumberAttribute(default=0)
    # Bumped by every change (memberships copy it and keep the newest). Not pynamodb's VersionAttribute (6.1):
    # that one joins every write of the model. The slot changes of assignment, transfer and close update a
    # key-only ``Agent(agent_id)`` (conditional on a free slot, never on seq) inside the labelled transactions of
    # platform/dynamo.py. On such an instance its seq is unknown, so VersionAttribute writes ``seq = 1`` with
    # ``attribute_not_exists(seq)``: every assignment would fail; and with ``add_version_condition=False`` it
    # still writes ``seq = 1`` instead of ``ADD seq 1``. Adding one needs the stored seq read first: one more
    # GetItem on assignment, the hottest path. ``set_status`` (a full put) keeps its own ``seq ==`` condition.
    seq = NumberAttribute(default=0)
    updated_at = NumberAttribute(default=0)
    # Satisfaction: the sum of survey stars and how many answers (CSAT = sum / count).
    csat_sum = NumberAttribute(default=0)
    csat_count = NumberAttribute(default=0)


class AvailableAgents(GlobalSecondaryIndex["Member"]):
    Meta = index_meta("available")
    avail_group = UnicodeAttribute(hash_key=True)
    rank = UnicodeAttribute(range_key=True)


class Member(Model):
    """An agent in a group: a copy of the agent's routing state as of ``agent_seq``, ranked for this group.

    Stored under one of the group's MEMBER_SHARDS keys, picked by agent (``member_key``): an assignment and a
    close each rewrite the agent's membership and its index entry, so one key per group would take two writes
    per visitor, and a group taking 300 visitors a second would use 600 of the 1,000 WCU a key has."""

    Meta = meta("members")
    key = UnicodeAttribute(hash_key=True, attr_name="group_id")  # the group's shard: ``member_key``
    agent_id = UnicodeAttribute(range_key=True)
    priority = NumberAttribute(default=1)
    status = UnicodeAttribute(default=OFFLINE)
    capacity = NumberAttribute(default=5)
    active = NumberAttribute(default=0)
    agent_seq = NumberAttribute(default=0)
    # The agent's display name, so an assignment found through the index names the agent without a read.
    name = UnicodeAttribute(null=True)
    # Set (to ``key``) only while the agent is online with a free slot: the index is sparse.
    avail_group = UnicodeAttribute(null=True)
    rank = UnicodeAttribute(null=True)
    available = AvailableAgents()

    @property
    def group_id(self) -> str:
        return group_of(self.key)


MEMBER_SHARDS = 2
QUEUE_SHARDS = 4


def shard_key(group_id: str, by: str, shards: int) -> str:
    """One of a group's keys ``{group_id}#{k}``, picked by ``by`` (a session or an agent): the same one every
    time, and spread evenly. Group ids hold no ``#`` (the configuration's id pattern)."""
    return f"{group_id}#{zlib.crc32(by.encode()) % shards}"


def group_of(key: str) -> str:
    return key.split("#", 1)[0]


def member_key(group_id: str, agent_id: str) -> str:
    return shard_key(group_id, agent_id, MEMBER_SHARDS)


def member_keys(group_id: str) -> list[str]:
    return [f"{group_id}#{k}" for k in range(MEMBER_SHARDS)]


class GroupState(Model):
    """Per-group counters kept in the same writes that change them (no counting on read).

    A group's counters are the sum of COUNTER_SHARDS + 1 items: the group's own item (agents' online capacity,
    changed when agents come and go, and the alert mark) and its shards (``{group_id}#{k}``), which take the
    changes that come with every visitor (arrival, assignment, close, rating, overflow). One item per group
    would sit in every arrival's transaction: about 1,000 WCU a second, DynamoDB's limit per key, is reached
    near 125 visitors a second, and concurrent transactions on it conflict. A shard may go negative (a
    visitor queued on one shard is served on another); only the sum means anything."""

    Meta = meta("group-state")
    group_id = UnicodeAttribute(hash_key=True)
    waiting = NumberAttribute(default=0)
    online_agents = NumberAttribute(default=0)
    online_capacity = NumberAttribute(default=0)
    assigned = NumberAttribute(default=0)
    active = NumberAttribute(default=0)  # the group's open sessions
    wait_ms_total = NumberAttribute(default=0)
    handled = NumberAttribute(default=0)
    handle_ms_total = NumberAttribute(default=0)
    overflow_events = NumberAttribute(default=0)
    dequeued = NumberAttribute(default=0)  # departures from the queue: served, left, dropped (tickets count in it)
    last_alert_at = NumberAttribute(default=0)
    csat_sum = NumberAttribute(default=0)
    csat_count = NumberAttribute(default=0)
    # Only on the DASHBOARD item: connections of supervisors watching the dashboard, and a digest of each group's
    # figures as last pushed to them (JSON {group_id: digest}), so the clock pushes only what changed.
    subscribers = UnicodeSetAttribute(null=True)
    pushed = UnicodeAttribute(null=True)


COUNTER_SHARDS = 8
ADDITIVE = ("waiting", "online_agents", "online_capacity", "assigned", "active", "wait_ms_total", "handled",
            "handle_ms_total", "overflow_events", "dequeued", "csat_sum", "csat_count")


def counter(group_id: str, session_id: str) -> GroupState:
    """The shard a change that comes with ``session_id`` goes to (any shard would do: spreading by session
    keeps a hot group's writes on COUNTER_SHARDS keys)."""
    return GroupState(shard_key(group_id, session_id, COUNTER_SHARDS))


def left_queue() -> list[Any]:
    """What a departure from the queue (served, left, dropped) does to the counters, wherever it happens."""
    return [GroupState.waiting.add(-1), GroupState.dequeued.add(1)]


def counter_keys(group_id: str) -> list[str]:
    """The items whose sum is the group's counters."""
    return [group_id, *(f"{group_id}#{k}" for k in range(COUNTER_SHARDS))]


DASHBOARD = "#dashboard"  # the GroupState key holding the dashboard's subscribers


class QueueEntry(Model):
    """A waiting visitor. The sort key ``q#{class}#{requested_at}#{session}`` is the queue order.

    A group's queue is QUEUE_SHARDS partitions, the session picking its own (``queue_key``); the queue's head is
    the first of their heads. In one partition every arrival writes the tail and every assignment deletes the
    head, in transactions: 4 WCU a visitor, and keys in time order, which DynamoDB cannot split for heat. One
    partition would hold 250 visitors a second at most; QUEUE_SHARDS of them hold 1,000."""

    Meta = meta("queue")
    key = UnicodeAttribute(hash_key=True, attr_name="group_id")  # the group's shard: ``queue_key``
    sk = UnicodeAttribute(range_key=True)
    session_id = UnicodeAttribute()
    visitor_id = UnicodeAttribute()
    priority_class = NumberAttribute()
    requested_at = NumberAttribute()
    # The visitor has been offered leave-a-message for waiting too long (offered once).
    timeout_offered = BooleanAttribute(default=False)


    @property
    def group_id(self) -> str:
        return group_of(self.key)


def queue_key(group_id: str, session_id: str) -> str:
    return shard_key(group_id, session_id, QUEUE_SHARDS)


def queue_keys(group_id: str) -> list[str]:
    return [f"{group_id}#{k}" for k in range(QUEUE_SHARDS)]


def queue_sk(priority_class: int, requested_at_ms: int, session_id: str) -> str:
    return f"q#{priority_class}#{requested_at_ms:013d}#{session_id}"

