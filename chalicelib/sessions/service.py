"""A visitor's session, and every change to its item: opening (robot first), the robot's marks, sequence
numbers, entering and leaving a queue, assignment, transfer, closing with its survey.

Who serves a session is routing's business (chalicelib/routing): it picks the agent or the queue, and the
changes that move an agent's slot or a queue entry with the session are one transaction, whose session part is
written here (``stage_*``) and whose routing part routing adds (``Placement``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition

from chalicelib.auth.identity import Identity, shop_customer_id
from chalicelib.channel.models import Presence
from chalicelib.channel.presence import PresenceService
from chalicelib.config.model import RoutingConfig, WrapupPolicy
from chalicelib.i18n import pick
from chalicelib.platform.clock import SYSTEM_CLOCK, Clock
from chalicelib.platform.dynamo import Transaction, is_condition_failed, transaction
from chalicelib.sessions import models as sm
from chalicelib.sessions.errors import SessionError
from chalicelib.sessions.models import Session
from chalicelib.sessions.schemas import SessionEvent, SurveyEvent
from chalicelib.sessions.timers import timer_due, timer_off, visitor_silent_since

# An agent's index entries hold its open sessions as well as its ended ones (at most max_capacity, 20 by default):
# a page of ended sessions reads this many keys more than it returns.
ENDED_PAGE_SLACK = 20


def new_session_id() -> str:
    return "s_" + secrets.token_hex(10)


def session_json(session: Session, now_ms: int, staff: bool = False) -> dict[str, Any]:
    """The session as its participants see it at ``now_ms`` (a pending survey expires); ``staff`` adds what
    only agents see (the transfer note)."""
    out: dict[str, Any] = {
        "session_id": session.session_id,
        "status": session.status,
        "visitor_id": session.visitor_id,
        "visitor_name": session.visitor_name,
        "agent_id": session.agent_id,
        "agent_name": session.agent_name if session.agent_id else None,
        "group_id": session.group_id,
        "channel": session.channel,
        "source": session.source,
        "category": session.category,
        "tier": session.tier,
        "language": session.language,
        "last_seq": int(session.seq or 0),
        "created_at": int(session.created_at),
        # When the visitor asked for a person (queued, or assigned at once): a wait is counted from it.
        "requested_at": int(session.requested_at) if session.requested_at else None,
        "assigned_at": int(session.assigned_at) if session.assigned_at else None,
        "closed_at": int(session.closed_at) if session.closed_at else None,
        "close_reason": session.close_reason,
        "visitor_presence": visitor_presence(session),
        "transfers": int(session.transfers or 0),
        "survey": survey_json(session, now_ms),
    }
    if staff:
        out["transfer"] = ({"from": session.transferred_from, "note": session.transfer_note}
                           if session.transferred_from else None)
        # The shop's own id for its order lookup (null for an anonymous visitor); visitor_id is namespaced.
        out["customer_id"] = shop_customer_id(session.visitor_id)
        # The wrap-up given at resolve (a reason's code, and the agent's note): internal, like notes.
        out["wrapup"] = session.wrapup
        out["wrapup_note"] = session.wrapup_note
    return out


def wrapup_policy(config: RoutingConfig, group_id: str | None) -> WrapupPolicy:
    """The wrap-up reasons of a session's group (none for a group no longer configured, or no group)."""
    group = config.groups.get(group_id) if group_id else None
    return group.wrapup if group is not None else WrapupPolicy()


def wrapup_reasons_json(config: RoutingConfig) -> list[dict[str, Any]]:
    """Every group's wrap-up reasons as staff read them (``GET /wrapup-reasons``), in the configuration's order."""
    return [{**g.ref(), "required": g.wrapup.required,
             "reasons": [{"code": r.code, "label": dict(r.label)} for r in g.wrapup.reasons]}
            for g in config.groups.values()]


def visitor_presence(session: Session) -> str:
    """``online``, ``reconnecting`` (connection dropped, within the grace period) or ``offline``."""
    if session.visitor_away_at is None:
        return "online"
    return "offline" if session.visitor_offline_at is not None else "reconnecting"


