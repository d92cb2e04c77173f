"""The ``tickets`` table: a ticket, its comments and its history in one partition.

Items of a ticket's partition (hash ``ticket_id``), by ``sk``:

- ``ticket``: the ticket itself; the only item with ``recent``, so only it is in the indexes;
- ``c#{at, 13 digits}#{comment_id}``: a comment;
- ``h#{at, 13 digits}#{version, 6 digits}#{field}``: one field's change.

So reading a ticket with everything on it is one Query, and a ticket is changed (with its history
entries) in one transaction.

Listing never scans: each index holds ticket items only (sparse) under one of their attributes, with
``recent`` (``{updated_at, 13 digits}#{ticket_id}``: unique, and ordered as the console lists) as the
range key, so a page is a Query read newest first from a cursor.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.platform.modelbase import index_meta, meta

TICKET_SK = "ticket"
COMMENT_PREFIX = "c#"
CHANGE_PREFIX = "h#"
# The hash key of the all-tickets index: one partition, since tickets change at people's pace, far below a
# partition's 1,000 writes per second.
FEED = "all"


def recent_key(updated_at: int, ticket_id: str) -> str:
    return f"{updated_at:013d}#{ticket_id}"


class TicketsByStatus(GlobalSecondaryIndex["TicketItem"]):
    Meta = index_meta("tickets-by-status")
    status = UnicodeAttribute(hash_key=True)
    recent = UnicodeAttribute(range_key=True)


class TicketsByAssignee(GlobalSecondaryIndex["TicketItem"]):
    Meta = index_meta("tickets-by-assignee")
    assignee = UnicodeAttribute(hash_key=True)
    recent = UnicodeAttribute(range_key=True)


class TicketsByGroup(GlobalSecondaryIndex["TicketItem"]):
    Meta = index_meta("tickets-by-group")
    group_id = UnicodeAttribute(hash_key=True)
    recent = UnicodeAttribute(range_key=True)


class TicketsByCustomer(GlobalSecondaryIndex["TicketItem"]):
    Meta = index_meta("tickets-by-customer")
    customer_id = UnicodeAttribute(hash_key=True)
    recent = UnicodeAttribute(range_key=True)


class RecentTickets(GlobalSecondaryIndex["TicketItem"]):
    Meta = index_meta("tickets-recent")
    feed = UnicodeAttribute(hash_key=True)
    recent = UnicodeAttribute(range_key=True)


class TicketItem(Model):
    """Any item of a ticket's partition; which attributes it has depends on its ``sk`` (see above)."""

    Meta = meta("tickets")
    ticket_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)

    # -- the ticket (sk "ticket") --
    subject = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)  # open, pending, solved, closed
    priority = UnicodeAttribute(null=True)  # low, normal, high, urgent
    source = UnicodeAttribute(null=True)  # chat, console, left_message
    group_id = UnicodeAttribute(null=True)
    assignee = UnicodeAttribute(null=True)  # absent while unassigned (and out of that index)
    customer_id = UnicodeAttribute(null=True)
    customer_name = UnicodeAttribute(null=True)
    customer_contact = UnicodeAttribute(null=True)
    order_ref = UnicodeAttribute(null=True)
    session_id = UnicodeAttribute(null=True)  # the chat it came from
    reason = UnicodeAttribute(null=True)  # left messages: the offer the visitor answered
    created_by = UnicodeAttribute(null=True)
    created_at = NumberAttribute(null=True)
    updated_at = NumberAttribute(null=True)
    # One more on every change of a field; every change is conditional on the version it was decided on.
    # Not pynamodb's VersionAttribute (6.1), which joins every write of the model: a comment updates the
    # ticket item (count, time) with no new version, so that it never makes an edit conflict; on that key-only
    # ``TicketItem(id, "ticket")`` VersionAttribute would write ``version = 1`` (and, unless told not to, add
    # ``attribute_not_exists(version)``, failing every comment). And the change and comment items share this
    # model: each put of one would gain a version of 1 they do not have today.
    version = NumberAttribute(null=True)
    comment_count = NumberAttribute(null=True)
    feed = UnicodeAttribute(null=True)
    recent = UnicodeAttribute(null=True)

    # -- a comment (c#...) or a change (h#...) --
    actor = UnicodeAttribute(null=True)  # who wrote or changed it
    actor_name = UnicodeAttribute(null=True)
    at = NumberAttribute(null=True)
    text = UnicodeAttribute(null=True)  # comments
    field = UnicodeAttribute(null=True)  # changes: the field, its old and its new value
    old_value = UnicodeAttribute(null=True)
    new_value = UnicodeAttribute(null=True)

    by_status = TicketsByStatus()
    by_assignee = TicketsByAssignee()
    by_group = TicketsByGroup()
    by_customer = TicketsByCustomer()
    recent_tickets = RecentTickets()
