"""IM tables: live connections, per-user presence, and messages (with their dedupe markers)."""

from __future__ import annotations

from pynamodb.attributes import (
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.models import Model

from chalicelib.platform.modelbase import meta

MESSAGE_SK_PREFIX = "m#"
MARKER_SK_PREFIX = "c#"


def message_sk(seq: int) -> str:
    # Zero-padded so that the range key sorts messages by sequence.
    return f"{MESSAGE_SK_PREFIX}{seq:012d}"


def marker_sk(sender_id: str, client_msg_id: str) -> str:
    return f"{MARKER_SK_PREFIX}{sender_id}#{client_msg_id}"


class Connection(Model):
    """One open WebSocket. Its identity never changes, so handlers may cache it."""

    Meta = meta("connections")
    connection_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    role = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    groups = UnicodeSetAttribute(null=True)  # staff: the groups in its token (a supervisor's scope)
    connected_at = NumberAttribute()
    # When the token it opened with expires (epoch seconds): frames after it are refused (expired_token).
    # Absent on connections recorded before it was kept: those run to API Gateway's two hours.
    token_expires_at = NumberAttribute(null=True)
    # API Gateway closes a connection after 2 hours; TTL removes items whose $disconnect never came.
    expires_at = TTLAttribute()


class Presence(Model):
    """One item per user: their open connections (an agent's availability is routing's: routing/models.py)."""

    Meta = meta("presence")
    user_id = UnicodeAttribute(hash_key=True)
    role = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    conns = UnicodeSetAttribute(default=set)
    # A visitor's current session.
    session_id = UnicodeAttribute(null=True)
    updated_at = NumberAttribute()


class Message(Model):
    """A message (sk ``m#<seq>``) or a client-id marker (sk ``c#<sender>#<client_msg_id>``).

    A message is written ``pending`` when sent, becomes ``delivered`` on the first ACK and is
    deleted if the third attempt goes unACKed: only delivered messages are history.
    """

    Meta = meta("messages")
    session_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    seq = NumberAttribute(null=True)
    message_id = UnicodeAttribute(null=True)
    sender_id = UnicodeAttribute(null=True)
    sender_role = UnicodeAttribute(null=True)
    recipient_id = UnicodeAttribute(null=True)
    kind = UnicodeAttribute(null=True)
    content = MapAttribute[str, object](null=True)  # type: ignore[no-untyped-call]  # raw map: any JSON
    client_msg_id = UnicodeAttribute(null=True)
    # The connection that sent it: `delivered`/`send_failed` go there first (no presence read).
    sender_conn = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    attempts = NumberAttribute(null=True)
    created_at = NumberAttribute(null=True)
    delivered_at = NumberAttribute(null=True)
    # Markers only: a client resend after this long is a new message.
    expires_at = TTLAttribute(null=True)
