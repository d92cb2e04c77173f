"""Chalice wiring only: parse, call one service, return. Rules live in chalicelib/."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from chalice.app import Chalice, CloudWatchEvent, Rate, Request, Response, WebsocketEvent

from chalicelib.auth.devidp import dev_idp
from chalicelib.auth.errors import AuthError
from chalicelib.auth.tokens import authenticate, default_key_source, issue_visitor_token
from chalicelib.im import delivery
from chalicelib.im.actions import handle_frame
from chalicelib.im.presence import TooManyConnections
from chalicelib.platform import cors
from chalicelib.rest import (
    VISITOR_TOKENS,
    api_errors,
    caller,
    error_response,
    idempotency_key,
    int_param,
    json_body,
    limit_address,
    only_fields,
    required_text,
    text_field,
)
from chalicelib.routing.service import left_message_json
from chalicelib.sessions.service import session_json
from chalicelib.settings import get_settings
from chalicelib.wiring import services

app = Chalice(app_name="customer-service")
app.experimental_feature_flags.update(["WEBSOCKETS"])
app.log.setLevel(logging.INFO)

CHANNELS = ("app", "mini_program", "web")


def request() -> Request:
    current = app.current_request
    assert current is not None  # set by Chalice for every REST call
    return current


# -- WebSocket ------------------------------------------------------------------------------------

@app.on_ws_connect()
def ws_connect(event: WebsocketEvent) -> Response | None:
    query = event.to_dict().get("queryStringParameters") or {}
    try:
        identity = authenticate(query.get("token"), default_key_source())
    except AuthError as err:
        # Refusing the upgrade: the client sees the HTTP status, not a frame.
        return Response(body=json.dumps({"error": {"code": err.code, "message": err.message}}), status_code=401)
    svc = services()
    try:
        presence = svc.presence.connect(event.connection_id, identity)
    except TooManyConnections as err:
        return Response(body=json.dumps({"error": {"code": "too_many_connections", "message": str(err)}}),
                        status_code=429)
    if identity.is_staff:
        svc.routing.agent_connected(identity)
    else:
        svc.lifecycle.visitor_back(svc.sessions.current_or_new(identity, presence))
    return None


@app.on_ws_message()
def ws_message(event: WebsocketEvent) -> None:
    handle_frame(services(), event.connection_id, event.body)


@app.on_ws_disconnect()
def ws_disconnect(event: WebsocketEvent) -> None:
    services().presence.disconnect(event.connection_id)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="queue_tick")
def queue_tick(event: CloudWatchEvent) -> dict[str, int]:
    """Every minute: queue-timeout offers, fresh wait estimates, dashboard pushes and metrics, and the
    lifecycle timers whose start failed."""
    svc = services()
    return {**svc.routing.tick(), "timers_repaired": svc.lifecycle.repair_timers()}


@app.lambda_function(name="delivery_step")
def delivery_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A step of the delivery state machine: resend an unACKed message, or give up on it."""
    return delivery.run_step(services().im, event)


@app.lambda_function(name="lifecycle_step")
def lifecycle_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A wake of a session's lifecycle timer: warn, close or mark offline as due; returns the next sleep."""
    return services().lifecycle.step(event)


# -- REST -----------------------------------------------------------------------------------------

@app.route("/health", methods=["GET"])
def health() -> dict[str, Any]:
    return {"ok": True, "stage": get_settings().stage}


