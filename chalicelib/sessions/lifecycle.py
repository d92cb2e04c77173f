"""How an assigned session ends on its own: the idle timeout (a warning, then the close), the
visitor's dropped connection (reconnecting for a grace period, then offline; the session goes on), and
the agent's (after its grace period the session goes back to its group's queue).

A session's timer is a due time on its item (chalicelib/sessions/timers.py): the assignment arms it, a user
leaving re-arms it for the end of the grace period, a close disarms it. The clock sweeps each shard of due
sessions every few seconds (``LifecycleService.sweep``), runs ``step`` for each, and writes the next due time
``step`` asks for. Messages never touch it: each message's sequence-number write also stamps
``last_agent_at`` or ``last_visitor_at``, and the step reads them when it wakes. Nothing is ever started or
stopped, so nothing can fail to start: a sweep that fails leaves the due times where they are, and the next
round finds them.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any, Protocol

from pynamodb.exceptions import UpdateError

from chalicelib.channel.presence import PresenceService
from chalicelib.config.model import RoutingConfig
from chalicelib.i18n import t
from chalicelib.platform.clock import SYSTEM_CLOCK, Clock
from chalicelib.platform.observability import logger
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session
from chalicelib.sessions.schemas import IdleWarningEvent, VisitorPresenceEvent
from chalicelib.sessions.service import SessionService
from chalicelib.sessions.timers import (
    TimerState,
    shard_key,
    timer_due,
    timer_name,
    timer_off,
    timer_state,
    visitor_silent_since,
)

# Due sessions one sweep of a shard handles at most; the rest wait for the next round (a few seconds later).
SWEEP_BATCH = 500


class Staffing(Protocol):
    """Routing's side of an agent who goes away (chalicelib/routing implements it)."""

    def agent_disconnected(self, agent_id: str) -> None: ...

    def hand_back(self, session: Session) -> bool: ...


