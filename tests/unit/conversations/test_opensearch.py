"""The conversation index on OpenSearch without a cluster: the mapping, the one search request each query makes
(text, filters, scope, paging, highlights), what its answers become, and the bulk writes a close makes."""

from __future__ import annotations

from typing import Any

import pytest
from opensearchpy import ConnectionError as TransportError
from opensearchpy import NotFoundError

from chalicelib.conversations.model import Conversation, Line, Part, Query, Scope, Snippet, marked
from chalicelib.conversations.search.opensearch import (
    HIGHLIGHTED,
    POST,
    PRE,
    OpenSearchConversationIndex,
    index_body,
    search_body,
)
from chalicelib.platform.textsearch import SearchUnavailable

EVERYONE = Scope(None)
CHAT = Conversation("s_" + "1" * 20, "c:1001", "1001", "Mei Lin", "alice", "Alice Chen", "general", "web", "zh-CN",
                    1_796_000_000_000, 1_796_000_600_000, "resolved", 5, "logistics", ("SO-88121",),
                    (Line("visitor", "我想退货"), Line("agent", "好的")))


class FakeIndices:
    def __init__(self, client: FakeClient) -> None:
        self.client = client

    def create(self, **kwargs: Any) -> dict[str, Any]:
        self.client.calls.append(("indices.create", kwargs))
        return {}

    def delete(self, **kwargs: Any) -> dict[str, Any]:
        self.client.calls.append(("indices.delete", kwargs))
        raise NotFoundError(404, "index_not_found_exception", {})


