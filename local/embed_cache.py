"""A disk cache of text vectors for the local stack, so a restart (or the next test's stack) does not
embed the same knowledge base again. Keyed by the text's SHA-256 and the model; written atomically."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from chalicelib.faq.embed import Embedder, Vector


@contextlib.contextmanager
def filling(path: Path) -> Iterator[None]:
    """Held by a process while it reads and fills the cache at ``path`` (a lock file beside it): stacks that
    start at once on a cold cache (the test workers of a fresh clone) then embed the knowledge base once
    between them, not once each, and the later ones read the vectors the first saved."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class CachingEmbedder:
    """Wraps an embedder: vectors already in ``path`` are read, the rest embedded and added."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        self._inner = inner
        self._path = path
        self._lock = threading.Lock()
        self._known: dict[str, Vector] | None = None
        self._dirty = False

    @property
    def dim(self) -> int:
        return self._inner.dim

    def _load(self) -> dict[str, Vector]:
        if self._known is None:
            self._known = {}
            if self._path.exists():
                try:
                    with np.load(self._path) as data:
                        self._known = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
                except (OSError, ValueError):
                    self._known = {}  # a damaged cache is only a slower start
        return self._known

    def embed(self, texts: Sequence[str]) -> Vector:
        return self._cached(texts, "", self._inner.embed)

    def passages(self, texts: Sequence[str]) -> Vector:
        """For an embedder that reads answers apart from questions (``embed.PassageEmbedder``)."""
        return self._cached(texts, "passage:", self._inner.passages)  # type: ignore[attr-defined]

    def _cached(self, texts: Sequence[str], kind: str, embed: Callable[[Sequence[str]], Vector]) -> Vector:
        keys = [hashlib.sha256((kind + t).encode("utf-8")).hexdigest() for t in texts]
        with self._lock:
            known = self._load()
            missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
        if missing:
            vectors = embed([t for _, t in missing])
            with self._lock:
                known.update({k: vectors[i] for i, (k, _) in enumerate(missing)})
                self._dirty = True
        out = np.stack([known[k] for k in keys]) if keys else np.zeros((0, self.dim), dtype=np.float32)
        return out.astype(np.float32)

    def save(self) -> None:
        """Write the cache if it grew (atomically: several stacks may share it)."""
        with self._lock:
            if not self._dirty or self._known is None:
                return
            self._path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._path.with_name(f".{self._path.stem}.{os.getpid()}.tmp.npz")
            keys = sorted(self._known)
            np.savez(tmp, keys=np.array(keys), vectors=np.stack([self._known[k] for k in keys]))
            tmp.replace(self._path)
            self._dirty = False
