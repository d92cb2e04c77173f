"""Authentication and role refusals; the message never echoes the token."""

from __future__ import annotations

from typing import ClassVar

from chalicelib.platform.errors import DomainError


class AuthError(DomainError):
    """``code`` is one of missing_token, invalid_token, expired_token, bad_credentials (401), or forbidden
    (403: signed in, but the caller's role may not do this)."""

    STATUS: ClassVar[dict[str, int]] = {"forbidden": 403}
    default_status: ClassVar[int] = 401

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
