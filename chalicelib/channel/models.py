"""The channel's tables: live connections and per-user presence."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.models import Model

from chalicelib.platform.modelbase import meta


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
    # The protocol version it asked for at $connect; absent for version 1.
    protocol = NumberAttribute(null=True)
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
