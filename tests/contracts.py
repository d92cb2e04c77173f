"""The protocol's contract in one place for the tests: every event the server may push, as the domains'
pydantic models declare them (the frames a client may send are chalicelib.im.schemas.FRAMES)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError

from chalicelib.im import events as im_events
from chalicelib.routing import schemas as routing_events
from chalicelib.sessions import schemas as session_events

EVENT_MODELS: tuple[Any, ...] = (*im_events.EVENTS, *routing_events.EVENTS, *session_events.EVENTS)
EVENTS: TypeAdapter[Any] = TypeAdapter(Annotated[Union[EVENT_MODELS], Field(discriminator="event")])  # noqa: UP007


def check_event(frame: Mapping[str, Any]) -> None:
    """Fail (AssertionError) on a pushed frame that no event model describes: the docs would not say it."""
    try:
        EVENTS.validate_python(dict(frame))
    except ValidationError as err:
        raise AssertionError(f"an event the protocol does not describe: {dict(frame)!r}\n{err}") from None
