"""How an assigned session ends on its own: the idle timeout (a warning, then the close), the
visitor's dropped connection (reconnecting for a grace period, then offline; the session goes on), and
the agent's (after its grace period the session goes back to its group's queue).

Each assignment starts one Step Functions execution (infra/statemachines/lifecycle.asl.json) that
sleeps until the next moment something could be due, runs ``LifecycleService.step`` and sleeps again.
Messages never touch it: each message's sequence-number write also stamps ``last_agent_at`` or
``last_visitor_at``, and the step reads them when it wakes. A close stops the execution; an execution
that wakes to a session it no longer owns (closed, transferred to a queue, a newer timer) just ends.

A start can fail after the write that named the timer has committed (``StartExecution`` throttled at a
peak): the same write records that the timer is asked for (``timer_asked``), a successful start removes the
mark, and the minute tick starts whatever is still marked (``LifecycleService.repair_timers``) under the
same execution name, so a timer is never started twice.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any, Protocol

from pynamodb.exceptions import UpdateError

from chalicelib.channel.presence import PresenceService
from chalicelib.config.model import RoutingConfig
from chalicelib.platform.clock import SYSTEM_CLOCK, Clock
from chalicelib.platform.observability import logger
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import TIMER_SHARDS, Session
from chalicelib.sessions.schemas import IdleWarningEvent, VisitorPresenceEvent
from chalicelib.sessions.service import SessionService
from chalicelib.sessions.timers import (
    REPAIR_AFTER_SECONDS,
    REPAIR_BATCH,
    SessionTimer,
    TimerState,
    TimerUnavailable,
    seen_started,
    start_timer,
    stop_quietly,
    timer_asked,
    timer_name,
    timer_state,
    visitor_silent_since,
)


class Staffing(Protocol):
    """Routing's side of an agent who goes away (chalicelib/routing implements it)."""

    def agent_disconnected(self, agent_id: str) -> None: ...

    def hand_back(self, session: Session) -> bool: ...


class LifecycleService:
    def __init__(self, presence: PresenceService, sessions: SessionService, staffing: Staffing,
                 timer: SessionTimer | None, config: Callable[[], RoutingConfig],
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self._presence = presence
        self._sessions = sessions
        self._staffing = staffing
        self._timer = timer
        self._config = config
        self._clock = clock

    # -- the state machine's step ------------------------------------------------------------------

    def step(self, state: TimerState, again: bool = True) -> TimerState:
        """Do whatever is due now and say how long to sleep until something next could be."""
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
        frame = IdleWarningEvent(
            session_id=session.session_id, closes_at=now + close_seconds * 1000,
            message="Are you still there? This chat will close soon if we don't hear from you.").frame()
        self._presence.push_many(dict.fromkeys([session.visitor_id, str(session.agent_id)], frame))
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

    # -- timers whose start failed ------------------------------------------------------------------

    def repair_timers(self, older_than_seconds: float = REPAIR_AFTER_SECONDS, limit: int = REPAIR_BATCH) -> int:
        """Start the timers asked for more than ``older_than_seconds`` ago and never seen started (the start
        was throttled or failed), under the name the session holds; returns how many were started. Reads only
        the sparse index of such sessions, and stops at the first throttled start (the next tick goes on)."""
        if self._timer is None:
            return 0
        policy = self._config().sessions
        cutoff = self._clock.now_ms() - int(older_than_seconds * 1000)
        started = 0
        for shard in range(TIMER_SHARDS):
            for key in Session.awaiting_timer.query(f"t{shard}", Session.timer_asked_at < cutoff):
                if started >= limit:
                    return started
                session = self._sessions.get(key.session_id)
                if session is None or session.timer_shard is None:
                    continue  # started meanwhile (the index lags its table)
                if session.status != sm.ACTIVE or not session.timer:
                    self._forget_timer(session)  # closed or back in a queue: no timer owed any more
                    continue
                name = session.timer
                try:
                    # The first wake comes at once; the step works out the right sleep from the session.
                    self._timer.start(name, timer_state(session.session_id, name, policy, 1))
                except TimerUnavailable as err:
                    if err.throttled:
                        return started
                    logger.warning("lifecycle timer repair failed", extra={"timer": name}, exc_info=True)
                    continue
                seen_started(session.session_id, name)
                started += 1
        return started

    @staticmethod
    def _forget_timer(session: Session) -> None:
        with contextlib.suppress(UpdateError):
            session.update(actions=[Session.timer_shard.remove(), Session.timer_asked_at.remove()],
                           condition=Session.timer_asked_at == session.timer_asked_at)

    # -- connections that close --------------------------------------------------------------------

    def staff_gone(self, user_id: str) -> None:
        """A staff member's last connection closed: offline, and each session it serves gets a fresh timer
        that wakes when the agent's grace period ends (the running one may sleep far longer)."""
        self._staffing.agent_disconnected(user_id)
        policy = self._config().sessions
        if self._timer is None or policy.agent_grace_seconds <= 0:
            return
        for session in self._sessions.of_agent(user_id):
            now = self._clock.now_ms()
            old, name = session.timer, timer_name(session.session_id, now)
            try:
                session.update(actions=[Session.agent_away_at.set(now), Session.timer.set(name),
                                        *timer_asked(session.session_id, now)],
                               condition=(Session.status == sm.ACTIVE) & (Session.agent_id == user_id)
                               & ((Session.timer == old) if old else Session.timer.does_not_exist()))
            except UpdateError:
                continue  # closed, transferred or re-timed meanwhile
            start_timer(self._timer, name,
                        timer_state(session.session_id, name, policy, policy.agent_grace_seconds))
            if old:
                stop_quietly(self._timer, old)

    def visitor_gone(self, visitor_id: str, session_id: str | None) -> None:
        """The visitor's last connection closed: if a person serves it, the session waits for them."""
        if not session_id or self._timer is None:
            return
        session = self._sessions.get(session_id)
        if session is None or session.status != sm.ACTIVE or session.visitor_id != visitor_id:
            return
        now = self._clock.now_ms()
        policy = self._config().sessions
        old, name = session.timer, timer_name(session_id, now)
        try:
            session.update(actions=[Session.visitor_away_at.set(now), Session.visitor_offline_at.remove(),
                                    Session.timer.set(name), *timer_asked(session_id, now)],
                           condition=(Session.status == sm.ACTIVE) & (Session.timer == old) if old
                           else Session.status == sm.ACTIVE)
        except UpdateError:
            return
        # A fresh timer wakes at the end of the grace period; the old one would sleep past it.
        start_timer(self._timer, name, timer_state(session_id, name, policy, policy.reconnect_grace_seconds))
        if old:
            stop_quietly(self._timer, old)
        self._push_presence(session, "reconnecting", offline_at=now + policy.reconnect_grace_seconds * 1000)
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
