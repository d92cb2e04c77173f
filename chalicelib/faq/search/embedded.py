"""The local search backend: tantivy (in memory) for BM25 and a numpy matrix for vectors.

Each text of a FAQ (question, similar questions) is one tantivy document, so a short paraphrase is
scored on its own rather than diluted in one long field; results are collapsed to the FAQ's best text.
Latin-script words go through tantivy's English stemmer; CJK runs are cut into character bigrams
(and single characters, weighted low) because Chinese has no spaces: "退货" then matches "如何退货".
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import tantivy

from chalicelib.faq.embed import Embedder, Vector
from chalicelib.faq.model import Faq, Hit
from chalicelib.faq.search.base import cjk_terms
from chalicelib.platform.textsearch import built_index, latin_terms

MAX_QUERY_TERMS = 64  # a pasted essay should not turn into a thousand-clause query
COARSE_ROWS = 50_000  # above this many vectors, a projected first pass picks the candidates
COARSE_DIM = 128
COARSE_KEEP = 512  # rows the projected pass hands to the exact one
UNIGRAM_BOOST = 0.3  # single CJK characters catch near-misses ("退换货" vs "退货") without outranking bigrams


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("faq_id", stored=True, tokenizer_name="raw")
    builder.add_integer_field("text", stored=True)
    builder.add_text_field("language", tokenizer_name="raw")
    for field in ("en", "cjk", "cjk1"):  # pre-analysed terms, separated by spaces
        builder.add_text_field(field, tokenizer_name="whitespace")
    return builder.build()


class _Vectors:
    """Every indexed text's vector, rows of one FAQ contiguous; rebuilt lazily after a change.

    Up to ``COARSE_ROWS`` rows a query is scored against every row exactly. Above, the rows are also
    kept projected on their top ``COARSE_DIM`` principal directions: the scan reads a third of the
    memory (it is memory-bound), picks the best ``COARSE_KEEP`` rows, and only their FAQs are
    scored exactly. Every cosine returned is exact; only which FAQs make the top ``k`` is approximate.
    """

    def __init__(self, ids: list[str], blocks: list[Vector], languages: list[str]) -> None:
        sizes = np.array([len(b) for b in blocks], dtype=np.intp)
        self.ids = ids
        self.position = {faq_id: i for i, faq_id in enumerate(ids)}
        self.matrix = np.ascontiguousarray(np.concatenate(blocks), dtype=np.float32)
        self.starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.intp)
        self.ends = np.cumsum(sizes).astype(np.intp)
        self.row_faq = np.repeat(np.arange(len(ids), dtype=np.intp), sizes)
        codes = {lang: n for n, lang in enumerate(sorted(set(languages)))}
        self.language_code = codes
        self.row_language = np.repeat(np.array([codes[x] for x in languages], dtype=np.int16), sizes)
        self.basis: npt.NDArray[np.float32] | None = None
        self.projected: npt.NDArray[np.float32] | None = None
        if len(self.matrix) > COARSE_ROWS:
            rows = np.random.default_rng(0).choice(len(self.matrix), min(20_000, len(self.matrix)), replace=False)
            sample = self.matrix[rows]
            _, _, vt = np.linalg.svd(sample, full_matrices=False)
            self.basis = np.ascontiguousarray(vt[:COARSE_DIM].T, dtype=np.float32)
            self.projected = np.ascontiguousarray(self.matrix @ self.basis)

    def best(self, query: Vector, k: int, language: str | None,
             also: Iterable[str]) -> dict[str, tuple[float, int]]:
        """Best cosine and its text per FAQ, for the top ``k`` FAQs by cosine and for the FAQs in ``also``."""
        if language is not None and language not in self.language_code:
            chosen: list[int] = []
        else:
            rescore: Vector | None = None
            if self.projected is not None and self.basis is not None:
                row_scores = self.projected @ (query @ self.basis)
                rescore = query
            else:
                row_scores = self.matrix @ query
            if language is not None:
                row_scores = np.where(self.row_language == self.language_code[language], row_scores, -np.inf)
            chosen = self._top_faqs(row_scores, rescore, k)
        chosen += [self.position[f] for f in also if f in self.position]
        out: dict[str, tuple[float, int]] = {}
        for i in chosen:
            scores = self.matrix[self.starts[i]:self.ends[i]] @ query
            best = int(np.argmax(scores))
            out[self.ids[i]] = (float(scores[best]), best)
        return out

    def _top_faqs(self, row_scores: npt.NDArray[np.float32], query: Vector | None, k: int) -> list[int]:
        """The ``k`` FAQs of the best rows, each once; with ``query``, ``row_scores`` are approximate and
        the best rows are rescored exactly first. The window widens when a few FAQs fill it."""
        keep = max(COARSE_KEEP if query is not None else 8 * k, k)
        n = len(row_scores)
        while True:
            top = np.argpartition(-row_scores, keep - 1)[:keep] if keep < n else np.arange(n)
            top = top[np.isfinite(row_scores[top])]
            scores = self.matrix[top] @ query if query is not None else row_scores[top]
            faqs: list[int] = []
            for row in top[np.argsort(-scores, kind="stable")]:
                faq = int(self.row_faq[row])
                if faq not in faqs:
                    faqs.append(faq)
                    if len(faqs) == k:
                        return faqs
            if keep >= n or len(top) < keep:
                return faqs
            keep *= 4


class EmbeddedBackend:
    """In-process search over an in-memory tantivy index plus a vector matrix; safe across threads."""

    def __init__(self) -> None:
        self._schema = _schema()
        self._lock = threading.RLock()
        self._faqs: dict[str, Faq] = {}
        self._faq_vectors: dict[str, Vector] = {}
        self._vectors: _Vectors | None = None
        self._index = tantivy.Index(self._schema)
        self._searcher = self._index.searcher()

    # -- indexing -----------------------------------------------------------------------------
    def replace_all(self, faqs: Iterable[Faq], embedder: Embedder | None = None) -> int:
        kept = {f.faq_id: f for f in faqs if f.enabled}
        vectors = _embed(list(kept.values()), embedder)
        index = built_index(self._schema, kept.values(), self._add)
        with self._lock:
            self._index = index
            self._searcher = index.searcher()
            self._faqs = kept
            self._faq_vectors = vectors
            self._vectors = None
        return len(kept)

    def upsert(self, faqs: Sequence[Faq], embedder: Embedder | None = None) -> None:
        vectors = _embed([f for f in faqs if f.enabled], embedder)
        with self._lock:
            writer = self._index.writer(heap_size=15_000_000, num_threads=1)
            for faq in faqs:
                writer.delete_documents_by_term("faq_id", faq.faq_id)
                self._faqs.pop(faq.faq_id, None)
                self._faq_vectors.pop(faq.faq_id, None)
                if faq.enabled:
                    self._add(writer, faq)
                    self._faqs[faq.faq_id] = faq
            self._faq_vectors.update(vectors)
            self._commit(writer)

    def delete(self, faq_ids: Sequence[str]) -> None:
        with self._lock:
            writer = self._index.writer(heap_size=15_000_000, num_threads=1)
            for faq_id in faq_ids:
                writer.delete_documents_by_term("faq_id", faq_id)
                self._faqs.pop(faq_id, None)
                self._faq_vectors.pop(faq_id, None)
            self._commit(writer)

    def count(self) -> int:
        return len(self._faqs)

    def _add(self, writer: tantivy.IndexWriter, faq: Faq) -> None:
        for i, text in enumerate(faq.texts()):
            bigrams, unigrams = cjk_terms(text)
            writer.add_document(tantivy.Document(
                faq_id=faq.faq_id, text=i, language=faq.language, en=" ".join(latin_terms(text)),
                cjk=" ".join(bigrams), cjk1=" ".join(unigrams)))

    def _commit(self, writer: tantivy.IndexWriter) -> None:
        writer.commit()
        writer.wait_merging_threads()
        self._index.reload()
        self._searcher = self._index.searcher()
        self._vectors = None

    # -- search -------------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, language: str | None = None,
               vector: Vector | None = None) -> list[Hit]:
        with self._lock:
            faqs, searcher, vectors = self._faqs, self._searcher, self._matrix()
        if k <= 0:
            return []
        lexical = self._lexical(searcher, query, k, language)
        found: dict[str, tuple[float, int]] = dict(lexical)
        semantic: dict[str, tuple[float, int]] = {}
        if vector is not None and vectors is not None:
            semantic = vectors.best(np.asarray(vector, dtype=np.float32), k, language, found)
            for faq_id in semantic:
                found.setdefault(faq_id, (0.0, semantic[faq_id][1]))
        hits = []
        for faq_id, (lex, lex_text) in found.items():
            faq = faqs.get(faq_id)
            if faq is None:  # deleted between the snapshot and now
                continue
            texts = faq.texts()
            if vector is None:
                hits.append(Hit(faq_id, lex, texts[lex_text], lexical=lex))
            elif faq_id in semantic:
                cos, cos_text = semantic[faq_id]
                hits.append(Hit(faq_id, cos, texts[cos_text], lexical=lex, semantic=cos))
            else:
                hits.append(Hit(faq_id, -1.0, texts[lex_text], lexical=lex, semantic=None))
        hits.sort(key=lambda h: (-h.score, h.faq_id))
        return hits

    def _lexical(self, searcher: tantivy.Searcher, query: str, k: int,
                 language: str | None) -> dict[str, tuple[float, int]]:
        """Best BM25 score and text per FAQ, for the top ``k`` FAQs."""
        bigrams, unigrams = cjk_terms(query)
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for field, terms, boost in (("en", latin_terms(query), 1.0), ("cjk", bigrams, 1.0),
                                    ("cjk1", unigrams, UNIGRAM_BOOST)):
            for term in list(dict.fromkeys(terms))[:MAX_QUERY_TERMS]:
                q = tantivy.Query.term_query(self._schema, field, term)
                clauses.append((tantivy.Occur.Should, q if boost == 1.0 else tantivy.Query.boost_query(q, boost)))
        if not clauses:
            return {}
        q = tantivy.Query.boolean_query(clauses)
        if language is not None:
            q = tantivy.Query.boolean_query([
                (tantivy.Occur.Must, q),
                (tantivy.Occur.Must, tantivy.Query.term_query(self._schema, "language", language))])
        best: dict[str, tuple[float, int]] = {}
        limit, offset = max(4 * k, 32), 0
        while len(best) < k:
            result = searcher.search(q, limit=limit, offset=offset, count=False)
            for score, address in result.hits:
                doc = searcher.doc(address)
                faq_id = str(doc.get_first("faq_id"))
                if faq_id not in best:  # documents come best first: the first one of a FAQ is its best
                    best[faq_id] = (float(score), int(doc.get_first("text") or 0))
                    if len(best) == k:
                        break
            if len(result.hits) < limit:
                break
            offset += limit
            limit *= 2
        return best

    def _matrix(self) -> _Vectors | None:
        if self._vectors is None and self._faq_vectors:
            ids = [i for i in self._faqs if i in self._faq_vectors]
            self._vectors = _Vectors(ids, [self._faq_vectors[i] for i in ids],
                                     [self._faqs[i].language for i in ids])
        return self._vectors


def _embed(faqs: Sequence[Faq], embedder: Embedder | None) -> dict[str, Vector]:
    if embedder is None or not faqs:
        return {}
    texts = [t for f in faqs for t in f.texts()]
    matrix = embedder.embed(texts)
    out: dict[str, Vector] = {}
    row = 0
    for faq in faqs:
        n = len(faq.texts())
        out[faq.faq_id] = matrix[row:row + n]
        row += n
    return out
