"""Sessions and their history over REST."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chalicelib.auth.guard import ANYONE, STAFF, requires
from chalicelib.edge import routes
from chalicelib.platform.http import BadRequest, int_param
from chalicelib.platform.observability import correlate
from chalicelib.sessions.service import wrapup_reasons_json
from chalicelib.wiring import services

bp = routes(__name__)


# Instants in ms fit 13 digits until the year 2286.
MAX_MS = 10**13 - 1


def _before(params: Mapping[str, str] | None) -> int:
    """The ``before`` cursor of a page of sessions: epoch ms (a page's ``next_before``); default: from the newest."""
    raw = (params or {}).get("before")
    if raw is None:
        return MAX_MS
    if not re.fullmatch(r"\d{1,13}", raw) or int(raw) < 1:
        raise BadRequest(f"'before' must be an integer from 1 to {MAX_MS} (epoch ms: a page's next_before)", "before")
    return int(raw)


@bp.route("/sessions", methods=["GET"])
def my_sessions() -> Any:
    request = bp.current_request
    who = requires(request, ANYONE)
    sessions = services().sessions
    params: Mapping[str, str] = request.query_params or {}
    if "status" in params:
        # Ended chats, one page at a time: an agent's (with their ratings), a visitor's own earlier ones.
        if params["status"] != "closed":
            raise BadRequest("'status' must be closed (leave it out for your open sessions)", "status")
        limit = int_param(params, "limit", 20, 1, 50)
        page, next_before = sessions.ended_of(who, limit, _before(params))
        return {"sessions": [sessions.view(s, staff=who.is_staff) for s in page], "next_before": next_before}
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
    page, next_before = sessions.of_visitor(visitor_id, limit, _before(request.query_params))
    return {"sessions": [sessions.view(s, staff=True) for s in page], "next_before": next_before}


@bp.route("/wrapup-reasons", methods=["GET"])
def wrapup_reasons() -> Any:
    """Every group's wrap-up reasons, in both languages, and whether resolve requires one (staff only): the
    console's Resolve dialog. Read from the configuration in memory, no AWS call."""
    requires(bp.current_request, STAFF, "wrap-up reasons are for staff")
    return {"groups": wrapup_reasons_json(services().config())}
