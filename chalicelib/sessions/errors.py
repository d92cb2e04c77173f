"""Refusals of a change to a session (closing, rating, sending into it): ImError codes, so a client sees the
same error frame whichever service refused."""

from __future__ import annotations

from chalicelib.channel.errors import ImError


class SessionError(ImError):
    """A change to a session that its state or the caller's part in it does not allow."""