def survey_json(session: Session, now_ms: int) -> dict[str, Any] | None:
    """The session's survey at ``now_ms``: None if none was sent; else its state and, once answered, the
    answer."""
    if session.survey_sent_at is None:
        return None
    if session.rated_at is not None:
        return {"status": "answered", "stars": int(session.rating or 0), "tags": list(session.rating_tags or []),
                "comment": session.rating_comment, "answered_at": int(session.rated_at)}
    expires = int(session.survey_expires_at or 0)
    return {"status": "pending" if now_ms < expires else "expired", "expires_at": expires}


def _fetch(keys: Iterable[Session]) -> list[Session]:
    """The sessions an index query found (keys only), read in one BatchGetItem per 100, in the query's order."""
    ids = [k.session_id for k in keys]
    found: dict[str, Session] = {}
    for start in range(0, len(ids), 100):
        found.update((s.session_id, s) for s in Session.batch_get(ids[start:start + 100], consistent_read=True))
    return [found[i] for i in ids if i in found]


class Placement(Protocol):
    """Routing's side of a session's changes (chalicelib/routing implements it): the agent's slot, the queue
    entry and the group's counters that move in the same transaction as the session, and what follows."""

    def stage_release(self, tx: Transaction, session: Session, now: int) -> None:
        """Add the freeing of the agent's slot (and the group's counts) to the close of an active session."""

    def released(self, session: Session) -> dict[str, Any] | None:
        """After that close: refill the freed slot; returns the agent (``id``, ``name``) as its survey names it."""

    def stage_dequeue(self, tx: Transaction, session: Session) -> None:
        """Add the removal of the session's queue entry (and the group's count) to its leaving the queue."""

    def dequeued(self, session: Session) -> None:
        """After the session left its queue: those behind it move up."""

    def agent_ref(self, agent_id: str) -> dict[str, Any] | None:
        """The agent (``id``, ``name``) as a survey names it, None if unknown."""


def _note_action(note: str | None) -> list[Any]:
    return [Session.transfer_note.set(note)] if note else [Session.transfer_note.remove()]


def _agent_name_action(name: str | None) -> list[Any]:
    return [Session.agent_name.set(name)] if name else [Session.agent_name.remove()]


def _rule_action(rule: str | None) -> list[Any]:
    return [Session.rule.set(rule)] if rule else []