class LifecycleService:
    def __init__(self, presence: PresenceService, sessions: SessionService, staffing: Staffing,
                 config: Callable[[], RoutingConfig], clock: Clock = SYSTEM_CLOCK) -> None:
        self._presence = presence
        self._sessions = sessions
        self._staffing = staffing
        self._config = config
        self._clock = clock

    # -- the clock's sweep --------------------------------------------------------------------------

    def sweep(self, shard: int, limit: int = SWEEP_BATCH) -> int:
        """Wake the sessions of ``shard`` whose timer is due: run each one's step and write when it is next
        due (or that it is not any more). Reads only the sparse index of due sessions; returns how many woke.
        A step that fails is logged and its due time left as it was, so the next round tries it again."""
        now = self._clock.now_ms()
        policy = self._config().sessions
        woken = 0
        for key in Session.timers_due.query(shard_key(shard), Session.timer_due_at <= now, limit=limit):
            session = self._sessions.get(key.session_id)
            if session is None or session.timer_due_at is None or int(session.timer_due_at) > now:
                continue  # re-armed or disarmed since the index saw it (it lags its table)
            due = int(session.timer_due_at)
            try:
                state = self.step(timer_state(session.session_id, str(session.timer), policy), session=session)
                self._rearm(session, due, None if state["done"] else now + int(state["wait_seconds"]) * 1000)
            except Exception:
                logger.exception("lifecycle step failed; the next round tries again",
                                 extra={"session_id": session.session_id})
                continue
            woken += 1
        return woken

    @staticmethod
    def _rearm(session: Session, was_due: int, next_due: int | None) -> None:
        """The woken timer's next due time (None: disarmed), unless something re-armed it meanwhile."""
        with contextlib.suppress(UpdateError):  # re-armed (a user left) or closed meanwhile: theirs stands
            session.update(actions=timer_off() if next_due is None else timer_due(session.session_id, next_due),
                           condition=(Session.timer_due_at == was_due) & (Session.timer == session.timer))

    # -- a wake ---------------------------------------------------------------------------------------

    def step(self, state: TimerState, again: bool = True, session: Session | None = None) -> TimerState:
        """Do whatever is due now and say how long to sleep until something next could be (``session``: as
        just read, else read here)."""
        if session is None or not again:
            session = self._sessions.get(str(state["session_id"]))
        if session is None or session.status != sm.ACTIVE or session.timer != state["timer"]:
            return {**state, "done": True}
        now = self._clock.now_ms()
        due: list[int] = []
        if session.agent_away_at is not None:
            back_at = self._agent_away(session, now, int(state.get("agent_grace_seconds") or 0))
            if back_at is None:
                return {**state, "done": True}  # handed back to the queue: this timer's work is over
            if back_at:
                due.append(back_at)
        if session.visitor_away_at is not None and session.visitor_offline_at is None:
            offline_at = int(session.visitor_away_at) + int(state["grace_seconds"]) * 1000
            if now < offline_at:
                due.append(offline_at)
            else:
                self._mark_offline(session, now)
        last_agent = int(session.last_agent_at or 0)
        if last_agent <= int(session.last_visitor_at or 0):
            # Nothing unanswered: the earliest a warning could be due is a full period after a message now.
            due.append(now + int(state["warn_seconds"]) * 1000)
        elif session.warned_at is not None and int(session.warned_at) >= last_agent:
            close_at = int(session.warned_at) + int(state["close_seconds"]) * 1000
            if now < close_at:
                due.append(close_at)
            elif self._sessions.close_idle(session):
                return {**state, "done": True}
            elif again:
                # Something changed as it closed (a reply, another close): decide again on what is there now.
                return self.step(state, again=False)
            else:
                due.append(now + 1000)
        else:
            warn_at = last_agent + int(state["warn_seconds"]) * 1000
            if now < warn_at:
                due.append(warn_at)
            elif self._warn(session, now, int(state["close_seconds"])):
                due.append(now + int(state["close_seconds"]) * 1000)
            else:
                due.append(now + 1000)
        wait = max(1, math.ceil((min(due) - now) / 1000))
        return {**state, "wait_seconds": wait, "done": False}

    def _warn(self, session: Session, now: int, close_seconds: int) -> bool:
        """Warn both sides, unless the visitor answered (or the session closed) since it was read."""
        try:
            # Once per unanswered message: a step run twice (Lambda runs at least once) warns once.
            not_yet = Session.warned_at.does_not_exist() | (Session.warned_at < session.last_agent_at)
            session.update(actions=[Session.warned_at.set(now)],
                           condition=(Session.status == sm.ACTIVE) & visitor_silent_since(session) & not_yet
                           & (Session.last_agent_at == session.last_agent_at))
        except UpdateError:
            return False
        closes_at = now + close_seconds * 1000
        # Each side reads it in its own language (staff in English: the platform knows no staff language).
        self._presence.push_many({who: IdleWarningEvent(session_id=session.session_id, closes_at=closes_at,
                                                        message=t(language, "idle.warning")).frame()
                                  for who, language in ((session.visitor_id, session.language),
                                                        (str(session.agent_id), None))})
        return True

    def _agent_away(self, session: Session, now: int, grace_seconds: int) -> int | None:
        """The agent's connection closed: when to look again (0: no need), or None once the session went
        back to its group's queue because the agent stayed away past its grace period."""
        agent_id = str(session.agent_id)
        if self._presence.connections_of(agent_id):
            # Back: the mark goes (unless a newer one came), and the session carries on as before.
            with contextlib.suppress(UpdateError):
                session.update(actions=[Session.agent_away_at.remove()],
                               condition=Session.agent_away_at == session.agent_away_at)
            return 0
        if grace_seconds <= 0:
            return 0
        hand_back_at = int(session.agent_away_at or 0) + grace_seconds * 1000
        if now < hand_back_at:
            return hand_back_at
        return None if self._staffing.hand_back(session) else now + 1000

    def _mark_offline(self, session: Session, now: int) -> None:
        if self._presence.connections_of(session.visitor_id):
            return  # back already; its hello clears the mark
        try:
            session.update(actions=[Session.visitor_offline_at.set(now)],
                           condition=Session.visitor_away_at == session.visitor_away_at)
        except UpdateError:
            return
        self._push_presence(session, "offline")

    def _push_presence(self, session: Session, state: str, **extra: Any) -> None:
        if session.agent_id:
            self._presence.push(session.agent_id, VisitorPresenceEvent.model_validate(
                {"session_id": session.session_id, "state": state, **extra}).frame())

    # -- connections that close --------------------------------------------------------------------

    def staff_gone(self, user_id: str) -> None:
        """A staff member's last connection closed: offline, and each session it serves is marked and woken
        when the agent's grace period ends (unless something else is due sooner)."""
        self._staffing.agent_disconnected(user_id)
        policy = self._config().sessions
        if policy.agent_grace_seconds <= 0:
            return
        for session in self._sessions.of_agent(user_id):
            now = self._clock.now_ms()
            with contextlib.suppress(UpdateError):  # closed, transferred or re-armed meanwhile
                session.update(actions=[Session.agent_away_at.set(now),
                                        *_sooner(session, now + policy.agent_grace_seconds * 1000)],
                               condition=(Session.status == sm.ACTIVE) & (Session.agent_id == user_id)
                               & _due_unchanged(session))

    def visitor_gone(self, visitor_id: str, session_id: str | None) -> None:
        """The visitor's last connection closed: if a person serves it, the session waits for them."""
        if not session_id:
            return
        session = self._sessions.get(session_id)
        if session is None or session.status != sm.ACTIVE or session.visitor_id != visitor_id:
            return
        now = self._clock.now_ms()
        policy = self._config().sessions
        offline_at = now + policy.reconnect_grace_seconds * 1000
        try:
            session.update(actions=[Session.visitor_away_at.set(now), Session.visitor_offline_at.remove(),
                                    *_sooner(session, offline_at)],
                           condition=(Session.status == sm.ACTIVE) & _due_unchanged(session))
        except UpdateError:
            return
        self._push_presence(session, "reconnecting", offline_at=offline_at)
        # A reconnect's visitor_back may have read the session before this mark landed (the two handlers run
        # side by side): with a connection open again, the mark would keep every later message `stored`.
        if self._presence.connections_of(visitor_id):
            self.visitor_back(session)

    def visitor_back(self, session: Session) -> None:
        """A connection of a visitor marked away: online again (its lifecycle timer goes on)."""
        if session.visitor_away_at is None:
            return
        try:
            session.update(actions=[Session.visitor_away_at.remove(), Session.visitor_offline_at.remove()],
                           condition=Session.visitor_away_at == session.visitor_away_at)
        except UpdateError:
            return
        if session.status == sm.ACTIVE:
            self._push_presence(session, "online")


def _sooner(session: Session, due_ms: int) -> list[Any]:
    """Arm the session's timer for ``due_ms``, unless it is already due sooner (then it wakes then, and its
    step sees the new mark and works out the rest)."""
    current = int(session.timer_due_at) if session.timer_due_at is not None else None
    if current is not None and current <= due_ms:
        return []
    if not session.timer:
        return [Session.timer.set(timer_name(session.session_id, due_ms)), *timer_due(session.session_id, due_ms)]
    return timer_due(session.session_id, due_ms)


def _due_unchanged(session: Session) -> Any:
    """The condition that nobody re-armed or disarmed the timer since ``session`` was read."""
    if session.timer_due_at is None:
        return Session.timer_due_at.does_not_exist()
    return Session.timer_due_at == session.timer_due_at

