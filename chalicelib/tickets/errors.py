"""Errors of the ticket domain; ``rest.api_errors`` turns them into the API's error shape."""

from __future__ import annotations

from typing import Any

# code -> HTTP status
STATUS = {
    "invalid_body": 400,
    "forbidden": 403,
    "not_found": 404,
    "invalid_transition": 409,  # the status cannot go there from where it is (``allowed`` lists where it can)
    "conflict": 409,  # the ticket changed since it was read
    "ticket_closed": 409,  # closed tickets are final: no edits, no comments
}


class TicketError(Exception):
    """A ticket request that cannot be carried out; ``field`` names the offending field, if one is."""

    def __init__(self, code: str, message: str, field: str | None = None, **details: Any) -> None:
        assert code in STATUS, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.details = details

    @property
    def status(self) -> int:
        return STATUS[self.code]
