"""The one error type a request can be refused with, whatever the domain and whatever the edge.

Each domain subclasses ``DomainError`` (``ImError``, ``FaqError``, ``TicketError``...) and raises it; the
edge maps it once: a REST route answers ``status`` with ``{"error": body()}``, a WebSocket frame gets
``frame()``. Nothing in a domain knows which edge it is called from.
"""

from __future__ import annotations

from typing import Any, ClassVar

from chalicelib.platform.events import ErrorEvent


class DomainError(Exception):
    """``code`` is machine-readable and documented, ``message`` is for people, ``field`` names the offending
    field (None when no single field is at fault), ``details`` are further keys of the error body."""

    # A subclass's codes and their HTTP statuses; a code not listed here answers ``default_status``.
    STATUS: ClassVar[dict[str, int]] = {}
    default_status: ClassVar[int] = 400

    def __init__(self, code: str, message: str, *, field: str | None = None, status: int | None = None,
                 **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status if status is not None else self.STATUS.get(code, self.default_status)
        self.details = details

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, Any]:
        """The error object of a REST response (``{"error": body()}``)."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        out.update({k: v for k, v in self.details.items() if v is not None})
        return out

    def frame(self, action: str | None = None) -> dict[str, Any]:
        """The error event of the WebSocket channel, naming the ``action`` of the frame it answers. A detail
        the event does not declare is a REST-only one and stays out of the frame."""
        fields: dict[str, Any] = {"code": self.code, "message": self.message}
        if action:
            fields["action"] = action
        if self.field is not None:
            fields["field"] = self.field
        fields.update({k: v for k, v in self.details.items() if v is not None and k in ErrorEvent.model_fields})
        return ErrorEvent.model_validate(fields).frame()
