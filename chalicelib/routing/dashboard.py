"""Real-time figures for supervisors: a per-group snapshot (REST and pushes), the groups whose figures changed
pushed by the clock every few seconds, overflows and left messages pushed as they happen, SNS alerts on AWS, and
CloudWatch metrics through Powertools.

Why the clock pushes the groups' figures rather than each change: at a peak a hot group changes hundreds of times a
second (arrivals, assignments, closes), and a push per change would be a read of its counters and a post to every
supervisor each time. A round reads every group's counters once and posts only the groups that changed: at most one
push per group per round (5 s on AWS), whatever the traffic."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pynamodb.exceptions import UpdateError

from chalicelib.channel.presence import PresenceService
from chalicelib.config.model import Group, RoutingConfig
from chalicelib.i18n import EN, ZH, t
from chalicelib.platform import aws
from chalicelib.platform.clock import SYSTEM_CLOCK, Clock
from chalicelib.platform.observability import logger
from chalicelib.routing import queue as q
from chalicelib.routing.agents import AgentBook
from chalicelib.routing.models import BUSY, DASHBOARD, OFFLINE, ONLINE, Agent, GroupState
from chalicelib.routing.schemas import (
    DashboardGroupEvent,
    DashboardLeftMessageEvent,
    DashboardOverflowEvent,
    DashboardSnapshotEvent,
)
from chalicelib.settings import get_settings

METRICS_NAMESPACE = "CustomerService"
# Subscribers are read at most this often per Lambda: a queue change then costs no read at all.
_SUBSCRIBERS_MAX_AGE = 2.0
ALERT_INTERVAL_MS = 5 * 60 * 1000  # at most one SNS alert per group in this long


def group_counters(group: Group, state: GroupState) -> dict[str, Any]:
    """The figures kept as counters (no read beyond the group's state item)."""
    assigned = int(state.assigned or 0)
    handled = int(state.handled or 0)
    return {
        **group.ref(),
        "waiting": int(state.waiting or 0),
        "online_capacity": int(state.online_capacity or 0),
        "agents_available": int(state.online_agents or 0),
        "assigned_total": assigned,
        "average_wait_seconds": round(int(state.wait_ms_total or 0) / assigned / 1000, 1) if assigned else None,
        "average_handle_seconds": round(int(state.handle_ms_total or 0) / handled / 1000, 1) if handled else None,
        "overflow_events": int(state.overflow_events or 0),
        "csat": csat(state.csat_sum, state.csat_count),
    }


def csat(total: float | None, count: float | None) -> dict[str, Any]:
    """Average survey stars (1 to 5) and how many answers; ``avg`` is None before the first."""
    n = int(count or 0)
    return {"avg": round(int(total or 0) / n, 2) if n else None, "count": n}


def overflow_alert(group: Group, reason: str, to: str | None) -> tuple[str, str]:
    """The supervisors' SNS alert of an overflow (subject, body): Chinese first, then English, as the team reads
    them; ``to`` names the group the arrivals go to (none: they are offered leave-a-message)."""
    def said(language: str) -> tuple[str, str]:
        params = {"group": group.label(language), "group_id": group.group_id, "reason": reason}
        body = (t(language, "alert.overflow.to", to=to, **params) if to
                else t(language, "alert.overflow.leave", **params))
        return t(language, "alert.overflow.subject", **params), body

    (zh_subject, zh_body), (en_subject, en_body) = said(ZH), said(EN)
    return f"{zh_subject} / {en_subject}", f"{zh_body}\n\n{en_body}"


class Dashboard:
    def __init__(self, presence: PresenceService, config: Callable[[], RoutingConfig],
                 clock: Clock = SYSTEM_CLOCK, publisher: Callable[[str, str], None] | None = None) -> None:
        self._presence = presence
        self._config = config
        self._clock = clock
        self._publisher = publisher
        self._lock = threading.Lock()
        self._subscribers: tuple[float, frozenset[str]] | None = None
        self._overflow_pushed: dict[str, float] = {}  # group -> when this container last pushed its overflow

    # -- subscribers -------------------------------------------------------------------------------

    def subscribe(self, connection_id: str) -> dict[str, Any]:
        GroupState(DASHBOARD).update(actions=[GroupState.subscribers.add({connection_id})])
        with self._lock:
            self._subscribers = None
        return self.snapshot()

    def unsubscribe(self, connection_id: str) -> None:
        GroupState(DASHBOARD).update(actions=[GroupState.subscribers.delete({connection_id})])
        with self._lock:
            self._subscribers = None

    def _current_subscribers(self) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            cached = self._subscribers
        if cached is not None and now - cached[0] < _SUBSCRIBERS_MAX_AGE:
            return cached[1]
        try:
            conns = frozenset(GroupState.get(DASHBOARD, consistent_read=True).subscribers or ())
        except GroupState.DoesNotExist:
            conns = frozenset()
        with self._lock:
            self._subscribers = (now, conns)
        return conns

    def _broadcast(self, frame: dict[str, Any]) -> int:
        sent = 0
        gone: set[str] = set()
        for conn in sorted(self._current_subscribers()):
            if self._presence.post(conn, frame):
                sent += 1
            else:
                gone.add(conn)
        if gone:
            try:
                GroupState(DASHBOARD).update(actions=[GroupState.subscribers.delete(gone)])
            except UpdateError:
                logger.warning("could not drop dashboard subscribers", extra={"count": len(gone)})
            with self._lock:
                self._subscribers = None
        return sent

    # -- events ------------------------------------------------------------------------------------

    def push_changes(self) -> int:
        """The clock's round: push ``dashboard.group`` for each group whose figures changed since the last
        round's push (one read of every group's counters and of the pushed digests; nothing with nobody
        watching). Returns how many groups were pushed."""
        if not self._current_subscribers():
            return 0
        config = self._config()
        states = q.states_of(config.groups)
        figures = {g: group_counters(group, states[g]) for g, group in config.groups.items()}
        digests = {g: hashlib.sha256(json.dumps(f, sort_keys=True).encode()).hexdigest()[:16]
                   for g, f in figures.items()}
        try:
            previous = json.loads(GroupState.get(DASHBOARD, consistent_read=True).pushed or "{}")
        except GroupState.DoesNotExist:
            previous = {}
        changed = [g for g in figures if previous.get(g) != digests[g]]
        if not changed:
            return 0
        now = self._clock.now_ms()
        for group_id in changed:
            self._broadcast(DashboardGroupEvent.model_validate({"group": figures[group_id], "at": now}).frame())
        GroupState(DASHBOARD).update(actions=[GroupState.pushed.set(json.dumps(digests, sort_keys=True))])
        return len(changed)

    def overflow(self, group: Group, reason: str, to: str | None, session_id: str, now: int) -> None:
        """Tell supervisors at once, at most once a second per group from each Lambda (an overflowing group at a
        peak overflows with every arrival; the count is in its figures); an SNS alert (AWS) at most once per group
        per ALERT_INTERVAL_MS."""
        seen = time.monotonic()
        with self._lock:
            recent = seen - self._overflow_pushed.get(group.group_id, -1.0) < 1.0
            if not recent:
                self._overflow_pushed[group.group_id] = seen
        if not recent:
            self._broadcast(DashboardOverflowEvent.model_validate({
                "group_id": group.group_id, "reason": reason, "to": to, "session_id": session_id, "at": now}).frame())
        topic = get_settings().alerts_topic_arn
        if not topic and self._publisher is None:
            return
        try:
            GroupState(group.group_id).update(actions=[GroupState.last_alert_at.set(now)],
                                              condition=GroupState.last_alert_at.does_not_exist()
                                              | (GroupState.last_alert_at < now - ALERT_INTERVAL_MS))
        except UpdateError:
            return  # alerted recently
        subject, body = overflow_alert(group, reason, to)
        if self._publisher is not None:
            self._publisher(subject, body)
        else:
            aws.client("sns").publish(TopicArn=topic, Subject=subject[:100], Message=body)

    def left_message(self, group_id: str, ticket_id: str, at: int) -> None:
        """A visitor left a message: its ticket ``ticket_id`` (also its ``message_id``) is open in ``group_id``."""
        self._broadcast(DashboardLeftMessageEvent(group_id=group_id, message_id=ticket_id, ticket_id=ticket_id,
                                                  at=at).frame())

    # -- snapshot ----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Every group's figures now: counters, queue waits and agents by status (reads each group's
        queue and memberships, so it is for dashboards, never for the message path)."""
        config = self._config()
        now = self._clock.now_ms()
        groups = []
        states = q.states_of(config.groups)
        for group in config.groups.values():
            state = states[group.group_id]
            figures = group_counters(group, state)
            waits = [max(0, now - int(e.requested_at)) // 1000 for e in q.entries(group.group_id)]
            members = AgentBook.members(group.group_id)
            by_status = {s: sum(1 for m in members if m.status == s) for s in (ONLINE, BUSY, OFFLINE)}
            active = int(state.active or 0)
            capacity = int(state.online_capacity or 0)
            figures.update({
                "waiting": len(waits),
                "longest_wait_seconds": max(waits) if waits else 0,
                "current_average_wait_seconds": round(sum(waits) / len(waits), 1) if waits else 0.0,
                "waits_seconds": waits,
                "agents": by_status,
                "active_sessions": active,
                "load": round(active / capacity, 3) if capacity else None,
            })
            groups.append(figures)
        return DashboardSnapshotEvent.model_validate({"at": now, "groups": groups,
                                                      "agents": self._agents(config)}).frame()

    @staticmethod
    def _agents(config: RoutingConfig) -> list[dict[str, Any]]:
        """Every member agent's status, load and CSAT (batched reads of the agents' own items)."""
        ids = sorted({m.agent_id for g in config.groups.values() for m in g.members})
        found: dict[str, Agent] = {}
        for start in range(0, len(ids), 100):
            found.update((a.agent_id, a) for a in Agent.batch_get(ids[start:start + 100]))
        out = []
        for agent_id in ids:
            agent = found.get(agent_id)
            out.append({"id": agent_id, "name": agent.name if agent else None,
                        "status": agent.status if agent else OFFLINE,
                        "active": int(agent.active) if agent else 0,
                        "capacity": int(agent.capacity) if agent else config.capacity_of(agent_id),
                        "csat": csat(agent.csat_sum, agent.csat_count) if agent else csat(0, 0)})
        return out

    def publish(self, config: RoutingConfig | None = None) -> dict[str, Any]:
        """Push a fresh snapshot to subscribers and emit CloudWatch metrics (EMF) per group."""
        snapshot = self.snapshot()
        self._broadcast(snapshot)
        for figures in snapshot["groups"]:
            metrics = Metrics(namespace=METRICS_NAMESPACE, service="routing")
            # Powertools shares one metric set per process and keeps it when metrics are disabled: start
            # clean so figures never mix groups or pile up.
            metrics.clear_metrics()
            metrics.add_dimension(name="group", value=figures["id"])
            metrics.add_metric(name="Waiting", unit=MetricUnit.Count, value=figures["waiting"])
            metrics.add_metric(name="LongestWait", unit=MetricUnit.Seconds, value=figures["longest_wait_seconds"])
            metrics.add_metric(name="AgentsOnline", unit=MetricUnit.Count, value=figures["agents"][ONLINE])
            metrics.add_metric(name="ActiveSessions", unit=MetricUnit.Count, value=figures["active_sessions"])
            metrics.add_metric(name="OverflowEvents", unit=MetricUnit.Count, value=figures["overflow_events"])
            metrics.flush_metrics()
            metrics.clear_metrics()
        return snapshot
