"""Conversation search for staff (the transcript itself is GET /sessions/{session_id}/messages)."""

from __future__ import annotations

from typing import Any

from chalicelib.auth.guard import STAFF, requires
from chalicelib.conversations import api as conversations_api
from chalicelib.edge import routes
from chalicelib.wiring import services

bp = routes(__name__)


@bp.route("/conversations", methods=["GET"])
def conversations_search() -> Any:
    request = bp.current_request
    who = requires(request, STAFF, "conversation search is for staff")
    return conversations_api.search(who, request.query_params or {}, services().conversations)
