"""The AWS conversation index: one OpenSearch index beside the FAQ's, on the same domain and client code
(``platform.opensearch``), signed with the Lambda's own credentials.

One document per closed session, ``_id`` the session id, so indexing it again (a rating or a wrap-up reason
that came after the close) overwrites it. The visitor's and the agent's lines are arrays of text analysed three
ways, as the FAQ texts are: English words stemmed (``visitor_text``), CJK runs as bigrams (``.cjk``) and as
characters (``.cjk_char``, for a one-character query). A query's words must all occur (``cross_fields`` with
``and`` over both sides), English and CJK parts each in their own analysis. Everything else is a keyword,
number or date-as-epoch-ms filter, and the caller's scope is one more filter of the same request: a search is
one request whatever the filters, and never reads DynamoDB.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from chalicelib.conversations.model import (
    Conversation,
    Found,
    Part,
    Query,
    Scope,
    Side,
    Snippet,
    marked,
    order_id,
    summary_of_source,
)
from chalicelib.platform.opensearch import (
    build_client,
    create_index,
    delete_index,
    first_bulk_error,
    missing_index_is_empty,
    text_analysis,
    text_field,
    translated,
)
from chalicelib.platform.textsearch import CJK, SearchUnavailable

SEARCH_TIMEOUT = 2.0  # seconds: a person waits on a search, no visitor does
WRITE_TIMEOUT = 30.0
BULK_DOCS = 100  # a transcript is up to 64 KB of text: bulk requests stay a few MB
MAX_QUERY_CHARS = 200
# Unlikely characters around a highlighter's matches, turned into marked parts (no HTML ever reaches a page).
PRE, POST = "\u0002", "\u0003"
SNIPPET_CHARS = 160
# Highlighted fields in the order a snippet is taken from: the visitor's words first.
HIGHLIGHTED = ("visitor_text.cjk", "visitor_text", "visitor_text.cjk_char",
               "agent_text.cjk", "agent_text", "agent_text.cjk_char")
_SUMMARY = ["session_id", "visitor_id", "customer_id", "visitor_name", "agent_id", "agent_name", "group_id",
            "channel", "language", "created_at", "closed_at", "close_reason", "rating", "wrapup", "order_ids",
            "preview"]


def index_body(shards: int = 3, serverless: bool = False) -> dict[str, Any]:
    """Settings and mapping of the conversation index. Unlike the FAQ index it grows with every closed chat:
    ``shards`` primaries (a few, so a peak's writes spread over data nodes), one replica, and a refresh every
    5 s (a search sees a closed chat within seconds; refreshing per document would cost a segment each)."""
    settings: dict[str, Any] = {}
    if not serverless:
        settings = {"number_of_shards": shards, "number_of_replicas": 1, "refresh_interval": "5s"}
    keyword = {"type": "keyword"}
    return {
        "settings": {"index": settings, "analysis": text_analysis("conv")},
        "mappings": {
            "dynamic": False,
            "properties": {
                "session_id": keyword, "visitor_id": keyword, "customer_id": keyword,
                "visitor_name": text_field("conv"),
                "agent_id": keyword, "agent_name": {"type": "keyword", "index": False},
                "group_id": keyword, "channel": keyword, "language": keyword, "close_reason": keyword,
                "wrapup": keyword, "order_ids": keyword,
                "created_at": {"type": "long"}, "closed_at": {"type": "long"}, "rating": {"type": "byte"},
                "visitor_text": text_field("conv"), "agent_text": text_field("conv"),
                "preview": {"type": "object", "enabled": False},  # shown, never searched
            },
        },
    }


def _words(text: str) -> tuple[str, list[str]]:
    """``text`` without its CJK runs, and the runs."""
    return CJK.sub(" ", text), CJK.findall(text)


def text_clause(text: str) -> dict[str, Any]:
    """Every word of ``text`` in the visitor's or the agent's lines, or ``text`` is one of the order numbers."""
    latin, runs = _words(text)
    must: list[dict[str, Any]] = []
    if latin.strip():
        must.append({"multi_match": {"query": latin, "type": "cross_fields", "operator": "and",
                                     "fields": ["visitor_text", "agent_text"]}})
    long_runs = " ".join(r for r in runs if len(r) > 1)
    if long_runs:
        must.append({"multi_match": {"query": long_runs, "type": "cross_fields", "operator": "and",
                                     "fields": ["visitor_text.cjk", "agent_text.cjk"]}})
    chars = " ".join(r for r in runs if len(r) == 1)
    if chars:
        must.append({"multi_match": {"query": chars, "type": "cross_fields", "operator": "and",
                                     "fields": ["visitor_text.cjk_char", "agent_text.cjk_char"]}})
    should: list[dict[str, Any]] = [{"term": {"order_ids": order_id(text)}}]
    if must:
        should.append({"bool": {"must": must}})
    return {"bool": {"should": should, "minimum_should_match": 1}}


def filters(query: Query, scope: Scope) -> list[dict[str, Any]]:
    """The query's filters and the caller's scope, as filter clauses (no scoring, cached by the cluster)."""
    out: list[dict[str, Any]] = []
    if scope.groups is not None:
        allowed: list[dict[str, Any]] = [{"terms": {"group_id": sorted(scope.groups)}}]
        if scope.agent_id is not None:
            allowed.append({"term": {"agent_id": scope.agent_id}})
        out.append({"bool": {"should": allowed, "minimum_should_match": 1}})
    if query.customer is not None:
        who = query.customer.strip()
        out.append({"bool": {"minimum_should_match": 1, "should": [
            {"term": {"visitor_id": who}}, {"term": {"customer_id": who}},
            {"multi_match": {"query": who, "type": "cross_fields", "operator": "and",
                             "fields": ["visitor_name", "visitor_name.cjk_char"]}}]}})
    if query.order is not None:
        out.append({"term": {"order_ids": order_id(query.order)}})
    if query.from_ms is not None or query.to_ms is not None:
        bounds: dict[str, int] = {}
        if query.from_ms is not None:
            bounds["gte"] = query.from_ms
        if query.to_ms is not None:
            bounds["lt"] = query.to_ms
        out.append({"range": {"created_at": bounds}})
    for key, value in (("group_id", query.group), ("agent_id", query.agent), ("rating", query.rating),
                       ("wrapup", query.wrapup)):
        if value is not None:
            out.append({"term": {key: value}})
    return out


def search_body(query: Query, scope: Scope, offset: int, limit: int) -> dict[str, Any]:
    """The one request of a search: ``limit + 1`` hits from ``offset`` (the extra one says whether more follow)."""
    text = (query.text or "").strip()[:MAX_QUERY_CHARS]
    bool_query: dict[str, Any] = {"filter": filters(query, scope)}
    newest = [{"created_at": {"order": "desc"}}, {"session_id": {"order": "asc"}}]
    body: dict[str, Any] = {"from": offset, "size": limit + 1, "track_total_hits": False, "_source": _SUMMARY}
    if text:
        bool_query["must"] = [text_clause(text)]
        body["sort"] = ["_score", *newest]
        body["highlight"] = {
            "pre_tags": [PRE], "post_tags": [POST], "require_field_match": True, "number_of_fragments": 1,
            "fragment_size": SNIPPET_CHARS, "no_match_size": 0,
            "fields": {f: {} for f in HIGHLIGHTED}}
    else:
        body["sort"] = newest
    body["query"] = {"bool": bool_query}
    return body


def found(hit: dict[str, Any]) -> Found:
    """A hit of :func:`search_body`'s answer: its summary, score and snippet (highlighted, else the preview)."""
    source = hit["_source"]
    snippet: Snippet | None = None
    highlights = hit.get("highlight") or {}
    for name in HIGHLIGHTED:
        if highlights.get(name):
            side: Side = "visitor" if name.startswith("visitor") else "agent"
            snippet = Snippet(side, marked(highlights[name][0], PRE, POST))
            break
    preview = source.get("preview")
    if snippet is None and preview:
        parts = tuple(Part(p["text"], bool(p.get("match"))) for p in preview["parts"])
        snippet = Snippet("agent" if preview["side"] == "agent" else "visitor", parts)
    score = hit.get("_score")
    return Found(summary_of_source(source), float(score) if isinstance(score, int | float) else None, snippet)


class OpenSearchConversationIndex:
    """:class:`~chalicelib.conversations.search.base.ConversationIndex` over one OpenSearch index (``url`` and
    signing as for the FAQ backend); ``client`` replaces the opensearch-py client (tests)."""

    def __init__(self, url: str, index: str, *, region: str, service: str = "es", client: Any | None = None,
                 timeout: float = SEARCH_TIMEOUT, shards: int = 3, refresh: bool = False) -> None:
        self._url, self.index, self._region, self._service = url, index, region, service
        # ``refresh``: every write waits until a search sees it (tests against a cluster; the stream's never wait).
        self._timeout, self._shards, self._refresh = timeout, shards, refresh
        self._client: Any | None = client
        self._lock = threading.Lock()
        self._ready = False

    def _connection(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = build_client(self._url, self._region, self._service, self._timeout)
            return self._client

    def ensure_index(self) -> None:
        """Create the index with its mapping unless it exists (one request; safe to race)."""
        with translated("create index"):
            self._create()

    def _create(self) -> None:
        create_index(self._connection(), self.index, index_body(self._shards, serverless=self._service == "aoss"),
                     WRITE_TIMEOUT)
        self._ready = True

    def drop_index(self) -> None:
        """Delete the index and everything in it (a missing index is fine)."""
        with translated("delete index"):
            self._ready = False
            delete_index(self._connection(), self.index, WRITE_TIMEOUT)

    def put(self, conversations: Sequence[Conversation], refresh: bool = False) -> None:
        latest = {c.session_id: c for c in conversations}
        if not latest:
            return
        with translated("index"):
            if not self._ready:
                self._create()  # else the first bulk request would make an index without the mapping
            docs = list(latest.values())
            for start in range(0, len(docs), BULK_DOCS):
                chunk = docs[start:start + BULK_DOCS]
                body = [line for c in chunk for line in ({"index": {"_id": c.session_id}}, c.source())]
                last = start + BULK_DOCS >= len(docs)
                params: dict[str, Any] = {"refresh": "wait_for"} if (refresh or self._refresh) and last else {}
                response = self._connection().bulk(index=self.index, body=body, request_timeout=WRITE_TIMEOUT,
                                                   **params)
                if response.get("errors"):
                    raise SearchUnavailable(f"bulk indexing rejected documents: {first_bulk_error(response)}")

    def replace_all(self, conversations: Iterable[Conversation]) -> int:
        with translated("replace all"):
            with missing_index_is_empty():
                self._connection().indices.delete(index=self.index, request_timeout=WRITE_TIMEOUT)
            self._ready = False
            self._create()
        batch: list[Conversation] = []
        total = 0
        for c in conversations:
            batch.append(c)
            if len(batch) == BULK_DOCS:
                self.put(batch)
                total, batch = total + len(batch), []
        self.put(batch, refresh=True)
        return total + len(batch)

    def search(self, query: Query, scope: Scope, offset: int, limit: int) -> tuple[list[Found], bool]:
        hits: list[dict[str, Any]] = []
        with translated("search"), missing_index_is_empty():
            hits = self._connection().search(index=self.index, body=search_body(query, scope, offset, limit))[
                "hits"]["hits"]
        return [found(h) for h in hits[:limit]], len(hits) > limit

    def count(self) -> int:
        with translated("count"), missing_index_is_empty():
            return int(self._connection().count(index=self.index)["count"])
        return 0