@app.route("/visitors/token", methods=["POST"])
@api_errors
def visitor_token() -> Response:
    limit_address(request(), VISITOR_TOKENS, services().limiter.quota)
    body = json_body(request())
    only_fields(body, {"name", "channel", "source", "category", "language"})
    channel = required_text(body, "channel", choices=CHANNELS)
    visitor_id = "v_" + secrets.token_hex(8)
    # No tier here: an anonymous visitor must not make itself VIP; a shop's backend signs that claim.
    token, expires_at = issue_visitor_token(
        visitor_id, text_field(body, "name", max_len=80), channel,
        text_field(body, "source", max_len=120), text_field(body, "category", max_len=60),
        language=text_field(body, "language", max_len=35, pattern=r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*"),
    )
    return Response(body={"token": token, "visitor_id": visitor_id, "expires_at": expires_at}, status_code=201)


@app.route("/auth/login", methods=["POST"])
@api_errors
def login() -> Any:
    if not get_settings().dev_idp_enabled:
        return error_response(404, "not_found", "sign in through Cognito")
    body = json_body(request())
    only_fields(body, {"username", "password"})
    token, expires_at, identity = dev_idp().login(required_text(body, "username", max_len=64),
                                                  required_text(body, "password", max_len=256))
    return {"token": token, "expires_at": expires_at,
            "user": {"id": identity.user_id, "name": identity.name, "role": identity.role}}


@app.route("/auth/config", methods=["GET"])
def auth_config() -> Any:
    """How the staff pages sign in: the local identity provider, or Cognito's user pool client (the pages call
    Cognito's InitiateAuth themselves, so passwords never pass through the app)."""
    settings = get_settings()
    if settings.dev_idp_enabled:
        return {"provider": "local"}
    return {"provider": "cognito", "region": settings.region, "client_id": settings.agent_token_audience}


@app.route("/auth/jwks", methods=["GET"])
def jwks() -> Any:
    if not get_settings().dev_idp_enabled:
        return error_response(404, "not_found", "no local identity provider")
    return dev_idp().jwks()


@app.route("/sessions", methods=["GET"])
@api_errors
def my_sessions() -> Any:
    who = caller(request())
    sessions = services().sessions
    if who.is_staff:
        return {"sessions": [session_json(s, staff=True) for s in sessions.of_agent(who.user_id)]}
    current = sessions.current(who)
    return {"sessions": [session_json(current)] if current else []}


@app.route("/sessions/{session_id}/messages", methods=["GET"])
@api_errors
def session_messages(session_id: str) -> Any:
    req = request()
    who = caller(req)
    after_seq = int_param(req.query_params, "after_seq", 0, 0, 10**12 - 1)  # sequence keys hold 12 digits
    limit = int_param(req.query_params, "limit", 50, 1, 100)
    return services().im.history(who, session_id, after_seq, limit)


@app.route("/visitors/{visitor_id}/sessions", methods=["GET"])
@api_errors
def visitor_sessions(visitor_id: str) -> Any:
    """A visitor's sessions, newest first: the console's "past sessions" (staff only)."""
    req = request()
    if not caller(req).is_staff:
        return error_response(403, "forbidden", "past sessions are for staff")
    limit = int_param(req.query_params, "limit", 20, 1, 100)
    return {"sessions": [session_json(s, staff=True) for s in services().sessions.of_visitor(visitor_id, limit)]}


# -- Images sent in chats (chalicelib/media); read back at /media/<key> --
from chalicelib.media import uploads  # noqa: E402

# API Gateway passes these bodies to the Lambda as bytes (base64), not as text.
app.api.binary_types.extend(t for t in uploads.IMAGE_TYPES if t not in app.api.binary_types)


# Other types are accepted here only to be refused with this API's error shape, not Chalice's.
@app.route("/uploads", methods=["POST"],
           content_types=[*uploads.IMAGE_TYPES, "application/octet-stream", "application/json", "text/plain"])
@api_errors
def upload_create() -> Response:
    req = request()
    svc = services()
    stored = uploads.upload(caller(req), req.raw_body, req.headers.get("content-type"), svc.sessions, svc.media,
                            svc.limiter.quota)
    return Response(body=stored, status_code=201)


# -- Orders and products (the console's right column) --
from chalicelib.commerce import api as commerce_api  # noqa: E402


@app.route("/orders/{order_id}", methods=["GET"])
@api_errors
def order_get(order_id: str) -> Any:
    return commerce_api.order(caller(request()), order_id, commerce_api.commerce())


@app.route("/orders", methods=["GET"])
@api_errors
def orders_list() -> Any:
    req = request()
    return commerce_api.orders(caller(req), req.query_params or {}, commerce_api.commerce())


@app.route("/products/recommendations", methods=["GET"])
@api_errors
def product_recommendations() -> Any:
    req = request()
    return commerce_api.recommendations(caller(req), req.query_params or {}, commerce_api.commerce())


@app.route("/dashboard", methods=["GET"])
@api_errors
def dashboard() -> Any:
    who = caller(request())
    if who.role not in ("supervisor", "admin"):
        return error_response(403, "forbidden", "the dashboard is for supervisors and admins")
    return services().dashboard.snapshot()


@app.route("/left-messages", methods=["GET"])
@api_errors
def left_messages() -> Any:
    """Messages left in the caller's groups (all groups for supervisors and admins), newest first."""
    req = request()
    who = caller(req)
    if not who.is_staff:
        return error_response(403, "forbidden", "left messages are for staff")
    svc = services()
    config = svc.config()
    limit = int_param(req.query_params, "limit", 50, 1, 200)
    groups = sorted(config.groups) if who.role != "agent" else [g.group_id for g, _ in config.groups_of(who.user_id)]
    return {"left_messages": [left_message_json(m) for m in svc.routing.left_messages(groups, limit)]}


# -- Robot management (knowledge base and robot settings) --
# Imported here so that this block stays the whole of the robot-management wiring.
from chalicelib.faq import api as faq_api  # noqa: E402


@app.route("/faqs", methods=["GET"])
@api_errors
def faqs_list() -> Any:
    req = request()
    return faq_api.list_faqs(caller(req), req.query_params or {}, services().kb)


@app.route("/faqs", methods=["POST"])
@api_errors
def faqs_create() -> Response:
    req = request()
    who = caller(req)
    return Response(body=faq_api.create_faq(who, json_body(req), services().kb), status_code=201)


@app.route("/faqs/import", methods=["POST"])
@api_errors
def faqs_import() -> Any:
    req = request()
    who = caller(req)
    return faq_api.import_faqs(who, json_body(req), services().kb, idempotency_key(req))


@app.route("/faqs/export", methods=["GET"])
@api_errors
def faqs_export() -> Response:
    req = request()
    text, content_type = faq_api.export_faqs(caller(req), req.query_params or {}, services().kb)
    extension = "csv" if content_type.startswith("text/csv") else "jsonl"
    return Response(body=text, status_code=200, headers={
        "Content-Type": content_type, "Content-Disposition": f'attachment; filename="faqs.{extension}"'})


@app.route("/faqs/reindex", methods=["POST"])
@api_errors
def faqs_reindex() -> Any:
    return faq_api.reindex(caller(request()), services().kb)


@app.route("/faqs/{faq_id}", methods=["GET"])
@api_errors
def faqs_get(faq_id: str) -> Any:
    return faq_api.get_faq(caller(request()), faq_id, services().kb)


@app.route("/faqs/{faq_id}", methods=["PUT"])
@api_errors
def faqs_update(faq_id: str) -> Any:
    req = request()
    who = caller(req)
    return faq_api.update_faq(who, faq_id, json_body(req), services().kb)


@app.route("/faqs/{faq_id}", methods=["DELETE"])
@api_errors
def faqs_delete(faq_id: str) -> Any:
    return faq_api.delete_faq(caller(request()), faq_id, services().kb)


@app.route("/robot/settings", methods=["GET"])
@api_errors
def robot_settings_get() -> Any:
    return faq_api.get_robot_settings(caller(request()), services().kb)


@app.route("/robot/settings", methods=["PUT"])
@api_errors
def robot_settings_put() -> Any:
    req = request()
    who = caller(req)
    return faq_api.put_robot_settings(who, json_body(req), services().kb)


@app.route("/robot/try", methods=["POST"])
@api_errors
def robot_try() -> Any:
    req = request()
    who = caller(req)
    return faq_api.try_question(who, json_body(req), services().kb)


# -- Tickets (the ticket console; left messages are tickets too) --
# Imported here so that this block stays the whole of the ticket wiring.
from chalicelib.tickets import api as tickets_api  # noqa: E402


@app.route("/tickets", methods=["POST"])
@api_errors
def tickets_create() -> Response:
    req = request()
    who = caller(req)
    return Response(body=tickets_api.create_ticket(who, json_body(req), services().tickets, idempotency_key(req)),
                    status_code=201)


@app.route("/tickets", methods=["GET"])
@api_errors
def tickets_list() -> Any:
    req = request()
    return tickets_api.list_tickets(caller(req), req.query_params or {}, services().tickets)


@app.route("/tickets/{ticket_id}", methods=["GET"])
@api_errors
def tickets_get(ticket_id: str) -> Any:
    return tickets_api.get_ticket(caller(request()), ticket_id, services().tickets)


@app.route("/tickets/{ticket_id}", methods=["PATCH"])
@api_errors
def tickets_update(ticket_id: str) -> Any:
    req = request()
    who = caller(req)
    return tickets_api.update_ticket(who, ticket_id, json_body(req), services().tickets)


@app.route("/tickets/{ticket_id}/comments", methods=["POST"])
@api_errors
def tickets_comment(ticket_id: str) -> Response:
    req = request()
    who = caller(req)
    return Response(body=tickets_api.add_comment(who, ticket_id, json_body(req), services().tickets,
                                                 idempotency_key(req)), status_code=201)


# Last, after every route: preflights and CORS headers for the configured origins only (CORS_ORIGINS).
cors.install(app)
