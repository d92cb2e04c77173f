"""DynamoDB's per-request atomicity, which the local stack's many handler threads rely on."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.sessions.models import Session
from local import dynamodb_atomic


@pytest.fixture
def atomic(aws: None) -> Iterator[None]:
    dynamodb_atomic.install()
    yield
    dynamodb_atomic.uninstall()


def test_concurrent_adds_hand_out_distinct_sequence_numbers(atomic: None) -> None:
    Session("s_1", visitor_id="v", status="active", seq=0, created_at=0, updated_at=0).save()

    def next_seq(_: int) -> int:
        session = Session("s_1")
        session.update(actions=[Session.seq.add(1)])
        return int(session.seq)

    with ThreadPoolExecutor(max_workers=8) as pool:
        seqs = list(pool.map(next_seq, range(400)))
    assert sorted(seqs) == list(range(1, 401))
    assert Session.get("s_1").seq == 400
