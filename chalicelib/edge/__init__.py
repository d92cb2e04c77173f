"""The ways in: one Chalice Blueprint per domain (REST routes, the schedule, the state machines' steps), each
a thin layer that reads the request, calls one service from ``wiring.services()`` and returns. ``app.py``
registers them; the WebSocket handlers stay on the app itself, since Chalice 1.34 wraps them for a
Blueprint without the WebsocketEvent they take, and hand each frame to the command table in ``frames``.
"""

from __future__ import annotations

from chalicelib.platform.http import Routes


def routes(import_name: str) -> Routes:
    """A domain's Blueprint: its views' refusals reach the error middleware."""
    return Routes(import_name)
