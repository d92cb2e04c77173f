"""Chinese FAQs as a multilingual sentence model reads them (E5: ``embed.E5Embedder``).

MiniLM reads most Chinese characters as one unknown token, so without this model a Chinese question is matched on
its characters alone, which cannot tell that "满多少免运费" asks "订单满多少包邮". Here every Chinese FAQ's texts
(question and similar questions) are E5 vectors, and a kernel ridge-regression classifier over them scores each
FAQ: ``k(x, y) = exp(-2 gamma (1 - x·y))``, ``coef = (K + λI)⁻¹ Y`` in the dual (one row per text), so a query costs
one product with the texts' vectors and one with the coefficients. The dual is exact and cheap at a Chinese
knowledge base's size: the demo's 1,969 texts solve in well under a second, where the English model's primal form
with every text as a landmark took several (docs/faq-matching.md, "Chinese"). Past ``CJK_MAX_TEXTS`` the FAQs'
texts are taken in turn (every FAQ's question first) so that the work stays bounded.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chalicelib.faq.embed import PassageEmbedder, Vector
from chalicelib.faq.model import Faq, texts_in_turn
from chalicelib.platform.textsearch import CJK

# Chosen on the demo knowledge base's Chinese similar questions, each scored against the FAQs without it.
CJK_GAMMA = 5.0  # sharper than MiniLM's kernel: E5's cosines crowd into 0.8..1
CJK_RIDGE = 0.1
CJK_MAX_TEXTS = 4000  # texts in the fit: K is their square (128 MB of float64 at this size)
CJK_COSINE_FLOOR = 0.8  # an E5 cosine at or below this reads as 0 (unrelated Chinese texts reach 0.82)
CJK_ANSWER_CHARS = 1000  # of a Chinese answer: its opening says what it is about
SNAPSHOT_FORMAT = 1
CJK_LANGUAGES = ("zh", "ja", "ko")  # language codes (and their prefixes: zh-CN) whose FAQs this model reads


def cjk_answer(faq: Faq) -> str | None:
    """The FAQ's answer when it is in CJK text (the English model cannot read it), cut to ``CJK_ANSWER_CHARS``."""
    text = faq.answer.strip()
    return text[:CJK_ANSWER_CHARS] if text and CJK.search(text) is not None else None


def cjk_answers(faqs: Iterable[Faq]) -> dict[str, str]:
    """The answers of ``faqs`` that are in CJK text (:func:`cjk_answer`), by FAQ."""
    return {f.faq_id: a for f in faqs if (a := cjk_answer(f)) is not None}


def is_cjk(faq: Faq) -> bool:
    """Whether the FAQ is Chinese (or another CJK language): by its language, else by its question."""
    return faq.language.lower().startswith(CJK_LANGUAGES) or CJK.search(faq.question) is not None


@dataclass(frozen=True)
class _Solved:
    ids: list[str]  # the FAQs, one column of ``coef`` each
    rows: npt.NDArray[np.float32]  # the texts in the fit, one vector a row
    owners: npt.NDArray[np.int64]  # the FAQ (index into ``ids``) of each row
    coef: npt.NDArray[np.float32]  # (texts, FAQs)


@dataclass(frozen=True)
class Reading:
    """What the model makes of one Chinese question."""

    vector: Vector  # the question's E5 vector
    scores: dict[str, tuple[float, int]]  # every FAQ's classifier score, with how many texts back it
    semantic: dict[str, float]  # every FAQ's best cosine over its texts
    answers: dict[str, float]  # the answers' cosines, rescaled to 0..1 above ``CJK_COSINE_FLOOR``
    best: dict[str, str]  # the best FAQs by score, with their question


