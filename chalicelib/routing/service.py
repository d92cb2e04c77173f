"""Routing: from "talk to a person" to an agent, a place in a queue, a backup group or a left message.

An arrival is routed by the rules to a group; outside the group's hours the visitor is told the hours
and offered leave-a-message; if the group overflows, new arrivals spill to its backup groups in order,
else are offered leave-a-message. With nobody waiting, the arrival goes straight to the best free
agent (its last agent first, for sticky groups); otherwise it joins the queue. Whenever a slot frees
(a session ends, an agent comes online or raises its capacity) and after every enqueue, the group's
queue is drained into free agents, head first.

Every assignment is one DynamoDB transaction over the agent (``active < capacity`` and online), the
session (still unassigned) and, from the queue, the queue entry (still there) and the group's
counters: whatever arrives at once, no agent goes over capacity and no session is assigned twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pynamodb.exceptions import TransactWriteError

from chalicelib.auth.identity import Identity
from chalicelib.channel.errors import ImError
from chalicelib.channel.presence import PresenceService
from chalicelib.config.model import Group, RoutingConfig
from chalicelib.i18n import EN, t
from chalicelib.im.service import supervises
from chalicelib.platform.clock import SYSTEM_CLOCK, Clock
from chalicelib.platform.dynamo import CONFLICT, Transaction, is_condition_failed, transaction
from chalicelib.platform.observability import logger, message_left, session_assigned, session_overflowed, session_queued
from chalicelib.platform.quota import RateLimited
from chalicelib.routing import queue as q
from chalicelib.routing.agents import AgentBook, is_available
from chalicelib.routing.dashboard import Dashboard
from chalicelib.routing.errors import RoutingError
from chalicelib.routing.models import (
    NORMAL,
    OFFLINE,
    ONLINE,
    TRANSFERRED,
    Agent,
    GroupState,
    Member,
    QueueEntry,
    counter,
    left_queue,
    member_key,
    queue_key,
    queue_sk,
)
from chalicelib.routing.rules import Visitor, route
from chalicelib.routing.schemas import GroupRef, LeaveMessageOfferedEvent, LeftMessageEvent
from chalicelib.schedule import hours
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session
from chalicelib.sessions.schemas import FormerSessionView, SessionEvent
from chalicelib.sessions.service import SessionService
from chalicelib.sessions.timers import timer_name
from chalicelib.tickets.service import Ticket, TicketService, left_message_key

# Bounds on retry loops: each round re-reads, so these only stop a pathological livelock.
_ASSIGN_ROUNDS = 4
_DRAIN_LIMIT = 200
# A session handed back because its agent's connection stayed closed: the note the next agent reads, and
# what the visitor is told (this is its English; each visitor reads it in its own language). Staff read English:
# the platform knows no staff member's language.
AGENT_GONE_NOTE = t(EN, "transfer.agent_gone_note")
AGENT_GONE_NOTICE = t(EN, "transfer.agent_gone")


class Result(Enum):
    OK = "ok"
    AGENT_UNAVAILABLE = "agent"  # full, busy or offline (the index was a moment behind)
    SESSION_TAKEN = "session"  # assigned, left or closed meanwhile
    ENTRY_GONE = "entry"  # another drain took this queue entry
    CONFLICT = "conflict"  # a concurrent transaction on the same items: retry


@dataclass(frozen=True)
class LeftMessage:
    """A visitor's left message: a ticket of source ``left_message``; its message id is the ticket's id."""

    ticket: Ticket

    @property
    def message_id(self) -> str:
        return self.ticket.ticket_id

    @property
    def group_id(self) -> str:
        return str(self.ticket.group_id)

    @property
    def created_at(self) -> int:
        return self.ticket.created_at


def left_message_json(left: LeftMessage) -> dict[str, Any]:
    ticket = left.ticket
    return {"message_id": ticket.ticket_id, "ticket_id": ticket.ticket_id, "group_id": ticket.group_id,
            "visitor_id": ticket.customer.id, "visitor_name": ticket.customer.name, "session_id": ticket.session_id,
            "text": ticket.description, "contact": ticket.customer.contact, "reason": ticket.reason,
            "status": ticket.status, "assignee": ticket.assignee, "created_at": ticket.created_at,
            "updated_at": ticket.updated_at}


# An agent may take a session only while online with a free slot; every slot change bumps its seq (so its
# memberships' refresh applies changes in order).
# What a leave-a-message offer says, by reason: catalogue keys, read in the visitor's language.
OFFER_TEXTS = {"no_agents": "queue.no_agents", "left_queue": "queue.left", "overflow": "queue.overflow",
               "queue_timeout": "queue.timeout"}
_HAS_FREE_SLOT = (Agent.status == ONLINE) & (Agent.active < Agent.capacity)


def _slot_taken(now: int) -> list[Any]:
    return [Agent.active.add(1), Agent.seq.add(1), Agent.last_assigned_at.set(now),
            Agent.last_activity_at.set(now), Agent.updated_at.set(now)]


def _slot_freed(now: int) -> list[Any]:
    return [Agent.active.add(-1), Agent.seq.add(1), Agent.last_activity_at.set(now), Agent.updated_at.set(now)]


def _agent_ref(agent: Agent | None) -> dict[str, Any] | None:
    """An agent as a survey names it."""
    return {"id": agent.agent_id, "name": agent.name} if agent is not None else None


def _former_view(session: Session) -> dict[str, Any]:
    """The ``session`` event for the agent who transferred a session: all it still sees is that it left them."""
    return SessionEvent(session=FormerSessionView(session_id=session.session_id, status="transferred",
                                                  agent_id=session.agent_id, group_id=session.group_id)).frame()


class RoutingService:
    """Rules, agents, queues and drain; every change to a session itself goes through the sessions service.
    Also the sessions service's ``Placement``: the agent's slot and the queue entry that move with a session."""

    def __init__(self, presence: PresenceService, sessions: SessionService, agents: AgentBook,
                 config: Callable[[], RoutingConfig], dashboard: Dashboard, tickets: TicketService,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self._presence = presence
        self._tickets = tickets  # left messages are tickets
        self._sessions = sessions
        self._agents = agents
        self._config = config
        self._dashboard = dashboard
        self._clock = clock

    # -- visitors --------------------------------------------------------------------------------

    def request_agent(self, visitor: Identity) -> Session:
        """The visitor asks for a person."""
        session = self._open_session(visitor)
        if session.status == sm.ACTIVE:
            self._sessions.announce(session)
            return session
        if session.status == sm.WAITING:
            group = self._config().groups.get(str(session.group_id))
            if group is not None and session.queue_sk:
                entry = q.entry_of(group.group_id, session.session_id, session.visitor_id, session.queue_sk,
                                   int(session.requested_at or 0))
                ticket = int(session.queue_ticket) if session.queue_ticket is not None else None
                self._tell_position(group, entry, ticket=ticket)
            return session
        config = self._config()
        now = self._clock.now_ms()
        group_id, rule = route(config, Visitor(channel=session.channel, source=session.source,
                                               category=session.category, tier=session.tier,
                                               language=session.language))
        target = self._target_group(config, config.groups[group_id], session, now)
        if target is None:
            return session
        group, state = target
        # The request's time and rule are written with the assignment or the enqueue, not on their own.
        if int(state.waiting or 0) == 0 and self._assign_direct(session, group, now, rule):
            return session
        if self._enqueue(session, group, state, now, rule) and int(state.online_agents or 0) == 0:
            # Nobody here or in a backup can answer soon: the visitor keeps its place, and may leave a message now
            # rather than wait for someone to come online.
            self._offer_leave_message(session, group, "no_agents", None, None)
        return session

    def _open_session(self, visitor: Identity) -> Session:
        session = self._sessions.current(visitor)
        if session is None or session.status == sm.CLOSED:
            raise RoutingError("not_found", "you have no open session; send new_session to start one")
        return session

    def _target_group(self, config: RoutingConfig, group: Group, session: Session,
                      now: int) -> tuple[Group, GroupState] | None:
        """The group that takes this arrival (the routed one or a backup), or None after offering
        leave-a-message (closed, or overflowing with no backup able to take it)."""
        at = datetime.fromtimestamp(now / 1000, tz=UTC)
        schedule = config.schedules[group.schedule]
        opening = hours.status(schedule, at)
        if not opening.open:
            self._offer_leave_message(session, group, "closed", hours.describe(schedule, opening, session.language),
                                      hours.hours_json(opening))
            return None
        state = q.state_of(group.group_id)
        reason = self.overflow_reason(group, state, now)
        if reason is None and int(state.online_agents or 0) == 0:
            # Nobody online here: the first open backup with someone online takes the visitor; without one the
            # visitor queues here (and is offered leave-a-message at once).
            for backup_id in group.overflow.to if group.overflow else ():
                spare = config.groups[backup_id]
                if not hours.is_open(config.schedules[spare.schedule], at):
                    continue
                spare_state = q.state_of(backup_id)
                if int(spare_state.online_agents or 0) > 0 and self.overflow_reason(spare, spare_state, now) is None:
                    self._record_overflow(group, "no_agents_online", spare, session, now)
                    return spare, spare_state
        if reason is None:
            return group, state
        backups = group.overflow.to if group.overflow else ()
        taken_by: Group | None = None
        backup_state: GroupState | None = None
        for backup_id in backups:
            backup = config.groups[backup_id]
            if not hours.is_open(config.schedules[backup.schedule], at):
                continue
            backup_state = q.state_of(backup_id)
            if self.overflow_reason(backup, backup_state, now) is None:
                taken_by = backup
                break
        self._record_overflow(group, reason, taken_by, session, now)
        if taken_by is not None and backup_state is not None:
            return taken_by, backup_state
        self._offer_leave_message(session, group, "overflow", None, None)
        return None

    @staticmethod
    def overflow_reason(group: Group, state: GroupState, now: int) -> str | None:
        """Why new arrivals to ``group`` spill over now (None: they don't)."""
        waiting = int(state.waiting or 0)
        if waiting >= group.queue.max_waiting:
            return "queue_full"
        policy = group.overflow
        if policy is None:
            return None
        if policy.waiting_at_least is not None and waiting >= policy.waiting_at_least:
            return "waiting_count"
        if policy.waiting_per_online_slot is not None and \
                waiting >= policy.waiting_per_online_slot * int(state.online_capacity or 0):
            # With nobody online every arrival spills over: there is no one to wait for.
            return "waiting_per_capacity"
        if policy.longest_wait_seconds is not None and waiting > 0:
            oldest = q.oldest_requested_at(group.group_id)
            if oldest is not None and now - oldest > policy.longest_wait_seconds * 1000:
                return "longest_wait"
        return None

    def _record_overflow(self, group: Group, reason: str, to: Group | None, session: Session, now: int) -> None:
        counter(group.group_id, session.session_id).update(actions=[GroupState.overflow_events.add(1)])
        session_overflowed()
        logger.info("overflow", extra={"group_id": group.group_id, "reason": reason,
                                       "to": to.group_id if to else None, "session_id": session.session_id})
        if group.overflow is None or group.overflow.notify:
            self._dashboard.overflow(group, reason, to.group_id if to else None, session.session_id, now)

    def _offer_leave_message(self, session: Session, group: Group, reason: str, message: str | None,
                             opening: dict[str, Any] | None) -> None:
        """``message``: what to say, already in the visitor's language; None: the reason's catalogue text."""
        fields: dict[str, Any] = {"session_id": session.session_id, "reason": reason,
                                  "group": group.ref(),
                                  "message": message or t(session.language, OFFER_TEXTS[reason])}
        if opening is not None:
            fields["hours"] = opening
        self._presence.push(session.visitor_id, LeaveMessageOfferedEvent.model_validate(fields).frame())

    def leave_queue(self, visitor: Identity) -> Session:
        """The visitor stops waiting; the session goes back to the robot."""
        session = self._open_session(visitor)
        if session.status != sm.WAITING:
            raise RoutingError("not_found", "you are not waiting in a queue", session_id=session.session_id)
        self._sessions.dequeue(session, sm.BOT)
        session.refresh(consistent_read=True)
        self._sessions.announce(session)
        group = self._config().groups.get(str(session.group_id))
        if group is not None and session.status == sm.BOT:  # not if an agent took it at the same moment
            self._offer_leave_message(session, group, "left_queue", None, None)
        return session

    def leave_message(self, visitor: Identity, text: str, contact: str | None, reason: str | None,
                      client_msg_id: str | None = None, admit: Callable[[], None] | None = None) -> LeftMessage:
        """Open a ticket for the group's agents; a visitor waiting in a queue leaves it.

        Idempotent: the same ``client_msg_id`` (or, without one, the same text and contact in the same session)
        answers the first ticket and changes nothing. ``admit`` counts a new message against the visitor's
        limit (raising :class:`RateLimited`); a repeat of a message already left is answered even over it."""
        session = self._sessions.current(visitor)
        key = left_message_key(client_msg_id, session.session_id if session else None, text, contact)
        try:
            if admit is not None:
                admit()
        except RateLimited as err:
            first = self._tickets.left_message(visitor, key)
            if first is None:
                raise RoutingError("rate_limited", err.message, retry_after_ms=err.retry_after_ms) from None
            return self._left_before(first, text, contact)
        config = self._config()
        group_id = session.group_id if session and session.group_id in config.groups else None
        if group_id is None:
            group_id, _ = route(config, Visitor(channel=visitor.channel, source=visitor.source,
                                                category=visitor.category, tier=visitor.tier,
                                                language=visitor.language))
        if session is not None and session.status == sm.WAITING:
            self._sessions.dequeue(session, sm.BOT)
        ticket, new = self._tickets.create_from_left_message(visitor, group_id, text, contact, reason or "visitor",
                                                             session.session_id if session else None, key)
        if not new:
            return self._left_before(ticket, text, contact)
        self._dashboard.left_message(group_id, ticket.ticket_id, ticket.created_at)
        if session is not None:
            self._sessions.mark_left_message(session.session_id, group_id, ticket.created_at)
        message_left()
        # The group's agents who are connected see it at once (one batched read of their presence).
        frame = LeftMessageEvent(group_id=group_id, ticket_id=ticket.ticket_id, at=ticket.created_at).frame()
        self._presence.push_many({m.agent_id: frame for m in config.groups[group_id].members})
        return LeftMessage(ticket)

    @staticmethod
    def _left_before(first: Ticket, text: str, contact: str | None) -> LeftMessage:
        """The answer to a message left again: the first one, unless the client id now carries other words."""
        if first.description != text or first.customer.contact != contact:
            raise RoutingError("conflict", "this client_msg_id was used for a different message; use a new id "
                                           "for a new message", field="client_msg_id", message_id=first.ticket_id)
        return LeftMessage(first)

    def left_messages(self, group_ids: list[str], limit: int = 50) -> list[LeftMessage]:
        """The left messages of ``group_ids`` (tickets), most recently changed first."""
        return [LeftMessage(t) for t in self._tickets.left_messages(group_ids, limit)]

    # -- assignment ------------------------------------------------------------------------------

    def _assign_direct(self, session: Session, group: Group, requested_at: int, rule: str | None) -> bool:
        """Try the best free agent (the visitor's last one first, in sticky groups); False: none free."""
        if group.sticky and session.last_agent_id and \
                any(m.agent_id == session.last_agent_id for m in group.members):
            last = self._agents.get(session.last_agent_id)
            if last is not None and is_available(last):
                result = self._assign(session.session_id, last.agent_id, group, None, session, requested_at, rule,
                                      agent_name=last.name)
                if result in (Result.OK, Result.SESSION_TAKEN):
                    return True
        for _ in range(_ASSIGN_ROUNDS):
            candidates = self._agents.candidates(group.group_id)
            if not candidates:
                return False
            for member in candidates:
                result = self._assign(session.session_id, member.agent_id, group, None, session, requested_at, rule,
                                      agent_name=member.name)
                if result in (Result.OK, Result.SESSION_TAKEN):
                    return True
        return False

    def _assign(self, session_id: str, agent_id: str, group: Group, entry: QueueEntry | None,
                session: Session | None, requested_at: int | None = None, rule: str | None = None, *,
                agent_name: str | None = None) -> Result:
        now = self._clock.now_ms()
        requested_at = int(entry.requested_at) if entry else requested_at if requested_at is not None else now
        timer = timer_name(session_id, now)
        tx = Transaction()
        tx.update(Agent(agent_id), _slot_taken(now), condition=_HAS_FREE_SLOT, label="agent")
        self._sessions.stage_assign(tx, session_id, agent_id, group.group_id, now, timer,
                                    queue_sk=entry.sk if entry else None, requested_at=requested_at, rule=rule,
                                    agent_name=agent_name)
        counters = [GroupState.assigned.add(1), GroupState.active.add(1),
                    GroupState.wait_ms_total.add(max(0, now - requested_at))]
        if entry is not None:
            tx.delete(QueueEntry(entry.key, entry.sk), condition=QueueEntry.sk.exists(), label="entry")
            counters[:0] = left_queue()
        tx.update(counter(group.group_id, session_id), counters, label="counters")
        try:
            tx.commit()
        except TransactWriteError as err:
            failed = tx.failed(err)
            if not failed or CONFLICT in failed.values():
                return Result.CONFLICT
            if "entry" in failed:
                return Result.ENTRY_GONE
            if "session" in failed:
                return Result.SESSION_TAKEN
            return Result.AGENT_UNAVAILABLE
        self._agents.refresh(agent_id=agent_id)
        session_assigned()
        if session is not None:
            assigned: Session | None = self._sessions.assigned(session, agent_id, group.group_id, now, requested_at,
                                                               timer, rule, agent_name)
        else:
            assigned = self._sessions.get(session_id)
        if assigned is not None:
            self._sessions.announce(assigned)
        return Result.OK

    def _enqueue(self, session: Session, group: Group, state: GroupState, now: int, rule: str | None) -> bool:
        """Queue the session; ``state`` is the group's counters as read before (for its ticket and place). False:
        it may have been assigned meanwhile (or by the drain that closes the enqueue's gap)."""
        requested_at = now  # the request's own time, as the queue orders by it
        cls = q.priority_class(group, session.tier)
        entry = QueueEntry(queue_key(group.group_id, session.session_id),
                           queue_sk(cls, requested_at, session.session_id), session_id=session.session_id,
                           visitor_id=session.visitor_id, priority_class=cls, requested_at=requested_at)
        ticket = q.ticket(state) if cls == NORMAL else None
        try:
            with transaction() as tx:
                tx.put(entry, condition=QueueEntry.sk.does_not_exist())
                self._sessions.stage_enqueue(tx, session, group.group_id, entry.sk, requested_at, now, rule, ticket)
                tx.update(counter(group.group_id, session.session_id), actions=[GroupState.waiting.add(1)])
        except TransactWriteError as err:
            if not is_condition_failed(err):
                raise
            session.refresh(consistent_read=True)  # assigned meanwhile: say so
            self._sessions.announce(session)
            return False
        self._sessions.enqueued(session, group.group_id, entry.sk, requested_at, now, rule, ticket)
        session_queued()
        conns = self._presence.connections_of(session.visitor_id)  # one read for both frames
        self._sessions.announce(session, visitor_conns=conns)
        # Its place from the counters read before it queued (everyone waiting then is ahead of the last class).
        self._tell_position(group, entry, state=state, conns=conns,
                            position=int(state.waiting or 0) + 1 if ticket is not None else None)
        # A slot may have freed between the look at the counters and the enqueue: drain closes that gap.
        return self.drain(group.group_id) == 0

    # -- the sessions service's Placement: what moves with a session -------------------------------

    @staticmethod
    def stage_dequeue(tx: Transaction, session: Session) -> None:
        tx.delete(QueueEntry(queue_key(str(session.group_id), session.session_id), str(session.queue_sk)),
                  condition=QueueEntry.sk.exists())
        tx.update(counter(str(session.group_id), session.session_id), actions=left_queue())

    def dequeued(self, session: Session) -> None:
        """``session`` left its place: if it was the head, the new head is told it is next."""
        group = self._config().groups.get(str(session.group_id))
        if group is None or not session.queue_sk:
            return
        head = q.head(group.group_id)
        if head is not None and session.queue_sk < head.sk:
            self._tell_position(group, head, position=1)

    @staticmethod
    def stage_release(tx: Transaction, session: Session, now: int) -> None:
        tx.update(Agent(str(session.agent_id)), actions=_slot_freed(now), condition=Agent.active > 0)
        if session.group_id:
            handled_ms = max(0, now - int(session.assigned_at or now))
            tx.update(counter(session.group_id, session.session_id), actions=[
                GroupState.handled.add(1), GroupState.handle_ms_total.add(handled_ms), GroupState.active.add(-1),
            ])

    def released(self, session: Session) -> dict[str, Any] | None:
        agent = self._agents.refresh(agent_id=str(session.agent_id))
        if agent is not None and is_available(agent):
            self.drain_for(agent)
        return _agent_ref(agent)

    def agent_ref(self, agent_id: str) -> dict[str, Any] | None:
        return _agent_ref(self._agents.get(agent_id))

    def stage_rating(self, tx: Transaction, session: Session, stars: int) -> None:
        """A survey answer counts for the session's agent and group, in the answer's own transaction."""
        if session.agent_id:
            tx.update(Agent(session.agent_id), actions=[Agent.csat_sum.add(stars), Agent.csat_count.add(1)])
        if session.group_id:
            tx.update(counter(session.group_id, session.session_id),
                      actions=[GroupState.csat_sum.add(stars), GroupState.csat_count.add(1)])

    def drain(self, group_id: str, freed: Agent | None = None) -> int:
        """Assign the group's queue, head first, to free agents while both last; returns how many.

        ``freed`` is an agent just read free from its own item: it is tried even when the index (an
        eventually consistent GSI on AWS) does not list it yet."""
        config = self._config()
        group = config.groups.get(group_id)
        if group is None:
            return 0
        assigned = 0
        entry: QueueEntry | None = None
        for _ in range(_DRAIN_LIMIT):
            entry = q.head(group_id)
            if entry is None:
                break
            candidates = self._agents.candidates(group_id)
            if freed is not None and is_available(freed) and freed.agent_id not in {m.agent_id for m in candidates}:
                candidates.append(Member(member_key(group_id, freed.agent_id), freed.agent_id, name=freed.name))
            freed = None  # read before this round's assignment: from here on the index knows better
            if not candidates:
                break
            progressed = False
            for member in candidates:
                result = self._assign(entry.session_id, member.agent_id, group, entry, None, agent_name=member.name)
                if result is Result.OK:
                    assigned += 1
                    progressed = True
                    break
                if result is Result.ENTRY_GONE:
                    progressed = True  # another drain took it: look at the new head
                    break
                if result is Result.SESSION_TAKEN:
                    self._drop_stale_entry(entry)
                    progressed = True
                    break
                if result is Result.CONFLICT:
                    progressed = True
                    break
            if not progressed:
                break  # every candidate turned out full: the index catches up as their refreshes land
            entry = None  # taken or changed: the next round reads the head again
        if assigned and entry is not None:
            # The queue moved: only the new head is told now (it is next); everyone's place is refreshed by
            # the tick, so a move costs the same with 5,000 waiting as with 5.
            self._tell_position(group, entry, position=1)
        return assigned

    def _drop_stale_entry(self, entry: QueueEntry) -> None:
        # The session is no longer waiting under this entry (it left or closed in a way that missed it).
        try:
            with transaction() as tx:
                self._sessions.stage_not_waiting_under(tx, entry.session_id, entry.sk)
                tx.delete(QueueEntry(entry.key, entry.sk), condition=QueueEntry.sk.exists())
                tx.update(counter(entry.group_id, entry.session_id), actions=left_queue())
        except TransactWriteError as err:
            if not is_condition_failed(err):
                raise

    # -- positions -------------------------------------------------------------------------------

    def _tell_position(self, group: Group, entry: QueueEntry, *, state: GroupState | None = None,
                       ticket: int | None = None, position: int | None = None,
                       conns: set[str] | None = None) -> int:
        """One waiting visitor's ``queue`` frame: its place (given; or from its ``ticket`` and the counters; else
        counted, for the classes served first, which few wait in), the group's counters and the estimate.
        ``state``: the counters if just read. Two reads at most, whatever the queue's length."""
        if state is None:
            state = q.state_of(group.group_id)
        if position is None:
            position = q.ticket_position(ticket, state) if ticket is not None else q.position(entry)
        waiting = max(position, int(state.waiting or 0))
        return self._presence.push(entry.visitor_id,
                                   q.position_frame(entry, position, waiting, group, state, self._clock.now_ms()),
                                   conns=conns)

    def refresh_positions(self, group_id: str) -> int:
        """Send every waiting visitor its place and estimated wait (one read of the queue; the tick's
        refresh); returns how many frames went out."""
        group = self._config().groups.get(group_id)
        if group is None:
            return 0
        waiting = q.entries(group_id)
        state = q.state_of(group_id)
        now = self._clock.now_ms()
        frames = {entry.visitor_id: q.position_frame(entry, index + 1, len(waiting), group, state, now)
                  for index, entry in enumerate(waiting)}
        return self._presence.push_many(frames)

    # -- agents ----------------------------------------------------------------------------------

    def set_agent_status(self, agent: Identity, status: str, capacity: int | None = None) -> Agent:
        """An agent goes online, busy or offline, or changes capacity; a new free slot drains queues."""
        config = self._config()
        if capacity is not None and not 1 <= capacity <= config.max_capacity:
            raise RoutingError("invalid_frame", f"'capacity' must be from 1 to {config.max_capacity}", field="capacity")
        updated = self._agents.set_status(agent.user_id, status, name=agent.name, capacity=capacity)
        assert updated is not None  # unconditional
        if is_available(updated) and self.drain_for(updated):
            return self._agents.get(agent.user_id) or updated  # with the sessions it just took
        return updated

    def agent_connected(self, agent: Identity) -> None:
        """A new connection of an offline agent puts it online; busy or online stays as it is.

        Nothing is assigned yet: API Gateway refuses posts to a connection until $connect has
        returned, so the queues are drained when the agent says ``hello`` (or at the next tick)."""
        current = self._agents.get(agent.user_id)
        if current is None or current.status == OFFLINE:
            self._agents.set_status(agent.user_id, ONLINE, name=agent.name)

    def agent_ready(self, agent: Agent) -> int:
        """The agent's connection is open (``agent`` as just read): give it waiting visitors if it has free slots."""
        return self.drain_for(agent) if is_available(agent) else 0

    def agent_disconnected(self, agent_id: str) -> None:
        """The agent's last connection closed: offline (its open sessions stay with it)."""
        current = self._agents.get(agent_id)
        if current is not None and current.status != OFFLINE:
            # Conditional on no connection at commit: a reconnect racing this disconnect keeps it online.
            self._agents.set_status(agent_id, OFFLINE, unless_connected=True)

    def drain_for(self, agent: Agent) -> int:
        """Drain the queues of an agent's groups, its highest-priority groups first."""
        config = self._config()
        order = sorted(config.groups_of(agent.agent_id), key=lambda gp: gp[1])
        return sum(self.drain(group.group_id, agent) for group, _ in order)

    # -- transfer --------------------------------------------------------------------------------

    def transfer(self, caller: Identity, session_id: str, note: str | None, *, to_agent: str | None = None,
                 to_group: str | None = None) -> Session:
        """The session's agent hands it to another agent (who must have a free slot) or to a group's
        queue, ahead of new arrivals; the note goes to the next agent, the visitor is told, the
        history stays with the session and each agent's load moves with it."""
        session = self._sessions.get(session_id)
        if session is None:
            raise RoutingError("not_found", "no such session", session_id=session_id)
        if caller.user_id != session.agent_id and not supervises(caller, session):
            raise RoutingError("forbidden", "only the session's agent, or a supervisor of its group, transfers it",
                               session_id=session_id)
        if session.status != sm.ACTIVE or session.agent_id is None:
            raise RoutingError("session_closed" if session.status == sm.CLOSED else "no_agent",
                               "only a session an agent is serving can be transferred", session_id=session_id)
        if to_agent is not None:
            return self._transfer_to_agent(session, session.agent_id, to_agent, note)
        assert to_group is not None
        return self._transfer_to_group(session, session.agent_id, to_group, note)

    def _transfer_to_agent(self, session: Session, from_id: str, to_id: str, note: str | None) -> Session:
        if to_id == from_id:
            raise RoutingError("invalid_frame", "'to_agent' already serves this session", field="to_agent")
        # Read first (it was read after the commit before) so that its name goes on the session in the same write.
        target = self._agents.get(to_id)
        now = self._clock.now_ms()
        tx = Transaction()
        tx.update(Agent(to_id), _slot_taken(now), condition=_HAS_FREE_SLOT, label="agent")
        tx.update(Agent(from_id), _slot_freed(now), condition=Agent.active > 0, label="from")
        self._sessions.stage_transfer_to_agent(tx, session, from_id, to_id, note, now,
                                               target.name if target else None)
        try:
            tx.commit()
        except TransactWriteError as err:
            failed = tx.failed(err)
            if "agent" in failed and failed["agent"] != CONFLICT:
                raise RoutingError("agent_unavailable", "that agent is not online with a free slot; pick another "
                                   "or transfer to a group", field="to_agent") from None
            raise RoutingError("conflict", "the session changed meanwhile; reload it and retry",
                               session_id=session.session_id) from None
        self._agents.refresh(agent_id=to_id)
        freed = self._agents.refresh(agent_id=from_id)
        session.refresh(consistent_read=True)
        self._tell_transfer(session, from_id, target.name if target else None)
        self._presence.push(from_id, _former_view(session))
        if freed is not None and is_available(freed):
            self.drain_for(freed)
        return session

    def _transfer_to_group(self, session: Session, from_id: str, group_id: str, note: str | None,
                           notice: str | None = None) -> Session:
        config = self._config()
        group = config.groups.get(group_id)
        if group is None:
            raise RoutingError("invalid_frame", f"no group {group_id!r}; use one of {', '.join(sorted(config.groups))}",
                               field="to_group")
        now = self._clock.now_ms()
        entry = QueueEntry(queue_key(group_id, session.session_id), queue_sk(TRANSFERRED, now, session.session_id),
                           session_id=session.session_id, visitor_id=session.visitor_id, priority_class=TRANSFERRED,
                           requested_at=now)
        try:
            with transaction() as tx:
                self._sessions.stage_transfer_to_queue(tx, session, from_id, group_id, entry.sk, note, now)
                tx.put(entry, condition=QueueEntry.sk.does_not_exist())
                # Back to its own group: one write for both counts (a transaction touches an item once).
                same_group = session.group_id == group_id
                tx.update(counter(group_id, session.session_id), actions=[
                    GroupState.waiting.add(1), *([GroupState.active.add(-1)] if same_group else [])])
                tx.update(Agent(from_id), actions=_slot_freed(now), condition=Agent.active > 0)
                if session.group_id and not same_group:
                    tx.update(counter(session.group_id, session.session_id), actions=[GroupState.active.add(-1)])
        except TransactWriteError as err:
            if not is_condition_failed(err):
                raise
            raise RoutingError("conflict", "the session changed meanwhile; reload it and retry",
                               session_id=session.session_id) from None
        freed = self._agents.refresh(agent_id=from_id)
        session.refresh(consistent_read=True)
        self._tell_transfer(session, from_id, None, group, notice)
        self._presence.push(from_id, _former_view(session))
        self._tell_position(group, entry)
        self.drain(group_id)
        if freed is not None and is_available(freed):
            self.drain_for(freed)
        return session

    def hand_back(self, session: Session) -> bool:
        """The agent stayed away past its grace period: the session goes back to its group's queue, ahead of
        new arrivals, as a transfer would (its note says why). False if the session changed meanwhile."""
        config = self._config()
        group_id = session.group_id if session.group_id in config.groups else config.default_group
        try:
            self._transfer_to_group(session, str(session.agent_id), group_id, AGENT_GONE_NOTE,
                                    notice=t(session.language, "transfer.agent_gone"))
        except ImError:
            return False
        return True

    def _tell_transfer(self, session: Session, from_id: str, agent_name: str | None,
                       group: Group | None = None, notice: str | None = None) -> None:
        to: dict[str, Any] = {"agent": agent_name} if group is None else {"group": group.label(),
                                                                           "group_names": group.names()}
        language = session.language
        if notice is None and group is not None:
            notice = t(language, "transfer.to_group", group=group.label(language))
        elif notice is None:
            notice = (t(language, "transfer.to_agent", agent=agent_name) if agent_name else
                      t(language, "transfer.to_colleague"))
        self._sessions.announce(session, transferred={"from": from_id, **to}, notice=notice)

    # -- periodic --------------------------------------------------------------------------------

    def tick(self) -> dict[str, int]:
        """Run every minute (EventBridge): queue-timeout offers, fresh positions and wait estimates,
        and dashboard figures. Returns counts for the log."""
        config = self._config()
        now = self._clock.now_ms()
        offered = 0
        for group in config.groups.values():
            for entry in q.entries(group.group_id):
                if entry.timeout_offered or now - int(entry.requested_at) < group.queue.timeout_seconds * 1000:
                    continue
                entry.update(actions=[QueueEntry.timeout_offered.set(True)])
                # Once per wait, so reading the session for the visitor's language costs little.
                waiting = self._sessions.get(entry.session_id)
                self._presence.push(entry.visitor_id, LeaveMessageOfferedEvent(
                    session_id=entry.session_id, reason="queue_timeout",
                    group=GroupRef.model_validate(group.ref()),
                    message=t(waiting.language if waiting else None, OFFER_TEXTS["queue_timeout"])).frame())
                offered += 1
            # A safety net: whatever wake-up a queue might have missed, it moves within a minute.
            self.drain(group.group_id)
            self.refresh_positions(group.group_id)
        self._dashboard.publish(config)
        return {"timeout_offers": offered}
