"""The IM table: messages (with their dedupe markers). Connections and presence are the channel's
(chalicelib/channel/models.py)."""

from __future__ import annotations

from pynamodb.attributes import MapAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.platform.modelbase import meta

MESSAGE_SK_PREFIX = "m#"
MARKER_SK_PREFIX = "c#"


def message_sk(seq: int) -> str:
    # Zero-padded so that the range key sorts messages by sequence.
    return f"{MESSAGE_SK_PREFIX}{seq:012d}"


def marker_sk(sender_id: str, client_msg_id: str) -> str:
    return f"{MARKER_SK_PREFIX}{sender_id}#{client_msg_id}"


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
    # The sender's display name as its token gave it when sent (null for the robot and for anonymous visitors):
    # a bubble names its sender, a colleague who has left the session included, without a read of anyone.
    sender_name = UnicodeAttribute(null=True)
    recipient_id = UnicodeAttribute(null=True)
    kind = UnicodeAttribute(null=True)
    content = MapAttribute[str, object](null=True)  # type: ignore[no-untyped-call]  # raw map: any JSON
    client_msg_id = UnicodeAttribute(null=True)
    # The connection that sent it: `delivered`/`send_failed` go there first (no presence read).
    sender_conn = UnicodeAttribute(null=True)
    # That connection's protocol version, when above 1: a version-2 connection takes one `delivered` for
    # several of its messages ACKed together.
    sender_protocol = NumberAttribute(null=True)
    status = UnicodeAttribute(null=True)
    attempts = NumberAttribute(null=True)
    created_at = NumberAttribute(null=True)
    delivered_at = NumberAttribute(null=True)
    # When the recipient's window showed it (the `read` frame); set once, only on a delivered message.
    read_at = NumberAttribute(null=True)
    # A robot answer's "helpful" / "not helpful" from its visitor (robot_feedback): set once, never changed.
    feedback = UnicodeAttribute(null=True)
    # Markers only: a client resend after this long is a new message.
    expires_at = TTLAttribute(null=True)
