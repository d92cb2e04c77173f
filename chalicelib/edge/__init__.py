"""The ways in: one Chalice Blueprint per domain (REST routes, the schedule, the state machines' steps), each
a thin layer that reads the request, calls one service from ``wiring.services()`` and returns. ``app.py``
registers them; the WebSocket handlers stay on the app itself, since Chalice 1.34 wraps them for a
Blueprint without the WebsocketEvent they take.
"""

from __future__ import annotations

from typing import Any

from chalicelib.im.errors import ImError
from chalicelib.platform.errors import DomainError
from chalicelib.platform.http import Routes

# ImError's codes as REST statuses, until ImError is a DomainError that knows them itself.
_IM_STATUS = {"invalid_body": 400, "invalid_frame": 400, "unauthorized": 401, "forbidden": 403,
              "not_found": 404, "unknown_message": 404, "session_closed": 409, "no_agent": 409,
              "conflict": 409}


def routes(import_name: str) -> Routes:
    """A domain's Blueprint: its views' refusals, ImError included, reach the error middleware."""
    return Routes(import_name, also=(ImError,))


def translate(err: Exception) -> DomainError | None:
    """The DomainError an ImError answers as over REST (None for anything else)."""
    if isinstance(err, ImError):
        details: dict[str, Any] = dict(err.details)
        return DomainError(err.code, err.message, status=_IM_STATUS.get(err.code, 400), **details)
    return None
