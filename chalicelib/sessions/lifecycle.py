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
import json
import math
import secrets
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError
from pynamodb.exceptions import UpdateError

from chalicelib.config.model import RoutingConfig, SessionPolicy
from chalicelib.im.presence import PresenceService
from chalicelib.platform import aws
from chalicelib.platform.modelbase import is_conditional_failure
from chalicelib.platform.observability import logger
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import TIMER_SHARDS, Session
from chalicelib.sessions.service import SessionService
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.routing.service import RoutingService

TimerState = dict[str, Any]
"""The execution's input and the step's output: ``session_id``, ``timer`` (the execution's name),
``warn_seconds``, ``close_seconds``, ``grace_seconds``, ``agent_grace_seconds`` (from the configuration when
it started, so tests use short ones), ``wait_seconds`` (the next sleep), ``retry_seconds`` (the sleep before
trying a step again that failed past its retries) and ``done``."""

# A wake whose step failed past the state machine's quick retries (the Lambda or DynamoDB down for a while)
# is tried again this much later rather than ending the timer: a dead timer is a session that never closes.
RETRY_SECONDS = 60
# The tick starts a timer asked for this long ago and still not seen started (younger ones are most likely
# being started right now), at most REPAIR_BATCH per tick (Standard StartExecution: a bucket of 1,300).
REPAIR_AFTER_SECONDS = 30
REPAIR_BATCH = 1000
THROTTLED = ("ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded")


