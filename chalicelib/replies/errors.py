"""Errors of the canned replies; the REST edge's error middleware turns them into the API's error shape."""

from __future__ import annotations

from typing import Any, ClassVar

from chalicelib.platform.errors import DomainError

# code -> HTTP status
STATUS = {
    "invalid_body": 400,
    "forbidden": 403,
    "not_found": 404,
    "too_many": 409,  # the group holds MAX_PER_GROUP replies already
}


class ReplyError(DomainError):
    """A canned-reply request that cannot be carried out; ``field`` names the offending field, if one is."""

    STATUS: ClassVar[dict[str, int]] = STATUS

    def __init__(self, code: str, message: str, field: str | None = None, **details: Any) -> None:
        assert code in STATUS, code
        super().__init__(code, message, field=field, **details)
