"""The events about a session that the server pushes (``session``, ``survey``, ``rated``, ``idle_warning``,
``visitor_presence``), as pydantic models: the contract docs/protocol.md is checked against."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.platform.events import Shape

SessionStatus = Literal["bot", "waiting", "active", "closed"]
CloseReason = Literal["resolved", "visitor_ended", "agent_ended", "idle_timeout"]
VisitorPresenceState = Literal["online", "reconnecting", "offline"]



class SurveyPending(Shape):
    status: Literal["pending", "expired"]
    expires_at: int


class SurveyAnswered(Shape):
    status: Literal["answered"]
    stars: int = Field(ge=1, le=5)
    tags: list[str]
    comment: str | None
    answered_at: int


class TransferNote(Shape):
    from_: str = Field(alias="from")
    note: str | None


class SessionView(Shape):
    """A session as its participants see it; ``transfer``, ``customer_id``, ``wrapup`` and ``wrapup_note`` are sent
    to staff only."""

    session_id: str
    status: SessionStatus
    visitor_id: str
    visitor_name: str | None
    agent_id: str | None
    agent_name: str | None
    group_id: str | None
    channel: str | None
    source: str | None
    category: str | None
    tier: str | None
    language: str | None
    last_seq: int
    created_at: int
    requested_at: int | None
    assigned_at: int | None
    closed_at: int | None
    close_reason: CloseReason | None
    visitor_presence: VisitorPresenceState
    transfers: int
    survey: SurveyPending | SurveyAnswered | None
    transfer: TransferNote | None = None
    customer_id: str | None = None
    wrapup: str | None = None
    wrapup_note: str | None = None


class FormerSessionView(Shape):
    """What the agent who transferred a session still sees of it: that it left them."""

    session_id: str
    status: Literal["transferred"]
    agent_id: str | None
    group_id: str | None


class Transferred(Shape):
    from_: str = Field(alias="from")
    agent: str | None = None
    group: str | None = None  # the group's name in English (or its one text)
    group_names: dict[str, str] | None = None  # and in every language (en, zh-CN)


class SessionEvent(Shape):
    event: Literal["session"] = "session"
    session: SessionView | FormerSessionView
    transferred: Transferred | None = None
    notice: str | None = None


class SurveyAgent(Shape):
    id: str
    name: str | None


class SurveyEvent(Shape):
    event: Literal["survey"] = "survey"
    session_id: str
    question: str
    scale: list[int]
    tags: list[str]
    agent: SurveyAgent | None
    expires_at: int


class RatedEvent(Shape):
    event: Literal["rated"] = "rated"
    session_id: str
    stars: int = Field(ge=1, le=5)
    tags: list[str]
    answered_at: int


class IdleWarningEvent(Shape):
    event: Literal["idle_warning"] = "idle_warning"
    session_id: str
    closes_at: int
    message: str


class VisitorPresenceEvent(Shape):
    event: Literal["visitor_presence"] = "visitor_presence"
    session_id: str
    state: VisitorPresenceState
    offline_at: int | None = None


EVENTS = (SessionEvent, SurveyEvent, RatedEvent, IdleWarningEvent, VisitorPresenceEvent)
