"""Moving a stack's routing items onto the keys they are spread over now.

Before a group's queue and memberships were spread over several keys (``QUEUE_SHARDS``, ``MEMBER_SHARDS``), each
group kept them under its own id. After updating such a stack, this moves what is still there, once (it is safe
to run again: what it finds moved is left alone). Memberships are rewritten from their agents first, then the old
ones deleted, so a free agent is never missing from the index; a waiting visitor's entry moves in one transaction
and keeps its place, as the place is the sort key."""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.exceptions import TransactWriteError

from chalicelib.platform.dynamo import is_condition_failed, transaction
from chalicelib.routing.agents import AgentBook
from chalicelib.routing.models import Member, QueueEntry, queue_key


@dataclass(frozen=True)
class Resharded:
    agents: int  # whose memberships were rewritten
    memberships: int  # old items deleted
    entries: int  # queue entries moved


def _unsharded(key: str) -> bool:
    return "#" not in key


def reshard(agents: AgentBook) -> Resharded:
    """Move every membership and queue entry still under a group's own id (one Scan of each table: an admin's
    one-off, never a request's path)."""
    old = [m for m in Member.scan() if _unsharded(m.key)]
    refreshed = {m.agent_id for m in old}
    for agent_id in sorted(refreshed):
        agents.refresh(agent_id=agent_id)
    for member in old:
        member.delete()
    moved = 0
    for entry in QueueEntry.scan():
        if not _unsharded(entry.key):
            continue
        copy = QueueEntry(queue_key(entry.key, entry.session_id), entry.sk, session_id=entry.session_id,
                          visitor_id=entry.visitor_id, priority_class=entry.priority_class,
                          requested_at=entry.requested_at, timeout_offered=entry.timeout_offered)
        try:
            with transaction() as tx:
                tx.delete(QueueEntry(entry.key, entry.sk), condition=QueueEntry.sk.exists())
                tx.put(copy, condition=QueueEntry.sk.does_not_exist())
        except TransactWriteError as err:
            if not is_condition_failed(err):
                raise
            continue  # served or left meanwhile
        moved += 1
    return Resharded(agents=len(refreshed), memberships=len(old), entries=moved)
