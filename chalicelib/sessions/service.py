"""Opening a visitor's session and pairing it with an agent.

Pairing here is deliberately plain (any online agent, waiting sessions go to the next agent who comes
online); routing by rules, capacity and queues replaces ``_pick_agent`` and ``backfill``.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.auth.identity import Identity
from chalicelib.im.errors import ImError
from chalicelib.im.models import Presence
from chalicelib.im.presence import PresenceService
from chalicelib.im.service import is_conditional_failure
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session

BACKFILL_LIMIT = 20


def new_session_id() -> str:
    return "s_" + secrets.token_hex(10)


def session_json(session: Session) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        "status": session.status,
        "visitor_id": session.visitor_id,
        "visitor_name": session.visitor_name,
        "agent_id": session.agent_id,
        "channel": session.channel,
        "source": session.source,
        "category": session.category,
        "last_seq": int(session.seq or 0),
        "created_at": int(session.created_at),
    }


class SessionService:
    def __init__(self, presence: PresenceService, clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None) -> None:
        self._presence = presence
        self._clock = clock
        self._rng = rng or random.Random()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def current_or_new(self, visitor: Identity, presence: Presence) -> Session:
        """The visitor's open session, or a new one (robot first) if it has none."""
        if presence.session_id:
            try:
                session = Session.get(presence.session_id, consistent_read=True)
                if session.status != sm.CLOSED:
                    return session
            except DoesNotExist:
                pass
        now = self._now_ms()
        session = Session(new_session_id(), visitor_id=visitor.user_id, visitor_name=visitor.name,
                          status=sm.BOT, channel=visitor.channel, source=visitor.source,
                          category=visitor.category, seq=0, created_at=now, updated_at=now)
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
        try:
            return Session.get(presence.session_id, consistent_read=True)
        except DoesNotExist:
            return None

    def of_agent(self, agent_id: str) -> list[Session]:
        return [s for s in Session.by_agent.query(agent_id, scan_index_forward=False, limit=100)
                if s.status == sm.ACTIVE]

    def request_agent(self, visitor: Identity) -> Session:
        """The visitor asks for a person: assign an online agent, or wait for one."""
        session = self.current(visitor)
        if session is None or session.status == sm.CLOSED:
            raise ImError("not_found", "you have no open session; reconnect to start one")
        if session.status == sm.ACTIVE:
            self._announce(session)
            return session
        agents = [p.user_id for p in Presence.agents_by_status.query("online")]
        self._rng.shuffle(agents)
        for agent_id in agents:
            if self._assign(session, agent_id):
                return session
        if session.status != sm.WAITING:
            try:
                session.update(actions=[Session.status.set(sm.WAITING), Session.updated_at.set(self._now_ms())],
                               condition=Session.status == sm.BOT)
            except UpdateError as err:
                if not is_conditional_failure(err):
                    raise
                session.refresh(consistent_read=True)  # taken meanwhile (an agent came online): say so
        self._announce(session)
        return session

    def backfill(self, agent_id: str) -> list[Session]:
        """An agent came online: give it the sessions waiting longest."""
        taken = []
        for session in Session.by_status.query(sm.WAITING, limit=BACKFILL_LIMIT):
            if self._assign(session, agent_id):
                taken.append(session)
        return taken

    def set_status(self, agent: Identity, status: str) -> None:
        Presence(agent.user_id).update(actions=[Presence.status.set(status), Presence.updated_at.set(self._now_ms())])
        if status == "online":
            self.backfill(agent.user_id)

    def _assign(self, session: Session, agent_id: str) -> bool:
        # Conditional, so two agents can never take the same session.
        try:
            session.update(
                actions=[Session.status.set(sm.ACTIVE), Session.agent_id.set(agent_id),
                         Session.updated_at.set(self._now_ms())],
                condition=Session.status.is_in(sm.BOT, sm.WAITING),
            )
        except UpdateError as err:
            if is_conditional_failure(err):
                return False
            raise
        self._announce(session)
        return True

    def _announce(self, session: Session) -> None:
        frame = {"event": "session", "session": session_json(session)}
        self._presence.push(session.visitor_id, frame)
        if session.agent_id:
            self._presence.push(session.agent_id, frame)
