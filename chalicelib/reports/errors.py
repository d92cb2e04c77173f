"""Errors of the reports; the REST edge's error middleware turns them into the API's error shape."""

from __future__ import annotations

from typing import Any, ClassVar

from chalicelib.platform.errors import DomainError

# code -> HTTP status
STATUS = {
    "invalid_query": 400,
    "forbidden": 403,
}


class ReportError(DomainError):
    """A report that cannot be given; ``field`` names the query parameter at fault, if one is."""

    STATUS: ClassVar[dict[str, int]] = STATUS

    def __init__(self, code: str, message: str, field: str | None = None, **details: Any) -> None:
        assert code in STATUS, code
        super().__init__(code, message, field=field, **details)
