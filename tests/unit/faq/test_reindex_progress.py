"""How often a reindex job writes its progress (chalicelib/faq/jobs.py ``Progress``) and how a rebuild measures it
(chalicelib/faq/progress.py ``CountingEmbedder``): every few percent and on a heartbeat, never on every FAQ."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chalicelib.faq.embed import Vector
from chalicelib.faq.jobs import HEARTBEAT_SECONDS, PROGRESS_STEP, Progress
from chalicelib.faq.progress import CountingEmbedder
from chalicelib.platform.clock import Clock
from tests.conftest import WordsEmbedder


class Writes:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))


def test_a_job_of_10000_faqs_reported_on_each_one_is_written_about_20_times() -> None:
    writes = Writes()
    progress = Progress(writes, Clock(lambda: 0.0))
    for done in range(10_001):
        progress(done, 10_000)
    assert writes.calls[0] == (0, 10_000) and writes.calls[-1] == (10_000, 10_000)
    assert len(writes.calls) == round(1 / PROGRESS_STEP) + 1  # every 5%, and the start
    steps = [b[0] - a[0] for a, b in zip(writes.calls, writes.calls[1:], strict=False)]
    assert set(steps) == {500}


def test_a_slow_job_still_writes_a_heartbeat_while_it_advances_and_nothing_while_it_does_not() -> None:
    now = [0.0]
    writes = Writes()
    progress = Progress(writes, Clock(lambda: now[0]))
    progress(0, 1000)
    progress(1, 1000)
    now[0] = HEARTBEAT_SECONDS - 1
    progress(2, 1000)
    assert writes.calls == [(0, 1000)]
    now[0] = HEARTBEAT_SECONDS
    progress(3, 1000)
    assert writes.calls == [(0, 1000), (3, 1000)]
    now[0] += 10 * HEARTBEAT_SECONDS
    progress(3, 1000)  # the same figures again: nothing new to say
    assert len(writes.calls) == 2


def test_the_end_and_a_changed_total_are_always_written() -> None:
    writes = Writes()
    progress = Progress(writes, Clock(lambda: 0.0))
    progress(0, 0)
    progress(0, 7)
    progress(7, 7)
    assert writes.calls == [(0, 0), (0, 7), (7, 7)]


class Recording(WordsEmbedder):
    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed(self, texts: Sequence[str]) -> Vector:
        self.calls.append(len(texts))
        return super().embed(texts)


def test_the_counting_embedder_embeds_in_chunks_reports_shares_and_changes_no_vector() -> None:
    inner = Recording()
    shares: list[float] = []
    counting = CountingEmbedder(inner, shares.append, chunk=4)
    texts = [f"text number {i}" for i in range(10)]
    vectors = counting.embed(texts)
    assert inner.calls == [4, 4, 2]
    assert shares == [0.4, 0.8, 1.0]
    assert np.array_equal(vectors, WordsEmbedder().embed(texts))
    assert counting.dim == inner.dim
    counting.embed(texts[:3])  # a later, smaller call never reports less than was said
    assert shares == [0.4, 0.8, 1.0]
