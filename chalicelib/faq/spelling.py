"""Typos in a question, corrected against the knowledge base's own words.

"cancfel", "biull" and "moidfy" reach neither BM25 nor the sentence model as the words they stand for. A word of
the question of four letters or more that is neither in the knowledge base nor a whole word of the model's
vocabulary (an English lexicon of about 22,000 words) is replaced by the knowledge base's most frequent word within
one edit (two for words of eight letters or more), counting a swap of neighbours as one. Candidates come from an
index of each word's deletions (as SymSpell does), so a correction costs a few dictionary look-ups, whatever the
vocabulary's size. The work is bounded by the word's length, so a word longer than any the knowledge base holds (plus
the edits allowed) is left alone at once, and words past ``MAX_LENGTH`` letters are neither indexed nor corrected: a
pasted 500-letter word would otherwise make about 116,000 deletions, the cost of ten ordinary questions.
Measured (docs/faq-matching.md): Bitext top-1 0.983 -> 0.990, its out-of-scope rejection at 10% false rejection
0.842 -> 0.873; HINT3 in-scope unchanged, curekart's rejection 0.673 -> 0.686.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

from chalicelib.faq.model import Faq

_WORD = re.compile(r"[a-z]+")
_TOKEN = re.compile(r"[A-Za-z]+")
MIN_LENGTH = 4  # shorter words are left alone: chat shorthand ("pls", "thx", "lol") sits one edit from many words
LONG = 8  # words this long or longer may be two edits away
# No English word a shop's FAQ relies on is longer ("internationalization" has 20 letters); a longer run of letters
# is a code, a hash or a paste, and its two-edit deletions alone grow with the square of its length.
MAX_LENGTH = 30
_TOKENIZER = Path(__file__).with_name("minilm") / "tokenizer.json"


@lru_cache(maxsize=1)
def lexicon() -> frozenset[str]:
    """The whole words of the sentence model's vocabulary: a word in it is a word, not a typo."""
    vocab = json.loads(_TOKENIZER.read_text(encoding="utf-8"))["model"]["vocab"]
    return frozenset(w for w in vocab if w.isascii() and w.isalpha() and w.islower())


def words_of(faq: Faq) -> tuple[str, ...]:
    """The words a FAQ contributes: those of its question, similar questions and answer."""
    return tuple(w for text in (*faq.texts(), faq.answer) for w in _WORD.findall(text.lower())
                 if MIN_LENGTH <= len(w) <= MAX_LENGTH)


def _reach(word: str) -> int:
    return 1 if len(word) < LONG else 2


def _deletions(word: str, depth: int) -> set[str]:
    out = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
        out |= frontier
    return out


def distance(a: str, b: str) -> int:
    """Edits from ``a`` to ``b``: insertions, deletions, substitutions and swaps of neighbours."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


class Vocabulary:
    """The knowledge base's words, kept in step with its FAQs, and the typo correction over them."""

    def __init__(self) -> None:
        self._by_faq: dict[str, tuple[str, ...]] = {}
        self._counts: Counter[str] = Counter()
        self._index: dict[str, set[str]] = {}  # a deletion of a word -> the words it comes from
        self._lengths: Counter[int] = Counter()  # how many distinct words have each length
        self._lock = threading.Lock()
        # Deletions made and candidates scored by corrections so far: what a correction costs, for tests and
        # benchmarks (never a clock).
        self.work = 0

    def replace_all(self, words: Mapping[str, Iterable[str]]) -> None:
        with self._lock:
            self._by_faq, self._counts, self._index, self._lengths = {}, Counter(), {}, Counter()
            for faq_id, ws in words.items():
                self._add(faq_id, tuple(ws))

    def set(self, faq_id: str, words: Iterable[str]) -> None:
        with self._lock:
            self._remove(faq_id)
            self._add(faq_id, tuple(words))

    def remove(self, faq_id: str) -> None:
        with self._lock:
            self._remove(faq_id)

    def by_faq(self) -> dict[str, tuple[str, ...]]:
        with self._lock:
            return dict(self._by_faq)

    def _add(self, faq_id: str, words: tuple[str, ...]) -> None:
        # Over-long words never reach the index (words_of drops them; a caller's own list may not have).
        words = tuple(w for w in words if len(w) <= MAX_LENGTH)
        self._by_faq[faq_id] = words
        for w in words:
            if self._counts[w] == 0:
                self._lengths[len(w)] += 1
                for d in _deletions(w, _reach(w)):
                    self._index.setdefault(d, set()).add(w)
            self._counts[w] += 1

    def _remove(self, faq_id: str) -> None:
        for w in self._by_faq.pop(faq_id, ()):
            self._counts[w] -= 1
            if self._counts[w] <= 0:
                del self._counts[w]
                self._lengths[len(w)] -= 1
                if self._lengths[len(w)] <= 0:
                    del self._lengths[len(w)]
                for d in _deletions(w, _reach(w)):
                    holders = self._index.get(d)
                    if holders is not None:
                        holders.discard(w)
                        if not holders:
                            del self._index[d]

    def correct(self, text: str) -> str:
        """``text`` with each word that is a typo of a knowledge-base word replaced by that word."""
        known = lexicon()
        with self._lock:
            return _TOKEN.sub(lambda m: self._fix(m.group(0), known), text)

    def _fix(self, token: str, known: frozenset[str]) -> str:
        word = token.lower()
        if len(word) < MIN_LENGTH or word in self._counts or word in known:
            return token
        reach = _reach(word)
        # A word within ``reach`` edits is at most ``reach`` letters shorter: past the longest word plus that,
        # nothing can match, so nothing is generated.
        if len(word) > min(MAX_LENGTH, max(self._lengths, default=0)) + reach:
            return token
        variants = _deletions(word, reach)
        candidates = {c for d in variants for c in self._index.get(d, ())}
        self.work += len(variants) + len(candidates)
        best: tuple[int, int, str] | None = None
        for c in candidates:
            d = distance(word, c)
            if d <= reach and (best is None or (d, -self._counts[c], c) < best):
                best = (d, -self._counts[c], c)
        return best[2] if best is not None else token
