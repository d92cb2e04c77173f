"""Measures the shipped matcher on any knowledge base: ``make faq-eval KB=... QUERIES=... [SIMILAR=...]``.

Files are JSON lines:
- KB rows ``{id, question, similar?, answer?, category?, language?}``: the FAQs (``similar``: a list of its
  similar questions, as the knowledge base's own export and ``config/faq/demo_faqs.jsonl`` have them);
- SIMILAR rows ``{query, faq_id}`` or ``{query, intent}``: added to that FAQ as similar questions (with
  no KB, each distinct label is one FAQ made of its rows); rows with ``in_scope: false`` are skipped;
- QUERIES rows ``{query, faq_id}`` or ``{query, intent, in_scope}``: what is scored; ``in_scope: false``
  rows must be rejected. An off-topic row needs no label: ``{query, intent: null, in_scope: false}`` or
  ``{query, faq_id: null}`` (an unlabelled log line) is read as off-topic.

A query is never scored against an index holding its own text: when queries also appear among the
similar questions, the queries are split into stratified folds and each fold is scored against an index
built without the similar questions that equal one of its queries (compared case- and space-folded).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chalicelib.faq.embed import Embedder, Vector, cjk_embedder, default_embedder
from chalicelib.faq.matcher import DEFAULT_THRESHOLD, Candidate, Fusion, Matcher, confidence, fuse
from chalicelib.faq.model import Faq
from chalicelib.faq.search.embedded import EmbeddedBackend

FOLDS = 5
OFF_TOPIC = ""  # the label of an off-topic row that names none
SEED = 0


@dataclass(frozen=True)
class Labelled:
    """A query (or a similar question) and the FAQ it belongs to."""

    query: str
    label: str
    in_scope: bool = True


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_kb(path: Path) -> list[Faq]:
    faqs = []
    for r in read_jsonl(path):
        if "id" not in r or "question" not in r:
            raise ValueError(f"{path}: every KB row needs 'id' and 'question': {r}")
        similar = r.get("similar") or []
        if not isinstance(similar, list):
            raise ValueError(f"{path}: 'similar' must be a list of questions: {r}")
        faqs.append(Faq(faq_id=str(r["id"]), question=str(r["question"]), answer=str(r.get("answer") or ""),
                        similar=tuple(str(q) for q in similar if str(q).strip()),
                        category=r.get("category"), language=str(r.get("language") or "en")))
    return faqs


def load_labelled(path: Path) -> list[Labelled]:
    rows = []
    for r in read_jsonl(path):
        label = r.get("faq_id") if r.get("faq_id") is not None else r.get("intent")
        # A null label given on purpose (or with in_scope false) marks an off-topic row; a row naming no label
        # at all, nor saying it is off-topic, is a mistake in the file.
        off_topic = r.get("in_scope") is False or (label is None and ("faq_id" in r or "intent" in r)
                                                    and r.get("in_scope") is not True)
        if "query" not in r or (label is None and not off_topic):
            raise ValueError(f"{path}: every row needs 'query' and 'faq_id' or 'intent' "
                             f"(null, or 'in_scope': false, for an off-topic one): {r}")
        rows.append(Labelled(str(r["query"]), OFF_TOPIC if label is None else str(label), not off_topic))
    return rows


def key(text: str) -> str:
    return " ".join(text.casefold().split())


def build_faqs(kb: Sequence[Faq] | None, similar: Sequence[Labelled],
               exclude: Collection[str] = frozenset()) -> list[Faq]:
    """The KB's FAQs with their similar questions (minus the texts in ``exclude``), or, with no KB,
    one FAQ per label made of its rows (the first kept row is its question)."""
    groups: dict[str, list[str]] = {}
    for s in similar:
        if s.in_scope and key(s.query) not in exclude:
            texts = groups.setdefault(s.label, [])
            if s.query not in texts:
                texts.append(s.query)
    if kb is not None:
        return [Faq(f.faq_id, f.question, f.answer,
                    similar=tuple(t for t in dict.fromkeys([*f.similar, *groups.get(f.faq_id, ())])
                                  if t != f.question and key(t) not in exclude),
                    category=f.category, language=f.language) for f in kb]
    return [Faq(label, texts[0], "", similar=tuple(texts[1:])) for label, texts in groups.items() if texts]


def stratified_folds(queries: Sequence[Labelled], k: int = FOLDS, seed: int = SEED) -> list[int]:
    """A fold per query, each label spread evenly over the folds (seeded, so runs repeat)."""
    rnd = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, q in enumerate(queries):
        by_label.setdefault(q.label, []).append(i)
    folds = [0] * len(queries)
    offset = 0
    for label in sorted(by_label):
        idx = by_label[label]
        rnd.shuffle(idx)
        for j, i in enumerate(idx):
            folds[i] = (offset + j) % k
        offset += len(idx)
    return folds


class CachedEmbedder:
    """Embeds each distinct text once across the many indexes a cross-validation builds (answers apart,
    for an embedder that reads them as passages)."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self._cache: dict[tuple[bool, str], Vector] = {}

    @property
    def dim(self) -> int:
        return self._inner.dim

    def embed(self, texts: Sequence[str]) -> Vector:
        return self._cached(texts, False)

    def passages(self, texts: Sequence[str]) -> Vector:
        return self._cached(texts, True)

    def _cached(self, texts: Sequence[str], passage: bool) -> Vector:
        missing = [t for t in dict.fromkeys(texts) if (passage, t) not in self._cache]
        if missing:
            embed = self._inner.passages if passage else self._inner.embed  # type: ignore[attr-defined]
            self._cache.update(((passage, t), v) for t, v in zip(missing, embed(missing), strict=True))
        return np.array([self._cache[passage, t] for t in texts], dtype=np.float32).reshape(len(texts), self.dim)