class TimerUnavailable(Exception):
    """Step Functions did not start the execution (``throttled``: try again once its bucket refills)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.throttled = code in THROTTLED


class SessionTimer(Protocol):
    def start(self, name: str, state: TimerState) -> None: ...

    def stop(self, name: str) -> None: ...


def timer_name(session_id: str, at_ms: int) -> str:
    """Unique per start (Standard executions' names cannot be reused for 90 days), and telling whose."""
    return f"{session_id}-{at_ms}-{secrets.token_hex(3)}"


def timer_state(session_id: str, name: str, policy: SessionPolicy, wait_seconds: int) -> TimerState:
    return {"session_id": session_id, "timer": name, "warn_seconds": policy.idle_warn_seconds,
            "close_seconds": policy.idle_close_seconds, "grace_seconds": policy.reconnect_grace_seconds,
            "agent_grace_seconds": policy.agent_grace_seconds, "wait_seconds": max(1, wait_seconds),
            "retry_seconds": RETRY_SECONDS, "done": False}


def timer_shard(session_id: str) -> str:
    return f"t{zlib.crc32(session_id.encode()) % TIMER_SHARDS}"


def timer_asked(session_id: str, now: int) -> list[Any]:
    """Actions for the write that names a session's new timer: they record that its execution is owed."""
    return [Session.timer_shard.set(timer_shard(session_id)), Session.timer_asked_at.set(now)]


def _seen_started(session_id: str, name: str) -> None:
    """The execution ``name`` runs: the session owes no timer (unless a newer one was asked for since). A
    failure here only leaves the mark; the tick then finds the execution already there."""
    try:
        Session(session_id).update(actions=[Session.timer_shard.remove(), Session.timer_asked_at.remove()],
                                   condition=Session.timer == name)
    except UpdateError as err:
        if not is_conditional_failure(err):
            logger.warning("could not clear a started timer's mark", extra={"timer": name})


def start_timer(timer: SessionTimer, name: str, state: TimerState) -> bool:
    """Start a timer whose need was recorded (``timer_asked``). A failure is logged, not raised: the write
    that asked for it has committed, and the minute tick starts it."""
    try:
        timer.start(name, state)
    except Exception:
        logger.warning("lifecycle timer not started; the tick will", extra={"timer": name}, exc_info=True)
        return False
    _seen_started(str(state["session_id"]), name)
    return True


def stop_quietly(timer: SessionTimer, name: str) -> None:
    """Stop a timer; a failure is logged, not raised: a timer left running ends by itself at its next wake,
    since it no longer owns the session."""
    try:
        timer.stop(name)
    except Exception:
        logger.exception("could not stop a lifecycle timer", extra={"timer": name})


def visitor_silent_since(session: Session) -> Any:
    """The condition that the visitor has sent nothing since ``session`` was read (its idle clock still runs)."""
    if session.last_visitor_at is None:
        return Session.last_visitor_at.does_not_exist()
    return Session.last_visitor_at == session.last_visitor_at


class StepFunctionsSessionTimer:
    """The lifecycle state machine (Standard: it may sleep for hours, and only its wakes are billed)."""

    def __init__(self, machine_arn: str | None = None, client: Callable[[], Any] | None = None) -> None:
        self._machine_arn = machine_arn
        self._client = client or (lambda: aws.client("stepfunctions"))

    def _machine(self) -> str:
        return self._machine_arn or get_settings().lifecycle_state_machine_arn

    def start(self, name: str, state: TimerState) -> None:
        """Start the execution ``name``; TimerUnavailable if Step Functions would not."""
        try:
            self._client().start_execution(stateMachineArn=self._machine(), name=name, input=json.dumps(state))
        except ClientError as err:
            code = str(err.response.get("Error", {}).get("Code"))
            if code == "ExecutionAlreadyExists":
                return  # each timer has its own name: this one was started before (its mark outlived it)
            raise TimerUnavailable(code) from err

    def stop(self, name: str) -> None:
        arn = self._machine().replace(":stateMachine:", ":execution:", 1) + ":" + name
        try:
            self._client().stop_execution(executionArn=arn, cause="session no longer needs it")
        except ClientError as err:
            # Already ended (it woke, saw the close and stopped itself): nothing to do.
            if err.response.get("Error", {}).get("Code") not in ("ExecutionDoesNotExist", "ValidationException"):
                raise


class LifecycleService:
    def __init__(self, presence: PresenceService, sessions: SessionService, routing: RoutingService,
                 timer: SessionTimer | None, config: Callable[[], RoutingConfig],
                 clock: Callable[[], float] = time.time) -> None:
        self._presence = presence
        self._sessions = sessions
        self._routing = routing
        self._timer = timer
        self._config = config
        self._clock = clock

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- the state machine's step ------------------------------------------------------------------

    def step(self, state: TimerState, again: bool = True) -> TimerState:
        """Do whatever is due now and say how long to sleep until something next could be."""
        session = self._sessions.get(str(state["session_id"]))
        if session is None or session.status != sm.ACTIVE or session.timer != state["timer"]:
            return {**state, "done": True}
        now = self._now_ms()
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
            elif self._routing.close_idle(session):
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
        frame = {"event": "idle_warning", "session_id": session.session_id,
                 "closes_at": now + close_seconds * 1000,
                 "message": "Are you still there? This chat will close soon if we don't hear from you."}
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
        return None if self._routing.hand_back(session) else now + 1000

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
            self._presence.push(session.agent_id, {"event": "visitor_presence", "session_id": session.session_id,
                                                   "state": state, **extra})

    # -- timers whose start failed ------------------------------------------------------------------

    def repair_timers(self, older_than_seconds: float = REPAIR_AFTER_SECONDS, limit: int = REPAIR_BATCH) -> int:
        """Start the timers asked for more than ``older_than_seconds`` ago and never seen started (the start
        was throttled or failed), under the name the session holds; returns how many were started. Reads only
        the sparse index of such sessions, and stops at the first throttled start (the next tick goes on)."""
        if self._timer is None:
            return 0
        policy = self._config().sessions
        cutoff = self._now_ms() - int(older_than_seconds * 1000)
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
                _seen_started(session.session_id, name)
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
        self._routing.agent_disconnected(user_id)
        policy = self._config().sessions
        if self._timer is None or policy.agent_grace_seconds <= 0:
            return
        for session in self._sessions.of_agent(user_id):
            now = self._now_ms()
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
        now = self._now_ms()
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
