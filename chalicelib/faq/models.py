"""The knowledge base's tables: one item per FAQ (the source of truth the search index is built from),
one item holding the robot's settings, and the jobs that rebuild the search index."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.models import Model

from chalicelib.platform.modelbase import meta

ROBOT_SETTINGS_KEY = "robot"  # the one item of the robot-settings table
LATEST_JOB_KEY = "latest"  # the faq-jobs item naming the newest job (never a job id: those are hex digits)


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
    # JSON: the texts that may be per language ({"greeting", "phrases", "suggested_questions"?}); ``greeting`` and
    # ``suggested_questions`` above keep the English ones for readers of the item written before it.
    texts = UnicodeAttribute(null=True)
    # JSON: order self-service's settings (store.order_settings_json); None: the shipped ones.
    orders = UnicodeAttribute(null=True)
    updated_at = NumberAttribute(default=0)


class ReindexJobItem(Model):
    """A rebuild of the search index (POST /faqs/reindex), or, under ``LATEST_JOB_KEY``, the pointer to the newest
    one: starting a job moves the pointer conditionally, which is what keeps two rebuilds from running at once."""

    Meta = meta("faq-jobs")
    job_id = UnicodeAttribute(hash_key=True)
    latest = UnicodeAttribute(null=True)  # the pointer's only attribute: the newest job's id
    state = UnicodeAttribute(null=True)  # queued, running, succeeded, failed
    requested_by = UnicodeAttribute(null=True)
    total = NumberAttribute(null=True)  # enabled FAQs to index, once the job has read them
    done = NumberAttribute(null=True)
    indexed = NumberAttribute(null=True)  # on success: the FAQs the index holds
    error = UnicodeAttribute(null=True)
    created_at = NumberAttribute(null=True)  # epoch milliseconds
    started_at = NumberAttribute(null=True)
    finished_at = NumberAttribute(null=True)
    heartbeat_at = NumberAttribute(null=True)  # the last write of a queued or running job: its sign of life
    expires_at = TTLAttribute(null=True)
