"""Refusals of routing (asking for a person, transfers, agent status, left messages): ImError codes, so a
client sees the same error frame whichever service refused."""

from __future__ import annotations

from chalicelib.channel.errors import ImError


class RoutingError(ImError):
    """A routing request that the session's state, the target or the configuration does not allow."""
