"""The events routing pushes (the queue, leave-a-message offers, left messages, the dashboard), as pydantic
models: the contract docs/protocol.md is checked against."""

from __future__ import annotations

from typing import Literal

from chalicelib.platform.events import Shape

AgentStatus = Literal["online", "busy", "offline"]
OfferReason = Literal["closed", "overflow", "queue_timeout", "no_agents", "left_queue"]
OverflowReason = Literal["queue_full", "waiting_count", "waiting_per_capacity", "longest_wait", "no_agents_online"]



class GroupRef(Shape):
    """A group as a frame names it: ``name`` in English (or the one text configured), ``names`` in every language
    (``en``, ``zh-CN``) for the page to show its own."""

    id: str
    name: str
    names: dict[str, str]


class QueueEvent(Shape):
    event: Literal["queue"] = "queue"
    session_id: str
    group: GroupRef
    position: int
    waiting: int
    estimated_wait_seconds: int | None
    waited_seconds: int


class Hours(Shape):
    open: bool
    time_zone: str
    today: list[str]
    closes_at: str | None
    next_open: str | None


class LeaveMessageOfferedEvent(Shape):
    event: Literal["leave_message_offered"] = "leave_message_offered"
    session_id: str
    reason: OfferReason
    group: GroupRef
    message: str
    hours: Hours | None = None


class LeftMessageEvent(Shape):
    """To the group's connected agents: a visitor left a message (its ticket)."""

    event: Literal["left_message"] = "left_message"
    group_id: str
    ticket_id: str
    at: int


class Csat(Shape):
    avg: float | None
    count: int


class GroupCounters(Shape):
    """A group's figures kept as counters (``dashboard.group``); ``name`` and ``names`` as in :class:`GroupRef`."""

    id: str
    name: str
    names: dict[str, str]
    waiting: int
    online_capacity: int
    agents_available: int
    assigned_total: int
    average_wait_seconds: float | None
    average_handle_seconds: float | None
    overflow_events: int
    csat: Csat


class AgentCounts(Shape):
    online: int
    busy: int
    offline: int


class GroupFigures(GroupCounters):
    """A group in ``dashboard.snapshot``: the counters and what is read from its queue and members now."""

    longest_wait_seconds: int
    current_average_wait_seconds: float
    waits_seconds: list[int]
    agents: AgentCounts
    active_sessions: int
    load: float | None


class AgentFigures(Shape):
    id: str
    name: str | None
    status: AgentStatus
    active: int
    capacity: int
    csat: Csat


class DashboardSnapshotEvent(Shape):
    event: Literal["dashboard.snapshot"] = "dashboard.snapshot"
    at: int
    groups: list[GroupFigures]
    agents: list[AgentFigures]


class DashboardGroupEvent(Shape):
    event: Literal["dashboard.group"] = "dashboard.group"
    group: GroupCounters
    at: int


class DashboardOverflowEvent(Shape):
    event: Literal["dashboard.overflow"] = "dashboard.overflow"
    group_id: str
    reason: OverflowReason
    to: str | None
    session_id: str
    at: int


class DashboardLeftMessageEvent(Shape):
    event: Literal["dashboard.left_message"] = "dashboard.left_message"
    group_id: str
    message_id: str
    ticket_id: str
    at: int


EVENTS = (QueueEvent, LeaveMessageOfferedEvent, LeftMessageEvent, DashboardSnapshotEvent, DashboardGroupEvent,
          DashboardOverflowEvent, DashboardLeftMessageEvent)
