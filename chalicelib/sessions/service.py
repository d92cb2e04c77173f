"""A visitor's session: opening (robot first), finding it again, and telling both sides about it.

Who serves a session is routing's business (chalicelib/routing)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.auth.identity import Identity
from chalicelib.im.models import Presence
from chalicelib.im.presence import PresenceService
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session


def new_session_id() -> str:
    return "s_" + secrets.token_hex(10)


def session_json(session: Session) -> dict[str, Any]:
    return {
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
    }


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

    def current(self, visitor: Identity) -> Session | None:
        try:
            presence = Presence.get(visitor.user_id, consistent_read=True)
        except DoesNotExist:
            return None
        if not presence.session_id:
            return None
        return self.get(presence.session_id)

    @staticmethod
    def get(session_id: str) -> Session | None:
        try:
            return Session.get(session_id, consistent_read=True)
        except DoesNotExist:
            return None

    def of_agent(self, agent_id: str) -> list[Session]:
        return [s for s in Session.by_agent.query(agent_id, scan_index_forward=False, limit=100)
                if s.status == sm.ACTIVE]

    def announce(self, session: Session, **extra: Any) -> None:
        """Tell the visitor (and the agent, if any) the session's state."""
        frame = {"event": "session", "session": session_json(session), **extra}
        users = [session.visitor_id, *([session.agent_id] if session.agent_id else [])]
        self._presence.push_many(dict.fromkeys(users, frame))  # one read for both sides
