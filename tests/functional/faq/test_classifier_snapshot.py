"""The intent classifier on a cold process: restored from the snapshot in S3 (moto) that the writers keep,
else fitted from the store off the request path (the requests meanwhile ranked without it); other processes'
edits reach it; concurrent writers lose nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chalicelib.faq.kb import KnowledgeBase
from chalicelib.faq.matcher import IntentModel
from chalicelib.faq.model import Faq
from chalicelib.faq.search.embedded import EmbeddedBackend
from chalicelib.faq.snapshots import MemorySnapshots, S3Snapshots, SnapshotConflict, classifier_snapshots
from chalicelib.faq.store import FaqStore
from chalicelib.platform import aws as aws_clients
from chalicelib.settings import get_settings
from tests.conftest import CountingEmbedder, WordsEmbedder

BUCKET = "cs-test-faq-models"
FAQS = [
    Faq("refund", "How do I get a refund?", "From your orders page.",
        similar=("I want my money back", "refund my order please")),
    Faq("delivery", "When will my parcel arrive?", "In 3 to 5 days.", similar=("where is my parcel",)),
    Faq("password", "I forgot my password", "Use the reset link.", similar=("reset my password",)),
]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def s3(aws: None) -> S3Snapshots:
    aws_clients.client("s3").create_bucket(Bucket=BUCKET)
    return S3Snapshots(BUCKET, "cs-test/faq-intent-model.npz")


class Later:
    """Work a knowledge base put off the request path, run when the test says (a thread on AWS)."""

    def __init__(self) -> None:
        self.pending: list[Callable[[], None]] = []

    def __call__(self, work: Callable[[], None]) -> None:
        self.pending.append(work)

    def run(self) -> int:
        done, self.pending = self.pending, []
        for work in done:
            work()
        return len(done)


def process(backend: EmbeddedBackend, snapshots: S3Snapshots | MemorySnapshots | None,
            embedder: CountingEmbedder | None = None, clock: Clock | None = None,
            later: Later | None = None) -> KnowledgeBase:
    """A Lambda container: its own knowledge base object over the shared index (OpenSearch on AWS)."""
    return KnowledgeBase(FaqStore(), backend, embedder or CountingEmbedder(), snapshots=snapshots,
                         clock=clock or Clock(), learn_later=later or Later())


def known(kb: KnowledgeBase, query: str = "refund my money") -> set[str]:
    """The FAQs the process's classifier scores for ``query``."""
    return {c.faq_id for c in kb.matcher().candidates_for(query) if c.intent is not None}


def test_a_cold_process_restores_the_classifier_without_embedding_the_knowledge_base(s3: S3Snapshots) -> None:
    shared = EmbeddedBackend()
    writer = process(shared, s3)
    writer.store.put_many(FAQS)
    assert writer.rebuild() == 3
    cold = CountingEmbedder()
    reader = process(shared, s3, cold)
    assert known(reader) == {"refund", "delivery", "password"}
    assert cold.texts == ["refund my money"]  # the query only: no text of the knowledge base
    assert reader.matcher().rank("refund my order please")[0].faq_id == "refund"
    assert known(reader) == known(writer)

    def answers(kb: KnowledgeBase) -> dict[str, float]:
        return {c.faq_id: round(c.answer, 2) for c in kb.matcher().candidates_for("refund my money")
                if c.answer is not None}

    assert answers(reader) == answers(writer) and set(answers(reader)) == {"refund", "delivery", "password"}
    assert reader.matcher().intents.vocabulary.correct("refnud") == "refund"  # its words came with it


def test_with_no_snapshot_saved_the_first_process_fits_it_off_the_request_path_and_saves_it(
        s3: S3Snapshots) -> None:
    shared = EmbeddedBackend()
    FaqStore().put_many(FAQS)
    shared.replace_all(FAQS, WordsEmbedder())  # filled elsewhere, snapshot never saved
    first, later = CountingEmbedder(), Later()
    kb = process(shared, s3, first, later=later)
    assert known(kb) == set()  # the request ranks without the classifier...
    assert kb.matcher().rank("refund my order please")[0].faq_id == "refund"
    assert first.texts == ["refund my money", "refund my order please"]  # ...and embedded only its queries
    assert s3.version() is None
    assert later.run() == 1  # the fit was put off the request path, once
    assert known(kb) == {"refund", "delivery", "password"}
    assert len(first.texts) == 2 + sum(len(f.texts()) + 1 for f in FAQS) + 1  # texts and answers, one query
    assert s3.version() is not None
    again = CountingEmbedder()
    assert known(process(shared, s3, again)) == {"refund", "delivery", "password"}
    assert len(again.texts) == 1


