"""A Lambda's init: the functions that embed load the model and the classifier and score once, the others load
nothing; a failing step falls back to loading on first use; a SnapStart restore refreshes what init left; and no
request ever fits the classifier from the whole knowledge base."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

import pytest

from chalicelib.edge import coldstart
from chalicelib.faq.kb import KnowledgeBase
from chalicelib.faq.matcher import WARM_UP_QUERY, Matcher
from chalicelib.faq.model import Faq
from chalicelib.faq.search.embedded import EmbeddedBackend
from chalicelib.faq.snapshots import MemorySnapshots
from chalicelib.faq.store import FaqStore
from chalicelib.platform import aws as aws_clients
from chalicelib.settings import Settings, get_settings
from tests.conftest import CountingEmbedder

FAQS = [
    Faq("refund", "How do I get a refund?", "From your orders page.", similar=("I want my money back",)),
    Faq("delivery", "When will my parcel arrive?", "In 3 to 5 days.", similar=("where is my parcel",)),
]


class LoadingEmbedder(CountingEmbedder):
    """Records its loads as MiniLmEmbedder.load would be called; can be told to fail."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.loads = 0
        self.fail = fail

    def load(self) -> None:
        self.loads += 1
        if self.fail:
            raise RuntimeError("model file unreadable")


class RecordingStore(FaqStore):
    """The FAQ table, counting the reads of every FAQ (what fitting the classifier needs)."""

    def __init__(self) -> None:
        super().__init__()
        self.full_reads = 0

    def all(self) -> list[Faq]:
        self.full_reads += 1
        return super().all()


class Hooks:
    """Stands in for snapshot_restore_py.register_after_restore."""

    def __init__(self) -> None:
        self.registered: list[Callable[[], None]] = []

    def __call__(self, hook: Callable[[], None]) -> None:
        self.registered.append(hook)

    def restore(self) -> None:
        for hook in self.registered:
            hook()


def lambda_settings(handler: str) -> Settings:
    return dataclasses.replace(get_settings(), lambda_function_name="cs-prod-WebsocketMessage-AbC12",
                               lambda_handler=handler)


def saved_snapshot(embedder: CountingEmbedder) -> MemorySnapshots:
    """The snapshot another container saved after indexing FAQS."""
    snapshots = MemorySnapshots()
    matcher = Matcher(EmbeddedBackend(), embedder)
    matcher.index(FAQS)
    snapshots.save(matcher.snapshot(), None)
    return snapshots


@pytest.fixture
def shared(aws: None) -> EmbeddedBackend:
    """The index another container filled (OpenSearch on AWS), and the FAQ table behind it."""
    FaqStore().put_many(FAQS)
    backend = EmbeddedBackend()
    backend.replace_all(FAQS, CountingEmbedder())
    return backend


def knowledge(backend: EmbeddedBackend, snapshots: MemorySnapshots, embedder: LoadingEmbedder,
              later: list[Callable[[], None]] | None = None) -> tuple[KnowledgeBase, RecordingStore]:
    store = RecordingStore()
    kb = KnowledgeBase(store, backend, embedder, snapshots=snapshots,
                       learn_later=(later if later is not None else []).append)
    return kb, store


@pytest.mark.parametrize("handler", ["app.ws_message", "app.app"])
def test_a_function_that_embeds_loads_the_model_restores_the_classifier_and_scores_once_at_init(
        shared: EmbeddedBackend, handler: str) -> None:
    snapshots = saved_snapshot(CountingEmbedder())
    embedder = LoadingEmbedder()
    kb, store = knowledge(shared, snapshots, embedder)
    hooks = Hooks()
    warmed = coldstart.at_init(lambda_settings(handler), lambda: kb, hooks)
    assert warmed is not None and warmed.failed is None and warmed.classifier == "snapshot"
    assert set(warmed.steps_ms) == {"onnxruntime_import_ms", "embedding_model_load_ms", "classifier_ms", "warm_up_ms"}
    assert embedder.loads == 1 and snapshots.loads == 1
    assert embedder.texts == [WARM_UP_QUERY]  # the warm-up pass: no text of the knowledge base embedded
    assert store.full_reads == 0
    assert len(hooks.registered) == 1
    # The first request finds everything ready: one embedding (its own), no load, no restore, no fit.
    embedder.texts.clear()
    assert kb.matcher().rank("I want my money back")[0].faq_id == "refund"
    assert embedder.texts == ["I want my money back"] and snapshots.loads == 1 and store.full_reads == 0


