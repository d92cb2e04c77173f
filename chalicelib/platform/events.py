"""The base of every model of the WebSocket protocol's server events (each domain declares its own in its
``schemas.py`` or ``events.py``)."""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.utilities.parser import BaseModel
from pydantic import ConfigDict


class Shape(BaseModel):
    """An event or a part of one. Every key the server sends is declared: a key the models do not know fails
    the tests (their recording sender validates every frame) until the models, and so the docs, say it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def frame(self) -> dict[str, Any]:
        """The frame to post: the fields given when it was built (a ``None`` given is sent as ``null``, a field
        left out is not sent), ``event`` first."""
        out: dict[str, Any] = {"event": getattr(self, "event")}  # noqa: B009 (declared by each event)
        out.update(self.model_dump(by_alias=True, exclude_unset=True))
        return out


class ErrorEvent(Shape):
    """The ``error`` event any domain's refusal becomes on the WebSocket channel (``DomainError.frame``). The IM
    channel's model narrows ``code`` to its documented codes; the keys are these, whoever refuses."""

    event: Literal["error"] = "error"
    code: str
    message: str
    action: str | None = None
    field: str | None = None
    client_msg_id: str | None = None
    message_id: str | None = None
    session_id: str | None = None
    retry_after_ms: int | None = None
    expired_at: int | None = None
