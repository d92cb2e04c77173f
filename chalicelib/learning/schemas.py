"""The learning list's query and the bodies of its actions (docs/openapi.yaml documents their JSON Schemas)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.platform.http import Body

GROUP_ID = r"^g_[0-9a-f]{16}$"
MAX_LIMIT = 500


class LearningQuery(Body):
    """GET /robot/learning: which groups (``open`` unless told), newest or most frequent first, how many."""

    status: Literal["open", "similar", "faq", "off_topic"] = "open"
    order: Literal["recent", "count"] = "recent"
    limit: str | None = None  # text, as every query value; read as a number (1 to MAX_LIMIT) after


class AddSimilar(Body):
    """POST /robot/learning/{group_id}/similar: the FAQ the group's question becomes a similar question of."""

    faq_id: str = Field(min_length=1, max_length=200)
