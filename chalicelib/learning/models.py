"""The learning table: what the robot could not answer well, one partition per knowledge base and one item per
group of near-duplicate questions, so that an event is one UpdateItem and the admins' list one Query."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.models import Model

from chalicelib.platform.modelbase import meta


class LearningGroup(Model):
    """Questions that normalise to the same text (``grouping.group_key``): counts by why they were collected, the
    first and the latest wording, and what an admin made of them (``status``)."""

    Meta = meta("learning")
    kb = UnicodeAttribute(hash_key=True)
    group_key = UnicodeAttribute(range_key=True)
    first_text = UnicodeAttribute()
    last_text = UnicodeAttribute()
    total = NumberAttribute(default=0)  # every event (``count`` is the Model's own method)
    declined = NumberAttribute(default=0)
    not_helpful = NumberAttribute(default=0)
    handoff = NumberAttribute(default=0)
    first_at = NumberAttribute()
    last_at = NumberAttribute()
    faq_ids = UnicodeSetAttribute(null=True)  # the FAQs the robot answered with (not helpful, hand-off)
    status = UnicodeAttribute(default="open")  # open | similar | faq | off_topic
    resolved_faq = UnicodeAttribute(null=True)
    resolved_by = UnicodeAttribute(null=True)
    resolved_at = NumberAttribute(null=True)
