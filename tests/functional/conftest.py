"""Fixtures of the functional tests: the services behind the Chalice app, and the knowledge base over a
search backend that records its writes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.faq.embed import Embedder, Vector
from chalicelib.faq.kb import KnowledgeBase
from chalicelib.faq.model import Faq, Hit
from chalicelib.faq.search.embedded import EmbeddedBackend
from chalicelib.faq.store import FaqStore
from chalicelib.wiring import Services, build, override
from tests.conftest import RecordingSender, RecordingTimer, routing_config


@pytest.fixture
def svc(aws: None, sender: RecordingSender, timer: RecordingTimer) -> Services:
    """The app's services over recording fakes, with the test routing configuration (files may override)."""
    services = build(sender, timer, config=lambda: routing_config())
    override(services)
    return services


@pytest.fixture
def client(svc: Services) -> Iterator[Client]:
    """Chalice's test client over ``svc``."""
    with Client(app) as c:
        yield c


def error(response: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """The error body of a refused REST call, after checking its status, code and field."""
    assert response.status_code == status, response.body
    body: dict[str, Any] = response.json_body["error"]
    assert (body["code"], body.get("field")) == (code, field), body
    return body


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