class SessionService:
    def __init__(self, presence: PresenceService, config: Callable[[], RoutingConfig],
                 placement: Callable[[], Placement],
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self._presence = presence
        self._config = config
        # Routing is built over this service, so it is reached through a provider, read at call time.
        self._placement = placement
        self._clock = clock

    def in_group_of(self, who: Identity, session: Session) -> bool:
        """Whether staff member ``who`` serves the session's group (as configured): its agents read the group's
        conversations (issue 19: agents see their groups' conversations)."""
        if not who.is_staff or session.group_id is None:
            return False
        return any(group.group_id == session.group_id for group, _ in self._config().groups_of(who.user_id))

    def current_or_new(self, visitor: Identity, presence: Presence) -> Session:
        """The visitor's open session, or a new one (robot first) if it has none."""
        last_agent: str | None = None
        if presence.session_id:
            try:
                session = Session.get(presence.session_id, consistent_read=True)
                if session.status != sm.CLOSED:
                    return session
                last_agent = session.agent_id or session.last_agent_id
            except DoesNotExist:
                pass
        now = self._clock.now_ms()
        session = Session(new_session_id(), visitor_id=visitor.user_id, visitor_name=visitor.name,
                          status=sm.BOT, channel=visitor.channel, source=visitor.source,
                          category=visitor.category, tier=visitor.tier, language=visitor.language,
                          last_agent_id=last_agent, seq=0, created_at=now, updated_at=now)
        session.save()
        presence.update(actions=[Presence.session_id.set(session.session_id)])
        return session

    def start_over(self, visitor: Identity) -> tuple[Session, bool]:
        """A visitor whose chat ended starts another on the same connection (``new_session``): its open session if
        it has one (a second tab or a double tap opens nothing more), else a new one. Returns it, and whether it is
        new. Two reads and, for a new one, two writes, as a connection's opening costs."""
        try:
            presence = Presence.get(visitor.user_id, consistent_read=True)
        except DoesNotExist:
            raise SessionError("not_found", "this connection is not registered; reconnect") from None
        before = presence.session_id
        session = self.current_or_new(visitor, presence)
        return session, session.session_id != before

    def count_upload(self, visitor: Identity, limit: int) -> str | None:
        """Count a photo against the visitor's open session in one conditional write: None when it may be
        stored, else why not: ``no_session`` (none open) or ``limit`` (``limit`` photos already)."""
        session_id = self._session_id_of(visitor)
        if session_id is None:
            return "no_session"
        open_and_own = (Session.status != sm.CLOSED) & (Session.visitor_id == visitor.user_id)
        try:
            Session(session_id).update(
                actions=[Session.uploads.add(1)],
                condition=open_and_own & (Session.uploads.does_not_exist() | (Session.uploads < limit)))
        except UpdateError as err:
            if not is_condition_failed(err):
                raise
            session = self.get(session_id)
            return "limit" if session is not None and session.status != sm.CLOSED else "no_session"
        return None

    def current(self, visitor: Identity) -> Session | None:
        session_id = self._session_id_of(visitor)
        return self.get(session_id) if session_id is not None else None

    @staticmethod
    def _session_id_of(visitor: Identity) -> str | None:
        """The visitor's current session id, from its presence (one read)."""
        try:
            presence = Presence.get(visitor.user_id, consistent_read=True)
        except DoesNotExist:
            return None
        return presence.session_id or None

    @staticmethod
    def get(session_id: str) -> Session | None:
        try:
            return Session.get(session_id, consistent_read=True)
        except DoesNotExist:
            return None

    @staticmethod
    def of_visitor(visitor_id: str, limit: int, before: int | None = None) -> tuple[list[Session], int | None]:
        """One page of the visitor's sessions, newest first, opened before ``before`` (ms; None: from the
        newest), and the ``before`` of the next page (None at the end): one Query of the index (keys only, one
        more than the page to know if another follows) and one BatchGetItem."""
        condition = Session.created_at < before if before is not None else None
        keys = list(Session.by_visitor.query(visitor_id, condition, scan_index_forward=False, limit=limit + 1))
        page = _fetch(keys[:limit])
        return page, int(keys[limit - 1].created_at) if len(keys) > limit else None

    @staticmethod
    def ended_of(who: Identity, limit: int, before: int | None = None) -> tuple[list[Session], int | None]:
        """One page of the caller's ended sessions, newest first, opened before ``before`` (ms): an agent's (the
        ones it served last, with their surveys), a visitor's (its own earlier chats). Returns them and the next
        page's ``before`` (None at the end). The caller's index entries hold its open sessions too (an agent's
        are at most its capacity), so a page reads up to ``limit + 20`` keys (one Query, keys only) and their
        items (one BatchGetItem); never a scan."""
        index = Session.by_agent if who.is_staff else Session.by_visitor
        condition = Session.created_at < before if before is not None else None
        want = limit + ENDED_PAGE_SLACK
        keys = list(index.query(who.user_id, condition, scan_index_forward=False, limit=want))
        found = _fetch(keys)
        ended: list[Session] = []
        seen = 0
        for session in found:
            if len(ended) == limit:
                break
            seen += 1
            if session.status == sm.CLOSED:
                ended.append(session)
        # More may follow when sessions were left unread here, or the Query stopped at its limit.
        more = seen < len(found) or len(keys) == want
        return ended, int(found[seen - 1].created_at) if more and seen else None

    def of_agent(self, agent_id: str) -> list[Session]:
        """The agent's active sessions, newest first (among its last 100)."""
        return [s for s in _fetch(Session.by_agent.query(agent_id, scan_index_forward=False, limit=100))
                if s.status == sm.ACTIVE]

    def view(self, session: Session, staff: bool = False) -> dict[str, Any]:
        """The session as its participants see it now (see :func:`session_json`)."""
        return session_json(session, self._clock.now_ms(), staff)

    def announce(self, session: Session, visitor_conns: set[str] | None = None, **extra: Any) -> None:
        """Tell the visitor (and the agent, if any) the session's state, each its own view; ``visitor_conns``:
        the visitor's connections if just read (a session without an agent then costs no read)."""
        frames = {session.visitor_id: SessionEvent.model_validate({"session": self.view(session), **extra}).frame()}
        if session.agent_id:
            frames[session.agent_id] = SessionEvent.model_validate({"session": self.view(session, staff=True),
                                                                    **extra}).frame()
        elif visitor_conns is not None:
            self._presence.push(session.visitor_id, frames[session.visitor_id], conns=visitor_conns)
            return
        self._presence.push_many(frames)  # one read for both sides

    def tell_agent(self, session: Session) -> None:
        """The session's agent (for a closed one, its last) gets the session's staff view: its survey answered.
        One read of the agent's connections and a post to each."""
        if session.agent_id:
            frame = SessionEvent.model_validate({"session": self.view(session, staff=True)}).frame()
            self._presence.push(session.agent_id, frame)

    # -- the robot's marks and sequence numbers ------------------------------------------------------

    @staticmethod
    def robot_off(session: Session) -> None:
        """The robot never answers in this session again (handed off)."""
        session.update(actions=[Session.robot_off.set(True)])

    @staticmethod
    def set_robot_misses(session: Session, misses: int) -> None:
        if int(session.robot_misses or 0) != misses:
            session.update(actions=[Session.robot_misses.set(misses)])

    @staticmethod
    def set_robot_order_ask(session: Session, asked: str | None) -> None:
        """What the robot asked an anonymous visitor to complete (None: nothing); written only when it changes."""
        if session.robot_order_ask != asked:
            session.update(actions=[Session.robot_order_ask.set(asked) if asked else Session.robot_order_ask.remove()])

    def take_seq(self, session: Session | str, *, staff: bool | None = None,
                 condition: Condition | None = None) -> Session | None:
        """Take the session's next sequence number (one write, which also refreshes ``session``); None when
        ``condition`` did not hold. ``staff``: the sender's side, whose idle-clock stamp rides on the same write
        (the lifecycle timer reads it when it wakes); None: the robot's, which stamps nothing."""
        item = Session(session) if isinstance(session, str) else session
        actions: list[Any] = [Session.seq.add(1)]
        if staff is not None:
            now = self._clock.now_ms()
            stamp = Session.last_agent_at if staff else Session.last_visitor_at
            actions += [Session.updated_at.set(now), stamp.set(now)]
            if staff:
                # The agent's first reply, for the reports' first response time: the same write, set once.
                actions.append(Session.first_response_at.set(Session.first_response_at | now))
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as err:
            if not is_condition_failed(err):
                raise
            return None
        return item

    @staticmethod
    def mark_left_message(session_id: str, group_id: str, now: int) -> None:
        """The visitor left a message for ``group_id`` from this session (the reports count the first)."""
        Session(session_id).update(actions=[Session.left_message_at.set(Session.left_message_at | now),
                                            Session.left_message_group.set(Session.left_message_group | group_id)])

    # -- queues and assignment: the session's part of routing's transactions --------------------------

    @staticmethod
    def stage_enqueue(tx: Transaction, session: Session, group_id: str, queue_sk: str, requested_at: int,
                      now: int, rule: str | None, ticket: int | None) -> None:
        """The robot's session waits in ``group_id``'s queue under ``queue_sk`` (with ``ticket``: see Session)."""
        tx.update(Session(session.session_id), actions=[
            Session.status.set(sm.WAITING), Session.group_id.set(group_id), Session.queue_sk.set(queue_sk),
            Session.requested_at.set(requested_at), Session.handoff_at.set(Session.handoff_at | requested_at),
            Session.updated_at.set(now), *_rule_action(rule),
            Session.queue_ticket.set(ticket) if ticket is not None else Session.queue_ticket.remove(),
        ], condition=Session.status == sm.BOT, label="session")

    def stage_assign(self, tx: Transaction, session_id: str, agent_id: str, group_id: str, now: int, timer: str, *,
                     queue_sk: str | None, requested_at: int, rule: str | None, agent_name: str | None = None) -> None:
        """The session goes to ``agent_id`` (named ``agent_name``): from its place ``queue_sk`` in a queue, or
        straight from the robot. Its timer is armed in the same write: first due when a warning could first be."""
        first_due = now + self._config().sessions.idle_warn_seconds * 1000
        actions: list[Any] = [Session.status.set(sm.ACTIVE), Session.agent_id.set(agent_id),
                              *_agent_name_action(agent_name),
                              Session.group_id.set(group_id), Session.assigned_at.set(now),
                              Session.first_assigned_at.set(Session.first_assigned_at | now),
                              Session.updated_at.set(now), Session.timer.set(timer),
                              *timer_due(session_id, first_due)]
        if queue_sk is not None:
            tx.update(Session(session_id), actions=[*actions, Session.queue_sk.remove()],
                      condition=(Session.status == sm.WAITING) & (Session.queue_sk == queue_sk), label="session")
        else:
            tx.update(Session(session_id), actions=[*actions, Session.requested_at.set(requested_at),
                                                    Session.handoff_at.set(Session.handoff_at | requested_at),
                                                    *_rule_action(rule)],
                      condition=Session.status == sm.BOT, label="session")

    @staticmethod
    def enqueued(session: Session, group_id: str, queue_sk: str, requested_at: int, now: int, rule: str | None,
                 ticket: int | None) -> Session:
        """``session`` as ``stage_enqueue`` left it once committed (its condition proved what it was), so the
        arrival's frames need no read of it."""
        session.status, session.group_id, session.queue_sk = sm.WAITING, group_id, queue_sk
        session.requested_at, session.updated_at, session.queue_ticket = requested_at, now, ticket
        if rule:
            session.rule = rule
        return session

    @staticmethod
    def assigned(session: Session, agent_id: str, group_id: str, now: int, requested_at: int, timer: str,
                 rule: str | None, agent_name: str | None = None) -> Session:
        """``session`` as the assignment that just committed left it (its condition proved what it was)."""
        session.status, session.agent_id, session.group_id = sm.ACTIVE, agent_id, group_id
        session.agent_name = agent_name
        session.assigned_at, session.requested_at, session.updated_at = now, requested_at, now
        session.timer = timer
        if rule:
            session.rule = rule
        return session

    @staticmethod
    def stage_not_waiting_under(tx: Transaction, session_id: str, queue_sk: str) -> None:
        """The check that the session no longer waits under the queue entry ``queue_sk`` (a stale entry)."""
        tx.check(Session, session_id, (Session.status != sm.WAITING) | (Session.queue_sk != queue_sk),
                 label="session")

    def dequeue(self, session: Session, to_status: str, reason: str | None = None, by: str | None = None) -> bool:
        """Take a waiting session out of its queue (to the robot, or closed); False if not waiting."""
        if session.queue_sk is None or session.group_id is None:
            return False
        now = self._clock.now_ms()
        actions: list[Any] = [Session.status.set(to_status), Session.queue_sk.remove(), Session.updated_at.set(now)]
        if to_status == sm.CLOSED:
            actions += [Session.closed_at.set(now), Session.close_reason.set(reason or sm.VISITOR_ENDED),
                        *([Session.closed_by.set(by)] if by else []),
                        # Served before a transfer put it back in a queue: it reached an agent.
                        *self._survey_actions(now, served=bool(session.transfers))]
        placement = self._placement()
        try:
            with transaction() as tx:
                tx.update(Session(session.session_id), actions=actions,
                          condition=(Session.status == sm.WAITING) & (Session.queue_sk == session.queue_sk))
                placement.stage_dequeue(tx, session)
        except TransactWriteError as err:
            if not is_condition_failed(err):
                raise
            return False
        placement.dequeued(session)
        return True

    # -- transfer: the session's part of routing's transactions ----------------------------------------

    @staticmethod
    def stage_transfer_to_agent(tx: Transaction, session: Session, from_id: str, to_id: str, note: str | None,
                                now: int, to_name: str | None = None) -> None:
        tx.update(Session(session.session_id), [
            Session.agent_id.set(to_id), *_agent_name_action(to_name), Session.transfers.add(1),
            Session.transferred_from.set(from_id),
            *_note_action(note), Session.updated_at.set(now), Session.agent_away_at.remove(),
        ], condition=(Session.status == sm.ACTIVE) & (Session.agent_id == from_id), label="session")

    @staticmethod
    def stage_transfer_to_queue(tx: Transaction, session: Session, from_id: str, group_id: str, queue_sk: str,
                                note: str | None, now: int) -> None:
        tx.update(Session(session.session_id), actions=[
            Session.status.set(sm.WAITING), Session.agent_id.remove(), Session.agent_name.remove(),
            Session.group_id.set(group_id),
            Session.queue_sk.set(queue_sk), Session.requested_at.set(now), Session.timer.remove(), *timer_off(),
            Session.agent_away_at.remove(), Session.queue_ticket.remove(),
            Session.transfers.add(1), Session.transferred_from.set(from_id), *_note_action(note),
            Session.last_agent_id.set(from_id), Session.updated_at.set(now),
        ], condition=(Session.status == sm.ACTIVE) & (Session.agent_id == from_id), label="session")

    # -- ending ----------------------------------------------------------------------------------------

    def end_session(self, caller: Identity, session_id: str) -> Session:
        """A participant ends the session: a waiting one leaves its queue, an active one frees its
        agent's slot at once and the agent's groups are drained."""
        session = self._participant_session(caller, session_id)
        reason = sm.AGENT_ENDED if caller.user_id == session.agent_id else sm.VISITOR_ENDED
        agent = None
        if session.status == sm.WAITING:
            won = self.dequeue(session, sm.CLOSED, reason=reason, by=caller.user_id)
        elif session.status == sm.ACTIVE:
            won, agent = self._release(session, caller.user_id, reason)
        else:
            won = self._close_bot(session, caller.user_id, reason)
        return self._closed(session, agent) if won else self._lost(session)

    def resolve(self, caller: Identity, session_id: str, wrapup: str | None = None,
                wrapup_note: str | None = None) -> Session:
        """The agent confirms the issue is solved: the session closes (with its survey), keeping the wrap-up
        reason ``wrapup`` (a code of the session's group's reasons; required where the group says so) and an
        optional ``wrapup_note`` for staff, in the close's own write."""
        session = self._participant_session(caller, session_id)
        if caller.user_id != session.agent_id or session.status != sm.ACTIVE:
            raise SessionError("forbidden", "only the session's agent resolves it", session_id=session_id)
        policy = wrapup_policy(self._config(), session.group_id)
        if wrapup is None and policy.required:
            raise SessionError("wrapup_required", "this group asks for a wrap-up reason: send 'wrapup' with one of "
                               f"its codes ({', '.join(r.code for r in policy.reasons)})", field="wrapup",
                               session_id=session_id)
        if wrapup is not None and policy.reason(wrapup) is None:
            known = ", ".join(r.code for r in policy.reasons) or "none"
            raise SessionError("invalid_wrapup", f"'{wrapup[:40]}' is not a wrap-up reason of group "
                               f"{session.group_id} (its codes: {known})", field="wrapup", session_id=session_id)
        note = (wrapup_note or "").strip()
        extra = [*([Session.wrapup.set(wrapup)] if wrapup else []), *([Session.wrapup_note.set(note)] if note else [])]
        won, agent = self._release(session, caller.user_id, sm.RESOLVED, extra=extra)
        return self._closed(session, agent) if won else self._lost(session)

    def close_idle(self, session: Session) -> bool:
        """The lifecycle timer's close: only if the visitor still has not answered since the warning."""
        won, agent = self._release(session, "system", sm.IDLE_TIMEOUT,
                                   visitor_silent_since(session) & (Session.warned_at == session.warned_at))
        if won:
            self._closed(session, agent)
        return won

    def _participant_session(self, caller: Identity, session_id: str) -> Session:
        session = self.get(session_id)
        if session is None:
            raise SessionError("not_found", "no such session", session_id=session_id)
        if caller.user_id not in (session.visitor_id, session.agent_id):
            raise SessionError("forbidden", "you are not a participant of this session", session_id=session_id)
        if session.status == sm.CLOSED:
            raise SessionError("session_closed", "this session has ended", session_id=session_id)
        return session

    def _closed(self, session: Session, agent: dict[str, Any] | None = None) -> Session:
        """After the close that won: tell both sides, the survey first (if it sent one), then the closed session.
        ``agent``: the session's agent as the close left it (its name is in the survey), when the close read it."""
        session.refresh(consistent_read=True)
        if session.survey_sent_at is not None:
            self._presence.push(session.visitor_id, self._survey_frame(session, agent))
        self.announce(session)
        return session

    def _lost(self, session: Session) -> Session:
        """Another change got there first (the winner told both sides): say why this one did not apply."""
        session.refresh(consistent_read=True)
        if session.status == sm.CLOSED:
            raise SessionError("session_closed", "this session has ended", session_id=session.session_id)
        raise SessionError("conflict", "the session changed meanwhile; reload it and retry",
                           session_id=session.session_id)

    def _survey_frame(self, session: Session, agent: dict[str, Any] | None = None) -> dict[str, Any]:
        if agent is None and session.agent_id:
            agent = self._placement().agent_ref(session.agent_id)
        survey, language = self._config().sessions.survey, session.language
        return SurveyEvent.model_validate({
            "session_id": session.session_id, "question": pick(survey.question, language), "scale": [1, 5],
            "tags": [pick(tag, language) for tag in survey.tags], "agent": agent,
            "expires_at": int(session.survey_expires_at or 0)}).frame()

    def _survey_actions(self, now: int, served: bool) -> list[Any]:
        """The survey rides on the close's own write, so exactly the one close that wins sends it."""
        policy = self._config().sessions.survey
        if not served and not policy.robot_sessions:
            return []
        return [Session.survey_sent_at.set(now),
                Session.survey_expires_at.set(now + policy.answer_within_seconds * 1000)]

    def _close_bot(self, session: Session, by: str, reason: str) -> bool:
        now = self._clock.now_ms()
        try:
            session.update(actions=[Session.status.set(sm.CLOSED), Session.closed_at.set(now),
                                    Session.closed_by.set(by), Session.close_reason.set(reason),
                                    Session.updated_at.set(now), *self._survey_actions(now, served=False)],
                           condition=Session.status == sm.BOT)
        except UpdateError as err:
            if not is_condition_failed(err):
                raise
            return False
        return True

    def _release(self, session: Session, by: str, reason: str, condition: Any = None,
                 extra: list[Any] | None = None) -> tuple[bool, dict[str, Any] | None]:
        """Close an active session and free its agent's slot in one transaction; (False, None) if already done
        (or ``condition`` no longer holds), else (True, the agent as it is now)."""
        now = self._clock.now_ms()
        owned = (Session.status == sm.ACTIVE) & (Session.agent_id == str(session.agent_id))
        placement = self._placement()
        try:
            with transaction() as tx:
                tx.update(Session(session.session_id), actions=[
                    Session.status.set(sm.CLOSED), Session.closed_at.set(now), Session.closed_by.set(by),
                    Session.close_reason.set(reason), Session.updated_at.set(now), *timer_off(),
                    *self._survey_actions(now, served=True), *(extra or []),
                ], condition=owned if condition is None else owned & condition)
                placement.stage_release(tx, session, now)
        except TransactWriteError as err:
            if not is_condition_failed(err):
                raise
            return False, None
        return True, placement.released(session)
