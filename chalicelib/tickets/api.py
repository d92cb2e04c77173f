"""The ticket console's REST handlers (routes in chalicelib/edge/tickets.py, which refuse visitors first;
contract in docs/openapi.yaml).

Each checks the body or query strictly (unknown fields, types, sizes: 400 naming the field), then calls
the service, which decides who may see and change which ticket.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.auth.identity import Identity
from chalicelib.platform.http import BadRequest, int_param, parse_body
from chalicelib.platform.idempotency import once
from chalicelib.tickets.errors import TicketError
from chalicelib.tickets.schemas import CommentCreate, CustomerRef, TicketCreate, TicketQuery, TicketUpdate
from chalicelib.tickets.service import (
    KEEP,
    Change,
    Changes,
    Comment,
    Customer,
    Draft,
    Filters,
    Ticket,
    TicketService,
    valid_ticket_id,
)

MAX_LIMIT = 100


def path_id(raw: str) -> str:
    """The ticket id of a path parameter; 404 for one that cannot exist."""
    if not valid_ticket_id(raw):
        raise TicketError("not_found", "no ticket with that id")
    return raw


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {"ticket_id": ticket.ticket_id, "subject": ticket.subject, "description": ticket.description,
            "status": ticket.status, "next_statuses": list(ticket.next_statuses), "priority": ticket.priority,
            "source": ticket.source, "group_id": ticket.group_id, "assignee": ticket.assignee,
            "customer": {"id": ticket.customer.id, "name": ticket.customer.name, "contact": ticket.customer.contact},
            "order_ref": ticket.order_ref, "session_id": ticket.session_id, "reason": ticket.reason,
            "created_by": ticket.created_by, "created_at": ticket.created_at, "updated_at": ticket.updated_at,
            "version": ticket.version, "comment_count": ticket.comment_count}


def comment_json(comment: Comment) -> dict[str, Any]:
    return {"comment_id": comment.comment_id, "author_id": comment.author_id, "author_name": comment.author_name,
            "text": comment.text, "created_at": comment.created_at}


def change_json(change: Change) -> dict[str, Any]:
    return {"field": change.field, "from": change.old, "to": change.new, "by": change.by,
            "by_name": change.by_name, "at": change.at}


def _customer(ref: CustomerRef | None) -> Customer | None:
    return None if ref is None else Customer(ref.id, ref.name, ref.contact)


def create_ticket(who: Identity, body: dict[str, Any], tickets: TicketService,
                  idempotency_key: str | None = None) -> dict[str, Any]:
    """POST /tickets: the new ticket (open, version 1). With an ``Idempotency-Key``, a retry answers the
    first ticket as it was created, and creates nothing."""
    return once("tickets.create", who.user_id, idempotency_key, body, lambda: _create_ticket(who, body, tickets))


def _create_ticket(who: Identity, body: dict[str, Any], tickets: TicketService) -> dict[str, Any]:
    request = parse_body(TicketCreate, body)
    draft = Draft(subject=request.subject, description=request.description or "",
                  customer=_customer(request.customer), order_ref=request.order_ref,
                  priority=request.priority or "normal", group_id=request.group_id, session_id=request.session_id,
                  assignee=request.assignee)
    return ticket_json(tickets.create(who, draft))


def list_tickets(who: Identity, params: Mapping[str, str], tickets: TicketService) -> dict[str, Any]:
    """GET /tickets: a page of the tickets the caller may see, most recently changed first."""
    query = parse_body(TicketQuery, params)
    filters = Filters(status=query.status, assignee=query.assignee, group_id=query.group_id,
                      priority=query.priority, source=query.source, customer_id=query.customer_id)
    page, cursor = tickets.listing(who, filters, int_param(params, "limit", 50, 1, MAX_LIMIT), query.cursor)
    return {"tickets": [ticket_json(t) for t in page], "next_cursor": cursor}


def get_ticket(who: Identity, raw_id: str, tickets: TicketService) -> dict[str, Any]:
    """GET /tickets/{ticket_id}: the ticket with its comments and history, oldest first."""
    detail = tickets.get(who, path_id(raw_id))
    return {**ticket_json(detail.ticket), "comments": [comment_json(c) for c in detail.comments],
            "history": [change_json(c) for c in detail.history]}


def update_ticket(who: Identity, raw_id: str, body: dict[str, Any], tickets: TicketService) -> dict[str, Any]:
    """PATCH /tickets/{ticket_id}: the fields given change; with ``version``, only if nobody changed it since."""
    ticket_id = path_id(raw_id)
    request = parse_body(TicketUpdate, body)
    given = request.model_fields_set
    if not given - {"version"}:
        raise BadRequest("nothing to change: give status, assignee, priority, subject or description")
    for key in TicketUpdate.NOT_NULL:
        if key in given and getattr(request, key) is None:
            raise BadRequest(f"'{key}' may not be null", key)
    changes = Changes(status=request.status, priority=request.priority, subject=request.subject,
                      description=request.description,
                      # null unassigns; absent keeps the assignee
                      assignee=request.assignee if "assignee" in given else KEEP)
    return ticket_json(tickets.update(who, ticket_id, changes, request.version))


def add_comment(who: Identity, raw_id: str, body: dict[str, Any], tickets: TicketService,
                idempotency_key: str | None = None) -> dict[str, Any]:
    """POST /tickets/{ticket_id}/comments: the comment as stored. With an ``Idempotency-Key``, a retry
    answers the first comment and adds nothing."""
    ticket_id = path_id(raw_id)

    def add() -> dict[str, Any]:
        return comment_json(tickets.comment(who, ticket_id, parse_body(CommentCreate, body).text))

    return once("tickets.comment", who.user_id, idempotency_key, {"ticket_id": ticket_id, "body": body}, add)
