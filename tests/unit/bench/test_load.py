"""The load benchmark's own logic: the visitors' pace, the message accounting and the edited configuration."""

from __future__ import annotations

import copy
import itertools
import random
from pathlib import Path

import pytest

from bench.load import Ledger, config_edit, latency_summary, max_messages, visitor_schedule
from chalicelib.config.documents import load_directory, parse

ROOT = Path(__file__).resolve().parents[3]


def test_a_schedule_keeps_the_pace_and_its_bounds() -> None:
    rng = random.Random(7)
    for _ in range(200):
        offsets = visitor_schedule(rng, 60.0, (10.0, 30.0))
        assert 1 <= len(offsets) <= max_messages(60.0, (10.0, 30.0)) == 7
        assert offsets[0] < 20.0  # the first message within the first mean gap
        assert all(at < 60.0 for at in offsets)
        gaps = [b - a for a, b in itertools.pairwise(offsets)]
        assert all(10.0 <= gap <= 30.0 for gap in gaps)


def test_a_schedule_is_cut_at_its_limit_and_repeats_with_its_seed() -> None:
    assert len(visitor_schedule(random.Random(1), 1000.0, (1.0, 2.0), limit=5)) == 5
    assert visitor_schedule(random.Random(3), 60.0) == visitor_schedule(random.Random(3), 60.0)
    with pytest.raises(ValueError, match="gap"):
        visitor_schedule(random.Random(1), 60.0, (0.0, 1.0))


def test_every_message_is_accounted_for() -> None:
    ledger = Ledger()
    for n, sender in enumerate(("visitor", "agent", "visitor", "visitor", "agent"), 1):
        ledger.sent(f"c{n}", sender, "s1", at=10.0)
    # c1: shown, a retry's copy crossed the ACK (same message_id), delivered twice.
    assert ledger.received("c1", "m1", 10.1)
    assert not ledger.received("c1", "m1", 10.3)
    ledger.delivered("c1", "m1", 10.2)
    ledger.delivered("c1", "m1", 10.4)
    # c2: never ACKed in time: send_failed, although the recipient was shown it.
    ledger.received("c2", "m2", 10.5)
    ledger.failed("c2", 25.0)
    # c3: stored twice by the server: two message ids for one client_msg_id.
    ledger.received("c3", "m3", 10.05)
    ledger.received("c3", "m3b", 10.06)
    ledger.delivered("c3", "m3", 10.3)
    # c4: no outcome at all; c5: delivered.
    ledger.received("c5", "m5", 11.0)
    ledger.delivered("c5", "m5", 12.0)
    # Frames about messages this run never sent.
    ledger.received(None, "robot-1", 10.0)
    ledger.delivered("other", "m9", 10.0)
    assert ledger.outstanding() == 1

    got = ledger.summary({"s1": [{"client_msg_id": "c1"}, {"client_msg_id": "c2"}, {"client_msg_id": "c3"},
                                 {"client_msg_id": "c3"}]})
    assert (got["sent"], got["delivered"], got["failed"], got["lost"]) == (5, 3, 1, 1)
    assert got["by_sender"] == {"visitor": {"sent": 3, "delivered": 2, "failed": 0},
                                "agent": {"sent": 2, "delivered": 1, "failed": 1}}
    assert (got["duplicates_raw"], got["duplicates_after_dedup"]) == (2, 1)
    assert got["failed_but_received"] == 1
    assert got["repeated_delivered_frames"] == 1
    assert (got["unknown_receipts"], got["unknown_outcomes"]) == (1, 1)
    assert got["history"] == {"sessions_read": 1, "messages_stored": 3, "delivered_missing": 1, "failed_stored": 1,
                              "stored_twice": 1}
    received = got["latency_ms"]["send_to_received"]
    assert received["count"] == 4 and received["max"] == pytest.approx(1000.0)
    delivered = got["latency_ms"]["send_to_delivered"]
    assert delivered["count"] == 3 and delivered["p50"] == pytest.approx(300.0)


def test_a_frame_that_never_left_is_not_a_message() -> None:
    ledger = Ledger()
    ledger.sent("c1", "visitor", "s1", at=1.0)
    ledger.unsent("c1")
    assert ledger.summary()["sent"] == 0 and "history" not in ledger.summary()


def test_latency_summary_of_nothing() -> None:
    assert latency_summary([]) == {"count": 0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}


def test_the_edited_configuration_is_valid_and_serves_every_visitor() -> None:
    documents = copy.deepcopy(load_directory(ROOT / "config"))
    agents = [f"load{i:02d}" for i in range(1, 41)]
    config_edit(agents, 200, capacity=5)(documents)
    parse(documents["hours"], documents["groups"], documents["routing"])  # raises if the product refuses it
    general = next(g for g in documents["groups"]["groups"] if g["id"] == "general")
    assert general["members"] == agents and general["hours"] == "always" and "overflow" not in general
    assert general["queue"]["max_waiting"] >= 200
    assert documents["groups"]["agents"]["capacity"] == dict.fromkeys(agents, 5)
    assert documents["routing"]["rules"] == []
