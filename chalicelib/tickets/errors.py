"""Errors of the ticket domain; the REST edge's error middleware turns them into the API's error shape."""

from __future__ import annotations

from typing import Any, ClassVar

from chalicelib.platform.errors import DomainError

# code -> HTTP status
STATUS = {
    "invalid_body": 400,
    "forbidden": 403,
    "not_found": 404,
    "invalid_transition": 409,  # the status cannot go there from where it is (``allowed`` lists where it can)
    "conflict": 409,  # the ticket changed since it was read
    "ticket_closed": 409,  # closed tickets are final: no edits, no comments
}


class TicketError(DomainError):
    """A ticket request that cannot be carried out; ``field`` names the offending field, if one is."""

    STATUS: ClassVar[dict[str, int]] = STATUS

    def __init__(self, code: str, message: str, field: str | None = None, **details: Any) -> None:
        assert code in STATUS, code
        super().__init__(code, message, field=field, **details)
