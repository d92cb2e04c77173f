"""Errors the IM channel reports to clients as ``{"event": "error", "code": ...}`` frames."""

from __future__ import annotations

from typing import Any

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
        "internal_error",
    }
)


class ImError(Exception):
    """A request the server refuses; the connection stays open."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def frame(self, action: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"event": "error", "code": self.code, "message": self.message}
        if action:
            out["action"] = action
        out.update({k: v for k, v in self.details.items() if v is not None})
        return out