class FakeClient:
    """Records every request; answers searches with ``hits``, or raises ``fail``."""

    def __init__(self, hits: list[dict[str, Any]] | None = None, fail: Exception | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.hits = hits or []
        self.fail = fail
        self.indices = FakeIndices(self)

    def search(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("search", kwargs))
        if self.fail is not None:
            raise self.fail
        return {"hits": {"hits": self.hits}}

    def bulk(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("bulk", kwargs))
        return {"errors": False, "items": []}

    def count(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("count", kwargs))
        return {"count": 7}


def index(client: FakeClient) -> OpenSearchConversationIndex:
    return OpenSearchConversationIndex("https://search.example", "cs-test-conversations", region="us-east-1",
                                       client=client)


def test_the_mapping_cuts_both_sides_in_english_and_chinese_and_keeps_the_rest_as_filters() -> None:
    body = index_body(shards=3)
    assert body["settings"]["index"] == {"number_of_shards": 3, "number_of_replicas": 1, "refresh_interval": "5s"}
    analyzers = body["settings"]["analysis"]["analyzer"]
    assert set(analyzers) == {"conv_english", "conv_cjk_bigram", "conv_cjk_char"}
    props = body["mappings"]["properties"]
    for side in ("visitor_text", "agent_text"):
        assert props[side]["analyzer"] == "conv_english"
        assert {k: v["analyzer"] for k, v in props[side]["fields"].items()} == {
            "cjk": "conv_cjk_bigram", "cjk_char": "conv_cjk_char"}
    assert {k for k, v in props.items() if v.get("type") == "keyword" and v.get("index", True)} == {
        "session_id", "visitor_id", "customer_id", "agent_id", "group_id", "channel", "language", "close_reason",
        "wrapup", "order_ids"}
    assert body["mappings"]["dynamic"] is False
    assert index_body(serverless=True)["settings"]["index"] == {}  # Serverless sets shards itself


def test_without_text_a_search_is_filters_only_newest_first() -> None:
    body = search_body(Query(), EVERYONE, 0, 20)
    assert body["query"] == {"bool": {"filter": []}}
    assert body["sort"] == [{"created_at": {"order": "desc"}}, {"session_id": {"order": "asc"}}]
    assert (body["from"], body["size"]) == (0, 21)  # one more says whether another page follows
    assert "highlight" not in body and "visitor_text" not in body["_source"]


def test_text_needs_every_english_word_and_every_chinese_bigram_or_is_an_order_number() -> None:
    body = search_body(Query(text="parcel 退货 退 so-88121"), EVERYONE, 40, 20)
    [clause] = body["query"]["bool"]["must"]
    should = clause["bool"]["should"]
    assert should[0] == {"term": {"order_ids": "PARCEL 退货 退 SO-88121"}}
    must = should[1]["bool"]["must"]
    assert [m["multi_match"]["fields"] for m in must] == [
        ["visitor_text", "agent_text"], ["visitor_text.cjk", "agent_text.cjk"],
        ["visitor_text.cjk_char", "agent_text.cjk_char"]]
    assert [m["multi_match"]["query"].split() for m in must] == [["parcel", "so-88121"], ["退货"], ["退"]]
    assert all(m["multi_match"]["operator"] == "and" and m["multi_match"]["type"] == "cross_fields" for m in must)
    assert body["sort"][0] == "_score" and body["from"] == 40
    assert body["highlight"]["pre_tags"] == [PRE] and set(body["highlight"]["fields"]) == set(HIGHLIGHTED)


def test_every_filter_and_the_scope_are_filter_clauses() -> None:
    query = Query(customer="Mei", order="so-88121", from_ms=1, to_ms=2, group="general", agent="alice", rating=5,
                  wrapup="logistics")
    filters = search_body(query, Scope(frozenset({"shoes", "general"}), agent_id="alice"), 0, 5)["query"]["bool"][
        "filter"]
    assert filters[0] == {"bool": {"minimum_should_match": 1, "should": [
        {"terms": {"group_id": ["general", "shoes"]}}, {"term": {"agent_id": "alice"}}]}}
    assert filters[1]["bool"]["should"][:2] == [{"term": {"visitor_id": "Mei"}}, {"term": {"customer_id": "Mei"}}]
    assert filters[2:] == [{"term": {"order_ids": "SO-88121"}}, {"range": {"created_at": {"gte": 1, "lt": 2}}},
                           {"term": {"group_id": "general"}}, {"term": {"agent_id": "alice"}},
                           {"term": {"rating": 5}}, {"term": {"wrapup": "logistics"}}]
    supervisor = search_body(Query(), Scope(frozenset({"general"})), 0, 5)["query"]["bool"]["filter"]
    assert supervisor == [{"bool": {"minimum_should_match": 1, "should": [{"terms": {"group_id": ["general"]}}]}}]


def test_an_answer_becomes_hits_with_the_highlight_as_marked_parts() -> None:
    source = {k: v for k, v in CHAT.source().items() if k not in ("visitor_text", "agent_text")}
    client = FakeClient(hits=[
        {"_score": 3.5, "_source": source, "highlight": {"agent_text": [f"好的 {PRE}SO-1{POST}"],
                                                          "visitor_text.cjk": [f"我想{PRE}退货{POST}"]}},
        {"_score": None, "_source": source},
        {"_score": 1.0, "_source": source}])
    hits, more = index(client).search(Query(text="退货"), EVERYONE, 0, 2)
    assert more and len(hits) == 2
    assert hits[0].snippet == Snippet("visitor", (Part("我想"), Part("退货", True)))  # the visitor's side first
    assert hits[0].score == 3.5 and hits[0].summary == CHAT.summary()
    assert hits[1].snippet == Snippet("visitor", (Part("我想退货"),))  # no highlight: the preview
    assert hits[1].score is None


def test_a_close_is_one_bulk_request_keyed_by_session_so_a_second_replaces_the_first() -> None:
    client = FakeClient()
    backend = index(client)
    backend.put([CHAT, CHAT])
    backend.put([CHAT])
    ops = [op for op, _ in client.calls]
    assert ops == ["indices.create", "bulk", "bulk"]  # the mapping first, once
    body = client.calls[1][1]["body"]
    assert body == [{"index": {"_id": CHAT.session_id}}, CHAT.source()]
    assert body[1]["visitor_text"] == ["我想退货"] and body[1]["agent_text"] == ["好的"]
    assert "refresh" not in client.calls[1][1]  # the stream's writes never wait for a refresh
    assert backend.count() == 7


def test_the_backfill_recreates_the_index_and_waits_for_the_last_refresh() -> None:
    client = FakeClient()
    assert index(client).replace_all(iter([CHAT])) == 1
    assert [op for op, _ in client.calls] == ["indices.delete", "indices.create", "bulk"]
    assert client.calls[-1][1]["refresh"] == "wait_for"


def test_a_cluster_that_cannot_answer_is_search_unavailable() -> None:
    client = FakeClient(fail=TransportError("N/A", "refused", OSError("refused")))
    with pytest.raises(SearchUnavailable):
        index(client).search(Query(text="x"), EVERYONE, 0, 5)


def test_marked_parts_of_a_fragment() -> None:
    assert marked(f"a {PRE}b{POST} c {PRE}d{POST}", PRE, POST) == (
        Part("a "), Part("b", True), Part(" c "), Part("d", True))
