"""The conversation between one visitor and (once assigned) one agent."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.platform.modelbase import index_meta, meta

# Session status values.
BOT = "bot"  # the visitor has not asked for a person
WAITING = "waiting"  # asked for a person, none free yet
ACTIVE = "active"  # an agent is assigned
CLOSED = "closed"

# Why a session closed (Session.close_reason).
RESOLVED = "resolved"  # the agent confirmed the issue is solved
VISITOR_ENDED = "visitor_ended"
AGENT_ENDED = "agent_ended"
IDLE_TIMEOUT = "idle_timeout"  # no visitor reply after the agent's last message, warning included


class SessionsByAgent(GlobalSecondaryIndex["Session"]):
    # Keys only: a session is written on every message (its seq), and a copy here would be too.
    Meta = index_meta("sessions-by-agent", keys_only=True)
    agent_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class SessionsByVisitor(GlobalSecondaryIndex["Session"]):
    Meta = index_meta("sessions-by-visitor", keys_only=True)
    visitor_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class SessionsTimerDue(GlobalSecondaryIndex["Session"]):
    """Sparse: only sessions that need waking (active ones, for their idle timeout and grace periods), by due
    time. The clock sweeps each shard for what is due (chalicelib/sessions/timers.py) without scanning
    sessions; the hash key spreads a peak's writes (300 assignments and closes a second) over ``TIMER_SHARDS``."""

    Meta = index_meta("sessions-timer-due", keys_only=True)
    timer_shard = UnicodeAttribute(hash_key=True)
    timer_due_at = NumberAttribute(range_key=True)


TIMER_SHARDS = 8


# Every change of a session goes to the table's stream (old and new images), which the consumers of finished
# conversations read (chalicelib/sessions/stream.py): the reports' aggregates, nothing on the request path.
STREAM_VIEW = "NEW_AND_OLD_IMAGES"


class Session(Model):
    Meta = meta("sessions", stream_view_type=STREAM_VIEW)
    session_id = UnicodeAttribute(hash_key=True)
    visitor_id = UnicodeAttribute()
    visitor_name = UnicodeAttribute(null=True)
    agent_id = UnicodeAttribute(null=True)
    # The agent's display name ("Alice Chen"), written with its agent_id by the assignment or transfer that sets
    # it (copied from the membership routing found it by), so a session view names the agent without a read.
    agent_name = UnicodeAttribute(null=True)
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
    # The place in line when it queued in the last class, counted in the group's departures from the queue: its
    # place now is this minus the departures since (chalicelib/routing/queue.py), without counting the queue.
    queue_ticket = NumberAttribute(null=True)
    assigned_at = NumberAttribute(null=True)
    # For the reports, each set once (if_not_exists, in the write that already happens): when the visitor first
    # asked for a person (requested_at moves with a transfer to a group), when an agent first took it, when an
    # agent first replied (with the stamp of last_agent_at), and when the visitor left a message from it.
    handoff_at = NumberAttribute(null=True)
    first_assigned_at = NumberAttribute(null=True)
    first_response_at = NumberAttribute(null=True)
    left_message_at = NumberAttribute(null=True)
    left_message_group = UnicodeAttribute(null=True)  # the group the left message went to
    # The agent of the visitor's previous session, for sticky routing.
    last_agent_id = UnicodeAttribute(null=True)
    # The robot: unanswered questions in a row, and whether it has handed off (then it never speaks again).
    robot_misses = NumberAttribute(null=True)
    robot_off = BooleanAttribute(null=True)
    # The order question the robot asked an anonymous visitor to complete with the shop's check ("intent:order_id"),
    # so that a reply with the check alone ("1234") completes it; cleared at the next robot turn.
    robot_order_ask = UnicodeAttribute(null=True)
    closed_at = NumberAttribute(null=True)
    closed_by = UnicodeAttribute(null=True)
    close_reason = UnicodeAttribute(null=True)
    # The agent's wrap-up reason (a configured code) given at resolve.
    wrapup = UnicodeAttribute(null=True)
    # The idle clock: the last message of each side (stamped by the same write that takes its sequence
    # number, so it costs nothing), and when the visitor was warned.
    last_agent_at = NumberAttribute(null=True)
    last_visitor_at = NumberAttribute(null=True)
    warned_at = NumberAttribute(null=True)
    # Set while the visitor has no open connection (reconnecting, then offline after the grace period).
    visitor_away_at = NumberAttribute(null=True)
    visitor_offline_at = NumberAttribute(null=True)  # the grace period ran out (the session goes on)
    agent_away_at = NumberAttribute(null=True)  # the agent's last connection closed (cleared when it is seen back)
    # The session's lifecycle timer: its name (renamed when re-armed, so an older wake does nothing), and while
    # it needs waking, when (``timer_due_at``) and in which shard of the clock's sweep (SessionsTimerDue).
    timer = UnicodeAttribute(null=True)
    timer_shard = UnicodeAttribute(null=True)
    timer_due_at = NumberAttribute(null=True)
    # Photos the visitor uploaded in this session (chalicelib/media): bounded per session.
    uploads = NumberAttribute(null=True)
    # Transfers: how many, from whom, and the note the next agent sees.
    transfers = NumberAttribute(null=True)
    transferred_from = UnicodeAttribute(null=True)
    transfer_note = UnicodeAttribute(null=True)
    # The one satisfaction survey: sent with the close, answered at most once before it expires.
    survey_sent_at = NumberAttribute(null=True)
    survey_expires_at = NumberAttribute(null=True)
    rating = NumberAttribute(null=True)
    rating_tags = ListAttribute(of=UnicodeAttribute, null=True)
    rating_comment = UnicodeAttribute(null=True)
    rated_at = NumberAttribute(null=True)
    # The agent's wrap-up at resolve: the code of one of the group's reasons (config groups.wrapup; reports count
    # and staff search by it, so the name is part of the contract) and an optional free-text note. Staff only.
    wrapup = UnicodeAttribute(null=True)
    wrapup_note = UnicodeAttribute(null=True)
    # Last sequence number handed out; each sent message takes the next.
    seq = NumberAttribute(default=0)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    by_agent = SessionsByAgent()
    by_visitor = SessionsByVisitor()  # the console's "past sessions" of a visitor
    timers_due = SessionsTimerDue()
