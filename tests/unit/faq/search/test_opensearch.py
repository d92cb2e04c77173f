"""OpenSearchBackend without a cluster: a recording fake client checks the index layout, the request
bodies and how responses become hits; a recording connection under the real opensearch-py client
checks what would go over the wire (paths, query parameters, bulk lines, error statuses)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import requests
from opensearchpy import (
    Connection,
    ConnectionTimeout,
    NotFoundError,
    OpenSearch,
    RequestError,
    RequestsAWSV4SignerAuth,
)
from opensearchpy import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import AuthorizationException

from chalicelib.faq.embed import Vector, normalise
from chalicelib.faq.model import Faq, Hit
from chalicelib.faq.search import opensearch as module
from chalicelib.faq.search.opensearch import (
    BULK_DOCS,
    CANDIDATE_BOOST,
    COSINE_SCRIPT,
    MAX_QUERY_CHARS,
    OpenSearchBackend,
    SearchUnavailable,
    index_body,
)

DIM = 4
INDEX = "faqs-test"

RETURNS = Faq("returns", "How do I return shoes?", "Send them back.", similar=("Can I send my shoes back",))
REFUND = Faq("refund", "When will I get my refund?", "Within 5 days.", similar=("refund status", "money back"))
TUIHUO = Faq("tuihuo", "如何退货", "七天内可退。", similar=("我想退货",), language="zh")
OFF = Faq("off", "Old question", "Old answer", enabled=False)


# -- fakes ------------------------------------------------------------------------------------
class FakeIndices:
    def __init__(self, owner: FakeClient) -> None:
        self._owner = owner

    def create(self, **kwargs: Any) -> dict[str, Any]:
        return self._owner.record("indices.create", kwargs)

    def delete(self, **kwargs: Any) -> dict[str, Any]:
        return self._owner.record("indices.delete", kwargs)

    def exists(self, **kwargs: Any) -> bool:
        self._owner.record("indices.exists", kwargs)
        return True


class FakeClient:
    """Records every call; answers ``search`` from a queue and raises what a test queues in ``fail``."""

    def __init__(self, searches: Sequence[dict[str, Any]] = ()) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.searches = list(searches)
        self.fail: dict[str, Exception] = {}
        self.bulk_response: dict[str, Any] = {"errors": False, "items": []}
        self.indices = FakeIndices(self)
        self.closed = False

    def record(self, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((name, kwargs))
        if name in self.fail:
            raise self.fail[name]
        return {"acknowledged": True}

    def bulk(self, **kwargs: Any) -> dict[str, Any]:
        self.record("bulk", kwargs)
        return self.bulk_response

    def search(self, **kwargs: Any) -> dict[str, Any]:
        self.record("search", kwargs)
        return self.searches.pop(0)

    def delete_by_query(self, **kwargs: Any) -> dict[str, Any]:
        self.record("delete_by_query", kwargs)
        return {"deleted": 0, "failures": []}

    def count(self, **kwargs: Any) -> dict[str, Any]:
        self.record("count", kwargs)
        return {"count": 0}

    def close(self) -> None:
        self.closed = True

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def bodies(self, name: str) -> list[Any]:
        return [kwargs.get("body") for n, kwargs in self.calls if n == name]


class FakeEmbedder:
    """Vectors from a table (unknown texts point along the first axis; a blank text is a zero row)."""

    dim = DIM

    def __init__(self, table: dict[str, list[float]] | None = None) -> None:
        self.table = table or {}
        self.seen: list[str] = []

    def embed(self, texts: Sequence[str]) -> Vector:
        self.seen.extend(texts)
        rows = [self.table.get(t, [0.0] * DIM if not t.strip() else [1.0, 0.0, 0.0, 0.0]) for t in texts]
        return normalise(np.array(rows, dtype=np.float32).reshape(len(texts), DIM))


def hits(*rows: tuple[str, str, float]) -> dict[str, Any]:
    """A collapsed search response: (faq_id, text, score) per FAQ, best first."""
    return {"hits": {"hits": [
        {"_index": INDEX, "_id": f"{faq_id}#0", "_score": score, "_source": {"faq_id": faq_id, "text": text},
         "fields": {"faq_id": [faq_id]}}
        for faq_id, text, score in rows]}}


def backend(client: FakeClient, service: str = "es") -> OpenSearchBackend:
    return OpenSearchBackend("https://search-faq.us-east-1.es.amazonaws.com", INDEX, region="us-east-1",
                             service=service, client=client, dim=DIM)


def not_found() -> NotFoundError:
    return NotFoundError(404, "index_not_found_exception", {"error": {"type": "index_not_found_exception"}})


def docs(body: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return body[1::2]


def rounded(found: list[Hit]) -> list[Hit]:
    """Hits with scores rounded to 6 places (the server's scores are float32)."""
    return [replace(h, score=round(h.score, 6), lexical=round(h.lexical, 6),
                    semantic=None if h.semantic is None else round(h.semantic, 6)) for h in found]


# -- index layout -----------------------------------------------------------------------------
def test_mapping_analyses_text_in_english_and_cjk_and_holds_cosine_vectors() -> None:
    body = index_body(384)
    settings, props = body["settings"], body["mappings"]["properties"]
    assert settings["index"] == {"knn": True, "number_of_shards": 1, "auto_expand_replicas": "0-all"}
    analysis = settings["analysis"]
    english = analysis["analyzer"]["faq_english"]
    assert english["tokenizer"] == "standard"
    assert english["filter"][-2:] == ["lowercase", "faq_stemmer"]
    assert analysis["filter"]["faq_stemmer"] == {"type": "stemmer", "language": "english"}
    # CJK characters are kept out of the English field and are the only tokens of the CJK fields.
    assert analysis["filter"]["faq_no_cjk"]["mode"] == "exclude"
    assert analysis["filter"]["faq_only_cjk"]["mode"] == "include"
    assert "<IDEOGRAPHIC>" in analysis["filter"]["faq_only_cjk"]["types"]
    assert analysis["analyzer"]["faq_cjk_bigram"]["filter"][-1] == "faq_bigrams"
    assert analysis["filter"]["faq_bigrams"] == {"type": "cjk_bigram", "output_unigrams": False}
    assert "faq_bigrams" not in analysis["analyzer"]["faq_cjk_char"]["filter"]

    assert props["faq_id"] == {"type": "keyword"}
    assert props["language"] == {"type": "keyword"}
    assert props["is_question"] == {"type": "boolean"}
    assert props["enabled"] == {"type": "boolean"}
    assert props["text"]["analyzer"] == "faq_english"
    assert props["text"]["fields"]["cjk"]["analyzer"] == "faq_cjk_bigram"
    assert props["text"]["fields"]["cjk_char"]["analyzer"] == "faq_cjk_char"
    vector = props["vector"]
    assert vector["type"] == "knn_vector"
    assert vector["dimension"] == 384
    assert vector["method"]["space_type"] == "cosinesimil"
    assert vector["method"]["name"] == "hnsw"
    assert vector["method"]["engine"] in ("lucene", "faiss")
    # Every analyzer uses only filters it defines or built-in ones.
    defined = set(analysis["filter"]) | {"lowercase", "cjk_width"}
    for analyzer in analysis["analyzer"].values():
        assert set(analyzer["filter"]) <= defined


def test_serverless_index_leaves_the_shard_count_to_the_service() -> None:
    assert index_body(8, serverless=True)["settings"]["index"] == {"knn": True}


def test_ensure_index_creates_the_index_with_the_backends_dimension() -> None:
    client = FakeClient()
    backend(client).ensure_index()
    ((name, kwargs),) = client.calls
    assert name == "indices.create"
    assert kwargs["index"] == INDEX
    assert kwargs["body"]["mappings"]["properties"]["vector"]["dimension"] == DIM


def test_ensure_index_accepts_an_index_that_already_exists() -> None:
    client = FakeClient()
    client.fail["indices.create"] = RequestError(400, "resource_already_exists_exception", {})
    backend(client).ensure_index()  # no error


def test_ensure_index_reports_a_rejected_mapping() -> None:
    client = FakeClient()
    client.fail["indices.create"] = RequestError(400, "mapper_parsing_exception", {})
    with pytest.raises(SearchUnavailable) as caught:
        backend(client).ensure_index()
    assert caught.value.status == 400
    assert isinstance(caught.value.__cause__, RequestError)


# -- indexing ---------------------------------------------------------------------------------
def test_replace_all_recreates_the_index_then_indexes_one_document_per_text() -> None:
    client = FakeClient()
    n = backend(client).replace_all([RETURNS, TUIHUO, OFF])
    assert n == 2
    assert client.names() == ["indices.delete", "indices.create", "bulk"]
    (bulk,) = [kwargs for name, kwargs in client.calls if name == "bulk"]
    assert bulk["index"] == INDEX
    assert bulk["refresh"] == "wait_for"
    body = bulk["body"]
    assert [line["index"]["_id"] for line in body[0::2]] == ["returns#0", "returns#1", "tuihuo#0", "tuihuo#1"]
    assert docs(body) == [
        {"faq_id": "returns", "position": 0, "is_question": True, "text": "How do I return shoes?",
         "language": "en", "enabled": True},
        {"faq_id": "returns", "position": 1, "is_question": False, "text": "Can I send my shoes back",
         "language": "en", "enabled": True},
        {"faq_id": "tuihuo", "position": 0, "is_question": True, "text": "如何退货", "language": "zh", "enabled": True},
        {"faq_id": "tuihuo", "position": 1, "is_question": False, "text": "我想退货", "language": "zh",
         "enabled": True},
    ]


def test_replace_all_with_an_embedder_indexes_a_unit_vector_per_text() -> None:
    client = FakeClient()
    embedder = FakeEmbedder({"Can I send my shoes back": [0.0, 3.0, 0.0, 4.0], "": [0.0] * DIM})
    blank = Faq("blank", "Blank similar", "a", similar=("",))
    backend(client).replace_all([RETURNS, blank], embedder)
    assert embedder.seen == ["How do I return shoes?", "Can I send my shoes back", "Blank similar", ""]
    body = client.bodies("bulk")[0]
    vectors = [d.get("vector") for d in docs(body)]
    assert vectors[0] == [1.0, 0.0, 0.0, 0.0]
    assert vectors[1] == pytest.approx([0.0, 0.6, 0.0, 0.8])
    assert all(isinstance(x, float) for x in vectors[1])
    assert vectors[3] is None  # a zero vector has no cosine; the text is still found lexically
    assert json.dumps(body)  # plain JSON, no numpy scalars


def test_replace_all_of_nothing_leaves_an_empty_index() -> None:
    client = FakeClient()
    assert backend(client).replace_all([OFF]) == 0
    assert client.names() == ["indices.delete", "indices.create"]


def test_replace_all_when_the_index_does_not_exist_yet() -> None:
    client = FakeClient()
    client.fail["indices.delete"] = not_found()
    assert backend(client).replace_all([RETURNS]) == 1
    assert client.names() == ["indices.delete", "indices.create", "bulk"]


def test_large_imports_go_in_chunks_and_only_the_last_waits_for_a_refresh() -> None:
    client = FakeClient()
    faqs = [Faq(f"f{i}", f"question {i}", "a", similar=(f"similar {i}",)) for i in range(BULK_DOCS)]
    backend(client).replace_all(faqs)
    bulks = [kwargs for name, kwargs in client.calls if name == "bulk"]
    assert [len(b["body"]) // 2 for b in bulks] == [BULK_DOCS, BULK_DOCS]
    assert ["refresh" in b for b in bulks] == [False, True]


def test_serverless_lets_the_collection_assign_document_ids() -> None:
    client = FakeClient()
    backend(client, service="aoss").replace_all([RETURNS])
    body = client.bodies("bulk")[0]
    assert [line["index"] for line in body[0::2]] == [{}, {}]
    create = next(kwargs for name, kwargs in client.calls if name == "indices.create")
    assert "number_of_shards" not in create["body"]["settings"]["index"]


def test_very_long_faq_ids_get_a_hashed_document_id() -> None:
    client = FakeClient()
    long_id = "x" * 600
    backend(client).replace_all([Faq(long_id, "q", "a")])
    (action, doc) = client.bodies("bulk")[0]
    assert len(action["index"]["_id"]) < 100
    assert doc["faq_id"] == long_id


def test_upsert_creates_the_index_once_then_replaces_the_faqs_texts() -> None:
    client = FakeClient()
    b = backend(client)
    edited = Faq("returns", "How do I return boots?", "Send them back.")
    b.upsert([RETURNS, edited, OFF], FakeEmbedder())
    assert client.names() == ["indices.create", "delete_by_query", "bulk"]
    delete = next(kwargs for name, kwargs in client.calls if name == "delete_by_query")
    assert delete["index"] == INDEX
    assert delete["body"] == {"query": {"terms": {"faq_id": ["returns", "off"]}}}
    assert delete["refresh"] is True
    assert delete["conflicts"] == "proceed"
    bulk = next(kwargs for name, kwargs in client.calls if name == "bulk")
    assert [d["text"] for d in docs(bulk["body"])] == ["How do I return boots?"]  # the last version wins
    assert "vector" in docs(bulk["body"])[0]
    assert bulk["refresh"] == "wait_for"

    client.calls.clear()
    b.upsert([REFUND])
    assert client.names() == ["delete_by_query", "bulk"]
    assert all("vector" not in d for d in docs(client.bodies("bulk")[0]))


def test_upsert_recreates_an_index_dropped_since_it_was_created() -> None:
    client = FakeClient()
    b = backend(client)
    b.ensure_index()
    client.fail["delete_by_query"] = not_found()
    b.upsert([RETURNS])
    assert client.names() == ["indices.create", "delete_by_query", "indices.create", "bulk"]


def test_upsert_of_only_disabled_faqs_just_deletes_them() -> None:
    client = FakeClient()
    backend(client).upsert([OFF])
    assert client.names() == ["indices.create", "delete_by_query"]


def test_upsert_and_delete_of_nothing_send_nothing() -> None:
    client = FakeClient()
    b = backend(client)
    b.upsert([])
    b.delete([])
    assert client.calls == []


def test_delete_removes_every_text_of_the_faqs() -> None:
    client = FakeClient()
    backend(client).delete(["returns", "refund", "returns"])
    ((name, kwargs),) = client.calls
    assert name == "delete_by_query"
    assert kwargs["body"] == {"query": {"terms": {"faq_id": ["returns", "refund"]}}}
    assert kwargs["refresh"] is True


def test_delete_from_a_missing_index_is_a_no_op() -> None:
    client = FakeClient()
    client.fail["delete_by_query"] = not_found()
    backend(client).delete(["returns"])


def test_embedder_of_another_dimension_is_refused_before_any_request() -> None:
    class Wide(FakeEmbedder):
        dim = DIM + 1

    client = FakeClient()
    with pytest.raises(ValueError, match="d vectors"):
        backend(client).replace_all([RETURNS], Wide())
    assert client.calls == []


def test_bulk_rejections_are_reported() -> None:
    client = FakeClient()
    client.bulk_response = {"errors": True, "items": [
        {"index": {"_id": "returns#0", "status": 201}},
        {"index": {"_id": "returns#1", "status": 400,
                   "error": {"type": "mapper_parsing_exception", "reason": "wrong dimension"}}}]}
    with pytest.raises(SearchUnavailable, match="mapper_parsing_exception: wrong dimension"):
        backend(client).replace_all([RETURNS])


# -- count ------------------------------------------------------------------------------------
def test_count_is_the_exact_number_of_distinct_faqs() -> None:
    def page(ids: list[str], after: str | None) -> dict[str, Any]:
        agg: dict[str, Any] = {"buckets": [{"key": {"faq_id": i}, "doc_count": 3} for i in ids]}
        if after:
            agg["after_key"] = {"faq_id": after}
        return {"hits": {"hits": []}, "aggregations": {"faqs": agg}}

    client = FakeClient([page(["a", "b"], "b")])
    assert backend(client).count() == 2
    body = client.bodies("search")[0]
    assert body["size"] == 0
    assert body["aggs"]["faqs"]["composite"]["sources"] == [{"faq_id": {"terms": {"field": "faq_id"}}}]

    size = module.COUNT_PAGE
    full = [f"f{i}" for i in range(size)]
    client = FakeClient([page(full, full[-1]), page(["z"], "z")])
    assert backend(client).count() == size + 1
    second = client.bodies("search")[1]
    assert second["aggs"]["faqs"]["composite"]["after"] == {"faq_id": full[-1]}


def test_count_of_a_missing_index_is_zero() -> None:
    client = FakeClient()
    client.fail["search"] = not_found()
    assert backend(client).count() == 0


# -- search -----------------------------------------------------------------------------------
def test_lexical_search_collapses_to_faqs_in_the_language_asked() -> None:
    client = FakeClient([hits(("refund", "refund status", 7.5), ("returns", "How do I return shoes?", 3.0))])
    found = backend(client).search("refund status", k=5, language="en")
    assert found == [
        Hit("refund", 7.5, "refund status", lexical=7.5, semantic=None),
        Hit("returns", 3.0, "How do I return shoes?", lexical=3.0, semantic=None),
    ]
    ((name, kwargs),) = client.calls
    assert name == "search"
    assert kwargs["index"] == INDEX
    body = kwargs["body"]
    assert body["size"] == 5
    assert body["collapse"] == {"field": "faq_id"}
    assert "vector" not in body["_source"]
    (match,) = body["query"]["bool"]["must"]
    assert match["multi_match"]["query"] == "refund status"
    assert match["multi_match"]["type"] == "most_fields"
    assert set(match["multi_match"]["fields"]) == {"text", "text.cjk", "text.cjk_char^0.3"}
    assert {"term": {"language": "en"}} in body["query"]["bool"]["filter"]


def test_search_without_a_language_does_not_filter_on_it() -> None:
    client = FakeClient([hits()])
    assert backend(client).search("refund") == []
    body = client.bodies("search")[0]
    assert all("language" not in f.get("term", {}) for f in body["query"]["bool"]["filter"])


def test_equal_scores_are_ordered_by_faq_id() -> None:
    client = FakeClient([hits(("b", "x", 2.0), ("a", "y", 2.0), ("c", "z", 5.0))])
    assert [h.faq_id for h in backend(client).search("x")] == ["c", "a", "b"]


def test_blank_query_without_a_vector_finds_nothing_and_asks_nothing() -> None:
    client = FakeClient()
    b = backend(client)
    assert b.search("   ") == []
    assert b.search("refund", k=0) == []
    assert client.calls == []


def test_long_queries_are_cut() -> None:
    client = FakeClient([hits()])
    backend(client).search("退" * (MAX_QUERY_CHARS + 50))
    (match,) = client.bodies("search")[0]["query"]["bool"]["must"]
    assert len(match["multi_match"]["query"]) == MAX_QUERY_CHARS


def test_vector_search_gives_every_candidate_both_scores() -> None:
    """Lexical top k: refund, returns, novec. Vector top k (k=2): refund, tuihuo (beats exchange).

    returns is only a lexical candidate but still gets its best cosine; tuihuo is found by vector only
    (lexical 0.0); novec was indexed without vectors (semantic None, score -1.0)."""
    lexical = hits(("refund", "refund status", 6.0), ("returns", "How do I return shoes?", 4.0),
                   ("novec", "no vectors here", 1.0))
    cosine = hits(
        ("refund", "money back", 1.0 + 0.9 + CANDIDATE_BOOST),
        ("returns", "Can I send my shoes back", 1.0 + 0.2 + CANDIDATE_BOOST),
        ("tuihuo", "我想退货", 1.0 + 0.7),
        ("exchange", "swap my size", 1.0 + 0.5),
    )
    client = FakeClient([lexical, cosine])
    query = normalise(np.array([1.0, 1.0, 0.0, 0.0], dtype=np.float32))
    found = backend(client).search("refund", k=2, language="en", vector=query)

    assert rounded(found) == [
        Hit("refund", 0.9, "money back", lexical=6.0, semantic=0.9),
        Hit("tuihuo", 0.7, "我想退货", lexical=0.0, semantic=0.7),
        Hit("returns", 0.2, "Can I send my shoes back", lexical=4.0, semantic=0.2),
        Hit("novec", -1.0, "no vectors here", lexical=1.0, semantic=None),
    ]
    assert client.names() == ["search", "search"]
    body = client.bodies("search")[1]
    assert body["size"] == 2 + 3
    assert body["collapse"] == {"field": "faq_id"}
    script_score = body["query"]["script_score"]
    assert script_score["script"]["source"] == COSINE_SCRIPT
    params = script_score["script"]["params"]
    assert params["field"] == "vector"
    assert params["query_value"] == pytest.approx([2 ** -0.5, 2 ** -0.5, 0.0, 0.0])
    assert params["candidates"] == ["refund", "returns", "novec"]
    assert params["boost"] == CANDIDATE_BOOST
    filters = script_score["query"]["bool"]["filter"]
    assert {"exists": {"field": "vector"}} in filters
    assert {"term": {"language": "en"}} in filters


def test_the_cosine_script_ranks_every_candidate_above_every_other_faq() -> None:
    # 1 + cosine lies in [0, 2]; a candidate's score in [boost, boost + 2].
    assert CANDIDATE_BOOST > 2.0
    assert "cosineSimilarity(params.query_value, doc[params.field])" in COSINE_SCRIPT
    assert "params.candidates.contains(doc['faq_id'].value)" in COSINE_SCRIPT


def test_vector_only_search_with_a_blank_query() -> None:
    client = FakeClient([hits(("tuihuo", "我想退货", 1.8), ("refund", "money back", 1.5))])
    found = backend(client).search("", k=1, vector=np.array([1, 0, 0, 0], dtype=np.float32))
    assert rounded(found) == [Hit("tuihuo", 0.8, "我想退货", lexical=0.0, semantic=0.8)]
    body = client.bodies("search")[0]
    assert body["size"] == 1
    assert body["query"]["script_score"]["script"]["params"]["candidates"] == []


def test_a_zero_query_vector_has_no_cosine_side() -> None:
    client = FakeClient([hits(("refund", "refund status", 2.0))])
    found = backend(client).search("refund", vector=np.zeros(DIM, dtype=np.float32))
    assert found == [Hit("refund", -1.0, "refund status", lexical=2.0, semantic=None)]
    assert client.names() == ["search"]


def test_a_query_vector_of_another_dimension_is_refused() -> None:
    client = FakeClient()
    with pytest.raises(ValueError, match="shape"):
        backend(client).search("refund", vector=np.ones(DIM + 1, dtype=np.float32))
    assert client.calls == []


def test_search_of_a_missing_index_finds_nothing() -> None:
    client = FakeClient()
    client.fail["search"] = not_found()
    assert backend(client).search("refund") == []


@pytest.mark.parametrize("error", [
    OpenSearchConnectionError("N/A", "connection refused", None),
    ConnectionTimeout("TIMEOUT", "read timed out", None),
    AuthorizationException(403, "security_exception", {}),
    RequestError(400, "search_phase_execution_exception", {}),
    NotFoundError(404, "no_such_thing", {}),
])
def test_vendor_errors_become_search_unavailable(error: Exception) -> None:
    client = FakeClient()
    client.fail["search"] = error
    with pytest.raises(SearchUnavailable) as caught:
        backend(client).search("refund")
    assert caught.value.__cause__ is error
    status = getattr(error, "status_code", None)
    assert caught.value.status == (status if isinstance(status, int) else None)


def test_close_leaves_an_injected_client_open_and_in_use() -> None:
    client = FakeClient([hits()])
    b = backend(client)
    b.close()
    assert not client.closed
    assert b.search("refund") == []
    assert client.names() == ["search"]


def test_drop_index_deletes_it_and_tolerates_a_missing_one() -> None:
    client = FakeClient()
    b = backend(client)
    b.drop_index()
    client.fail["indices.delete"] = not_found()
    b.drop_index()
    assert client.names() == ["indices.delete", "indices.delete"]


# -- the real client over a recording connection ------------------------------------------------
class WireConnection(Connection):
    """An opensearch-py connection that answers from a script instead of a socket."""

    def __init__(self, wire: Wire | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        assert wire is not None
        self.wire = wire

    def perform_request(self, method: str, url: str, params: Any = None, body: Any = None, timeout: Any = None,
                        ignore: Any = (), headers: Any = None) -> Any:
        decoded = {key: value.decode() if isinstance(value, bytes) else value for key, value in (params or {}).items()}
        self.wire.requests.append((method, url, decoded, body))
        status, answer = self.wire.answers.pop(0)
        raw = json.dumps(answer)
        if not 200 <= status < 300 and status not in ignore:
            self._raise_error(status, raw, "application/json")
        return status, {"content-type": "application/json"}, raw


class Wire:
    def __init__(self, *answers: tuple[int, Any]) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[str, str, dict[str, Any], Any]] = []

    def client(self) -> OpenSearch:
        return OpenSearch(hosts=[{"host": "cluster.local", "port": 9200, "wire": self}],
                          connection_class=WireConnection, max_retries=0)


def _text(body: Any) -> str:
    return body.decode() if isinstance(body, bytes) else str(body)


def test_real_client_sends_the_requests_the_backend_means() -> None:
    wire = Wire(
        (404, {"error": {"type": "index_not_found_exception"}, "status": 404}),  # DELETE index
        (200, {"acknowledged": True}),  # PUT index
        (200, {"errors": False, "items": []}),  # bulk
        (200, {"deleted": 2}),  # delete by query
        (200, hits(("returns", "How do I return shoes?", 2.5))),  # search
    )
    b = OpenSearchBackend("http://cluster.local:9200", INDEX, region="us-east-1", client=wire.client(), dim=DIM)
    b.replace_all([RETURNS], FakeEmbedder())
    b.delete(["refund"])
    assert b.search("return", language="en") == [
        Hit("returns", 2.5, "How do I return shoes?", lexical=2.5, semantic=None)]

    (delete_index, create, bulk, delete, search) = wire.requests
    assert delete_index[:2] == ("DELETE", f"/{INDEX}")
    assert create[:2] == ("PUT", f"/{INDEX}")
    assert json.loads(_text(create[3]))["mappings"]["properties"]["vector"]["dimension"] == DIM
    assert bulk[:2] == ("POST", f"/{INDEX}/_bulk")
    assert bulk[2]["refresh"] == "wait_for"
    lines = [json.loads(line) for line in _text(bulk[3]).splitlines()]
    assert lines[0] == {"index": {"_id": "returns#0"}}
    assert lines[1]["text"] == "How do I return shoes?"
    assert lines[1]["vector"] == [1.0, 0.0, 0.0, 0.0]
    assert len(lines) == 4
    assert delete[:2] == ("POST", f"/{INDEX}/_delete_by_query")
    assert delete[2]["refresh"] == "true"
    assert delete[2]["conflicts"] == "proceed"
    assert search[:2] == ("POST", f"/{INDEX}/_search")
    assert json.loads(_text(search[3]))["collapse"] == {"field": "faq_id"}


def test_real_client_errors_leave_as_search_unavailable() -> None:
    wire = Wire((503, {"error": {"type": "cluster_block_exception"}, "status": 503}))
    b = OpenSearchBackend("http://cluster.local:9200", INDEX, region="us-east-1", client=wire.client(), dim=DIM)
    with pytest.raises(SearchUnavailable) as caught:
        b.search("return")
    assert caught.value.status == 503


# -- building the client ----------------------------------------------------------------------
def test_https_urls_are_signed_with_sigv4_for_the_service_and_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    b = OpenSearchBackend("https://search-faq.eu-west-1.es.amazonaws.com", INDEX, region="eu-west-1",
                          service="aoss")
    client = b._connection()
    try:
        (connection,) = client.transport.connection_pool.connections
        assert connection.use_ssl
        assert connection.session.verify
        auth = connection.session.auth
        assert isinstance(auth, RequestsAWSV4SignerAuth)
        assert auth.service == "aoss"
        signed = auth(requests.Request("GET", "https://search-faq.eu-west-1.es.amazonaws.com/faqs/_search")
                      .prepare())
        assert "/eu-west-1/aoss/aws4_request" in signed.headers["Authorization"]
    finally:
        b.close()
    assert b._client is None


def test_http_urls_reach_a_development_cluster_unsigned() -> None:
    b = OpenSearchBackend("http://localhost:9200", INDEX, region="us-east-1")
    client = b._connection()
    (connection,) = client.transport.connection_pool.connections
    assert not connection.use_ssl
    assert connection.session.auth is None
    assert connection.host == "http://localhost:9200"
    b.close()


def test_searches_give_up_after_a_second_and_one_retry_never_after_a_timeout() -> None:
    b = OpenSearchBackend("http://localhost:9200", INDEX, region="us-east-1")
    client = b._connection()
    (connection,) = client.transport.connection_pool.connections
    assert connection.timeout == module.SEARCH_TIMEOUT == 1.0
    assert client.transport.max_retries == module.SEARCH_RETRIES == 1
    assert client.transport.retry_on_timeout is False
    b.close()


def test_the_configured_timeout_reaches_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.faq.kb import search_backend
    from chalicelib.settings import get_settings

    monkeypatch.setenv("SEARCH_BACKEND", "opensearch")
    monkeypatch.setenv("OPENSEARCH_URL", "http://localhost:9200")
    monkeypatch.setenv("OPENSEARCH_TIMEOUT_SECONDS", "0.4")
    get_settings.cache_clear()
    b = search_backend()
    assert isinstance(b, OpenSearchBackend)
    (connection,) = b._connection().transport.connection_pool.connections
    assert connection.timeout == 0.4
    b.close()


def test_a_url_that_is_not_http_is_unavailable_not_a_crash() -> None:
    b = OpenSearchBackend("search-faq.example", INDEX, region="us-east-1")
    with pytest.raises(SearchUnavailable, match="http"):
        b.search("refund")


# -- parity with the embedded backend ------------------------------------------------------------
class ScoringClient(FakeClient):
    """Keeps the bulk-indexed documents and answers the cosine query as OpenSearch would (script
    score per text, collapse by FAQ, best first); lexical queries are answered by ``lexical``."""

    def __init__(self, lexical: Callable[[str, int], dict[str, Any]]) -> None:
        super().__init__()
        self.docs: list[dict[str, Any]] = []
        self.lexical = lexical

    def bulk(self, **kwargs: Any) -> dict[str, Any]:
        self.docs.extend(docs(kwargs["body"]))
        return super().bulk(**kwargs)

    def search(self, **kwargs: Any) -> dict[str, Any]:
        self.record("search", kwargs)
        body = kwargs["body"]
        if "script_score" not in body["query"]:
            (match,) = body["query"]["bool"]["must"]
            return self.lexical(match["multi_match"]["query"], body["size"])
        script_score = body["query"]["script_score"]
        params = script_score["script"]["params"]
        terms = [f["term"] for f in script_score["query"]["bool"]["filter"] if "term" in f]
        query = np.array(params["query_value"])
        best: dict[str, tuple[float, str]] = {}
        for doc in self.docs:
            if "vector" not in doc or any(doc[field] != value for term in terms for field, value in term.items()):
                continue
            score = 1.0 + float(np.dot(query, doc["vector"]))
            if doc["faq_id"] in params["candidates"]:
                score += params["boost"]
            if doc["faq_id"] not in best or score > best[doc["faq_id"]][0]:
                best[doc["faq_id"]] = (score, doc["text"])
        ranked = sorted(best.items(), key=lambda item: -item[1][0])[:body["size"]]
        return hits(*[(faq_id, text, score) for faq_id, (score, text) in ranked])


@pytest.mark.parametrize("seed", range(5))
def test_hits_match_the_embedded_backend_given_the_same_lexical_side(seed: int) -> None:
    embedded_module = pytest.importorskip("chalicelib.faq.search.embedded")
    rng = np.random.default_rng(seed)
    words = ["refund", "return", "order", "shoes", "invoice", "payment", "delivery", "account", "size", "card"]
    faqs = []
    for i in range(40):
        texts = [" ".join(rng.choice(words, size=3)) + f" q{i}s{j}" for j in range(int(rng.integers(1, 5)))]
        faqs.append(Faq(f"faq{i:02d}", texts[0], "a", similar=tuple(texts[1:]),
                        language="zh" if i % 4 == 0 else "en"))
    table = {t: list(rng.normal(size=DIM)) for f in faqs for t in f.texts()}
    embedder = FakeEmbedder(table)
    reference = embedded_module.EmbeddedBackend()
    reference.replace_all(faqs, embedder)

    def lexical(query: str, size: int) -> dict[str, Any]:
        return hits(*[(h.faq_id, h.matched, h.lexical) for h in reference.search(query, k=size, language=language)])

    client = ScoringClient(lexical)
    backend(client).replace_all(faqs, embedder)
    for query in ["refund order", "shoes size card", "payment"]:
        for language in (None, "en", "zh"):
            vector = normalise(rng.normal(size=DIM).astype(np.float32))
            for k in (1, 3, 8):
                expected = reference.search(query, k=k, language=language, vector=vector)
                found = backend(client).search(query, k=k, language=language, vector=vector)
                assert [(h.faq_id, h.matched, h.lexical) for h in found] == \
                    [(h.faq_id, h.matched, h.lexical) for h in expected]
                assert [h.score for h in found] == pytest.approx([h.score for h in expected], abs=1e-5)
                assert [h.semantic for h in found] == pytest.approx([h.semantic for h in expected], abs=1e-5)
