"""The AWS search backend: one OpenSearch index, signed with the Lambda's own credentials (SigV4).

Like the embedded backend, every text of a FAQ (question, similar questions) is one document, so a
short paraphrase is scored on its own; results are collapsed to the FAQ's best text. The ``text``
field is analysed three ways: English words stemmed (``text``), CJK runs cut into bigrams
(``text.cjk``) and into single characters weighted low (``text.cjk_char``), so "退货" matches "如何退货"
and "退换货" still comes close. Vectors are ``knn_vector`` (cosine, HNSW on the Lucene engine).

A search costs at most two requests: the lexical query (collapsed to the top ``k`` FAQs), then, with
a query vector, one exact cosine query (a ``script_score`` over the texts, collapsed by FAQ) that
returns both the top ``k`` FAQs by cosine and the best cosine of every lexical candidate. Exact
scoring, not the approximate ``knn`` query: FAQs carry dozens of similar questions, so the nearest
``k`` texts often belong to far fewer than ``k`` FAQs, and one knowledge base is small enough
(thousands of texts) to score in a few milliseconds. The HNSW graph stays in the mapping so a much
larger index can move to the ``knn`` query without reindexing.

Requests on the request path time out after ``SEARCH_TIMEOUT`` (1 s; ``OPENSEARCH_TIMEOUT_SECONDS``) and
are retried at most once, and never after a timeout, so a slow cluster costs a visitor's message about a
second, not the Lambda's timeout; the admin paths' writes get ``WRITE_TIMEOUT``. Every vendor error leaves
this module as :class:`~chalicelib.faq.search.base.SearchUnavailable`.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from opensearchpy import NotFoundError

from chalicelib.faq.embed import Embedder, Vector
from chalicelib.faq.model import Faq, Hit
from chalicelib.faq.search.base import SearchUnavailable
from chalicelib.platform.opensearch import SEARCH_RETRIES as SEARCH_RETRIES  # the client's, named here too
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

MAX_QUERY_CHARS = 400  # CJK text yields a bigram and a character per char: stay under 1,024 clauses
UNIGRAM_BOOST = 0.3  # as in the embedded backend: single CJK characters catch near-misses only
CANDIDATE_BOOST = 3.0  # lifts lexical candidates above every other FAQ (1 + cosine is at most 2)
BULK_DOCS = 200  # documents per bulk request (a 384-float vector is about 3 KB of JSON)
TERMS_PER_QUERY = 10_000  # ids per delete-by-query (OpenSearch allows 65,536 terms)
COUNT_PAGE = 10_000  # FAQ ids per page of the count's composite aggregation
# A search answers a visitor's message: a slow cluster must not hold it for the Lambda's whole timeout.
SEARCH_TIMEOUT = 1.0  # seconds per request on the request path (searches, counts); OPENSEARCH_TIMEOUT_SECONDS
WRITE_TIMEOUT = 30.0  # seconds for bulk, delete-by-query and index creation (admin paths)
MAX_ID_BYTES = 500  # OpenSearch rejects a document _id over 512 bytes

LEXICAL_FIELDS = ["text", "text.cjk", f"text.cjk_char^{UNIGRAM_BOOST}"]
# Scores must not be negative: 1 + cosine, floored at 0 against rounding at cosine -1.
COSINE_SCRIPT = (
    "double s = Math.max(0.0, 1.0 + cosineSimilarity(params.query_value, doc[params.field]));"
    " return params.candidates.contains(doc['faq_id'].value) ? s + params.boost : s;"
)
_SOURCE = ["faq_id", "text"]


def index_body(dim: int, serverless: bool = False) -> dict[str, Any]:
    """Settings and mapping of the FAQ index (``serverless`` leaves out the shard count it rejects)."""
    index_settings: dict[str, Any] = {"knn": True}
    if not serverless:
        # One shard: BM25 statistics are then exact and equal for every query (a KB is small). A copy on every
        # data node: each node then answers searches from its own copy, so adding nodes adds search capacity
        # (with the default one replica, two nodes would serve every search however many there are).
        index_settings["number_of_shards"] = 1
        index_settings["auto_expand_replicas"] = "0-all"
    return {
        "settings": {
            "index": index_settings,
            "analysis": text_analysis("faq"),
        },
        "mappings": {
            "dynamic": False,
            "properties": {
                "faq_id": {"type": "keyword"},
                "position": {"type": "integer"},  # 0 = the question, then the similar questions in order
                "is_question": {"type": "boolean"},
                "language": {"type": "keyword"},
                "enabled": {"type": "boolean"},
                "text": text_field("faq"),
                "vector": {
                    "type": "knn_vector",
                    "dimension": dim,
                    "method": {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil",
                               "parameters": {"m": 16, "ef_construction": 128}},
                },
            },
        },
    }


@dataclass(frozen=True)
class _Best:
    """A FAQ's best text on one side (lexical or vector) and its score there."""

    score: float
    text: str


