"""GET /conversations: the query string checked, the service asked, the hits as JSON (docs/openapi.yaml)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.auth.identity import Identity
from chalicelib.conversations.errors import ConversationError
from chalicelib.conversations.model import Query
from chalicelib.conversations.schemas import ConversationQuery
from chalicelib.conversations.service import ConversationService
from chalicelib.platform.http import parse_body

DEFAULT_LIMIT = 20


def _int(value: str | None) -> int | None:
    return int(value) if value is not None else None


def search(who: Identity, params: Mapping[str, str], conversations: ConversationService) -> dict[str, Any]:
    """One page of hits for the caller, each with its conversation, group name, score and snippet."""
    given = parse_body(ConversationQuery, params)
    from_ms, to_ms = _int(given.from_), _int(given.to)
    if from_ms is not None and to_ms is not None and to_ms <= from_ms:
        raise ConversationError("invalid_body", "'to' must be after 'from'", "to")
    text = given.q.strip() if given.q else ""
    query = Query(text=text or None, customer=given.customer.strip() if given.customer else None,
                  order=given.order, from_ms=from_ms, to_ms=to_ms, group=given.group, agent=given.agent,
                  rating=_int(given.rating), wrapup=given.wrapup)
    page = conversations.search(who, query, given.cursor, _int(given.limit) or DEFAULT_LIMIT)
    names = conversations.group_names()
    def named(group_id: str | None) -> dict[str, Any]:
        found = names.get(group_id or "")
        return {"group_name": found["en"] if found else None, "group_names": found}

    return {"conversations": [{**hit.summary, **named(hit.summary["group_id"]),
                               "score": hit.score, "snippet": hit.snippet.json() if hit.snippet else None}
                              for hit in page.hits],
            "next_cursor": page.next_cursor}