class ChineseModel:
    """The knowledge base's Chinese FAQs: their texts' and answers' vectors and the classifier over them."""

    def __init__(self, embedder: PassageEmbedder, gamma: float = CJK_GAMMA, ridge: float = CJK_RIDGE,
                 max_texts: int = CJK_MAX_TEXTS) -> None:
        self.embedder = embedder
        self._gamma = gamma
        self._ridge = ridge
        self._max_texts = max_texts
        self._texts: dict[str, npt.NDArray[np.float32]] = {}  # each FAQ's text vectors
        self._answers: dict[str, npt.NDArray[np.float32]] = {}
        self._questions: dict[str, str] = {}  # shown as the matched text of a FAQ the lexical search missed
        self._solved: _Solved | None = None  # None after an edit: solved again on the next query
        # Scores mean something only over the whole knowledge base: edits wait for ``replace_all``.
        self.complete = False
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._texts)

    def _vectors(self, faqs: Sequence[Faq]) -> tuple[dict[str, Vector], dict[str, Vector]]:
        texts = list(dict.fromkeys(t for f in faqs for t in f.texts()))
        known = dict(zip(texts, self.embedder.embed(texts), strict=True)) if texts else {}
        answers = cjk_answers(faqs)
        read = list(dict.fromkeys(answers.values()))
        passages = dict(zip(read, self.embedder.passages(read), strict=True)) if read else {}
        rows = {f.faq_id: np.array([known[t] for t in f.texts()], dtype=np.float32) for f in faqs}
        return rows, {f: passages[a] for f, a in answers.items()}

    def replace_all(self, faqs: Iterable[Faq]) -> None:
        """Forget every FAQ and learn the enabled Chinese ones among ``faqs``."""
        kept = [f for f in faqs if f.enabled and is_cjk(f)]
        rows, answers = self._vectors(kept)
        with self._lock:
            self._texts, self._answers = rows, answers
            self._questions = {f.faq_id: f.question for f in kept}
            self._solved = None
            self.complete = True

    def upsert(self, faqs: Sequence[Faq]) -> None:
        """Add or replace these FAQs; a disabled one, or one no longer Chinese, is removed."""
        kept = [f for f in faqs if f.enabled and is_cjk(f)]
        rows, answers = self._vectors(kept)
        with self._lock:
            if not self.complete:
                return
            if not rows and not any(f.faq_id in self._texts for f in faqs):
                return  # no Chinese FAQ among them: the classifier stands
            for f in faqs:
                self._drop(f.faq_id)
            self._texts.update(rows)
            self._answers.update(answers)
            self._questions.update((f.faq_id, f.question) for f in kept)
            self._solved = None
            self._solve()  # the edit's caller (an admin's request) pays it, not the next visitor

    def delete(self, faq_ids: Iterable[str]) -> None:
        with self._lock:
            for faq_id in faq_ids:
                if faq_id in self._texts:
                    self._drop(faq_id)
                    self._solved = None
            if self._solved is None and self.complete:
                self._solve()

    def _drop(self, faq_id: str) -> None:
        self._texts.pop(faq_id, None)
        self._answers.pop(faq_id, None)
        self._questions.pop(faq_id, None)

    def solve(self) -> None:
        """Solve the classifier now if it is complete and not solved (else the next question does)."""
        with self._lock:
            if self.complete and self._texts:
                self._solve()

    def _solve(self) -> _Solved:
        """The classifier over the current texts (under the lock)."""
        if self._solved is None:
            ids = list(self._texts)
            picks = texts_in_turn([len(self._texts[f]) for f in ids], self._max_texts)
            owners = [i for i, _ in picks]
            rows = np.array([self._texts[ids[i]][j] for i, j in picks],
                            dtype=np.float32).reshape(len(picks), self.embedder.dim)
            kernel = np.exp(-2.0 * self._gamma * (1.0 - rows.astype(np.float64) @ rows.T.astype(np.float64)))
            targets = np.zeros((len(rows), len(ids)))
            targets[np.arange(len(rows)), owners] = 1.0
            coef = (np.linalg.solve(kernel + self._ridge * np.eye(len(rows)), targets) if len(rows)
                    else np.zeros((0, len(ids))))
            self._solved = _Solved(ids, rows, np.array(owners, dtype=np.int64), coef.astype(np.float32))
        return self._solved

    def read(self, text: str, k: int) -> Reading | None:
        """The model's reading of a Chinese question (``k`` best FAQs); None before it knows the FAQs."""
        vector = np.asarray(self.embedder.embed([text])[0], dtype=np.float32)
        with self._lock:
            if not self.complete or not self._texts:
                return None
            solved = self._solve()
            cosines = solved.rows @ vector
            values = np.exp(-2.0 * self._gamma * (1.0 - cosines)) @ solved.coef
            best_cosine = np.full(len(solved.ids), -1.0, dtype=np.float32)
            np.maximum.at(best_cosine, solved.owners, cosines)
            answers = {f: min(max((float(a @ vector) - CJK_COSINE_FLOOR) / (1.0 - CJK_COSINE_FLOOR), 0.0), 1.0)
                       for f, a in self._answers.items()}
            best = [solved.ids[i] for i in np.argsort(-values, kind="stable")[:k]]
            return Reading(vector,
                           {f: (float(values[i]), len(self._texts[f])) for i, f in enumerate(solved.ids)},
                           {f: float(best_cosine[i]) for i, f in enumerate(solved.ids)}, answers,
                           {f: self._questions[f] for f in best})

    def to_bytes(self) -> bytes:
        """The model as a snapshot (vectors in float16: scores move by about 1e-3); the classifier is solved
        again on the first query after a restore (well under a second at the demo's size)."""
        with self._lock:
            if not self.complete:
                raise ValueError("only a model of the whole knowledge base can be saved")
            ids = list(self._texts)
            counts = [len(self._texts[f]) for f in ids]
            rows = np.concatenate([self._texts[f] for f in ids]) if ids else np.zeros((0, self.embedder.dim))
            answered = [f for f in ids if f in self._answers]
            answers = (np.stack([self._answers[f] for f in answered]) if answered
                       else np.zeros((0, self.embedder.dim)))
            questions = [self._questions[f] for f in ids]
        buffer = io.BytesIO()
        np.savez(buffer, format=np.array([SNAPSHOT_FORMAT]), ids=np.array(ids, dtype=np.str_),
                 counts=np.array(counts, dtype=np.int64), rows=rows.astype(np.float16),
                 answer_ids=np.array(answered, dtype=np.str_), answers=answers.astype(np.float16),
                 questions=np.array(questions, dtype=np.str_))
        return buffer.getvalue()

    def restore(self, data: bytes) -> None:
        """Replace the model by a :meth:`to_bytes` snapshot; ValueError when it is not one (or of another model)."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                fmt = int(npz["format"][0])
                ids = [str(f) for f in npz["ids"]]
                counts = [int(c) for c in npz["counts"]]
                rows = np.asarray(npz["rows"], dtype=np.float32)
                answer_ids = [str(f) for f in npz["answer_ids"]]
                answers = np.asarray(npz["answers"], dtype=np.float32)
                questions = [str(q) for q in npz["questions"]]
        except (OSError, KeyError, IndexError, ValueError) as e:
            raise ValueError(f"not a Chinese model snapshot: {e}") from e
        if fmt != SNAPSHOT_FORMAT:
            raise ValueError(f"Chinese model snapshot of format {fmt}, not {SNAPSHOT_FORMAT}")
        if (len(ids) != len(counts) or sum(counts) != len(rows) or len(questions) != len(ids)
                or len(answer_ids) != len(answers) or (len(rows) and rows.shape[1] != self.embedder.dim)):
            raise ValueError("Chinese model snapshot is inconsistent, or of another model")
        bounds = np.cumsum([0, *counts])
        with self._lock:
            self._texts = {f: rows[bounds[i]:bounds[i + 1]] for i, f in enumerate(ids)}
            self._answers = dict(zip(answer_ids, answers, strict=True))
            self._questions = dict(zip(ids, questions, strict=True))
            self._solved = None
            self.complete = True