class OpenSearchBackend:
    """:class:`~chalicelib.faq.search.base.SearchBackend` over one OpenSearch index.

    ``url`` is the domain endpoint. ``https://`` requests are signed with SigV4 for ``service``
    (``"es"`` for an OpenSearch Service domain, ``"aoss"`` for Serverless) in ``region``;
    ``http://`` (a local development cluster) and URLs carrying ``user:password@`` are not signed.
    ``client`` replaces the opensearch-py client (tests). No request is made before the first call.
    """

    def __init__(self, url: str, index: str, *, region: str, service: str = "es", client: Any | None = None,
                 dim: int = 384, timeout: float = SEARCH_TIMEOUT) -> None:
        self._url = url
        self.index = index
        self._region = region
        self._service = service
        self._dim = dim
        self._timeout = timeout
        self._client: Any | None = client
        self._owns_client = client is None
        self._lock = threading.Lock()
        self._ready = False  # the index is known to exist (created or checked by this process)
        # Serverless vector collections assign document ids themselves.
        self._own_ids = service != "aoss"

    # -- lifecycle ----------------------------------------------------------------------------
    def ensure_index(self) -> None:
        """Create the index with its mapping unless it exists (one request; safe to race)."""
        with translated("create index"):
            self._create_index()

    def drop_index(self) -> None:
        """Delete the index and everything in it (a missing index is fine)."""
        with translated("delete index"):
            self._delete_index()

    def close(self) -> None:
        """Release the HTTP connections of a client this backend built (an injected one is left open)."""
        if not self._owns_client:
            return
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            with translated("close"):
                client.close()

    # -- indexing -----------------------------------------------------------------------------
    def replace_all(self, faqs: Iterable[Faq], embedder: Embedder | None = None) -> int:
        kept = {f.faq_id: f for f in faqs if f.enabled}
        actions = self._actions(list(kept.values()), embedder)  # embed before the index goes away
        with translated("replace all"):
            self._delete_index()
            self._create_index()
            self._bulk(actions)
        return len(kept)

    def upsert(self, faqs: Sequence[Faq], embedder: Embedder | None = None) -> None:
        latest = {f.faq_id: f for f in faqs}  # the last version of a FAQ given twice wins
        if not latest:
            return
        actions = self._actions([f for f in latest.values() if f.enabled], embedder)
        with translated("upsert"):
            if not self._ready:
                self._create_index()
            try:
                self._delete_faqs(list(latest))
            except NotFoundError as e:
                # Dropped since this process created it: recreate it rather than let the bulk
                # request auto-create an index without the mapping.
                if e.error != "index_not_found_exception":
                    raise
                self._create_index()
            self._bulk(actions)

    def delete(self, faq_ids: Sequence[str]) -> None:
        ids = list(dict.fromkeys(faq_ids))
        if not ids:
            return
        with translated("delete"), missing_index_is_empty():
            self._delete_faqs(ids)

    def count(self) -> int:
        total = 0
        after: dict[str, Any] | None = None
        with translated("count"), missing_index_is_empty():
            while True:
                composite: dict[str, Any] = {"size": COUNT_PAGE,
                                             "sources": [{"faq_id": {"terms": {"field": "faq_id"}}}]}
                if after is not None:
                    composite["after"] = after
                body = {"size": 0, "track_total_hits": False, "aggs": {"faqs": {"composite": composite}}}
                agg = self._search(body)["aggregations"]["faqs"]
                total += len(agg["buckets"])
                after = agg.get("after_key")
                if len(agg["buckets"]) < COUNT_PAGE or after is None:
                    break
        return total

    # -- search -------------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, language: str | None = None,
               vector: Vector | None = None) -> list[Hit]:
        query = query.strip()[:MAX_QUERY_CHARS]
        if k <= 0 or (not query and vector is None):
            return []
        query_vector = self._query_vector(vector) if vector is not None else None
        lexical: dict[str, _Best] = {}
        semantic: dict[str, _Best] = {}
        with translated("search"), missing_index_is_empty():
            if query:
                lexical = self._lexical(query, k, language)
            # A zero vector has no cosine (the server would score NaN): the vector side finds nothing.
            if query_vector is not None and any(query_vector):
                semantic = self._semantic(query_vector, k, language, list(lexical))
        return _hits(lexical, semantic, with_vector=vector is not None)

    def _lexical(self, query: str, k: int, language: str | None) -> dict[str, _Best]:
        """Best BM25 score and text per FAQ, for the top ``k`` FAQs (one request)."""
        body = {
            "size": k,
            "_source": _SOURCE,
            "track_total_hits": False,
            "query": {"bool": {
                "must": [{"multi_match": {"query": query, "type": "most_fields", "fields": LEXICAL_FIELDS}}],
                "filter": _filters(language),
            }},
            "collapse": {"field": "faq_id"},
        }
        best: dict[str, _Best] = {}
        for hit in self._search(body)["hits"]["hits"]:
            source = hit["_source"]
            best.setdefault(source["faq_id"], _Best(float(hit["_score"]), source["text"]))
        return best

    def _semantic(self, vector: list[float], k: int, language: str | None,
                  candidates: list[str]) -> dict[str, _Best]:
        """Best cosine and text per FAQ for the top ``k`` FAQs by cosine and for ``candidates``.

        One exact query: each text scores ``1 + cosine``, plus ``CANDIDATE_BOOST`` for the texts of a
        candidate, so after collapsing by FAQ the candidates come first, then the best other FAQs.
        """
        body = {
            "size": k + len(candidates),
            "_source": _SOURCE,
            "track_total_hits": False,
            "query": {"script_score": {
                "query": {"bool": {"filter": [{"exists": {"field": "vector"}}, *_filters(language)]}},
                "script": {"source": COSINE_SCRIPT, "params": {
                    "field": "vector", "query_value": vector, "candidates": candidates,
                    "boost": CANDIDATE_BOOST}},
            }},
            "collapse": {"field": "faq_id"},
        }
        wanted = set(candidates)
        found: dict[str, _Best] = {}
        for hit in self._search(body)["hits"]["hits"]:
            source = hit["_source"]
            faq_id = source["faq_id"]
            cosine = float(hit["_score"]) - 1.0 - (CANDIDATE_BOOST if faq_id in wanted else 0.0)
            found.setdefault(faq_id, _Best(min(1.0, max(-1.0, cosine)), source["text"]))
        # The candidates all came back (those with vectors), then the best others: the top k by
        # cosine overall are among them.
        ranked = sorted(found, key=lambda f: (-found[f].score, f))
        keep = wanted | set(ranked[:k])
        return {f: best for f, best in found.items() if f in keep}

    def _query_vector(self, vector: Vector) -> list[float]:
        v = np.asarray(vector, dtype=np.float64)
        if v.shape != (self._dim,):
            raise ValueError(f"query vector has shape {v.shape}, the index holds {self._dim}-d vectors")
        return [float(x) for x in np.round(v, 7)]  # float32 precision; shorter JSON

    # -- requests -----------------------------------------------------------------------------
    def _connection(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = build_client(self._url, self._region, self._service, self._timeout)
            return self._client

    def _search(self, body: dict[str, Any]) -> Any:
        return self._connection().search(index=self.index, body=body)

    def _create_index(self) -> None:
        create_index(self._connection(), self.index, index_body(self._dim, serverless=self._service == "aoss"),
                     WRITE_TIMEOUT)
        self._ready = True

    def _delete_index(self) -> None:
        self._ready = False
        delete_index(self._connection(), self.index, WRITE_TIMEOUT)

    def _delete_faqs(self, faq_ids: list[str]) -> None:
        for start in range(0, len(faq_ids), TERMS_PER_QUERY):
            chunk = faq_ids[start:start + TERMS_PER_QUERY]
            # delete_by_query cannot wait for a refresh; refresh=true makes the removal visible now.
            self._connection().delete_by_query(
                index=self.index, body={"query": {"terms": {"faq_id": chunk}}},
                refresh=True, conflicts="proceed", request_timeout=WRITE_TIMEOUT)

    def _bulk(self, actions: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        """Index the documents; the last request waits for a refresh so a search right after sees all."""
        client = self._connection()
        for start in range(0, len(actions), BULK_DOCS):
            chunk = actions[start:start + BULK_DOCS]
            last = start + BULK_DOCS >= len(actions)
            body = [line for pair in chunk for line in pair]
            params: dict[str, Any] = {"refresh": "wait_for"} if last else {}
            response = client.bulk(index=self.index, body=body, request_timeout=WRITE_TIMEOUT, **params)
            if response.get("errors"):
                raise SearchUnavailable(f"bulk indexing rejected documents: {first_bulk_error(response)}")

    def _actions(self, faqs: Sequence[Faq], embedder: Embedder | None) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(bulk action, document) per text of every FAQ, with its vector when ``embedder`` is given."""
        matrix = _embed(faqs, embedder, self._dim)
        out: list[tuple[dict[str, Any], dict[str, Any]]] = []
        row = 0
        for faq in faqs:
            for position, text in enumerate(faq.texts()):
                doc: dict[str, Any] = {"faq_id": faq.faq_id, "position": position, "is_question": position == 0,
                                       "text": text, "language": faq.language, "enabled": faq.enabled}
                if matrix is not None:
                    vector = matrix[row]
                    if np.any(vector):  # cosine space rejects a zero vector (a text with no tokens)
                        doc["vector"] = np.round(vector.astype(np.float64), 7).tolist()
                row += 1
                action: dict[str, Any] = {}
                if self._own_ids:  # a retried bulk request then overwrites instead of duplicating
                    action["_id"] = _doc_id(faq.faq_id, position)
                out.append(({"index": action}, doc))
        return out


def _filters(language: str | None) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = [{"term": {"enabled": True}}]
    if language is not None:
        filters.append({"term": {"language": language}})
    return filters


def _hits(lexical: dict[str, _Best], semantic: dict[str, _Best], with_vector: bool) -> list[Hit]:
    """One hit per FAQ of either side, with the scores, ``matched`` and order of base.py's contract."""
    hits = []
    for faq_id, lex in lexical.items():
        cos = semantic.get(faq_id)
        if not with_vector:
            hits.append(Hit(faq_id, lex.score, lex.text, lexical=lex.score))
        elif cos is None:  # indexed without vectors
            hits.append(Hit(faq_id, -1.0, lex.text, lexical=lex.score, semantic=None))
        else:
            hits.append(Hit(faq_id, cos.score, cos.text, lexical=lex.score, semantic=cos.score))
    for faq_id, cos in semantic.items():
        if faq_id not in lexical:  # found by vector only
            hits.append(Hit(faq_id, cos.score, cos.text, lexical=0.0, semantic=cos.score))
    hits.sort(key=lambda h: (-h.score, h.faq_id))
    return hits


def _embed(faqs: Sequence[Faq], embedder: Embedder | None, dim: int) -> Vector | None:
    if embedder is None or not faqs:
        return None
    if embedder.dim != dim:
        raise ValueError(f"embedder makes {embedder.dim}-d vectors, the index holds {dim}-d vectors")
    return embedder.embed([t for f in faqs for t in f.texts()])


def _doc_id(faq_id: str, position: int) -> str:
    if len(faq_id.encode()) > MAX_ID_BYTES:
        faq_id = hashlib.sha256(faq_id.encode()).hexdigest()
    return f"{faq_id}#{position}"
