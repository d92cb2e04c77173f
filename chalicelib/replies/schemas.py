"""Request bodies and the list query of the canned replies (docs/openapi.yaml documents their JSON Schemas)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chalicelib.platform.http import Body, NonBlank

GROUP_ID = r"^[a-z0-9][a-z0-9_-]{0,39}$"  # as config/schemas/groups.schema.json has it
LANGUAGE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"  # BCP 47, as sessions carry it: zh-CN, en
SHORTCUT = r"^[^\s/]{1,32}$"  # one word, typed after "/" in the composer
MAX_TEXT = 1000


class ReplyCreate(Body):
    """POST /canned-replies."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "shortcut:invalid": "'shortcut' must be one word of 1 to 32 characters without spaces or '/'",
        "language:invalid": "'language' must be a language tag such as zh-CN or en",
    }

    group_id: str = Field(max_length=40, pattern=GROUP_ID)
    language: str = Field(max_length=35, pattern=LANGUAGE)
    shortcut: str = Field(max_length=32, pattern=SHORTCUT)
    text: NonBlank = Field(max_length=MAX_TEXT)


class ReplyUpdate(Body):
    """PUT /canned-replies/{group_id}/{reply_id}: the fields given change."""

    MESSAGES: ClassVar[dict[str, str]] = ReplyCreate.MESSAGES

    language: str | None = Field(None, max_length=35, pattern=LANGUAGE)
    shortcut: str | None = Field(None, max_length=32, pattern=SHORTCUT)
    text: NonBlank | None = Field(None, max_length=MAX_TEXT)


class ReplyQuery(Body):
    """GET /canned-replies's query string."""

    MESSAGES: ClassVar[dict[str, str]] = ReplyCreate.MESSAGES

    group_id: str | None = Field(None, max_length=40, pattern=GROUP_ID)
    language: str | None = Field(None, max_length=35, pattern=LANGUAGE)
