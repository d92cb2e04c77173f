"""The WebSocket command table: one function per ``action``, each validating its own frame and calling the
services ``wiring`` built (so it sits with the other ways in, above the domains it dispatches to)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from chalicelib.auth.identity import Identity
from chalicelib.channel.errors import ImError
from chalicelib.i18n import EN, negotiate, t
from chalicelib.im import schemas
from chalicelib.im.events import (
    ErrorEvent,
    MessageLeftEvent,
    PongEvent,
    StatusEvent,
    WelcomeEvent,
)
from chalicelib.im.ratelimit import LEFT_MESSAGES
from chalicelib.platform.observability import count_frame_error, logger
from chalicelib.sessions import models as sm
from chalicelib.wiring import Services

Action = Callable[[Services, Identity, str, dict[str, Any]], None]


def _ping(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    schemas.bare_frame(frame)
    svc.presence.post(conn, PongEvent(ts=svc.clock.now_ms()).frame(), caller.user_id)


def _hello(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    schemas.bare_frame(frame)
    _welcome(svc, caller, conn)


def _welcome(svc: Services, caller: Identity, conn: str) -> None:
    # Built from the services' dicts and checked against the model (a field it does not declare is refused).
    welcome: dict[str, Any] = {"connection_id": conn,
                               "user": {"id": caller.user_id, "role": caller.role, "name": caller.name}}
    agent = svc.agents.get(caller.user_id) if caller.is_staff else None
    if caller.is_staff:
        welcome["sessions"] = [svc.sessions.view(s, staff=True) for s in svc.sessions.of_agent(caller.user_id)]
        welcome["status"] = ({"status": agent.status, "capacity": int(agent.capacity), "active": int(agent.active)}
                             if agent is not None else None)
    else:
        session = svc.sessions.current(caller)
        welcome["session"] = svc.sessions.view(session) if session else None
        if session is not None and session.status == sm.BOT and not session.robot_off:
            welcome["robot"] = svc.robot.greeting(session.language)
    svc.presence.post(conn, WelcomeEvent.model_validate(welcome).frame(), caller.user_id)
    if agent is not None:
        svc.routing.agent_ready(agent)


def _send(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    parsed = schemas.send_frame(frame)
    try:
        svc.im.send(caller, conn, parsed)
    except ImError as err:
        # No agent yet: the visitor is talking to the robot (or waiting, and the message is kept).
        if err.code != "no_agent" or caller.is_staff:
            raise
        svc.robot.receive(caller, conn, parsed)


def _ack(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    batch = schemas.ack_batch(frame)
    if not batch.single:
        _ack_many(svc, caller, conn, batch)
        return
    ref = batch.refs[0]
    # ACKs that changed nothing each cost a refused write and a read. Past their budget an ACK is read first
    # (no write): one that still confirms a delivery goes through, the others are answered rate_limited.
    if (wait := svc.limiter.refused_acks.peek(caller.user_id)) > 0 and not svc.im.ack_would_change(caller, ref):
        raise ImError("rate_limited", "too many ACKs of unknown or already acknowledged messages; resend this "
                      "one after retry_after_ms", retry_after_ms=_ms(wait), message_id=ref.message_id)
    try:
        if svc.im.ack(caller, ref):
            return
    except ImError:
        svc.limiter.refused_acks.take(caller.user_id)
        raise
    svc.limiter.refused_acks.take(caller.user_id)


def _ack_many(svc: Services, caller: Identity, conn: str, batch: schemas.AckBatch) -> None:
    """``ack`` with ``message_ids``: every id processed, each answered as it would be alone, one error frame
    per code (listing its ids) instead of one per id. The budget of ACKs that changed nothing counts ids."""
    refs = list(batch.refs)
    limited: list[schemas.MessageRef] = []
    wait = svc.limiter.refused_acks.peek(caller.user_id)
    if wait > 0 and refs:
        # Past the budget: read them first (one batched read, no write); only deliveries go on.
        going = svc.im.acks_would_change(caller, refs)
        limited = [r for r in refs if r not in going]
        refs = [r for r in refs if r in going]
    outcome = svc.im.ack_many(caller, refs)
    # Each id that changed nothing cost a refused write and a read, as one ACK does; a large frame may overdraw.
    svc.limiter.refused_acks.spend(caller.user_id, outcome.unchanged, -float(schemas.MAX_ACK_IDS))
    refusals = [("unknown_message", "no such message (it may have failed after three attempts)",
                 [*batch.unknown, *(r.message_id for r in outcome.unknown)]),
                ("forbidden", "these messages were not sent to you", [r.message_id for r in outcome.forbidden]),
                ("rate_limited", "too many ACKs of unknown or already acknowledged messages; ACK these again "
                 "after retry_after_ms", [r.message_id for r in limited])]
    for code, why, ids in refusals:
        if ids:
            extra = {"retry_after_ms": _ms(wait)} if code == "rate_limited" else {}
            svc.presence.post(conn, _in_language(ErrorEvent.model_validate({
                "code": code, "message": why, "action": "ack", "message_ids": ids, **extra}).frame(), caller),
                caller.user_id)


def _read(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    """``read``: messages shown in the caller's window; answered as an ``ack`` with ``message_ids`` is (one error
    frame per code, listing its ids). Ids that changed nothing draw on the ACKs' budget; past it the frame is
    refused whole (a reader re-reading old messages has nothing to lose by waiting)."""
    batch = schemas.read_batch(frame)
    if (wait := svc.limiter.refused_acks.peek(caller.user_id)) > 0:
        raise ImError("rate_limited", "too many ACKs or reads that changed nothing; send this frame again after "
                      "retry_after_ms", retry_after_ms=_ms(wait))
    outcome = svc.im.read_many(caller, batch.refs)
    svc.limiter.refused_acks.spend(caller.user_id, outcome.unchanged, -float(schemas.MAX_ACK_IDS))
    refusals = [("unknown_message", "no such message (it may have failed after three attempts)",
                 [*batch.unknown, *(r.message_id for r in outcome.unknown)]),
                ("forbidden", "these messages were not sent to you", [r.message_id for r in outcome.forbidden])]
    for code, why, ids in refusals:
        if ids:
            svc.presence.post(conn, _in_language(ErrorEvent.model_validate({
                "code": code, "message": why, "action": "read", "message_ids": ids}).frame(), caller), caller.user_id)


def _typing(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    session_id, state = schemas.typing_frame(frame)
    if (wait := svc.limiter.typing.take(caller.user_id)) > 0:
        raise ImError("rate_limited", "too many typing frames: send one at most every 4 seconds while typing; "
                      "do not resend this one", retry_after_ms=_ms(wait), session_id=session_id)
    svc.im.typing(caller, session_id, state)


def _resume(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    session_id, after_seq = schemas.resume_frame(frame)
    svc.presence.post(conn, svc.im.resume(caller, session_id, after_seq), caller.user_id)


def _visitor_only(caller: Identity, what: str) -> None:
    if caller.is_staff:
        raise ImError("forbidden", f"only visitors {what}")


def _request_agent(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    schemas.bare_frame(frame)
    _visitor_only(caller, "ask for an agent")
    session = svc.routing.request_agent(caller)
    if session.status in (sm.WAITING, sm.ACTIVE) and not session.robot_off:
        svc.robot.silence(session)  # handed off by the button: the robot never answers here again


def _leave_queue(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    schemas.bare_frame(frame)
    _visitor_only(caller, "wait in queues")
    svc.routing.leave_queue(caller)


def _new_session(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    """After a chat ended, another on the same connection (no reconnect): answered as ``hello`` is, with the new
    session and the robot's greeting; the visitor's other tabs get its ``session`` frame."""
    schemas.bare_frame(frame)
    _visitor_only(caller, "start chats")
    session, opened = svc.sessions.start_over(caller)
    if opened:
        svc.sessions.announce(session)
    _welcome(svc, caller, conn)


def _leave_message(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    text, contact, reason, client_msg_id = schemas.leave_message_frame(frame)
    _visitor_only(caller, "leave messages")
    left = svc.routing.leave_message(caller, text, contact, reason, client_msg_id,
                                     admit=lambda: svc.limiter.quota.take(LEFT_MESSAGES, caller.user_id))
    answer = MessageLeftEvent(message_id=left.message_id, group_id=left.group_id, created_at=int(left.created_at))
    svc.presence.post(conn, answer.frame(), caller.user_id)


def _end_session(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    svc.sessions.end_session(caller, schemas.session_frame(frame))


def _resolve(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    parsed = schemas.resolve_frame(frame)
    if not caller.is_staff:
        raise ImError("forbidden", "only the session's agent resolves it; visitors use end_session")
    svc.sessions.resolve(caller, parsed.session_id, parsed.wrapup, parsed.wrapup_note)


def _note(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    parsed = schemas.note_frame(frame)
    if not caller.is_staff:
        raise ImError("forbidden", "notes are for staff")
    svc.im.note(caller, conn, parsed.session_id, parsed.client_msg_id, parsed.text, tuple(parsed.mentions or ()))


def _transfer(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    parsed = schemas.transfer_frame(frame)
    if not caller.is_staff:
        raise ImError("forbidden", "only agents transfer sessions")
    svc.routing.transfer(caller, parsed.session_id, parsed.note, to_agent=parsed.to_agent, to_group=parsed.to_group)


def _rate(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    parsed = schemas.rate_frame(frame)
    _visitor_only(caller, "answer surveys")
    rated = svc.survey.rate(caller, parsed.session_id, parsed.stars, parsed.tags, parsed.comment)
    svc.presence.post(conn, rated, caller.user_id)


def _set_status(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    status, capacity = schemas.status_frame(frame)
    if not caller.is_staff:
        raise ImError("forbidden", "only agents have a status")
    agent = svc.routing.set_agent_status(caller, status, capacity)
    answer = StatusEvent.model_validate({"status": agent.status, "capacity": int(agent.capacity),
                                         "active": int(agent.active)})
    svc.presence.post(conn, answer.frame(), caller.user_id)


def _suggest(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    session_id, text = schemas.suggest_frame(frame)
    if not caller.is_staff:
        raise ImError("forbidden", "suggestions are for agents")
    svc.robot.suggest_on_request(caller, session_id, text)


def _robot_feedback(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    parsed = schemas.robot_feedback_frame(frame)
    _visitor_only(caller, "rate the robot's answers")
    svc.robot.feedback(caller, parsed.session_id, parsed.message_id, parsed.helpful)


def _subscribe_dashboard(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    schemas.bare_frame(frame)
    if caller.role not in ("supervisor", "admin"):
        raise ImError("forbidden", "the dashboard is for supervisors and admins")
    svc.presence.post(conn, svc.dashboard.subscribe(conn), caller.user_id)


def _unsubscribe_dashboard(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
    schemas.bare_frame(frame)
    svc.dashboard.unsubscribe(conn)


ACTIONS: dict[str, Action] = {
    "ping": _ping,
    "hello": _hello,
    "send": _send,
    "ack": _ack,
    "read": _read,
    "typing": _typing,
    "resume": _resume,
    "request_agent": _request_agent,
    "leave_queue": _leave_queue,
    "new_session": _new_session,
    "leave_message": _leave_message,
    "end_session": _end_session,
    "resolve": _resolve,
    "note": _note,
    "transfer": _transfer,
    "rate": _rate,
    "set_status": _set_status,
    "suggest": _suggest,
    "robot_feedback": _robot_feedback,
    "subscribe_dashboard": _subscribe_dashboard,
    "unsubscribe_dashboard": _unsubscribe_dashboard,
}


# ACKs answer deliveries (a resume may bring a hundred at once) and pings keep the line open: never limited
# by the frame rate (ACKs that change nothing have a budget of their own, see _ack).
UNLIMITED = frozenset({"ack", "ping"})


def handle_frame(svc: Services, connection_id: str, body: str | None) -> None:
    """Run one client frame; every refusal becomes an error frame and the connection stays usable."""
    frame: dict[str, Any] = {}
    caller: Identity | None = None
    try:
        frame = schemas.parse_frame(body)
        caller = svc.presence.identity(connection_id)  # cached in the container after a connection's first frame
        # One bucket per user across its connections (per connection for one that is not registered).
        key = caller.user_id if caller is not None else "connection:" + connection_id
        if frame["action"] not in UNLIMITED and (wait := svc.limiter.take(key)) > 0:
            raise ImError("rate_limited", f"more than {svc.limiter.rate:g} frames a second from your "
                          "connections; resend this one after retry_after_ms", retry_after_ms=_ms(wait))
        if caller is None:
            raise ImError("forbidden", "this connection is not registered; reconnect")
        action = ACTIONS.get(frame["action"])
        if action is None:
            raise ImError("unknown_action", f"unknown action; use one of {', '.join(sorted(ACTIONS))}",
                          field="action")
        action(svc, caller, connection_id, frame)
    except ImError as err:
        if caller is None and err.code != "expired_token":  # refused before the caller was read (a bad frame)
            with contextlib.suppress(ImError):
                caller = svc.presence.identity(connection_id)
        svc.presence.post(connection_id, _in_language(_with_refs(err.frame(_str(frame.get("action"))), frame), caller))
    except Exception:
        logger.exception("frame failed", extra={"connection_id": connection_id, "action": _str(frame.get("action"))})
        count_frame_error()
        internal = ImError("internal_error", "the server could not process this frame; retry it")
        svc.presence.post(connection_id, _in_language(_with_refs(internal.frame(_str(frame.get("action"))), frame),
                                                      caller))


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) <= 64 else None


def _in_language(out: dict[str, Any], caller: Identity | None) -> dict[str, Any]:
    """An error frame as its reader gets it: a visitor whose language is not English reads the code's sentence in
    its language (clients translate by ``code``; ``message`` is what they show without one). English readers and
    staff keep the detailed English message."""
    if caller is not None and not caller.is_staff and negotiate(caller.language) != EN:
        out["message"] = t(caller.language, f"error.{out['code']}")
    return out


def _with_refs(out: dict[str, Any], frame: dict[str, Any]) -> dict[str, Any]:
    # Echo the client's own ids so it can tell which request failed.
    for key in ("client_msg_id", "message_id"):
        if key not in out and (value := _str(frame.get(key))) is not None:
            out[key] = value
    return out