@pytest.mark.parametrize("handler", ["app.ws_connect", "app.ws_disconnect", "chalicelib.edge.routing.clock_step",
                                     "chalicelib.edge.im.delivery_step", "chalicelib.edge.routing.queue_tick"])
def test_a_function_that_never_embeds_loads_nothing(handler: str) -> None:
    def no_kb() -> KnowledgeBase:
        raise AssertionError("a function that never embeds built the knowledge base")

    hooks = Hooks()
    assert coldstart.at_init(lambda_settings(handler), no_kb, hooks) is None
    assert hooks.registered == []


def test_outside_lambda_nothing_is_loaded_at_import() -> None:
    settings = dataclasses.replace(get_settings(), lambda_function_name="", lambda_handler="app.ws_message")
    assert not coldstart.embeds(settings)
    assert not coldstart.embeds(get_settings())  # the tests' own process (and the local stack's)


def test_a_failing_step_is_logged_and_the_first_request_loads_what_init_did_not(shared: EmbeddedBackend) -> None:
    snapshots = saved_snapshot(CountingEmbedder())
    embedder = LoadingEmbedder(fail=True)
    kb, store = knowledge(shared, snapshots, embedder)
    warmed = coldstart.at_init(lambda_settings("app.ws_message"), lambda: kb, Hooks())
    assert warmed is not None and warmed.failed == "embedding_model_load_ms"
    assert snapshots.loads == 0  # the later steps did not run...
    assert kb.matcher().rank("where is my parcel")[0].faq_id == "delivery"  # ...and happen on first use
    assert snapshots.loads == 1 and store.full_reads == 0


def test_a_knowledge_base_that_cannot_be_built_does_not_fail_init() -> None:
    def broken() -> KnowledgeBase:
        raise ValueError("SEARCH_BACKEND must be embedded or opensearch")

    warmed = coldstart.at_init(lambda_settings("app.ws_message"), broken, Hooks())
    assert warmed == coldstart.Warmed(failed="knowledge_base")


def test_without_a_snapshot_init_fits_the_classifier_and_saves_it(shared: EmbeddedBackend) -> None:
    snapshots, embedder = MemorySnapshots(), LoadingEmbedder()
    later: list[Callable[[], None]] = []
    kb, store = knowledge(shared, snapshots, embedder, later)
    warmed = coldstart.at_init(lambda_settings("app.ws_message"), lambda: kb, Hooks())
    assert warmed is not None and warmed.classifier == "fitted" and warmed.failed is None
    assert store.full_reads == 1 and snapshots.version() is not None and later == []


def test_a_request_never_fits_the_classifier_from_the_whole_knowledge_base(shared: EmbeddedBackend) -> None:
    """No snapshot, no warm-up (it failed, or the process is not a Lambda): the first requests rank without the
    classifier and the fit is handed off the request path, once."""
    snapshots, embedder = MemorySnapshots(), LoadingEmbedder()
    later: list[Callable[[], None]] = []
    kb, store = knowledge(shared, snapshots, embedder, later)
    for question in ("I want my money back", "where is my parcel", "refund please"):
        assert kb.matcher().rank(question)
    assert store.full_reads == 0
    assert embedder.texts == ["I want my money back", "where is my parcel", "refund please"]
    assert len(later) == 1
    later.pop()()  # the background fit
    assert store.full_reads == 1 and snapshots.version() is not None
    assert {c.faq_id for c in kb.matcher().candidates_for("refund") if c.intent is not None} == {"refund", "delivery"}


def test_a_snapstart_restore_refreshes_connections_randomness_and_the_classifier(shared: EmbeddedBackend) -> None:
    embedder = LoadingEmbedder()
    snapshots = saved_snapshot(embedder)
    now = [1000.0]
    kb = KnowledgeBase(RecordingStore(), shared, embedder, snapshots=snapshots, clock=lambda: now[0])
    hooks = Hooks()
    coldstart.at_init(lambda_settings("app.ws_message"), lambda: kb, hooks)
    s3 = aws_clients.client("s3")
    random.seed(7)
    drawn = random.random()
    # Another container saves a newer classifier; this one is resumed from its snapshot seconds "later".
    newer = Matcher(shared, embedder)
    newer.index([*FAQS, Faq("invoice", "Where is my invoice?", "In your orders.")])
    snapshots.save(newer.snapshot(), snapshots.version())
    random.seed(7)
    hooks.restore()
    assert aws_clients.client("s3") is not s3  # new clients: new connections, credentials resolved again
    assert random.random() != drawn
    assert "invoice" in {c.faq_id for c in kb.matcher().candidates_for("invoice") if c.intent is not None}