def test_without_a_snapshot_store_a_cold_process_fits_the_classifier_from_the_store(aws: None) -> None:
    shared = EmbeddedBackend()
    FaqStore().put_many(FAQS)
    shared.replace_all(FAQS, WordsEmbedder())
    later = Later()
    kb = process(shared, None, later=later)
    kb.matcher()
    assert later.run() == 1
    assert known(kb) == {"refund", "delivery", "password"}


def test_edits_reach_the_other_processes_within_the_refresh_interval(s3: S3Snapshots) -> None:
    shared, clock = EmbeddedBackend(), Clock()
    writer = process(shared, s3)
    writer.store.put_many(FAQS)
    writer.rebuild()
    reader = process(shared, s3, clock=clock)
    assert "warranty" not in known(reader, "warranty")
    writer.create({"faq_id": "warranty", "question": "How long is the warranty?", "answer": "Two years.",
                   "similar": ["warranty period"]})
    writer.delete("password")
    clock.now += 10
    assert "warranty" not in known(reader, "warranty")  # checked at most every 30 seconds
    clock.now += 30
    assert known(reader, "warranty period") >= {"warranty"}
    assert "password" not in known(reader, "reset my password")


def test_two_writers_at_once_lose_neither_edit(s3: S3Snapshots) -> None:
    shared = EmbeddedBackend()
    first = process(shared, s3)
    first.store.put_many(FAQS)
    first.rebuild()
    second = process(shared, s3)
    second.matcher()  # both now hold the same snapshot version
    first.create({"faq_id": "warranty", "question": "How long is the warranty?", "answer": "Two years."})
    second.create({"faq_id": "invoice", "question": "Where is my invoice?", "answer": "In your orders."})
    third = process(shared, s3)
    assert known(third, "warranty invoice refund") == {"refund", "delivery", "password", "warranty", "invoice"}


def test_a_broken_snapshot_store_does_not_stop_the_robot_or_the_writes(aws: None) -> None:
    shared = EmbeddedBackend()
    missing = S3Snapshots("no-such-bucket", "model.npz")
    writer = process(shared, missing)
    writer.store.put_many(FAQS)
    assert writer.rebuild() == 3  # the save fails and is logged
    writer.create({"faq_id": "warranty", "question": "How long is the warranty?", "answer": "Two years."})
    later = Later()
    reader = process(shared, missing, later=later)
    assert reader.matcher().rank("refund my order please")[0].faq_id == "refund"
    assert later.run() == 1
    assert "refund" in known(reader)  # fitted from the store instead


def test_a_snapshot_of_another_model_is_replaced(aws: None) -> None:
    snapshots = MemorySnapshots()
    foreign = IntentModel()
    foreign.replace_all({"x": WordsEmbedder().embed(["some text"])[:, :8]})
    snapshots.save(foreign.to_bytes(), None)  # 8-dimensional vectors: another model's
    shared = EmbeddedBackend()
    FaqStore().put_many(FAQS)
    shared.replace_all(FAQS, WordsEmbedder())
    later = Later()
    kb = process(shared, snapshots, later=later)
    kb.matcher()
    assert later.run() == 1
    assert known(kb) == {"refund", "delivery", "password"}
    assert snapshots.version() == "v2"  # replaced by one of this model
    cold = CountingEmbedder()
    assert known(process(shared, snapshots, cold)) == {"refund", "delivery", "password"}
    assert len(cold.texts) == 1
    with pytest.raises(SnapshotConflict):
        snapshots.save(b"", "v1")


def test_the_settings_name_the_s3_object(monkeypatch: pytest.MonkeyPatch) -> None:
    assert classifier_snapshots() is None  # no bucket configured: none
    monkeypatch.setenv("FAQ_MODEL_BUCKET", "models")
    get_settings.cache_clear()
    snapshots = classifier_snapshots()
    assert isinstance(snapshots, S3Snapshots)
    assert (snapshots.bucket, snapshots.key) == ("models", f"{get_settings().table_prefix}/faq-intent-model.npz")
