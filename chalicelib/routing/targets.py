"""Where a chat can be transferred to, as the transfer dialog lists it: the groups with their load, and the
colleagues who could take it now.

Read from what routing keeps anyway, never by scanning: every group's counters in one BatchGetItem (``states_of``),
each listed group's free agents from the sparse ``available`` index (one Query per membership shard, as a drain
does), and the listed agents' own items in one BatchGetItem for their names and current load. An agent who is
busy, offline or full is not in the index, so it is not listed: a transfer to it would be refused.

Who sees what: every staff member sees every group's figures (a transfer may go to any group), but only the
agents of groups it works in or supervises: an agent its own groups' colleagues, a supervisor also the agents of the
groups in its token, an admin everyone's.
"""

from __future__ import annotations

from typing import Any

from chalicelib.auth.identity import Identity
from chalicelib.config.model import RoutingConfig
from chalicelib.routing import queue as q
from chalicelib.routing.access import staff_groups
from chalicelib.routing.agents import online_slots
from chalicelib.routing.models import ONLINE, Agent, Member, member_keys

# Free agents read per membership shard of a group: a transfer dialog lists a handful, not a roster.
FREE_PER_SHARD = 25


def transfer_targets(config: RoutingConfig, who: Identity) -> dict[str, Any]:
    """The groups (all of them, with their figures) and the agents ``who`` may hand a chat to now, least loaded
    first. Calls: one BatchGetItem of counters, MEMBER_SHARDS Queries per group, one BatchGetItem of agents."""
    states = q.states_of(config.groups)
    free: dict[str, list[Member]] = {
        group_id: [m for key in member_keys(group_id) for m in Member.available.query(key, limit=FREE_PER_SHARD)]
        for group_id in config.groups}
    visible = staff_groups(config, who)
    wanted = sorted({m.agent_id for g in visible for m in free[g]} - {who.user_id})
    agents: dict[str, Agent] = {}
    for start in range(0, len(wanted), 100):
        agents.update((a.agent_id, a) for a in Agent.batch_get(wanted[start:start + 100]))
    groups_out = []
    for group_id, group in sorted(config.groups.items(), key=lambda kv: kv[1].label()):
        state = states[group_id]
        groups_out.append({
            **group.ref(), "mine": group_id in visible,
            "online_agents": max(0, int(state.online_agents or 0)),
            "free_slots": sum(max(0, int(m.capacity) - int(m.active)) for m in free[group_id]),
            "waiting": max(0, int(state.waiting or 0)),
        })
    ranked: list[tuple[float, str, dict[str, Any]]] = []
    for agent in agents.values():
        # The agent's own item is the truth; the index may be a moment behind it.
        free_slots = online_slots(agent) - int(agent.active)
        if agent.status != ONLINE or free_slots <= 0:
            continue
        in_groups = sorted(g for g in visible if any(m.agent_id == agent.agent_id for m in free[g]))
        name = agent.name or agent.agent_id
        ranked.append((int(agent.active) / max(1, int(agent.capacity)), name, {
            "id": agent.agent_id, "name": name, "active": int(agent.active), "capacity": int(agent.capacity),
            "free_slots": free_slots, "groups": in_groups}))
    ranked.sort(key=lambda r: (r[0], r[1]))
    return {"groups": groups_out, "agents": [r[2] for r in ranked]}
