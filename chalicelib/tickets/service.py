"""Tickets: follow-ups that outlive a chat, created by an agent from a chat or the console, or by a
visitor's left message; worked through a status workflow with an assignee, comments and a history.

Agents see the tickets of their groups and those assigned to them; supervisors and admins see all.
Every change of a ticket is one transaction: the ticket item, conditional on the version it was decided
on, plus one history entry per changed field. Two updates made from the same reading can therefore never
both apply: the second one gets ``conflict`` and must read the ticket again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from itertools import islice
from typing import Any, Literal

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError

from chalicelib.auth.identity import Identity
from chalicelib.config.model import RoutingConfig
from chalicelib.platform.clock import SYSTEM_CLOCK, Clock
from chalicelib.platform.dynamo import CONFLICT, cancellation_codes, is_condition_failed, transaction
from chalicelib.sessions.service import SessionService
from chalicelib.tickets.errors import TicketError
from chalicelib.tickets.models import (
    CHANGE_PREFIX,
    COMMENT_PREFIX,
    FEED,
    TICKET_SK,
    TicketItem,
    recent_key,
)

OPEN, PENDING, SOLVED, CLOSED = "open", "pending", "solved", "closed"
STATUSES = (OPEN, PENDING, SOLVED, CLOSED)
# Where each status may go next; closed is final.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    OPEN: (PENDING, SOLVED),
    PENDING: (OPEN, SOLVED),
    SOLVED: (CLOSED, OPEN),
    CLOSED: (),
}
PRIORITIES = ("low", "normal", "high", "urgent")
CHAT, CONSOLE, LEFT_MESSAGE = "chat", "console", "left_message"
SOURCES = (CHAT, CONSOLE, LEFT_MESSAGE)
SUPERVISORS = ("supervisor", "admin")
SUBJECT_FROM_TEXT = 80  # characters of a left message that make its ticket's subject
_TICKET_ID = re.compile(r"t_[0-9a-f]{16}")
_RECENT = re.compile(r"\d{13}#t_[0-9a-f]{16}")


def new_ticket_id() -> str:
    return "t_" + secrets.token_hex(8)


def left_message_key(client_msg_id: str | None, session_id: str | None, text: str, contact: str | None) -> str:
    """What makes two ``leave_message`` frames one message: the client's id if it sent one, else the same
    text and contact in the same session (a resend from an old client, or the same words from two tabs)."""
    if client_msg_id is not None:
        return "c:" + client_msg_id
    digest = hashlib.sha256(json.dumps([text, contact]).encode()).hexdigest()[:32]
    return f"s:{session_id or '-'}:{digest}"


def left_message_ticket_id(visitor_id: str, key: str) -> str:
    """The ticket id of a visitor's left message: derived from the visitor and :func:`left_message_key`, so a
    retried frame lands on the same ticket and its conditional put refuses the second copy (no extra item)."""
    return "t_" + hashlib.sha256(f"left#{visitor_id}#{key}".encode()).hexdigest()[:16]


def valid_ticket_id(value: str) -> bool:
    return bool(_TICKET_ID.fullmatch(value))


def subject_of(text: str, max_len: int = SUBJECT_FROM_TEXT) -> str:
    """A subject for a text: its first non-blank line, spaces collapsed, cut to ``max_len`` characters."""
    line = next((" ".join(part.split()) for part in text.splitlines() if part.strip()), "")
    if len(line) <= max_len:
        return line or "(no text)"
    return line[:max_len - 1].rstrip() + "…"


class _Keep(Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP  # Changes.assignee: leave it as it is (None unassigns)


@dataclass(frozen=True)
class Customer:
    id: str | None = None
    name: str | None = None
    contact: str | None = None


@dataclass(frozen=True)
class Draft:
    """A new ticket. With ``session_id``, customer and group default from the chat."""

    subject: str
    description: str = ""
    customer: Customer | None = None
    order_ref: str | None = None
    priority: str = "normal"
    group_id: str | None = None
    session_id: str | None = None
    assignee: str | None = None


@dataclass(frozen=True)
class Changes:
    status: str | None = None
    priority: str | None = None
    subject: str | None = None
    description: str | None = None
    assignee: str | Literal[_Keep.KEEP] | None = KEEP  # None unassigns


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    assignee: str | None = None
    group_id: str | None = None
    priority: str | None = None
    source: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True)
class Ticket:
    ticket_id: str
    subject: str
    description: str
    status: str
    priority: str
    source: str
    group_id: str | None
    assignee: str | None
    customer: Customer
    order_ref: str | None
    session_id: str | None
    reason: str | None
    created_by: str
    created_at: int
    updated_at: int
    version: int
    comment_count: int

    @property
    def next_statuses(self) -> tuple[str, ...]:
        return TRANSITIONS[self.status]


@dataclass(frozen=True)
class Comment:
    comment_id: str
    author_id: str
    author_name: str | None
    text: str
    created_at: int


@dataclass(frozen=True)
class Change:
    field: str
    old: str | None
    new: str | None
    by: str
    by_name: str | None
    at: int


@dataclass(frozen=True)
class TicketDetail:
    ticket: Ticket
    comments: list[Comment] = field(default_factory=list)
    history: list[Change] = field(default_factory=list)


def _ticket(item: TicketItem) -> Ticket:
    return Ticket(
        ticket_id=item.ticket_id, subject=str(item.subject), description=item.description or "",
        status=str(item.status), priority=str(item.priority), source=str(item.source), group_id=item.group_id,
        assignee=item.assignee, customer=Customer(item.customer_id, item.customer_name, item.customer_contact),
        order_ref=item.order_ref, session_id=item.session_id, reason=item.reason, created_by=str(item.created_by),
        created_at=int(item.created_at or 0), updated_at=int(item.updated_at or 0), version=int(item.version or 0),
        comment_count=int(item.comment_count or 0),
    )


def encode_cursor(recent: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": recent}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        after = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["after"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        after = None
    if not isinstance(after, str) or not _RECENT.fullmatch(after):
        raise TicketError("invalid_body", "'cursor' is not a cursor this API returned", "cursor")
    return after


def _choice(value: str, key: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise TicketError("invalid_body", f"'{key}' must be one of {', '.join(choices)}", key)


class TicketService:
    def __init__(self, sessions: SessionService, config: Callable[[], RoutingConfig],
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self._sessions = sessions
        self._config = config
        self._clock = clock

    # -- who sees what -----------------------------------------------------------------------------

    @staticmethod
    def _staff(who: Identity) -> None:
        if not who.is_staff:
            raise TicketError("forbidden", "tickets are for staff")

    def _groups_of(self, who: Identity) -> set[str]:
        return {group.group_id for group, _ in self._config().groups_of(who.user_id)}

    def _check_visible(self, who: Identity, ticket: Ticket) -> None:
        self._staff(who)
        if who.role in SUPERVISORS or ticket.assignee == who.user_id:
            return
        if ticket.group_id is None or ticket.group_id not in self._groups_of(who):
            raise TicketError("forbidden", "this ticket belongs to a group you are not in",
                              ticket_id=ticket.ticket_id)

    def _check_assignee(self, assignee: str) -> None:
        if not any(m.agent_id == assignee for g in self._config().groups.values() for m in g.members):
            raise TicketError("invalid_body", f"'assignee' must be an agent of a group ('{assignee}' is none)",
                              "assignee")

    # -- creating ----------------------------------------------------------------------------------

    def create(self, who: Identity, draft: Draft) -> Ticket:
        """A ticket made by staff, from a chat (``session_id``: only its agent may) or from the console."""
        self._staff(who)
        if not draft.subject.strip():
            raise TicketError("invalid_body", "'subject' must be a non-empty string", "subject")
        _choice(draft.priority, "priority", PRIORITIES)
        config = self._config()
        customer = draft.customer or Customer()
        group_id = draft.group_id
        if draft.session_id is not None:
            session = self._sessions.get(draft.session_id)
            if session is None:
                raise TicketError("invalid_body", f"no session '{draft.session_id}'", "session_id")
            if session.agent_id != who.user_id:
                raise TicketError("forbidden", "only the agent of a chat makes tickets from it",
                                  session_id=draft.session_id)
            customer = Customer(customer.id or session.visitor_id, customer.name or session.visitor_name,
                                customer.contact)
            group_id = group_id or session.group_id
            source = CHAT
        else:
            if not (customer.id or customer.name or customer.contact):
                raise TicketError("invalid_body", "'customer' is required without a session: give its id, name "
                                  "or contact", "customer")
            if group_id is None:
                raise TicketError("invalid_body", "'group_id' is required without a session", "group_id")
            source = CONSOLE
        if draft.group_id is not None:
            if draft.group_id not in config.groups:
                raise TicketError("invalid_body", f"no group '{draft.group_id}'", "group_id")
            if who.role not in SUPERVISORS and draft.group_id not in self._groups_of(who):
                raise TicketError("forbidden", f"you are not in group '{draft.group_id}'")
        if draft.assignee is not None:
            self._check_assignee(draft.assignee)
        return self._put(TicketItem(
            new_ticket_id(), TICKET_SK, subject=draft.subject.strip(), description=draft.description,
            priority=draft.priority, source=source, group_id=group_id, assignee=draft.assignee,
            customer_id=customer.id, customer_name=customer.name, customer_contact=customer.contact,
            order_ref=draft.order_ref, session_id=draft.session_id, created_by=who.user_id))

    def create_from_left_message(self, visitor: Identity, group_id: str, text: str, contact: str | None,
                                 reason: str, session_id: str | None, key: str) -> tuple[Ticket, bool]:
        """A visitor's left message as an open ticket of ``group_id`` (the caller has checked the visitor), and
        whether it is new. ``key`` (:func:`left_message_key`) names the message: left again under the same
        key, the first ticket is answered (False) and nothing is written."""
        try:
            return self._put(TicketItem(
                left_message_ticket_id(visitor.user_id, key), TICKET_SK, subject=subject_of(text), description=text,
                priority="normal", source=LEFT_MESSAGE, group_id=group_id, customer_id=visitor.user_id,
                customer_name=visitor.name, customer_contact=contact, session_id=session_id, reason=reason,
                created_by=visitor.user_id)), True
        except TicketError as err:
            if err.code != "conflict":
                raise
        first = self.left_message(visitor, key)
        if first is None:  # taken by something else than this visitor's message: cannot happen by chance
            raise TicketError("conflict", "could not take the left message's ticket id")
        return first, False

    def left_message(self, visitor: Identity, key: str) -> Ticket | None:
        """The ticket of the visitor's message left under ``key`` (:func:`left_message_key`), if there is one."""
        try:
            item = TicketItem.get(left_message_ticket_id(visitor.user_id, key), TICKET_SK, consistent_read=True)
        except DoesNotExist:
            return None
        if item.source != LEFT_MESSAGE or item.customer_id != visitor.user_id:
            return None
        return _ticket(item)

    def _put(self, item: TicketItem) -> Ticket:
        now = self._clock.now_ms()
        item.status = OPEN
        item.created_at = item.updated_at = now
        item.version, item.comment_count = 1, 0
        item.feed, item.recent = FEED, recent_key(now, item.ticket_id)
        try:
            item.save(condition=TicketItem.ticket_id.does_not_exist())
        except PutError as err:
            if not is_condition_failed(err):
                raise
            # A random 64-bit id already taken: vanishingly rare, and the caller's retry draws another.
            raise TicketError("conflict", "could not take a new ticket id; try again") from None
        return _ticket(item)

    # -- reading -----------------------------------------------------------------------------------

    def _read(self, ticket_id: str) -> Ticket:
        try:
            return _ticket(TicketItem.get(ticket_id, TICKET_SK, consistent_read=True))
        except DoesNotExist:
            raise TicketError("not_found", f"no ticket '{ticket_id}'", ticket_id=ticket_id) from None

    def get(self, who: Identity, ticket_id: str) -> TicketDetail:
        """The ticket with its comments and history, oldest first (one Query of its partition)."""
        self._staff(who)
        ticket: Ticket | None = None
        comments: list[Comment] = []
        history: list[Change] = []
        for item in TicketItem.query(ticket_id, consistent_read=True):
            if item.sk == TICKET_SK:
                ticket = _ticket(item)
            elif item.sk.startswith(COMMENT_PREFIX):
                comments.append(Comment(item.sk.rsplit("#", 1)[1], str(item.actor), item.actor_name,
                                        item.text or "", int(item.at or 0)))
            elif item.sk.startswith(CHANGE_PREFIX):
                history.append(Change(str(item.field), item.old_value, item.new_value, str(item.actor),
                                      item.actor_name, int(item.at or 0)))
        if ticket is None:
            raise TicketError("not_found", f"no ticket '{ticket_id}'", ticket_id=ticket_id)
        self._check_visible(who, ticket)
        return TicketDetail(ticket, comments, history)

    def listing(self, who: Identity, filters: Filters, limit: int = 50,
                cursor: str | None = None) -> tuple[list[Ticket], str | None]:
        """A page of the tickets the caller may see that match ``filters``, most recently changed first,
        and the cursor of the next page (None on the last).

        Each page is one Query per source: the most selective index the filters name, or for an agent
        without a group or assignee filter, each of its groups and its own assignments (merged)."""
        self._staff(who)
        for value, key, choices in ((filters.status, "status", STATUSES), (filters.priority, "priority", PRIORITIES),
                                    (filters.source, "source", SOURCES)):
            if value is not None:
                _choice(value, key, choices)
        after = decode_cursor(cursor) if cursor else None
        sources, visibility = self._sources(who, filters)
        condition = _filter_condition(filters, {key for _, key, _ in sources}, visibility)
        items, more = _merged_page(sources, condition, limit, after)
        tickets = [_ticket(i) for i in items]
        return tickets, (encode_cursor(recent_key(tickets[-1].updated_at, tickets[-1].ticket_id))
                         if more and tickets else None)

    def _sources(self, who: Identity, f: Filters) -> tuple[list[tuple[Any, str, str]], Any]:
        """(index, filter name, key) to query, and the condition that limits an agent to what it may see
        (None: the sources already do)."""
        if who.role in SUPERVISORS:
            for index, name, key in ((TicketItem.by_group, "group_id", f.group_id),
                                     (TicketItem.by_assignee, "assignee", f.assignee),
                                     (TicketItem.by_customer, "customer_id", f.customer_id),
                                     (TicketItem.by_status, "status", f.status)):
                if key is not None:
                    return [(index, name, key)], None
            return [(TicketItem.recent_tickets, "feed", FEED)], None
        mine = self._groups_of(who)
        if f.group_id is not None:
            if f.group_id not in mine:
                raise TicketError("forbidden", f"you are not in group '{f.group_id}'", "group_id")
            return [(TicketItem.by_group, "group_id", f.group_id)], None
        if f.assignee is not None:
            if f.assignee == who.user_id:
                return [(TicketItem.by_assignee, "assignee", f.assignee)], None
            if not mine:
                return [], None
            return [(TicketItem.by_assignee, "assignee", f.assignee)], TicketItem.group_id.is_in(*sorted(mine))
        return ([(TicketItem.by_group, "group_id", g) for g in sorted(mine)]
                + [(TicketItem.by_assignee, "assignee", who.user_id)]), None

    def left_messages(self, group_ids: Iterable[str], limit: int = 50) -> list[Ticket]:
        """The left messages of ``group_ids``, most recently changed first (no role check: routing's caller
        has made it)."""
        sources = [(TicketItem.by_group, "group_id", g) for g in sorted(set(group_ids))]
        condition = _filter_condition(Filters(source=LEFT_MESSAGE), {"group_id"}, None)
        items, _ = _merged_page(sources, condition, limit, None)
        return [_ticket(i) for i in items]

    # -- changing ----------------------------------------------------------------------------------

    def update(self, who: Identity, ticket_id: str, changes: Changes, expected_version: int | None = None) -> Ticket:
        """Change status (along TRANSITIONS), assignee, priority, subject or description; one history
        entry per field that changes. With ``expected_version``, only if the ticket is still at it."""
        current = self._read(ticket_id)
        self._check_visible(who, current)
        if expected_version is not None and expected_version != current.version:
            raise _conflict(current)
        fields: dict[str, tuple[str | None, str | None]] = {}
        if changes.status is not None and changes.status != current.status:
            _choice(changes.status, "status", STATUSES)
            allowed = TRANSITIONS[current.status]
            if changes.status not in allowed:
                raise TicketError(
                    "invalid_transition",
                    f"the ticket is {current.status} and cannot become {changes.status}; "
                    + (f"it can become {' or '.join(allowed)}" if allowed else "it is final"),
                    "status", **{"from": current.status, "to": changes.status, "allowed": list(allowed)})
            fields["status"] = (current.status, changes.status)
        if changes.priority is not None and changes.priority != current.priority:
            _choice(changes.priority, "priority", PRIORITIES)
            fields["priority"] = (current.priority, changes.priority)
        if changes.subject is not None and changes.subject.strip() != current.subject:
            if not changes.subject.strip():
                raise TicketError("invalid_body", "'subject' must be a non-empty string", "subject")
            fields["subject"] = (current.subject, changes.subject.strip())
        if changes.description is not None and changes.description != current.description:
            fields["description"] = (current.description, changes.description)
        if changes.assignee is not KEEP and changes.assignee != current.assignee:
            if changes.assignee is not None:
                self._check_assignee(changes.assignee)
            fields["assignee"] = (current.assignee, changes.assignee)
        if not fields:
            return current
        if current.status == CLOSED:
            raise TicketError("ticket_closed", "a closed ticket is final; open a new one", ticket_id=ticket_id)
        self._write_changes(who, current, fields)
        return self._read(ticket_id)

    def _write_changes(self, who: Identity, current: Ticket, fields: dict[str, tuple[str | None, str | None]]) -> None:
        now = self._clock.now_ms()
        version = current.version + 1
        key = TicketItem(current.ticket_id, TICKET_SK)
        actions: list[Any] = [TicketItem.version.set(version), TicketItem.updated_at.set(now),
                              TicketItem.recent.set(recent_key(now, current.ticket_id))]
        for name, (_, new) in fields.items():
            attribute = getattr(TicketItem, name)
            # A removed assignee leaves the assignee index (sparse); None is never stored.
            actions.append(attribute.remove() if new is None else attribute.set(new))
        try:
            with transaction() as tx:
                tx.update(key, actions=actions, condition=TicketItem.version == current.version)
                for name, (old, new) in fields.items():
                    tx.put(TicketItem(current.ticket_id, f"{CHANGE_PREFIX}{now:013d}#{version:06d}#{name}",
                                       actor=who.user_id, actor_name=who.name, at=now, field=name,
                                       old_value=old, new_value=new))
        except TransactWriteError as err:
            if not is_condition_failed(err) and CONFLICT not in cancellation_codes(err):
                raise
            raise _conflict(self._read(current.ticket_id)) from None

    def comment(self, who: Identity, ticket_id: str, text: str) -> Comment:
        """Add a comment (internal notes of staff; the customer does not see them)."""
        current = self._read(ticket_id)
        self._check_visible(who, current)
        if not text.strip():
            raise TicketError("invalid_body", "'text' must be a non-empty string", "text")
        if current.status == CLOSED:
            raise TicketError("ticket_closed", "a closed ticket takes no more comments", ticket_id=ticket_id)
        now = self._clock.now_ms()
        comment = Comment("c_" + secrets.token_hex(6), who.user_id, who.name, text, now)
        try:
            with transaction() as tx:
                tx.put(TicketItem(ticket_id, f"{COMMENT_PREFIX}{now:013d}#{comment.comment_id}", actor=who.user_id,
                                   actor_name=who.name, at=now, text=text),
                        condition=TicketItem.sk.does_not_exist())
                # Not a change of a field: the version stays, so a comment never makes an edit conflict.
                tx.update(TicketItem(ticket_id, TICKET_SK), actions=[
                    TicketItem.comment_count.add(1), TicketItem.updated_at.set(now),
                    TicketItem.recent.set(recent_key(now, ticket_id))],
                    condition=TicketItem.sk.exists() & (TicketItem.status != CLOSED))
        except TransactWriteError as err:
            if not is_condition_failed(err):
                raise
            raise TicketError("ticket_closed", "the ticket was closed meanwhile", ticket_id=ticket_id) from None
        return comment


