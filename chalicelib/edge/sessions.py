"""Sessions and their history over REST."""

from __future__ import annotations

from typing import Any

from chalicelib.auth.guard import ANYONE, STAFF, requires
from chalicelib.edge import routes
from chalicelib.platform.http import int_param
from chalicelib.platform.observability import correlate
from chalicelib.wiring import services

bp = routes(__name__)


@bp.route("/sessions", methods=["GET"])
def my_sessions() -> Any:
    who = requires(bp.current_request, ANYONE)
    sessions = services().sessions
    if who.is_staff:
        return {"sessions": [sessions.view(s, staff=True) for s in sessions.of_agent(who.user_id)]}
    current = sessions.current(who)
    return {"sessions": [sessions.view(current)] if current else []}


@bp.route("/sessions/{session_id}/messages", methods=["GET"])
def session_messages(session_id: str) -> Any:
    request = bp.current_request
    correlate(session_id=session_id)
    who = requires(request, ANYONE)
    after_seq = int_param(request.query_params, "after_seq", 0, 0, 10**12 - 1)  # sequence keys hold 12 digits
    limit = int_param(request.query_params, "limit", 50, 1, 100)
    return services().im.history(who, session_id, after_seq, limit)


@bp.route("/visitors/{visitor_id}/sessions", methods=["GET"])
def visitor_sessions(visitor_id: str) -> Any:
    """A visitor's sessions, newest first: the console's "past sessions" (staff only)."""
    request = bp.current_request
    requires(request, STAFF, "past sessions are for staff")
    limit = int_param(request.query_params, "limit", 20, 1, 100)
    sessions = services().sessions
    return {"sessions": [sessions.view(s, staff=True) for s in sessions.of_visitor(visitor_id, limit)]}
