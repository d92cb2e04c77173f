"""Signing in: anonymous visitor tokens, the local identity provider, and how the staff pages sign in."""

from __future__ import annotations

from typing import Any

from chalice.app import Response

from chalicelib.auth.devidp import dev_idp
from chalicelib.auth.guard import VISITOR_TOKENS, new_visitor_id
from chalicelib.auth.schemas import LoginRequest, VisitorTokenRequest
from chalicelib.auth.tokens import issue_visitor_token
from chalicelib.edge import routes
from chalicelib.platform.http import error_response, json_body, limit_address, parse_body
from chalicelib.settings import get_settings
from chalicelib.wiring import services

bp = routes(__name__)


@bp.route("/visitors/token", methods=["POST"])
def visitor_token() -> Response:
    request = bp.current_request
    limit_address(request, VISITOR_TOKENS, services().limiter.quota)
    body = parse_body(VisitorTokenRequest, json_body(request))
    visitor_id = new_visitor_id()
    # No tier here: an anonymous visitor must not make itself VIP; a shop's backend signs that claim.
    token, expires_at = issue_visitor_token(visitor_id, body.name, body.channel, body.source, body.category,
                                            language=body.language)
    return Response(body={"token": token, "visitor_id": visitor_id, "expires_at": expires_at}, status_code=201)


@bp.route("/auth/login", methods=["POST"])
def login() -> Any:
    if not get_settings().dev_idp_enabled:
        return error_response(404, "not_found", "sign in through Cognito")
    body = parse_body(LoginRequest, json_body(bp.current_request))
    token, expires_at, identity = dev_idp().login(body.username, body.password)
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