def _conflict(current: Ticket) -> TicketError:
    return TicketError("conflict", f"the ticket changed since you read it (it is {current.status} at version "
                                   f"{current.version} now): read it again", "version",
                       ticket_id=current.ticket_id, current_version=current.version, current_status=current.status)


def _filter_condition(f: Filters, keyed: set[str], visibility: Any) -> Any:
    """The filters the index key does not already apply, as one FilterExpression (None: no filter)."""
    condition = visibility
    for name, value in (("status", f.status), ("assignee", f.assignee), ("group_id", f.group_id),
                        ("priority", f.priority), ("source", f.source), ("customer_id", f.customer_id)):
        if value is None or name in keyed:
            continue
        term = getattr(TicketItem, name) == value
        condition = term if condition is None else condition & term
    return condition


def _merged_page(sources: list[tuple[Any, str, str]], condition: Any, limit: int,
                 after: str | None) -> tuple[list[TicketItem], bool]:
    """The first ``limit`` tickets after ``after`` across ``sources`` (newest first, each once), and whether
    more follow.

    Each source gives at most ``limit + 1``: a ticket among the overall first ``limit + 1`` has at most
    ``limit`` ahead of it anywhere, so also in its own source."""
    found: dict[str, TicketItem] = {}
    for index, _, key in sources:
        query = index.query(key, range_key_condition=TicketItem.recent < after if after else None,
                            filter_condition=condition, scan_index_forward=False, limit=limit + 1)
        for item in islice(query, limit + 1):
            found[item.ticket_id] = item
    ordered = sorted(found.values(), key=lambda i: str(i.recent), reverse=True)
    return ordered[:limit], len(ordered) > limit
