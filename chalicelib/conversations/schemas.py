"""GET /conversations's query string (docs/openapi.yaml documents it): values are text, checked here and read
as numbers after."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chalicelib.platform.http import Body

USER_ID = r"^[A-Za-z0-9_.:@-]{1,64}$"  # agent, visitor and customer ids (as tickets take them)
GROUP_ID = r"^[a-z0-9][a-z0-9_-]{0,39}$"  # as config/schemas/groups.schema.json has it
ORDER = r"^[A-Za-z0-9_.:/#-]{1,64}$"  # an order reference as tickets take it
WRAPUP = r"^[A-Za-z0-9_.:-]{1,64}$"  # a wrap-up reason's code
EPOCH_MS = r"^[0-9]{1,13}$"
MAX_TEXT = 200
MAX_CUSTOMER = 80


class ConversationQuery(Body):
    """GET /conversations: text and filters, all optional; ``from``/``to`` bound when the chat started."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "from:format": "'from' must be epoch milliseconds (an integer of up to 13 digits)",
        "to:format": "'to' must be epoch milliseconds (an integer of up to 13 digits)",
        "rating:format": "'rating' must be an integer from 1 to 5",
        "limit:format": "'limit' must be an integer from 1 to 50",
        "order:format": "'order' must be an order number: 1 to 64 letters, digits or _ . : / # -",
    }

    q: str | None = Field(None, max_length=MAX_TEXT)
    customer: str | None = Field(None, min_length=1, max_length=MAX_CUSTOMER, pattern=r"\S")
    order: str | None = Field(None, max_length=64, pattern=ORDER)
    from_: str | None = Field(None, alias="from", pattern=EPOCH_MS)
    to: str | None = Field(None, pattern=EPOCH_MS)
    group: str | None = Field(None, max_length=40, pattern=GROUP_ID)
    agent: str | None = Field(None, max_length=64, pattern=USER_ID)
    rating: str | None = Field(None, pattern=r"^[1-5]$")
    wrapup: str | None = Field(None, max_length=64, pattern=WRAPUP)
    limit: str | None = Field(None, pattern=r"^(50|[1-4][0-9]|[1-9])$")
    cursor: str | None = Field(None, max_length=100)
