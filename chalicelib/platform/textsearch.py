"""Text analysis and the outage error shared by every search index (the FAQ knowledge base, conversations).

Both backends cut text the same way: Latin-script words lowercased and stemmed (English), and runs of CJK
characters, which are written without spaces, into overlapping character bigrams (plus single characters).
"退货" then matches "我想退货" and "如何退货运费" in either backend.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import tantivy

T = TypeVar("T")

# Han, kana and hangul: scripts written without spaces, so both backends cut them into n-grams.
CJK = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ebef]+")

_ANALYZER = (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
             .filter(tantivy.Filter.remove_long(40))
             .filter(tantivy.Filter.lowercase())
             .filter(tantivy.Filter.stemmer("english"))
             .build())


def cjk_terms(text: str) -> tuple[list[str], list[str]]:
    """(character bigrams, single characters) of the CJK runs in ``text``, in order."""
    bigrams: list[str] = []
    chars: list[str] = []
    for run in CJK.findall(text):
        chars.extend(run)
        bigrams.extend(run[i:i + 2] for i in range(len(run) - 1))
    return bigrams, chars


def latin_terms(text: str) -> list[str]:
    """Stemmed, lowercased words outside CJK runs (emoji and punctuation dropped)."""
    return list(_ANALYZER.analyze(CJK.sub(" ", text)))


class SearchUnavailable(Exception):
    """The search backend could not answer: unreachable, timed out, refused or rejected the request."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def built_index(schema: Any, items: Iterable[T], add: Callable[[Any, T], None]) -> Any:
    """A new tantivy index of ``items``, each written by ``add(writer, item)``, committed and loaded: a whole
    index rebuilt beside the one in use, which a search keeps reading until the caller swaps them."""
    index = tantivy.Index(schema)
    writer = index.writer(heap_size=50_000_000, num_threads=1)
    for item in items:
        add(writer, item)
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return index
