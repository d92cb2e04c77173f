"""Authentication failures; the message never echoes the token."""

from __future__ import annotations


class AuthError(Exception):
    """``code`` is one of missing_token, invalid_token, expired_token, bad_credentials."""

    code: str
    message: str

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
