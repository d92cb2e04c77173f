"""The ticket console's request bodies and list query (docs/openapi.yaml documents their JSON Schemas)."""

from __future__ import annotations

from typing import ClassVar, Literal, get_args

from pydantic import Field

from chalicelib.platform.http import Body, NonBlank
from chalicelib.tickets.service import PRIORITIES, SOURCES, STATUSES

MAX_SUBJECT = 200
MAX_DESCRIPTION = 5000
MAX_COMMENT = 5000
USER_ID = r"^[A-Za-z0-9_.:@-]{1,64}$"  # agent, visitor and customer ids
ORDER_REF = r"^[A-Za-z0-9_.:/#-]{1,64}$"
SESSION_ID = r"^s_[0-9a-f]{20}$"
GROUP_ID = r"^[a-z0-9][a-z0-9_-]{0,39}$"  # as config/schemas/groups.schema.json has it

Status = Literal["open", "pending", "solved", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]
Source = Literal["chat", "console", "left_message"]
assert (get_args(Status), get_args(Priority), get_args(Source)) == (STATUSES, PRIORITIES, SOURCES)


class CustomerRef(Body):
    id: str | None = Field(None, max_length=64, pattern=USER_ID)
    name: str | None = Field(None, max_length=80)
    contact: str | None = Field(None, max_length=200)


class TicketCreate(Body):
    """POST /tickets."""

    subject: NonBlank = Field(max_length=MAX_SUBJECT)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    customer: CustomerRef | None = None
    order_ref: str | None = Field(None, max_length=64, pattern=ORDER_REF)
    priority: Priority | None = None
    group_id: str | None = Field(None, max_length=64)
    session_id: str | None = Field(None, max_length=22, pattern=SESSION_ID)
    assignee: str | None = Field(None, max_length=64, pattern=USER_ID)


class TicketUpdate(Body):
    """PATCH /tickets/{ticket_id}: the fields given change (assignee null unassigns); with ``version``, only
    if nobody changed the ticket since."""

    MESSAGES: ClassVar[dict[str, str]] = {"version": "'version' must be a positive integer (the version you read)"}
    NOT_NULL: ClassVar[tuple[str, ...]] = ("status", "priority", "subject", "description")

    subject: NonBlank | None = Field(None, max_length=MAX_SUBJECT)
    status: Status | None = None
    priority: Priority | None = None
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    assignee: str | None = Field(None, max_length=64, pattern=USER_ID)
    version: int | None = Field(None, ge=1)


class CommentCreate(Body):
    """POST /tickets/{ticket_id}/comments."""

    text: NonBlank = Field(max_length=MAX_COMMENT)


class TicketQuery(Body):
    """GET /tickets's query string (values are text; ``limit`` is read as a number after)."""

    status: Status | None = None
    assignee: str | None = Field(None, max_length=64, pattern=USER_ID)
    # A configured group's id (an empty one would be an empty DynamoDB key).
    group_id: str | None = Field(None, max_length=40, pattern=GROUP_ID)
    priority: Priority | None = None
    source: Source | None = None
    customer_id: str | None = Field(None, max_length=64, pattern=USER_ID)
    limit: str | None = None
    cursor: str | None = Field(None, max_length=200)
