"""The ticket console's REST handlers (routes in chalicelib/edge/tickets.py, which refuse visitors first;
contract in docs/openapi.yaml).

Each checks the body or query strictly (unknown fields, types, sizes: 400 naming the field), then calls
the service, which decides who may see and change which ticket.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.auth.identity import Identity
from chalicelib.platform.http import BadRequest, int_param, only_fields, required_text, text_field
from chalicelib.platform.idempotency import once
from chalicelib.tickets.errors import TicketError
from chalicelib.tickets.service import (
    KEEP,
    PRIORITIES,
    SOURCES,
    STATUSES,
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

MAX_SUBJECT = 200
MAX_DESCRIPTION = 5000
MAX_COMMENT = 5000
MAX_LIMIT = 100
USER_ID = r"[A-Za-z0-9_.:@-]{1,64}"  # agent, visitor and customer ids
ORDER_REF = r"[A-Za-z0-9_.:/#-]{1,64}"
SESSION_ID = r"s_[0-9a-f]{20}"
GROUP_ID = r"[a-z0-9][a-z0-9_-]{0,39}"  # as config/schemas/groups.schema.json has it
CREATE_FIELDS = {"subject", "description", "customer", "order_ref", "priority", "group_id", "session_id", "assignee"}
UPDATE_FIELDS = {"status", "assignee", "priority", "subject", "description", "version"}
CUSTOMER_FIELDS = {"id", "name", "contact"}
LIST_PARAMS = {"status", "assignee", "group_id", "priority", "source", "customer_id", "limit", "cursor"}


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


def _customer(body: dict[str, Any]) -> Customer | None:
    raw = body.get("customer")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BadRequest("'customer' must be an object with id, name or contact", "customer")
    try:
        only_fields(raw, CUSTOMER_FIELDS)
        return Customer(text_field(raw, "id", max_len=64, pattern=USER_ID), text_field(raw, "name", max_len=80),
                        text_field(raw, "contact", max_len=200))
    except BadRequest as err:  # name the field by its path in the body
        raise BadRequest(err.message.replace(f"'{err.field}'", f"'customer.{err.field}'"),
                         f"customer.{err.field}") from None


def _version(body: dict[str, Any]) -> int | None:
    version = body.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise BadRequest("'version' must be a positive integer (the version you read)", "version")
    return version


def create_ticket(who: Identity, body: dict[str, Any], tickets: TicketService,
                  idempotency_key: str | None = None) -> dict[str, Any]:
    """POST /tickets: the new ticket (open, version 1). With an ``Idempotency-Key``, a retry answers the
    first ticket as it was created, and creates nothing."""
    return once("tickets.create", who.user_id, idempotency_key, body, lambda: _create_ticket(who, body, tickets))


def _create_ticket(who: Identity, body: dict[str, Any], tickets: TicketService) -> dict[str, Any]:
    only_fields(body, CREATE_FIELDS)
    draft = Draft(
        subject=required_text(body, "subject", max_len=MAX_SUBJECT),
        description=text_field(body, "description", max_len=MAX_DESCRIPTION) or "",
        customer=_customer(body),
        order_ref=text_field(body, "order_ref", max_len=64, pattern=ORDER_REF),
        priority=text_field(body, "priority", max_len=10, choices=PRIORITIES) or "normal",
        group_id=text_field(body, "group_id", max_len=64),
        session_id=text_field(body, "session_id", max_len=22, pattern=SESSION_ID),
        assignee=text_field(body, "assignee", max_len=64, pattern=USER_ID),
    )
    return ticket_json(tickets.create(who, draft))


def list_tickets(who: Identity, params: Mapping[str, str], tickets: TicketService) -> dict[str, Any]:
    """GET /tickets: a page of the tickets the caller may see, most recently changed first."""
    query = dict(params)
    only_fields(query, LIST_PARAMS)
    filters = Filters(
        status=text_field(query, "status", max_len=10, choices=STATUSES),
        assignee=text_field(query, "assignee", max_len=64, pattern=USER_ID),
        # A configured group's id (an empty one would be an empty DynamoDB key).
        group_id=text_field(query, "group_id", max_len=40, pattern=GROUP_ID),
        priority=text_field(query, "priority", max_len=10, choices=PRIORITIES),
        source=text_field(query, "source", max_len=20, choices=SOURCES),
        customer_id=text_field(query, "customer_id", max_len=64, pattern=USER_ID),
    )
    page, cursor = tickets.listing(who, filters, int_param(query, "limit", 50, 1, MAX_LIMIT),
                                   text_field(query, "cursor", max_len=200))
    return {"tickets": [ticket_json(t) for t in page], "next_cursor": cursor}


def get_ticket(who: Identity, raw_id: str, tickets: TicketService) -> dict[str, Any]:
    """GET /tickets/{ticket_id}: the ticket with its comments and history, oldest first."""
    detail = tickets.get(who, path_id(raw_id))
    return {**ticket_json(detail.ticket), "comments": [comment_json(c) for c in detail.comments],
            "history": [change_json(c) for c in detail.history]}


def update_ticket(who: Identity, raw_id: str, body: dict[str, Any], tickets: TicketService) -> dict[str, Any]:
    """PATCH /tickets/{ticket_id}: the fields given change; with ``version``, only if nobody changed it since."""
    ticket_id = path_id(raw_id)
    only_fields(body, UPDATE_FIELDS)
    if not set(body) - {"version"}:
        raise BadRequest("nothing to change: give status, assignee, priority, subject or description")
    for key in ("status", "priority", "subject", "description"):
        if key in body and body[key] is None:
            raise BadRequest(f"'{key}' may not be null", key)
    subject = required_text(body, "subject", max_len=MAX_SUBJECT) if "subject" in body else None
    changes = Changes(
        status=text_field(body, "status", max_len=10, choices=STATUSES),
        priority=text_field(body, "priority", max_len=10, choices=PRIORITIES),
        subject=subject,
        description=text_field(body, "description", max_len=MAX_DESCRIPTION),
        # null unassigns; absent keeps the assignee
        assignee=text_field(body, "assignee", max_len=64, pattern=USER_ID) if "assignee" in body else KEEP,
    )
    return ticket_json(tickets.update(who, ticket_id, changes, _version(body)))


def add_comment(who: Identity, raw_id: str, body: dict[str, Any], tickets: TicketService,
                idempotency_key: str | None = None) -> dict[str, Any]:
    """POST /tickets/{ticket_id}/comments: the comment as stored. With an ``Idempotency-Key``, a retry
    answers the first comment and adds nothing."""
    ticket_id = path_id(raw_id)

    def add() -> dict[str, Any]:
        only_fields(body, {"text"})
        return comment_json(tickets.comment(who, ticket_id, required_text(body, "text", max_len=MAX_COMMENT)))

    return once("tickets.comment", who.user_id, idempotency_key, {"ticket_id": ticket_id, "body": body}, add)
