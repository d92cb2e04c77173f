"""Who is calling a REST route, and the one role check every route goes through.

A route names the roles it is for (``requires(request, STAFF, "tickets are for staff")``): a missing or bad
token answers 401, a role not named 403 with the route's own reason.
"""

from __future__ import annotations

import secrets

from chalice.app import Request

from chalicelib.auth.errors import AuthError
from chalicelib.auth.identity import ANONYMOUS_PREFIX, STAFF_ROLES, Identity
from chalicelib.auth.keys import default_key_source
from chalicelib.auth.tokens import authenticate
from chalicelib.platform.observability import correlate
from chalicelib.platform.quota import Limit

Roles = tuple[str, ...]
ANYONE: Roles | None = None  # any valid token: visitors and staff
STAFF: Roles = STAFF_ROLES
SUPERVISORS: Roles = ("supervisor", "admin")
ADMINS: Roles = ("admin",)

# Anonymous visitor tokens per client address: each is a new visitor with its own allowances, so this bounds
# what one address can do with them. Generous, since many phones share a carrier's address (NAT).
VISITOR_TOKENS = Limit("visitor_token", 120, 600, "visitor tokens from one address")


def caller(request: Request) -> Identity:
    """The identity of the request's bearer token (AuthError 401 without a valid one)."""
    header = request.headers.get("authorization") or ""
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    return authenticate(token, default_key_source())


def requires(request: Request, roles: Roles | None, why: str = "") -> Identity:
    """The caller, if its role is one of ``roles`` (any role for None); else AuthError ``forbidden``: ``why``."""
    who = caller(request)
    correlate(user=who.user_id)
    if roles is not None and who.role not in roles:
        raise AuthError("forbidden", why)
    return who


def new_visitor_id() -> str:
    """An anonymous visitor's id: 64 random bits, under the prefix that marks it as no customer's."""
    return ANONYMOUS_PREFIX + secrets.token_hex(8)
