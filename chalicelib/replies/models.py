"""The canned replies table: one partition per group, so an agent's list is one Query per group it works in."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.platform.modelbase import meta


class CannedReply(Model):
    """A reply a group's agents can insert: ``shortcut`` is what ``/`` in the composer matches first."""

    Meta = meta("canned-replies")
    group_id = UnicodeAttribute(hash_key=True)
    reply_id = UnicodeAttribute(range_key=True)
    language = UnicodeAttribute()
    shortcut = UnicodeAttribute()
    text = UnicodeAttribute()
    updated_by = UnicodeAttribute()
    updated_at = NumberAttribute()
