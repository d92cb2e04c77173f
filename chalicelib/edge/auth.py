"""Signing in: anonymous visitor tokens, the local identity provider, and how the staff pages sign in."""

from __future__ import annotations

from typing import Any

from chalice.app import Response

from chalicelib.auth.devidp import dev_idp
from chalicelib.auth.guard import VISITOR_TOKENS, new_visitor_id
from chalicelib.auth.tokens import issue_visitor_token
from chalicelib.edge import routes
from chalicelib.platform.http import error_response, json_body, limit_address, only_fields, required_text, text_field
from chalicelib.settings import get_settings
from chalicelib.wiring import services

bp = routes(__name__)

CHANNELS = ("app", "mini_program", "web")


@bp.route("/visitors/token", methods=["POST"])
def visitor_token() -> Response:
    request = bp.current_request
    limit_address(request, VISITOR_TOKENS, services().limiter.quota)
    body = json_body(request)
    only_fields(body, {"name", "channel", "source", "category", "language"})
    channel = required_text(body, "channel", choices=CHANNELS)
    visitor_id = new_visitor_id()
    # No tier here: an anonymous visitor must not make itself VIP; a shop's backend signs that claim.
    token, expires_at = issue_visitor_token(
        visitor_id, text_field(body, "name", max_len=80), channel,
        text_field(body, "source", max_len=120), text_field(body, "category", max_len=60),
        language=text_field(body, "language", max_len=35, pattern=r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*"),
    )
    return Response(body={"token": token, "visitor_id": visitor_id, "expires_at": expires_at}, status_code=201)


@bp.route("/auth/login", methods=["POST"])
def login() -> Any:
    if not get_settings().dev_idp_enabled:
        return error_response(404, "not_found", "sign in through Cognito")
    body = json_body(bp.current_request)
    only_fields(body, {"username", "password"})
    token, expires_at, identity = dev_idp().login(required_text(body, "username", max_len=64),
                                                  required_text(body, "password", max_len=256))
    return {"token": token, "expires_at": expires_at,
            "user": {"id": identity.user_id, "name": identity.name, "role": identity.role}}


@bp.route("/auth/config", methods=["GET"])
def auth_config() -> Any:
    """How the staff pages sign in: the local identity provider, or Cognito's user pool client (the pages call
    Cognito's InitiateAuth themselves, so passwords never pass through the app)."""
    settings = get_settings()
    if settings.dev_idp_enabled:
        return {"provider": "local"}
    return {"provider": "cognito", "region": settings.region, "client_id": settings.agent_token_audience}


@bp.route("/auth/jwks", methods=["GET"])
def jwks() -> Any:
    if not get_settings().dev_idp_enabled:
        return error_response(404, "not_found", "no local identity provider")
    return dev_idp().jwks()
