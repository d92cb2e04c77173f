"""The one interface both search backends implement (embedded tantivy locally, OpenSearch on AWS).

A backend indexes every text of a FAQ (the question and each similar question, as separate documents)
and, when given an :class:`~chalicelib.faq.embed.Embedder` at index time, one unit vector per text.
A search returns candidate FAQs from both sides: the best ``k`` FAQs by lexical score (BM25, English
stemming, CJK n-grams) and, when a query ``vector`` is given, the best ``k`` FAQs by cosine. Every FAQ
appears once and carries both of its scores, so the matcher can fuse them and gate on confidence the
same way whichever backend answered:

- ``lexical``: the FAQ's best BM25 score over its texts; ``0.0`` for a FAQ that is not among the top
  ``k`` lexical FAQs (a candidate found by vector only).
- ``semantic``: the FAQ's best cosine over its texts' vectors (``None`` when no vector was given or
  the FAQ was indexed without vectors). It is computed for lexical candidates too, not only for the
  FAQs the vector search returned.
- ``matched``: the text behind ``semantic`` when a vector was given, else the text behind ``lexical``.
- ``score``: ``semantic`` when a vector was given (``-1.0`` for a FAQ without vectors), else ``lexical``;
  hits come sorted by it, best first, ties broken by ``faq_id``.

Vectors are L2-normalised ``float32`` rows of the embedder's ``dim`` (so cosine is a dot product; on
OpenSearch a ``knn_vector`` field with ``cosinesimil``). Pass the same embedder to every index call of
one backend: a FAQ indexed without one is found by lexical match only.

A backend that cannot answer (a cluster unreachable, too slow, refusing) raises :class:`SearchUnavailable`
and nothing else of its vendor's: callers on a visitor's path catch exactly that and go on without search.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from chalicelib.faq.embed import Embedder, Vector
from chalicelib.faq.model import Faq, Hit

# The cuts and the outage error are every index's (the conversations' too): re-exported for the FAQ code.
from chalicelib.platform.textsearch import CJK, SearchUnavailable, cjk_terms

__all__ = ["CJK", "SearchBackend", "SearchUnavailable", "cjk_terms"]


class SearchBackend(Protocol):
    def replace_all(self, faqs: Iterable[Faq], embedder: Embedder | None = None) -> int:
        """Drop the index and build it from ``faqs`` (disabled ones are left out); returns how many.

        With ``embedder``, every text of every FAQ is embedded and indexed as a vector too.
        """
        ...

    def upsert(self, faqs: Sequence[Faq], embedder: Embedder | None = None) -> None:
        """Add or replace these FAQs (a disabled one is removed), with vectors when ``embedder`` is given."""
        ...

    def delete(self, faq_ids: Sequence[str]) -> None:
        """Remove these FAQs; unknown ids are ignored."""
        ...

    def search(self, query: str, k: int = 10, language: str | None = None,
               vector: Vector | None = None) -> list[Hit]:
        """Candidate FAQs for ``query``: the union of the top ``k`` by lexical score and, with ``vector``
        (the query's unit vector from the index's embedder), the top ``k`` by cosine; so up to ``2k``
        hits, each FAQ once with both scores (see the module docstring). ``language`` limits both sides
        to FAQs in that language. A blank query with no vector finds nothing.
        """
        ...

    def count(self) -> int:
        """How many FAQs are indexed."""
        ...
