"""Errors of conversation search; the REST edge's error middleware turns them into the API's error shape."""

from __future__ import annotations

from typing import Any, ClassVar

from chalicelib.platform.errors import DomainError

# code -> HTTP status
STATUS = {
    "invalid_body": 400,  # a query parameter the API cannot take (``field`` names it)
    "forbidden": 403,  # a group outside the caller's (agents and supervisors search their groups only)
    "unavailable": 503,  # the search index could not answer; nothing is wrong with the query
}


class ConversationError(DomainError):
    STATUS: ClassVar[dict[str, int]] = STATUS

    def __init__(self, code: str, message: str, field: str | None = None, **details: Any) -> None:
        assert code in STATUS, code
        super().__init__(code, message, field=field, **details)
