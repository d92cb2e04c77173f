"""A visitor's session: opening (robot first), finding it again, and telling both sides about it.

Who serves a session is routing's business (chalicelib/routing)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.auth.identity import Identity, shop_customer_id
from chalicelib.im.models import Presence
from chalicelib.im.presence import PresenceService
from chalicelib.platform.modelbase import is_conditional_failure
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session


def new_session_id() -> str:
    return "s_" + secrets.token_hex(10)


def session_json(session: Session, staff: bool = False) -> dict[str, Any]:
    """The session as its participants see it; ``staff`` adds what only agents see (the transfer note)."""
    out: dict[str, Any] = {
        "session_id": session.session_id,
        "status": session.status,
        "visitor_id": session.visitor_id,
        "visitor_name": session.visitor_name,
        "agent_id": session.agent_id,
        "group_id": session.group_id,
        "channel": session.channel,
        "source": session.source,
        "category": session.category,
        "tier": session.tier,
        "language": session.language,
        "last_seq": int(session.seq or 0),
        "created_at": int(session.created_at),
        "assigned_at": int(session.assigned_at) if session.assigned_at else None,
        "closed_at": int(session.closed_at) if session.closed_at else None,
        "close_reason": session.close_reason,
        "visitor_presence": visitor_presence(session),
        "transfers": int(session.transfers or 0),
        "survey": survey_json(session),
    }
    if staff:
        out["transfer"] = ({"from": session.transferred_from, "note": session.transfer_note}
                           if session.transferred_from else None)
        # The shop's own id for its order lookup (null for an anonymous visitor); visitor_id is namespaced.
        out["customer_id"] = shop_customer_id(session.visitor_id)
    return out


def visitor_presence(session: Session) -> str:
    """``online``, ``reconnecting`` (connection dropped, within the grace period) or ``offline``."""
    if session.visitor_away_at is None:
        return "online"
    return "offline" if session.visitor_offline_at is not None else "reconnecting"


def survey_json(session: Session) -> dict[str, Any] | None:
    """The session's survey: None if none was sent; else its state and, once answered, the answer."""
    if session.survey_sent_at is None:
        return None
    if session.rated_at is not None:
        return {"status": "answered", "stars": int(session.rating or 0), "tags": list(session.rating_tags or []),
                "comment": session.rating_comment, "answered_at": int(session.rated_at)}
    expires = int(session.survey_expires_at or 0)
    return {"status": "pending" if time.time() * 1000 < expires else "expired", "expires_at": expires}


def _fetch(keys: Iterable[Session]) -> list[Session]:
    """The sessions an index query found (keys only), read in one BatchGetItem per 100, in the query's order."""
    ids = [k.session_id for k in keys]
    found: dict[str, Session] = {}
    for start in range(0, len(ids), 100):
        found.update((s.session_id, s) for s in Session.batch_get(ids[start:start + 100], consistent_read=True))
    return [found[i] for i in ids if i in found]


class SessionService:
    def __init__(self, presence: PresenceService, clock: Callable[[], float] = time.time) -> None:
        self._presence = presence
        self._clock = clock

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

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
        now = self._now_ms()
        session = Session(new_session_id(), visitor_id=visitor.user_id, visitor_name=visitor.name,
                          status=sm.BOT, channel=visitor.channel, source=visitor.source,
                          category=visitor.category, tier=visitor.tier, language=visitor.language,
                          last_agent_id=last_agent, seq=0, created_at=now, updated_at=now)
        session.save()
        presence.update(actions=[Presence.session_id.set(session.session_id)])
        return session

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
            if not is_conditional_failure(err):
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
    def of_visitor(visitor_id: str, limit: int) -> list[Session]:
        """The visitor's sessions, newest first."""
        return _fetch(Session.by_visitor.query(visitor_id, scan_index_forward=False, limit=limit))

    def of_agent(self, agent_id: str) -> list[Session]:
        """The agent's active sessions, newest first (among its last 100)."""
        return [s for s in _fetch(Session.by_agent.query(agent_id, scan_index_forward=False, limit=100))
                if s.status == sm.ACTIVE]

    def announce(self, session: Session, **extra: Any) -> None:
        """Tell the visitor (and the agent, if any) the session's state, each its own view."""
        frames = {session.visitor_id: {"event": "session", "session": session_json(session), **extra}}
        if session.agent_id:
            frames[session.agent_id] = {"event": "session", "session": session_json(session, staff=True), **extra}
        self._presence.push_many(frames)  # one read for both sides
