"""Agents as routing sees them: status, capacity, load, and the per-group index of free agents.

Every change to an agent bumps its ``seq``; its membership items are then rewritten from the agent
item, each only if it holds an older ``seq``, so concurrent refreshes settle on the newest state.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, TransactWriteError, UpdateError

from chalicelib.channel.models import Presence
from chalicelib.config.model import ROUND_ROBIN, Group, RoutingConfig
from chalicelib.platform.clock import SYSTEM_CLOCK, Clock
from chalicelib.platform.dynamo import Transaction, is_condition_failed
from chalicelib.platform.observability import logger
from chalicelib.routing.models import OFFLINE, ONLINE, Agent, GroupState, Member, member_key, member_keys

_LOAD_SCALE = 10_000
# Candidates read per lookup: enough to step past a few stale index entries without a second query.
CANDIDATES = 5
_STATUS_RETRIES = 20


def is_available(agent: Agent) -> bool:
    return agent.status == ONLINE and int(agent.active) < int(agent.capacity)


def online_slots(agent: Agent) -> int:
    """What the agent adds to its groups' online capacity (busy and offline agents add nothing)."""
    return int(agent.capacity) if agent.status == ONLINE else 0


def rank(group: Group, priority: int, agent: Agent) -> str:
    """Order of free agents in ``group``, best first: priority level, then by the group's method.

    least_loaded: the lowest share of capacity in use, ties to the agent whose load changed longest ago;
    round_robin: the agent assigned longest ago (an agent coming back keeps its place in the rotation).
    """
    if group.allocation == ROUND_ROBIN:
        key = f"{int(agent.last_assigned_at):013d}"
    else:
        load = int(agent.active) * _LOAD_SCALE // max(1, int(agent.capacity))
        key = f"{load:05d}#{int(agent.last_activity_at):013d}"
    return f"{priority}#{key}#{agent.agent_id}"


class AgentBook:
    def __init__(self, config: Callable[[], RoutingConfig], clock: Clock = SYSTEM_CLOCK) -> None:
        self._config = config
        self._clock = clock

    def get(self, agent_id: str) -> Agent | None:
        try:
            return Agent.get(agent_id, consistent_read=True)
        except DoesNotExist:
            return None

    def set_status(self, agent_id: str, status: str, *, name: str | None = None,
                   capacity: int | None = None, unless_connected: bool = False) -> Agent | None:
        """Change an agent's status (and optionally its capacity); group counters move in the same
        transaction, and memberships follow the configuration's groups. Returns the agent after it.

        Coming back from offline takes the configured capacity again (a change the agent made lasts
        its shift). ``unless_connected``: only if the agent has no open connection at commit time (a
        reconnect racing the last disconnect wins); returns None when that stopped it."""
        config = self._config()
        wanted_groups = {g.group_id for g, _ in config.groups_of(agent_id)}
        for _ in range(_STATUS_RETRIES):
            old = self.get(agent_id)
            old_seq = int(old.seq) if old else 0
            if capacity is not None:
                new_capacity = capacity
            elif old is not None and old.status != OFFLINE:
                new_capacity = int(old.capacity)
            else:
                new_capacity = config.capacity_of(agent_id)
            new = Agent(agent_id, name=name or (old.name if old else None), status=status, capacity=new_capacity,
                        active=int(old.active) if old else 0, groups=wanted_groups or None,
                        last_assigned_at=int(old.last_assigned_at) if old else 0,
                        last_activity_at=int(old.last_activity_at) if old else 0,
                        seq=old_seq + 1, updated_at=self._clock.now_ms())
            tx = Transaction()
            tx.put(new, condition=Agent.seq == old_seq if old else Agent.agent_id.does_not_exist(), label="agent")
            if unless_connected:
                tx.check(Presence, agent_id, Presence.conns.does_not_exist(), label="presence")
            self._move_counters(tx, old, new)
            try:
                tx.commit()
            except TransactWriteError as err:
                failed = tx.failed(err)
                if "presence" in failed:
                    return None
                if failed:
                    continue  # changed meanwhile (an assignment): read it again
                raise
            left = set(old.groups or ()) - wanted_groups if old else set()
            self._drop_memberships(agent_id, left)
            self.refresh(new)
            return new
        raise RuntimeError(f"agent {agent_id} kept changing; status not set")

    @staticmethod
    def _move_counters(tx: Transaction, old: Agent | None, new: Agent) -> None:
        before = {g: online_slots(old) for g in (old.groups or ())} if old else {}
        after = {g: online_slots(new) for g in (new.groups or ())}
        for group_id in sorted(set(before) | set(after)):
            was_on = group_id in before and old is not None and old.status == ONLINE
            is_on = group_id in after and new.status == ONLINE
            d_slots = after.get(group_id, 0) - before.get(group_id, 0)
            d_agents = int(is_on) - int(was_on)
            if d_slots or d_agents:
                tx.update(GroupState(group_id), [GroupState.online_capacity.add(d_slots),
                                                 GroupState.online_agents.add(d_agents)], label=f"counters:{group_id}")

    def refresh(self, agent: Agent | None = None, agent_id: str | None = None) -> Agent | None:
        """Rewrite the agent's membership items from its current state (read if not given)."""
        if agent is None:
            assert agent_id is not None
            agent = self.get(agent_id)
            if agent is None:
                return None
        config = self._config()
        priorities = {g.group_id: (g, p) for g, p in config.groups_of(agent.agent_id)}
        free = is_available(agent)
        for group_id in sorted(agent.groups or ()):
            if group_id not in priorities:
                continue
            group, priority = priorities[group_id]
            key = member_key(group_id, agent.agent_id)
            member = Member(key, agent.agent_id)
            actions: list[Any] = [
                Member.priority.set(priority), Member.status.set(agent.status),
                Member.capacity.set(int(agent.capacity)), Member.active.set(int(agent.active)),
                Member.agent_seq.set(int(agent.seq)),
                *([Member.name.set(agent.name)] if agent.name else []),
            ]
            if free:
                actions += [Member.avail_group.set(key), Member.rank.set(rank(group, priority, agent))]
            else:
                actions += [Member.avail_group.remove(), Member.rank.remove()]
            try:
                member.update(actions=actions, condition=Member.agent_seq.does_not_exist()
                              | (Member.agent_seq < int(agent.seq)))
            except UpdateError as err:
                if not is_condition_failed(err):
                    raise
                # A newer state was written already.
        return agent

    @staticmethod
    def _drop_memberships(agent_id: str, group_ids: Iterable[str]) -> None:
        for group_id in group_ids:
            try:
                Member(member_key(group_id, agent_id), agent_id).delete()
            except DeleteError:
                logger.warning("could not drop membership", extra={"agent_id": agent_id, "group_id": group_id})

    @staticmethod
    def candidates(group_id: str, limit: int = CANDIDATES) -> list[Member]:
        """The group's free agents, best first (a Query of the sparse index per membership shard, merged by rank;
        may be a moment stale)."""
        found = heapq.merge(*(Member.available.query(key, limit=limit) for key in member_keys(group_id)),
                            key=lambda m: m.rank)
        return list(itertools.islice(found, limit))

    @staticmethod
    def members(group_id: str) -> list[Member]:
        """Every membership of a group (dashboards only: this reads the whole group)."""
        return [m for key in member_keys(group_id) for m in Member.query(key)]
