"""Lifecycle timers: one Step Functions execution per assignment, and the marks that make a failed start
repairable (see chalicelib/sessions/lifecycle.py for what a timer does when it wakes)."""

from __future__ import annotations

import json
import secrets
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from botocore.exceptions import ClientError
from pynamodb.exceptions import UpdateError

from chalicelib.config.model import SessionPolicy
from chalicelib.platform import aws
from chalicelib.platform.dynamo import is_condition_failed
from chalicelib.platform.observability import logger
from chalicelib.sessions.models import TIMER_SHARDS, Session
from chalicelib.settings import get_settings

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


def seen_started(session_id: str, name: str) -> None:
    """The execution ``name`` runs: the session owes no timer (unless a newer one was asked for since). A
    failure here only leaves the mark; the tick then finds the execution already there."""
    try:
        Session(session_id).update(actions=[Session.timer_shard.remove(), Session.timer_asked_at.remove()],
                                   condition=Session.timer == name)
    except UpdateError as err:
        if not is_condition_failed(err):
            logger.warning("could not clear a started timer's mark", extra={"timer": name})


def start_timer(timer: SessionTimer, name: str, state: TimerState) -> bool:
    """Start a timer whose need was recorded (``timer_asked``). A failure is logged, not raised: the write
    that asked for it has committed, and the minute tick starts it."""
    try:
        timer.start(name, state)
    except Exception:
        logger.warning("lifecycle timer not started; the tick will", extra={"timer": name}, exc_info=True)
        return False
    seen_started(str(state["session_id"]), name)
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
