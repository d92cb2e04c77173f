"""How far a rebuild of the index has got, measured where its time goes: embedding the FAQs' texts.

A rebuild embeds every text in one call and then writes the index in one go, so the only place to watch it
from outside the matcher is the embedder it is given. :class:`CountingEmbedder` passes the texts on in chunks
and reports the share embedded after each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from chalicelib.faq.embed import Embedder, Vector

CHUNK = 128  # texts per call of the inner embedder (two of MiniLM's batches): a report every ~0.3 s


class CountingEmbedder:
    """Embeds through ``inner`` in chunks of ``chunk`` texts, telling ``report`` the share of the call's texts
    embedded so far (0..1, never lower than it said before)."""

    def __init__(self, inner: Embedder, report: Callable[[float], object], chunk: int = CHUNK) -> None:
        self.inner = inner
        self._report = report
        self._chunk = chunk
        self._share = 0.0

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str]) -> Vector:
        if not texts:
            return self.inner.embed(texts)
        parts = []
        for start in range(0, len(texts), self._chunk):
            parts.append(self.inner.embed(texts[start:start + self._chunk]))
            share = min(len(texts), start + self._chunk) / len(texts)
            if share > self._share:
                self._share = share
                self._report(share)
        out: Vector = np.concatenate(parts)
        return out
