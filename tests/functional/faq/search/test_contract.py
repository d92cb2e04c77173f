"""One contract for every FAQ search backend: the embedded one always, OpenSearch when OPENSEARCH_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from chalicelib.faq.embed import Vector, normalise
from chalicelib.faq.model import Faq
from chalicelib.faq.search.base import SearchBackend
from chalicelib.faq.search.embedded import EmbeddedBackend


class TopicEmbedder:
    """Deterministic vectors: one axis per topic, found by keyword; text with no keyword gets the last axis."""

    TOPICS = (("refund", "money back", "reimburse"), ("deliver", "parcel", "shipping", "package"),
              ("password", "log in", "login"), ("invoice", "bill"))
    dim = len(TOPICS) + 1

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> Vector:
        self.calls.append(list(texts))
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            lowered = text.lower()
            for axis, words in enumerate(self.TOPICS):
                rows[i, axis] = sum(lowered.count(w) for w in words)
            if not rows[i].any():
                rows[i, -1] = 1.0
        return normalise(rows)


FAQS = [
    Faq("refund", "How do I get a refund?", "From your orders page.",
        similar=("I want my money back", "refund for a broken item", "can I get a refund")),
    Faq("delivery", "When will my parcel arrive?", "In 3 to 5 days.", similar=("shipping time",)),
    Faq("password", "I forgot my password", "Use the reset link.", similar=("cannot log in",)),
    Faq("zh-return", "如何退货", "在订单页面申请退货。", language="zh", similar=("我想退款",)),
    Faq("zh-invoice", "怎么开发票", "在订单详情里申请。", language="zh"),
    Faq("hidden", "How do I get a refund for a gift card?", "You can't.", enabled=False),
]


def _opensearch(dim: int) -> Iterator[SearchBackend]:
    url = os.environ.get("OPENSEARCH_URL")
    if not url:
        pytest.skip("OPENSEARCH_URL is not set")
    from chalicelib.faq.search.opensearch import OpenSearchBackend

    backend = OpenSearchBackend(url, f"faq-contract-{uuid.uuid4().hex[:12]}", dim=dim,
                                region=os.environ.get("AWS_REGION", "us-east-1"),
                                service=os.environ.get("OPENSEARCH_SERVICE", "es"))
    try:
        yield backend
    finally:
        backend.drop_index()
        backend.close()


@pytest.fixture(params=["embedded", "opensearch"])
def backend(request: pytest.FixtureRequest) -> Iterator[SearchBackend]:
    if request.param == "embedded":
        yield EmbeddedBackend()
    else:
        yield from _opensearch(TopicEmbedder.dim)


@pytest.fixture
def embedder() -> TopicEmbedder:
    return TopicEmbedder()


@pytest.fixture
def indexed(backend: SearchBackend, embedder: TopicEmbedder) -> SearchBackend:
    assert backend.replace_all(FAQS, embedder) == 5
    return backend


def ids(backend: SearchBackend, query: str, language: str | None = None, vector: Vector | None = None) -> list[str]:
    return [h.faq_id for h in backend.search(query, 5, language=language, vector=vector)]


def test_replace_all_counts_the_enabled_faqs_and_drops_what_was_there(backend: SearchBackend) -> None:
    assert backend.count() == 0
    assert backend.replace_all(FAQS) == 5
    assert backend.count() == 5
    assert backend.replace_all(FAQS[:2]) == 2
    assert backend.count() == 2
    assert ids(backend, "password") == []


def test_a_disabled_faq_is_never_found(indexed: SearchBackend) -> None:
    assert "hidden" not in ids(indexed, "refund gift card")
    assert "hidden" not in ids(indexed, "refund gift card", vector=TopicEmbedder().embed(["refund"])[0])


def test_upsert_adds_replaces_and_a_disabled_version_removes(indexed: SearchBackend,
                                                             embedder: TopicEmbedder) -> None:
    indexed.upsert([Faq("warranty", "How long is the warranty?", "Two years.")], embedder)
    assert indexed.count() == 6
    assert ids(indexed, "warranty") == ["warranty"]

    indexed.upsert([Faq("delivery", "Do you ship abroad?", "Yes.")], embedder)
    assert indexed.count() == 6
    assert ids(indexed, "abroad") == ["delivery"]
    assert "delivery" not in ids(indexed, "arrive")  # the old texts are gone

    indexed.upsert([Faq("warranty", "How long is the warranty?", "Two years.", enabled=False)], embedder)
    assert indexed.count() == 5
    assert ids(indexed, "warranty") == []


def test_delete_removes_and_ignores_unknown_ids(indexed: SearchBackend) -> None:
    indexed.delete(["password", "no-such-faq"])
    assert indexed.count() == 4
    assert ids(indexed, "forgot password") == []
    assert ids(indexed, "forgot password", vector=TopicEmbedder().embed(["password"])[0]) != ["password"]


def test_each_faq_comes_once_with_its_best_text(indexed: SearchBackend) -> None:
    hits = indexed.search("refund", 5)
    assert [h.faq_id for h in hits] == ["refund"]  # three of its texts say "refund"
    assert hits[0].matched in FAQS[0].texts()
    assert hits[0].lexical == hits[0].score > 0
    assert hits[0].semantic is None


def test_a_similar_question_matches_and_is_the_matched_text(indexed: SearchBackend) -> None:
    hits = indexed.search("money back", 5)
    assert hits[0].faq_id == "refund"
    assert hits[0].matched == "I want my money back"


def test_english_words_are_stemmed(indexed: SearchBackend) -> None:
    assert ids(indexed, "refunds")[0] == "refund"
    assert ids(indexed, "arriving parcels")[0] == "delivery"


def test_a_two_character_chinese_word_matches_inside_a_longer_text(indexed: SearchBackend) -> None:
    assert ids(indexed, "退货")[0] == "zh-return"
    assert ids(indexed, "发票")[0] == "zh-invoice"
    assert ids(indexed, "我要退货 please")[0] == "zh-return"  # mixed Chinese and English


def test_the_language_filter_limits_both_sides(indexed: SearchBackend) -> None:
    vector = TopicEmbedder().embed(["refund"])[0]
    assert ids(indexed, "退货", language="en") == []
    assert set(ids(indexed, "refund", language="zh", vector=vector)) <= {"zh-return", "zh-invoice"}
    assert "refund" in ids(indexed, "refund", language="en", vector=vector)
    assert ids(indexed, "退货", language="fr") == []


def test_vector_candidates_come_when_no_word_matches(indexed: SearchBackend) -> None:
    vector = TopicEmbedder().embed(["reimburse"])[0]
    assert ids(indexed, "reimbursement please") == []  # no indexed text shares a word with it
    hits = indexed.search("reimbursement please", 2, vector=vector)
    assert hits[0].faq_id == "refund"
    assert hits[0].lexical == 0.0
    assert hits[0].semantic == pytest.approx(1.0, abs=1e-3)
    assert hits[0].score == hits[0].semantic
    assert len(hits) == 2


def test_with_a_vector_every_hit_carries_both_scores(indexed: SearchBackend) -> None:
    vector = TopicEmbedder().embed(["parcel"])[0]
    hits = indexed.search("password", 2, vector=vector)
    by_id = {h.faq_id: h for h in hits}
    # The lexical candidate gets its cosine too, and the cosine candidate its (zero) lexical score.
    assert by_id["password"].lexical > 0
    assert by_id["password"].semantic == pytest.approx(0.0, abs=1e-3)
    assert by_id["delivery"].semantic == pytest.approx(1.0, abs=1e-3)
    assert hits[0].faq_id == "delivery"  # sorted by cosine when a vector is given
    assert len(hits) == len(by_id)


def test_a_blank_query_without_a_vector_finds_nothing(indexed: SearchBackend) -> None:
    assert indexed.search("", 5) == []
    assert indexed.search("   ", 5) == []
    assert indexed.search("😀!?", 5) == []


def test_faqs_indexed_without_vectors_are_found_by_words_only(backend: SearchBackend) -> None:
    backend.replace_all(FAQS)
    hits = backend.search("refund", 5, vector=TopicEmbedder().embed(["refund"])[0])
    assert [h.faq_id for h in hits] == ["refund"]
    assert hits[0].semantic is None