MatcherFactory = Callable[[], Matcher]


def collect(kb: Sequence[Faq] | None, similar: Sequence[Labelled], queries: Sequence[Labelled],
            make_matcher: MatcherFactory, folds: int = FOLDS, seed: int = SEED
            ) -> list[tuple[Labelled, list[Candidate]]]:
    """Every query with the candidates the matcher found for it, never from an index holding it."""
    indexed = {key(s.query) for s in similar} | {key(t) for f in kb or () for t in f.similar}
    if kb is None and not similar:
        raise ValueError("nothing to index: give a KB, similar questions, or both")
    assignment = stratified_folds(queries, folds, seed)
    if not any(key(q.query) in indexed for q in queries):
        assignment = [0] * len(queries)  # no query is in the index: one index serves them all
    out: list[tuple[Labelled, list[Candidate]]] = []
    for fold in sorted(set(assignment)):
        scored = [q for q, f in zip(queries, assignment, strict=True) if f == fold]
        matcher = make_matcher()
        matcher.index(build_faqs(kb, similar, exclude={key(q.query) for q in scored}))
        out.extend((q, matcher.candidates_for(q.query)) for q in scored)
    return out


def metrics(scored: Iterable[tuple[Labelled, list[Candidate]]], fusion: Fusion,
            threshold: float = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """top1 / recall3 / mrr5 over in-scope queries (ranking only) and, when out-of-scope rows exist,
    the share of them the gate rejects and the share of in-scope queries it wrongly rejects."""
    top1 = recall3 = mrr5 = 0.0
    n_in = n_out = rejected_in = rejected_out = answered_right = 0
    for q, candidates in scored:
        ranked = fuse(candidates, fusion)
        answered = bool(ranked) and confidence(ranked, fusion) >= threshold
        if not q.in_scope:
            n_out += 1
            rejected_out += not answered
            continue
        n_in += 1
        ids = [h.faq_id for h in ranked[:5]]
        rank = ids.index(q.label) + 1 if q.label in ids else 0
        top1 += rank == 1
        recall3 += 0 < rank <= 3
        mrr5 += 1 / rank if rank else 0.0
        rejected_in += not answered
        answered_right += answered and rank == 1
    result: dict[str, Any] = {
        "n": n_in,
        "top1": round(top1 / n_in, 4) if n_in else None,
        "recall3": round(recall3 / n_in, 4) if n_in else None,
        "mrr5": round(mrr5 / n_in, 4) if n_in else None,
        "answered_correctly": round(answered_right / n_in, 4) if n_in else None,
    }
    if n_out:
        result["n_oos"] = n_out
        result["oos_rejection"] = round(rejected_out / n_out, 4)
        result["false_rejection"] = round(rejected_in / n_in, 4) if n_in else None
    return result


def shipped_matcher_factory(embedder: Embedder | None = None) -> MatcherFactory:
    """Fresh in-memory matchers with the shipped method, sharing one embedding cache."""
    cached = CachedEmbedder(embedder or default_embedder())
    chinese = cjk_embedder()
    cached_chinese = CachedEmbedder(chinese) if chinese is not None else None
    return lambda: Matcher(EmbeddedBackend(), cached, cjk_embedder=cached_chinese)


def evaluate(kb_path: Path | None, queries_path: Path, similar_path: Path | None = None,
             threshold: float = DEFAULT_THRESHOLD, embedder: Embedder | None = None,
             folds: int = FOLDS) -> dict[str, Any]:
    """The figures of the shipped matcher and threshold for these files."""
    kb = load_kb(kb_path) if kb_path else None
    similar = load_labelled(similar_path) if similar_path else []
    queries = load_labelled(queries_path)
    factory = shipped_matcher_factory(embedder)
    scored = collect(kb, similar, queries, factory, folds=folds)
    result = metrics(scored, factory().fusion, threshold)
    result.update(threshold=threshold, method=factory().method, folds=folds)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.faq.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb", type=Path, help="FAQs, JSON lines {id, question, answer?, category?}")
    parser.add_argument("--queries", type=Path, required=True, help="scored queries, JSON lines")
    parser.add_argument("--similar", type=Path, help="labelled queries indexed as similar questions")
    parser.add_argument("--out", type=Path, help="write the result JSON here too")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--folds", type=int, default=FOLDS)
    args = parser.parse_args(argv)
    if args.kb is None and args.similar is None:
        parser.error("give --kb, --similar or both")
    result = evaluate(args.kb, args.queries, args.similar, threshold=args.threshold, folds=args.folds)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
