"""The local stack's vector cache (local/embed_cache.py): stacks that start at once fill it one at a time."""

from __future__ import annotations

import threading
from pathlib import Path

from local.embed_cache import filling


def test_a_second_filler_waits_until_the_first_is_done(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "embed-cache.npz"
    order: list[str] = []

    def second() -> None:
        with filling(cache):
            order.append("second filled")

    with filling(cache):
        other = threading.Thread(target=second)
        other.start()
        other.join(0.3)
        assert other.is_alive()  # held off by the first (flock: its own open of the lock file)
        order.append("first filled")
    other.join(5)
    assert order == ["first filled", "second filled"]
