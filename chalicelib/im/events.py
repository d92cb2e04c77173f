"""The events the IM channel pushes (``welcome``, ``pong``, ``message`` and its outcomes, ``resumed``,
``status``, ``message_left``, ``suggestions``, ``error``), as pydantic models: the contract docs/protocol.md
is checked against. The robot's events are here too: it speaks through the IM channel."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, WithJsonSchema

from chalicelib.channel.errors import ERROR_CODES
from chalicelib.platform.events import ErrorEvent as BaseErrorEvent
from chalicelib.platform.events import Shape
from chalicelib.sessions.schemas import SessionView

Role = Literal["visitor", "agent", "supervisor", "admin"]
SenderRole = Literal["visitor", "agent", "supervisor", "admin", "robot"]
MessageType = Literal["text", "image", "product", "order", "robot", "note"]
MessageStatus = Literal["pending", "delivered", "stored", "internal"]


def _known_code(code: str) -> str:
    if code not in ERROR_CODES:
        raise ValueError(f"{code!r} is not a documented error code")
    return code


ErrorCode = Annotated[str, AfterValidator(_known_code), WithJsonSchema({"type": "string", "enum": sorted(ERROR_CODES)})]



class User(Shape):
    id: str
    role: Role
    name: str | None


class SuggestedQuestion(Shape):
    faq_id: str
    question: str


class RobotGreeting(Shape):
    greeting: str
    suggested_questions: list[SuggestedQuestion]


class AgentStatusView(Shape):
    status: Literal["online", "busy", "offline"]
    capacity: int
    active: int


class WelcomeEvent(Shape):
    """Visitors get ``session`` (and ``robot`` while the robot has it), staff ``sessions`` and ``status``."""

    event: Literal["welcome"] = "welcome"
    connection_id: str
    user: User
    session: SessionView | None = None
    robot: RobotGreeting | None = None
    sessions: list[SessionView] | None = None
    status: AgentStatusView | None = None


class PongEvent(Shape):
    event: Literal["pong"] = "pong"
    ts: int


class MessageView(Shape):
    message_id: str
    session_id: str
    seq: int
    sender_id: str
    sender_role: SenderRole
    # The sender's display name when it was sent (left out for the robot and for visitors without one).
    sender_name: str | None = None
    type: MessageType
    content: dict[str, Any]
    client_msg_id: str | None
    created_at: int
    status: MessageStatus
    # When the recipient's window showed it (``read``), null before; only for delivered messages.
    read_at: int | None = None


class NoteEvent(Shape):
    """An internal note (``message`` of type ``note``, status ``internal``), to staff only: its author's connections,
    the session's agent, and those it mentions (``mentioned``, with the ``session`` they may not have open)."""

    event: Literal["note"] = "note"
    message: MessageView
    mentioned: bool | None = None
    session: SessionView | None = None


class Why(Shape):
    matched: str
    lexical: float
    semantic: float | None


class Suggestion(Shape):
    faq_id: str
    score: float
    why: Why
    question: str | None = None
    answer: str | None = None
    category: str | None = None
    product_category: str | None = None


class SuggestionsEvent(Shape):
    event: Literal["suggestions"] = "suggestions"
    session_id: str
    seq: int | None
    query: str
    suggestions: list[Suggestion]


class MessageEvent(Shape):
    event: Literal["message"] = "message"
    message: MessageView
    attempt: int = Field(ge=1, le=3)
    suggestions: SuggestionsEvent | None = None


class DeliveredItem(Shape):
    """One message a ``delivered`` frame covers."""

    client_msg_id: str | None
    message_id: str
    session_id: str
    seq: int
    delivered_at: int | None


class DeliveredEvent(Shape):
    """Your message was ACKed. To a connection of protocol 2, one frame may cover several messages ACKed in one
    ``ack`` (``messages``, in sequence order); the top-level fields are then the first one's, so the frame keeps
    the shape version 1 has."""

    event: Literal["delivered"] = "delivered"
    client_msg_id: str | None
    message_id: str
    session_id: str
    seq: int
    delivered_at: int | None
    messages: list[DeliveredItem] | None = None


class ReadItem(Shape):
    """One message a ``read`` frame covers."""

    client_msg_id: str | None
    message_id: str
    session_id: str
    seq: int


class ReadEvent(Shape):
    """Your messages were shown in the recipient's window: one frame per sending connection for all of them."""

    event: Literal["read"] = "read"
    read_at: int
    messages: list[ReadItem]


class TypingEvent(Shape):
    """The other side of the session is typing (``start``: show it for ``ttl_ms`` unless renewed) or stopped."""

    event: Literal["typing"] = "typing"
    session_id: str
    state: Literal["start", "stop"]
    sender_role: Role
    ttl_ms: int


class StoredEvent(Shape):
    event: Literal["stored"] = "stored"
    client_msg_id: str | None
    message_id: str
    session_id: str
    seq: int
    reason: Literal["recipient_offline"]


class SendFailedEvent(Shape):
    event: Literal["send_failed"] = "send_failed"
    client_msg_id: str | None
    session_id: str
    reason: Literal["not_acknowledged"]
    attempts: int


class ResumedEvent(Shape):
    event: Literal["resumed"] = "resumed"
    session_id: str
    messages: list[MessageView]
    last_seq: int
    more: bool


class StatusEvent(Shape):
    event: Literal["status"] = "status"
    status: Literal["online", "busy", "offline"]
    capacity: int
    active: int


class MessageLeftEvent(Shape):
    event: Literal["message_left"] = "message_left"
    message_id: str
    group_id: str
    created_at: int


class ErrorEvent(BaseErrorEvent):
    code: ErrorCode
    # An `ack` with `message_ids`: the ids this refusal is about (one error frame per code, not per id).
    message_ids: list[str] | None = None

EVENTS = (WelcomeEvent, PongEvent, MessageEvent, NoteEvent, DeliveredEvent, ReadEvent, TypingEvent, StoredEvent,
          SendFailedEvent, ResumedEvent, StatusEvent, MessageLeftEvent, SuggestionsEvent, ErrorEvent)
