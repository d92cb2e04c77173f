"""The clock's rounds: what one Express execution a minute does, and when."""

from __future__ import annotations

from chalicelib.platform import ticks


def test_a_minute_is_twelve_rounds_sweeping_every_shard_with_the_queue_tick_every_fifteen_seconds() -> None:
    rounds = ticks.rounds(period_seconds=60, round_seconds=5, tick_seconds=15, shards=8)
    assert len(rounds) == 12 and {r["wait_seconds"] for r in rounds} == {5}
    assert [i for i, r in enumerate(rounds) if {"op": "tick"} in r["ops"]] == [0, 3, 6, 9]
    every_round = [*({"op": "sweep", "shards": [k]} for k in range(8)), {"op": "dashboard"}]
    assert all([op for op in r["ops"] if op["op"] != "tick"] == every_round for r in rounds)


def test_a_clock_never_outlives_an_express_execution() -> None:
    # Asked for a day (the local stack's way of switching the clock off), it covers 4 minutes at most.
    rounds = ticks.rounds(period_seconds=86_400, round_seconds=1, tick_seconds=10, shards=2)
    assert len(rounds) * 1 == ticks.MAX_SECONDS < 300


def test_the_shards_can_be_swept_by_fewer_operations_each_taking_several() -> None:
    (first,) = ticks.rounds(period_seconds=5, round_seconds=5, tick_seconds=60, shards=8, sweepers=3)
    sweeps = [op["shards"] for op in first["ops"] if op["op"] == "sweep"]
    assert sweeps == [[0, 3, 6], [1, 4, 7], [2, 5]]  # every shard once
