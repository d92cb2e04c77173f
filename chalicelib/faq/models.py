"""The knowledge base's tables: one item per FAQ (the source of truth the search index is built from)
and one item holding the robot's settings."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.models import Model

from chalicelib.platform.modelbase import meta

ROBOT_SETTINGS_KEY = "robot"  # the one item of the robot-settings table


class FaqItem(Model):
    """One FAQ. ``version`` goes up by one on every write, for optimistic updates from the console."""

    Meta = meta("faqs")
    faq_id = UnicodeAttribute(hash_key=True)
    question = UnicodeAttribute()
    similar = ListAttribute(of=UnicodeAttribute, default=list)
    answer = UnicodeAttribute(default="")  # empty only on a disabled FAQ still waiting for its answer
    category = UnicodeAttribute(null=True)
    product_category = UnicodeAttribute(null=True)
    tags = ListAttribute(of=UnicodeAttribute, default=list)  # a list, not a set: order is kept and may be empty
    enabled = BooleanAttribute(default=True)
    language = UnicodeAttribute(default="en")
    created_at = NumberAttribute(default=0)  # epoch milliseconds
    updated_at = NumberAttribute(default=0)
    # Not pynamodb's VersionAttribute (6.1): FaqStore.put upserts by UpdateItem on a key-only item without
    # reading it (``ADD version 1``), where VersionAttribute would write ``version = 1`` instead.
    version = NumberAttribute(default=0)


class RobotSettingsItem(Model):
    """The robot's settings (one item, key ``robot``); absent until an admin first saves them."""

    Meta = meta("robot-settings")
    name = UnicodeAttribute(hash_key=True)
    greeting = UnicodeAttribute()
    threshold = NumberAttribute(null=True)  # None: the matcher's shipped threshold
    handoff_keywords = ListAttribute(of=UnicodeAttribute, default=list)
    misses_before_handoff = NumberAttribute()
    suggestions = NumberAttribute()
    suggested_questions = ListAttribute(of=UnicodeAttribute, default=list)
    synonyms = UnicodeAttribute(null=True)  # JSON: [[term, ...], ...]; None: none
    updated_at = NumberAttribute(default=0)
