"""Errors of the learning loop; the REST edge's error middleware turns them into the API's error shape."""

from __future__ import annotations

from typing import Any, ClassVar

from chalicelib.platform.errors import DomainError

# code -> HTTP status
STATUS = {
    "invalid_body": 400,
    "not_found": 404,
    "conflict": 409,  # the group was already resolved
}


class LearningError(DomainError):
    """A learning-loop request that cannot be carried out; ``field`` names the offending field, if one is."""

    STATUS: ClassVar[dict[str, int]] = STATUS

    def __init__(self, code: str, message: str, field: str | None = None, **details: Any) -> None:
        assert code in STATUS, code
        super().__init__(code, message, field=field, **details)
