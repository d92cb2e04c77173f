"""Fixtures of the functional tests: the knowledge base over a search backend that records its writes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest

from chalicelib.faq.embed import Embedder, Vector
from chalicelib.faq.kb import KnowledgeBase
from chalicelib.faq.model import Faq, Hit
from chalicelib.faq.search.embedded import EmbeddedBackend
from chalicelib.faq.store import FaqStore


class RecordingBackend:
    """A SearchBackend that records every write and searches through a real embedded index."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.inner = EmbeddedBackend()

    def replace_all(self, faqs: Iterable[Faq], embedder: Embedder | None = None) -> int:
        kept = list(faqs)
        self.calls.append(("replace_all", [f.faq_id for f in kept]))
        return self.inner.replace_all(kept, embedder)

    def upsert(self, faqs: Sequence[Faq], embedder: Embedder | None = None) -> None:
        self.calls.append(("upsert", [f.faq_id for f in faqs]))
        self.inner.upsert(faqs, embedder)

    def delete(self, faq_ids: Sequence[str]) -> None:
        self.calls.append(("delete", list(faq_ids)))
        self.inner.delete(faq_ids)

    def search(self, query: str, k: int = 10, language: str | None = None,
               vector: Vector | None = None) -> list[Hit]:
        return self.inner.search(query, k, language, vector)

    def count(self) -> int:
        return self.inner.count()

    def written(self) -> set[str]:
        return {faq_id for op, ids in self.calls if op in ("upsert", "replace_all") for faq_id in ids}


@pytest.fixture
def backend() -> RecordingBackend:
    return RecordingBackend()


@pytest.fixture
def kb(aws: None, backend: RecordingBackend) -> KnowledgeBase:
    return KnowledgeBase(FaqStore(), backend, None, load_on_first_use=False)
