"""The conversation between one visitor and (once assigned) one agent."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.platform.modelbase import index_meta, meta

# Session status values.
BOT = "bot"  # the visitor has not asked for a person
WAITING = "waiting"  # asked for a person, none free yet
ACTIVE = "active"  # an agent is assigned
CLOSED = "closed"


class SessionsByAgent(GlobalSecondaryIndex["Session"]):
    Meta = index_meta("sessions-by-agent")
    agent_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class Session(Model):
    Meta = meta("sessions")
    session_id = UnicodeAttribute(hash_key=True)
    visitor_id = UnicodeAttribute()
    visitor_name = UnicodeAttribute(null=True)
    agent_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    channel = UnicodeAttribute(null=True)
    source = UnicodeAttribute(null=True)
    category = UnicodeAttribute(null=True)
    tier = UnicodeAttribute(null=True)
    language = UnicodeAttribute(null=True)
    # Routing: the group chosen (and by which rule), when the visitor asked, queued and was assigned.
    group_id = UnicodeAttribute(null=True)
    rule = UnicodeAttribute(null=True)
    requested_at = NumberAttribute(null=True)
    queue_sk = UnicodeAttribute(null=True)
    assigned_at = NumberAttribute(null=True)
    # The agent of the visitor's previous session, for sticky routing.
    last_agent_id = UnicodeAttribute(null=True)
    # The robot: unanswered questions in a row, and whether it has handed off (then it never speaks again).
    robot_misses = NumberAttribute(null=True)
    robot_off = BooleanAttribute(null=True)
    closed_at = NumberAttribute(null=True)
    closed_by = UnicodeAttribute(null=True)
    # Last sequence number handed out; each sent message takes the next.
    seq = NumberAttribute(default=0)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    by_agent = SessionsByAgent()
