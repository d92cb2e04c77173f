"""The learning list's query and the bodies of its actions (docs/openapi.yaml documents their JSON Schemas)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from chalicelib.platform.http import Body

GROUP_ID = r"^g_[0-9a-f]{16}$"
MAX_LIMIT = 500
MAX_WITH = 50  # groups resolved along with one


class WithGroups(Body):
    """The body of POST /robot/learning/{group_id}/off-topic (optional), and a part of the other actions': open
    groups resolved the same way in the same click (the list's ``similar``; ones resolved meanwhile are skipped)."""

    with_groups: list[Annotated[str, Field(pattern=GROUP_ID)]] = Field(default_factory=list, max_length=MAX_WITH)


class LearningQuery(Body):
    """GET /robot/learning: which groups (``open`` unless told), newest or most frequent first, how many."""

    status: Literal["open", "similar", "faq", "off_topic"] = "open"
    order: Literal["recent", "count"] = "recent"
    limit: str | None = None  # text, as every query value; read as a number (1 to MAX_LIMIT) after


class AddSimilar(WithGroups):
    """POST /robot/learning/{group_id}/similar: the FAQ the group's question becomes a similar question of."""

    faq_id: str = Field(min_length=1, max_length=200)
