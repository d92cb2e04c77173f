"""Errors the IM channel reports to clients as ``error`` events (chalicelib.im.events.ErrorEvent)."""

from __future__ import annotations

from typing import Any, ClassVar

from chalicelib.platform.errors import DomainError

# Every code a client can receive; docs/protocol.md lists them with their meaning.
ERROR_CODES = frozenset(
    {
        "invalid_json",
        "invalid_frame",
        "unknown_action",
        "frame_too_large",
        "content_too_large",
        "unsupported_frame",  # sent by the gateway in front of the app: a binary frame
        "forbidden",
        "not_found",
        "unknown_message",
        "no_agent",
        "session_closed",
        "agent_unavailable",
        "conflict",
        "no_survey",
        "already_rated",
        "survey_expired",
        "rate_limited",
        "expired_token",  # the connection's token expired: get a new one, reconnect and resume
        "wrapup_required",  # resolve without a wrap-up reason in a group that requires one
        "invalid_wrapup",  # resolve with a reason code the session's group does not have
        "internal_error",
    }
)


class ImError(DomainError):
    """A request the server refuses; the connection stays open. Routing, sessions and the robot refuse with
    their own subclasses (RoutingError, SessionError, RobotError), under these same codes."""

    # The HTTP status when a REST route answers with it (a WebSocket frame carries the code alone).
    STATUS: ClassVar[dict[str, int]] = {"invalid_frame": 400, "forbidden": 403, "not_found": 404,
                                        "unknown_message": 404, "session_closed": 409, "no_agent": 409,
                                        "conflict": 409}

    def __init__(self, code: str, message: str, *, field: str | None = None, **details: Any) -> None:
        assert code in ERROR_CODES, code
        super().__init__(code, message, field=field, **details)
