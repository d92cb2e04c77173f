"""Tickets: the ticket console (staff only; left messages are tickets too)."""

from __future__ import annotations

from typing import Any

from chalice.app import Response

from chalicelib.auth.guard import STAFF, requires
from chalicelib.edge import routes
from chalicelib.platform.http import idempotency_key, json_body
from chalicelib.tickets import api as tickets_api
from chalicelib.wiring import services

bp = routes(__name__)

WHY = "tickets are for staff"


@bp.route("/tickets", methods=["POST"])
def tickets_create() -> Response:
    request = bp.current_request
    who = requires(request, STAFF, WHY)
    return Response(body=tickets_api.create_ticket(who, json_body(request), services().tickets,
                                                   idempotency_key(request)), status_code=201)


@bp.route("/tickets", methods=["GET"])
def tickets_list() -> Any:
    request = bp.current_request
    who = requires(request, STAFF, WHY)
    return tickets_api.list_tickets(who, request.query_params or {}, services().tickets)


@bp.route("/tickets/{ticket_id}", methods=["GET"])
def tickets_get(ticket_id: str) -> Any:
    who = requires(bp.current_request, STAFF, WHY)
    return tickets_api.get_ticket(who, ticket_id, services().tickets)


@bp.route("/tickets/{ticket_id}", methods=["PATCH"])
def tickets_update(ticket_id: str) -> Any:
    request = bp.current_request
    who = requires(request, STAFF, WHY)
    return tickets_api.update_ticket(who, ticket_id, json_body(request), services().tickets)


@bp.route("/tickets/{ticket_id}/comments", methods=["POST"])
def tickets_comment(ticket_id: str) -> Response:
    request = bp.current_request
    who = requires(request, STAFF, WHY)
    return Response(body=tickets_api.add_comment(who, ticket_id, json_body(request), services().tickets,
                                                 idempotency_key(request)), status_code=201)
