"""Matches a visitor's question to FAQs and decides whether the robot may answer on its own.

Three signals per candidate FAQ:
- ``lexical``: BM25 of the FAQ's best text (from the search backend);
- ``semantic``: the best cosine between the query and the FAQ's texts (from the backend's vectors);
- ``intent``: a ridge-regression classifier over all the texts' vectors, one linear scorer per FAQ,
  fitted in closed form when the matcher indexes the FAQs. It learns which words tell close FAQs
  apart ("see my invoice" vs "download my invoice"), which nearest-neighbour cosine cannot: on
  Bitext it lifts top-1 from 0.95 to 0.98 (cross-validated), on the HINT3 shop bots by 3 to 4 points.

``fuse`` blends them into one 0..1 score (see :class:`Fusion`); ``confidence`` reads how sure the
best hit is from its score and its lead over the second, and ``decide`` answers only above the
threshold. ``docs/faq-matching.md`` has the measurements behind every constant here.
"""

from __future__ import annotations

import io
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from chalicelib.faq.chinese import CJK_LANGUAGES, ChineseModel, Reading, cjk_answer, cjk_answers
from chalicelib.faq.embed import Embedder, LanguageVectors, PassageEmbedder, Vector
from chalicelib.faq.model import Faq, Hit, texts_in_turn
from chalicelib.faq.search.base import CJK, SearchBackend, cjk_terms
from chalicelib.faq.spelling import Vocabulary, words_of
from chalicelib.faq.synonyms import NONE, Synonyms

METHODS = ("bm25", "embedding", "hybrid")
DEFAULT_METHOD = "hybrid"
# Chosen across data sets, not within one (docs/faq-matching.md, "When the robot answers"): scored against an
# index of half of each data set's questions (a shop's new questions are further from its similar questions than
# cross-validation's are), every data set's false rejection stays at or below 0.068 at 0.50, the margin that the
# shift to real unseen queries needs (HINT3's held-out queries were falsely rejected 1.1 to 2.1 times as often
# as half-index cross-validation says). Off-topic questions marked by the shop win back the rejection lost.
DEFAULT_THRESHOLD = 0.50
MAX_QUERY_CHARS = 500  # longer input is cut: the model reads at most 256 tokens anyway
CANDIDATES = 10  # per side (lexical, vector) from the backend
RIDGE = 0.1  # the intent classifier's L2 penalty, chosen by cross-validation on Bitext and HINT3
KERNEL_GAMMA = 1.0  # its RBF kernel's width, likewise (0.5 to 1 equal, 2 worse)
MAX_LANDMARKS = 1000  # Nyström landmarks: exact up to this many texts; a query reads (385 + this)² floats
LINEAR_WEIGHT = 0.5  # of the vectors themselves beside the kernel features: keeps texts far from every landmark
SNAPSHOT_FORMAT = 5  # of IntentModel.to_bytes; another format is not read (4: answers, words; 5: CJK answers)
MATCHER_SNAPSHOT_FORMAT = 1  # of Matcher.snapshot: the intent model's and the Chinese model's snapshots together
WARM_UP_QUERY = "where is my order"  # any question: only the first query's one-time costs matter
WARM_UP_QUERY_ZH = "我的订单到哪了"

# The Chinese model's blend at which its confidence reaches the default threshold: its classifier scores a
# paraphrase lower than MiniLM's does (fewer texts per FAQ, a sharper kernel), so its scores are mapped onto
# the same scale, one threshold then serving both languages (chosen on the demo's Chinese similar questions
# and half of a Chinese off-topic set: docs/faq-matching.md, "Chinese").
CJK_KNEE = 0.45
# 0.05 rejected 3 to 5 points more of the HINT3 bots' simulated off-topic questions, and falsely 1 point more.
OFF_TOPIC_MARGIN = 0.0
TIE_BREAK = 0.01  # BM25's share in a CJK score: it only orders equal overlaps
_CJK_FUNCTION_CHARS = set("的了吗呢吧啊呀嘛哦么我你您他她它们是在这那个和与及就都也还又要想请把被给让怎如何样")
_SPACES = re.compile(r"\s+")
_DROPPED = {"So", "Sk", "Cc", "Cf", "Cs", "Co", "Cn"}  # emoji, modifiers, control and format characters


def clean_query(text: str, max_chars: int = MAX_QUERY_CHARS) -> str:
    """The query as matched: emoji and control characters dropped, spaces collapsed, cut to ``max_chars``.

    Emoji would reach the embedding model as unknown tokens, which pull every such query together.
    """
    kept = "".join(" " if unicodedata.category(c) in _DROPPED or c in "\ufe0e\ufe0f" else c for c in text)
    return _SPACES.sub(" ", kept).strip()[:max_chars].strip()


@dataclass(frozen=True)
class Fusion:
    """How the signals are blended into one 0..1 score, and how confidence is read from it.

    ``hybrid``: a FAQ backed by ``n`` texts gets ``lexical * s`` for BM25 (min-max scaled over the
    candidates) and ``intent * s`` for the classifier, with ``s = n / (n + saturation)``; the cosine
    takes the rest. So a FAQ without similar questions is ranked almost by cosine alone (BM25 against
    one short question misleads more than it helps, measured), one with many leans on the classifier.
    The cosine with the FAQ's answer then counts with weight ``answer * (1 - s)``, the blend and it
    averaged: it matters where similar questions are few (cold knowledge bases: Bitext top-1 0.71 ->
    0.74, measured), hardly at all where they are many.
    A query with CJK text is scored on words alone (see :func:`cjk_overlap`).
    """

    method: str = "hybrid"  # or "bm25" (lexical only) / "embedding" (cosine only)
    lexical: float = 0.05
    intent: float = 0.7
    saturation: float = 10.0
    answer: float = 0.5
    margin: float = 1.0  # weight of the best hit's lead over the second in the confidence
    cjk_answer: float = 0.5  # the answer's cosine against the Chinese model's classifier score


METHOD_FUSION = {m: Fusion(method=m) for m in METHODS}


@dataclass(frozen=True)
class Candidate:
    """A FAQ the backend found, with every signal the blend uses."""

    faq_id: str
    matched: str
    lexical: float
    semantic: float | None
    intent: float | None
    texts: int  # how many texts back the intent score (0 when the classifier does not know the FAQ)
    overlap: float | None = None  # for a query with CJK text: :func:`cjk_overlap` with ``matched``
    answer: float | None = None  # cosine with the FAQ's answer, or for a CJK query its overlap (None: no answer)
    chinese: bool = False  # scored by the Chinese model: ``intent`` its classifier, ``answer`` its answer's cosine


@dataclass(frozen=True)
class Decision:
    """What the robot does with a question: answer it, or offer suggestions (and a person)."""

    answer: Hit | None
    suggestions: list[Hit] = field(default_factory=list)
    confidence: float = 0.0
    off_topic: bool = False  # declined although confident: nearer a question marked off-topic than to the FAQ


class IntentModel:
    """Kernel ridge-regression classifier over the FAQs' text vectors.

    For every FAQ it learns a scorer that gives about 1 to that FAQ's texts and 0 to the others',
    in closed form: w_f = (ΦᵀΦ + λI)⁻¹ Φ_fᵀ1, where Φ are the texts' features: the vector itself
    (weighted ``LINEAR_WEIGHT``), the features of an RBF kernel on the unit sphere,
    k(x, y) = exp(-2 gamma (1 - x·y)), through up to ``MAX_LANDMARKS`` landmark texts (Nyström:
    k(x, L) U Λ^-1/2 with K_LL = U Λ Uᵀ), and a bias. A linear scorer alone separates the FAQs but keeps
    scoring high far from every text on its side of a hyperplane; the kernel's scores fall off away from
    the FAQ's texts, so a question that belongs to no FAQ scores lower (out-of-scope rejection at 10%
    false rejection, cross-validated: Bitext 0.81 -> 0.85, HINT3 curekart 0.62 -> 0.67, sofmattress
    unchanged; docs/faq-matching.md). The linear part keeps that level where the landmarks are few for
    the texts, or far from them (a FAQ added after the fit): the kernel alone fell below it there.

    Only the Gram matrix ΦᵀΦ and each FAQ's sum of features are kept up to date, so an edit costs its
    own texts' features plus, on the next query, one inverse of the Gram matrix (at most 1385 x 1385).
    """

    def __init__(self, ridge: float = RIDGE, gamma: float = KERNEL_GAMMA, max_landmarks: int = MAX_LANDMARKS) -> None:
        self._ridge = ridge
        self._gamma = gamma
        self._max_landmarks = max_landmarks
        self._vectors: dict[str, npt.NDArray[np.float32]] = {}  # each FAQ's text vectors, one row each
        self._sums: dict[str, npt.NDArray[np.float32]] = {}  # each FAQ's sum of features (float32: memory)
        self._answers: dict[str, npt.NDArray[np.float32]] = {}  # each FAQ's answer vector, where it has one
        self._cjk_answers: dict[str, str] = {}  # each FAQ's answer in CJK text, for its overlap with a CJK query
        self.vocabulary = Vocabulary()  # the FAQs' words, for typos in questions (kept here: saved with the rest)
        self._landmarks: npt.NDArray[np.float32] | None = None
        self._transform: npt.NDArray[np.float32] | None = None
        self._gram: npt.NDArray[np.float64] | None = None
        self._inverse: npt.NDArray[np.float32] | None = None  # (ΦᵀΦ + λI)⁻¹ with the transform folded in
        # Scores are only meaningful over the whole knowledge base: until ``replace_all`` has been
        # given every FAQ, edits are ignored and nothing is scored.
        self.complete = False
        self._lock = threading.Lock()

    def replace_all(self, vectors: dict[str, Vector], landmarks: Vector | None = None,
                    answers: dict[str, Vector] | None = None, words: Mapping[str, Iterable[str]] | None = None,
                    cjk_answers: Mapping[str, str] | None = None) -> None:
        """Forget every FAQ and learn these (faq_id -> its texts' vectors, one row each; ``answers``:
        faq_id -> its answer's vector; ``words``: faq_id -> its words; ``cjk_answers``: faq_id -> its answer
        in CJK text). The landmarks are chosen among the texts unless given (a restored snapshot keeps its own)."""
        rows = {f: np.asarray(v, dtype=np.float32).reshape(len(v), -1) for f, v in vectors.items()}
        fitted = self._fit(rows, landmarks)
        kept = {f: np.asarray(v, dtype=np.float32).reshape(-1) for f, v in (answers or {}).items() if f in rows}
        with self._lock:
            self._set(fitted)
            self._answers = kept
            self._cjk_answers = {f: a for f, a in (cjk_answers or {}).items() if f in rows}
            self.vocabulary.replace_all({f: (words or {}).get(f, ()) for f in rows})

    def _fit(self, rows: dict[str, npt.NDArray[np.float32]], landmarks: Vector | None) -> _Fitted:
        if landmarks is None:
            landmarks = _choose_landmarks(list(rows.values()), self._max_landmarks)
        transform = self._nystrom(landmarks) if len(landmarks) else None
        gram = None
        sums: dict[str, npt.NDArray[np.float32]] = {}
        if rows and transform is not None:
            ids = list(rows)
            stacked = np.concatenate([rows[f] for f in ids])
            owner = np.repeat(np.arange(len(ids)), [len(rows[f]) for f in ids])
            width = stacked.shape[1] + transform.shape[1] + 1
            gram = np.zeros((width, width), dtype=np.float64)
            totals = np.zeros((len(ids), width), dtype=np.float32)
            for start in range(0, len(stacked), _CHUNK):  # bounded memory on a large base
                feats = _features(stacked[start:start + _CHUNK], landmarks, transform, self._gamma)
                gram += (feats.T @ feats).astype(np.float64)
                # each FAQ's rows are contiguous: sum them by segment
                chunk_owner = owner[start:start + _CHUNK]
                first = np.flatnonzero(np.r_[True, chunk_owner[1:] != chunk_owner[:-1]])
                totals[chunk_owner[first]] += np.add.reduceat(feats, first, axis=0)
            sums = {f: totals[i] for i, f in enumerate(ids)}
        return _Fitted(rows, sums, np.asarray(landmarks, dtype=np.float32), transform, gram)

    def _set(self, fitted: _Fitted) -> None:
        self._vectors = fitted.rows
        self._sums = fitted.sums
        self._landmarks = fitted.landmarks
        self._transform = fitted.transform
        self._gram = fitted.gram
        self._inverse = None
        self.complete = True

    def _nystrom(self, landmarks: Vector) -> npt.NDArray[np.float32]:
        """U Λ^-1/2 of the landmarks' kernel matrix, without its near-null directions (duplicate texts)."""
        kernel = np.exp(-2.0 * self._gamma * (1.0 - np.asarray(landmarks, dtype=np.float64) @ landmarks.T))
        values, vectors = np.linalg.eigh(kernel)
        keep = values > 1e-6 * values.max()
        transform: npt.NDArray[np.float32] = (vectors[:, keep] / np.sqrt(values[keep])).astype(np.float32)
        return transform

    def _featurise(self, vectors: Vector) -> npt.NDArray[np.float64]:
        assert self._landmarks is not None and self._transform is not None
        return _features(np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1), self._landmarks,
                         self._transform, self._gamma).astype(np.float64)

    def upsert(self, faq_id: str, vectors: Vector, answer: Vector | None = None,
               words: Iterable[str] = (), cjk_answer: str | None = None) -> None:
        with self._lock:
            if not self.complete:
                return
            self._answers.pop(faq_id, None)
            if answer is not None:
                self._answers[faq_id] = np.asarray(answer, dtype=np.float32).reshape(-1)
            self._cjk_answers.pop(faq_id, None)
            if cjk_answer is not None:
                self._cjk_answers[faq_id] = cjk_answer
            self.vocabulary.set(faq_id, words)
            added = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
            if self._transform is None:  # fitted on nothing: the first texts become the landmarks
                self._set(self._fit({**self._vectors, faq_id: added}, None))
                return
            self._remove(faq_id)
            feats = self._featurise(added)
            self._vectors[faq_id] = added
            self._sums[faq_id] = feats.sum(axis=0).astype(np.float32)
            self._gram = (self._gram if self._gram is not None else 0.0) + feats.T @ feats
            self._inverse = None

    def delete(self, faq_id: str) -> None:
        with self._lock:
            if self.complete:
                self._remove(faq_id)
                self._inverse = None

    def _remove(self, faq_id: str) -> None:
        old = self._vectors.pop(faq_id, None)
        self._sums.pop(faq_id, None)
        self._answers.pop(faq_id, None)
        self._cjk_answers.pop(faq_id, None)
        self.vocabulary.remove(faq_id)
        if old is not None and self._gram is not None and self._transform is not None:
            feats = self._featurise(old)
            self._gram = self._gram - feats.T @ feats

    def __len__(self) -> int:
        return len(self._vectors)

    def to_bytes(self) -> bytes:
        """The model as a snapshot another process can :meth:`restore` (for a Lambda container that
        finds the search index already filled): every FAQ's text vectors and the landmarks, as float16
        to halve the size (scores move by about 1e-3). Features and the Gram matrix are recomputed on
        restore (a fraction of a second for a few thousand texts)."""
        with self._lock:
            if not self.complete:
                raise ValueError("only a model fitted on the whole knowledge base can be saved")
            ids = list(self._vectors)
            rows = [self._vectors[f] for f in ids]
            landmarks = self._landmarks if self._landmarks is not None else np.zeros((0, 0), dtype=np.float32)
            answered = [f for f in ids if f in self._answers]
            answers = [self._answers[f] for f in answered]
            cjk_answered = [f for f in ids if f in self._cjk_answers]
            cjk_answers = [self._cjk_answers[f] for f in cjk_answered]
            words = self.vocabulary.by_faq()
        dim = rows[0].shape[1] if rows else 0
        buffer = io.BytesIO()
        np.savez(buffer, format=np.array([SNAPSHOT_FORMAT]), dim=np.array([dim]),
                 ids=np.array(ids, dtype=np.str_), counts=np.array([len(r) for r in rows], dtype=np.int64),
                 rows=(np.concatenate(rows) if rows else np.zeros((0, 0))).astype(np.float16),
                 landmarks=landmarks.astype(np.float16), answer_ids=np.array(answered, dtype=np.str_),
                 answers=(np.stack(answers) if answers else np.zeros((0, dim))).astype(np.float16),
                 words=np.array([" ".join(words.get(f, ())) for f in ids], dtype=np.str_),
                 cjk_answer_ids=np.array(cjk_answered, dtype=np.str_), cjk_answers=np.array(cjk_answers, dtype=np.str_))
        return buffer.getvalue()

    def restore(self, data: bytes, dim: int | None = None) -> None:
        """Replace the model by a snapshot from :meth:`to_bytes`. Raises ValueError when it is not one,
        is of another format, or (given ``dim``) holds vectors of another length (another model)."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                fmt = int(npz["format"][0])
                if fmt == SNAPSHOT_FORMAT:
                    saved_dim = int(npz["dim"][0])
                    ids = [str(f) for f in npz["ids"]]
                    counts = [int(c) for c in npz["counts"]]
                    rows = np.asarray(npz["rows"], dtype=np.float32)
                    landmarks = np.asarray(npz["landmarks"], dtype=np.float32)
                    answer_ids = [str(f) for f in npz["answer_ids"]]
                    answers = np.asarray(npz["answers"], dtype=np.float32)
                    words = [str(w).split() for w in npz["words"]]
                    cjk_answer_ids = [str(f) for f in npz["cjk_answer_ids"]]
                    cjk_answers = [str(a) for a in npz["cjk_answers"]]
        except (OSError, KeyError, IndexError, ValueError) as e:
            raise ValueError(f"not an intent model snapshot: {e}") from e
        if fmt != SNAPSHOT_FORMAT:
            raise ValueError(f"intent model snapshot of format {fmt}, not {SNAPSHOT_FORMAT}")
        if ids and dim is not None and saved_dim != dim:
            raise ValueError(f"intent model snapshot of {saved_dim}-dimensional vectors, not {dim}")
        if (len(ids) != len(counts) or sum(counts) != len(rows) or (ids and not len(landmarks))
                or len(answer_ids) != len(answers) or len(words) != len(ids)
                or len(cjk_answer_ids) != len(cjk_answers)):
            raise ValueError("intent model snapshot is inconsistent")
        bounds = np.cumsum([0, *counts])
        self.replace_all({f: rows[bounds[i]:bounds[i + 1]] for i, f in enumerate(ids)},
                         landmarks=landmarks, answers=dict(zip(answer_ids, answers, strict=True)),
                         words=dict(zip(ids, words, strict=True)),
                         cjk_answers=dict(zip(cjk_answer_ids, cjk_answers, strict=True)))

    def solve(self) -> None:
        """Compute the classifier's inverse now if it is due (else the next question does)."""
        with self._lock:
            self._solved_inverse()

    def _solved_inverse(self) -> npt.NDArray[np.float32] | None:
        """The classifier's inverse (under the lock), computed on first need after a fit or a restore (about
        0.1 s for the demo's texts); None while the model is not complete."""
        if not self.complete or self._gram is None or not self._sums:
            return None
        assert self._landmarks is not None and self._transform is not None
        if self._inverse is None:
            dim, rank = self._landmarks.shape[1], self._transform.shape[1]
            inverse = np.linalg.inv(self._gram + self._ridge * np.eye(len(self._gram)))
            # Folded with the feature map: a query then costs one product on [vector, kernel row, 1],
            # in float32 (a quarter of the memory read of the two float64 ones).
            self._inverse = np.hstack([
                LINEAR_WEIGHT * inverse[:, :dim],
                inverse[:, dim:dim + rank] @ self._transform.T.astype(np.float64),
                inverse[:, -1:]]).astype(np.float32)
        return self._inverse

    def scores(self, vector: Vector, faq_ids: Iterable[str]) -> dict[str, tuple[float, int]]:
        """(score, how many texts back it) for each of ``faq_ids`` the model knows."""
        with self._lock:
            inverse = self._solved_inverse()
            if inverse is None:
                return {}
            assert self._landmarks is not None
            row = np.asarray(vector, dtype=np.float32).reshape(-1)
            kernel = np.exp(-2.0 * self._gamma * (1.0 - self._landmarks @ row))
            z = inverse @ np.concatenate([row, kernel, np.ones(1, dtype=np.float32)])
            return {f: (float(self._sums[f] @ z), len(self._vectors[f])) for f in faq_ids if f in self._sums}

    def answer_cosines(self, vector: Vector, faq_ids: Iterable[str]) -> dict[str, float]:
        """The cosine of ``vector`` with the answer of each of ``faq_ids`` that has one."""
        with self._lock:
            row = np.asarray(vector, dtype=np.float32).reshape(-1)
            return {f: float(self._answers[f] @ row) for f in faq_ids if f in self._answers}

    def cjk_answers(self, faq_ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        """(answer in CJK text, how many texts the FAQ has) for each of ``faq_ids`` that has one."""
        with self._lock:
            return {f: (self._cjk_answers[f], len(self._vectors.get(f, ())))
                    for f in faq_ids if f in self._cjk_answers}


_CHUNK = 4096  # texts featurised at once when fitting


@dataclass(frozen=True)
class _Fitted:
    """An :class:`IntentModel`'s state, computed before it is swapped in under the lock."""

    rows: dict[str, npt.NDArray[np.float32]]
    sums: dict[str, npt.NDArray[np.float32]]
    landmarks: npt.NDArray[np.float32]
    transform: npt.NDArray[np.float32] | None
    gram: npt.NDArray[np.float64] | None


def _features(rows: npt.NDArray[np.float32], landmarks: npt.NDArray[np.float32],
              transform: npt.NDArray[np.float32], gamma: float) -> npt.NDArray[np.float32]:
    """φ(x) = [LINEAR_WEIGHT · x, k(x, L) U Λ^-1/2, 1], one row per vector."""
    kernel = np.exp(-2.0 * gamma * (1.0 - rows @ landmarks.T))
    return np.hstack([LINEAR_WEIGHT * rows, kernel @ transform, np.ones((len(rows), 1), dtype=np.float32)])


def _choose_landmarks(rows: Sequence[npt.NDArray[np.float32]], limit: int) -> npt.NDArray[np.float32]:
    """Every text when there are at most ``limit``; else the FAQs' texts taken in turn (:func:`texts_in_turn`)."""
    picks = texts_in_turn([len(r) for r in rows], limit)
    return np.array([rows[i][j] for i, j in picks], dtype=np.float32) if picks else np.zeros((0, 0), dtype=np.float32)


class _Known:
    """An embedder that serves vectors already computed for these texts (indexing embeds once)."""

    def __init__(self, inner: Embedder, known: dict[str, Vector]) -> None:
        self._inner = inner
        self._known = known

    @property
    def dim(self) -> int:
        return self._inner.dim

    def embed(self, texts: Sequence[str]) -> Vector:
        missing = [t for t in dict.fromkeys(texts) if t not in self._known]
        if missing:
            self._known.update(zip(missing, self._inner.embed(missing), strict=True))
        return np.array([self._known[t] for t in texts], dtype=np.float32).reshape(len(texts), self.dim)


class Matcher:
    """Ranks FAQs for a question and decides whether the robot answers.

    Index through the matcher (``index``/``upsert``/``delete``) so the backend and the intent
    classifier stay in step. Over a backend filled elsewhere, call ``learn`` with every FAQ once;
    until then it ranks without the classifier (BM25 and cosine, the "embedding only" figures).
    """

    def __init__(self, backend: SearchBackend, embedder: Embedder | None = None, *,
                 method: str = DEFAULT_METHOD, fusion: Fusion | None = None,
                 candidates: int = CANDIDATES, max_chars: int = MAX_QUERY_CHARS,
                 cjk_embedder: PassageEmbedder | None = None) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown matching method {method!r}; one of {METHODS}")
        if embedder is None:
            method = "bm25"  # nothing else is possible without vectors
        self.backend = backend
        self.embedder = embedder
        self.fusion = fusion or METHOD_FUSION[method]
        self.method = self.fusion.method
        self.candidates = candidates
        self.max_chars = max_chars
        self.intents = IntentModel()
        # Chinese FAQs read by a multilingual model, where one is installed (``embed.cjk_embedder``).
        self.chinese = ChineseModel(cjk_embedder) if cjk_embedder is not None and embedder is not None else None
        self._off_topic = OffTopic()

    # -- the index ----------------------------------------------------------------------------
    def index(self, faqs: Iterable[Faq]) -> int:
        """Replace every FAQ in the backend and the classifier; returns how many are enabled."""
        kept = [f for f in faqs if f.enabled]
        if self.embedder is None:
            return self.backend.replace_all(kept)
        known = self._embed_texts(kept)
        count = self.backend.replace_all(kept, _Known(self.embedder, known))
        self.intents.replace_all({f.faq_id: _rows(known, f) for f in kept}, answers=_answers(known, kept),
                                 words={f.faq_id: words_of(f) for f in kept}, cjk_answers=cjk_answers(kept))
        if self.chinese is not None:
            self.chinese.replace_all(kept)
        return count

    def learn(self, faqs: Iterable[Faq]) -> int:
        """Fit the intent classifier on every FAQ without writing to the backend: for a process that
        finds the backend already filled (a new Lambda container before OpenSearch). Costs one
        embedding per text. Returns how many FAQs it learned (the enabled ones)."""
        kept = [f for f in faqs if f.enabled]
        if self.embedder is None:
            return 0
        known = self._embed_texts(kept)
        self.intents.replace_all({f.faq_id: _rows(known, f) for f in kept}, answers=_answers(known, kept),
                                 words={f.faq_id: words_of(f) for f in kept}, cjk_answers=cjk_answers(kept))
        if self.chinese is not None:
            self.chinese.replace_all(kept)
        return len(kept)

    def teach(self, faqs: Sequence[Faq] = (), deleted: Sequence[str] = ()) -> None:
        """Apply edits to the classifier alone (the backend already has them): these FAQs added or
        replaced (a disabled one removed), ``deleted`` removed. For a classifier restored from a
        snapshot that lacks an edit this process made."""
        if self.embedder is None:
            return
        known = self._embed_texts([f for f in faqs if f.enabled])
        for f in faqs:
            if f.enabled:
                self.intents.upsert(f.faq_id, _rows(known, f), _answers(known, [f]).get(f.faq_id), words_of(f),
                                    cjk_answer(f))
            else:
                self.intents.delete(f.faq_id)
        for faq_id in deleted:
            self.intents.delete(faq_id)
        if self.chinese is not None:
            self.chinese.upsert(faqs)
            self.chinese.delete(deleted)

    def upsert(self, faqs: Sequence[Faq]) -> None:
        """Add or replace these FAQs (a disabled one is removed)."""
        if self.embedder is None:
            self.backend.upsert(faqs)
            return
        known = self._embed_texts([f for f in faqs if f.enabled])
        self.backend.upsert(faqs, _Known(self.embedder, known))
        for f in faqs:
            if f.enabled:
                self.intents.upsert(f.faq_id, _rows(known, f), _answers(known, [f]).get(f.faq_id), words_of(f),
                                    cjk_answer(f))
            else:
                self.intents.delete(f.faq_id)
        if self.chinese is not None:
            self.chinese.upsert(faqs)

    def delete(self, faq_ids: Sequence[str]) -> None:
        """Remove these FAQs; unknown ids are ignored."""
        self.backend.delete(faq_ids)
        for faq_id in faq_ids:
            self.intents.delete(faq_id)
        if self.chinese is not None:
            self.chinese.delete(faq_ids)

    def _embed_texts(self, faqs: Sequence[Faq]) -> dict[str, Vector]:
        """Vectors of the FAQs' texts and of the answers the model can read."""
        answers = [a for a in map(readable_answer, faqs) if a is not None]
        texts = list(dict.fromkeys([*(t for f in faqs for t in f.texts()), *answers]))
        if not texts or self.embedder is None:
            return {}
        return dict(zip(texts, self.embedder.embed(texts), strict=True))

    def warm_up(self, text: str = WARM_UP_QUERY) -> None:
        """Pay a first query's one-time costs now (at a Lambda's init): the model's first runs, the
        classifier's inverse (about 0.3 s for a thousand FAQs), the spelling vocabulary's first correction.
        The search backend is not asked: its connection would not outlive a SnapStart snapshot."""
        self.solve()
        cleaned = self.intents.vocabulary.correct(clean_query(text, self.max_chars))
        if self.method != "bm25" and self.embedder is not None:
            vector = self.embedder.embed([cleaned])[0]
            self.intents.scores(vector, ())
            self.intents.answer_cosines(vector, ())
        if self.chinese is not None and len(self.chinese):
            self.chinese.read(WARM_UP_QUERY_ZH, 1)

    def solve(self) -> None:
        """Solve the classifiers that are complete but not solved yet (after a fit or a restore), running no
        model: numbers only, so a process that forks workers afterwards can do it once for all of them."""
        self.intents.solve()
        if self.chinese is not None:
            self.chinese.solve()

    # -- matching -----------------------------------------------------------------------------
    def candidates_for(self, query: str, language: str | None = None, synonyms: Synonyms = NONE) -> list[Candidate]:
        """Every FAQ the backend offers for ``query``, with the raw signals the blend uses. ``synonyms`` (the
        shop's, from the robot settings) widen the search and count as the same word in a CJK overlap."""
        return self._read(query, language, synonyms)[0]

    def _read(self, query: str, language: str | None, synonyms: Synonyms
              ) -> tuple[list[Candidate], Vector | None, bool]:
        """The candidates, the query's vector and whether the Chinese model read it (else MiniLM, or no model)."""
        text = clean_query(query, self.max_chars)
        if not text:
            return [], None, False
        cjk = CJK.search(text) is not None
        if not cjk:
            text = self.intents.vocabulary.correct(text)
        vector = None
        # The English model reads most CJK characters as one unknown token: cosines between unrelated
        # Chinese questions reach 0.99 (measured), so CJK queries are matched on words alone.
        if self.method != "bm25" and self.embedder is not None and not cjk:
            vector = self.embedder.embed([text])[0]
        hits = self.backend.search(synonyms.expand(text), self.candidates, language=language, vector=vector)
        if cjk and self.method == "hybrid" and self.chinese is not None and len(self.chinese):
            reading = self.chinese.read(synonyms.canonical(text), self.candidates)
            return self._chinese_candidates(reading, hits, language), reading.vector if reading else None, True
        intents: dict[str, tuple[float | None, int]] = {}
        answers: dict[str, float] = {}
        ids = [h.faq_id for h in hits]
        read = synonyms.canonical(text) if cjk else text  # the query as the overlaps read it
        if vector is not None and self.method == "hybrid":
            intents = dict(self.intents.scores(vector, ids))
            answers = self.intents.answer_cosines(vector, ids)
        elif cjk and self.method == "hybrid":
            # A Chinese answer's overlap stands where an English answer's cosine does: it often names what the
            # question asks about in other words than the FAQ's questions (docs/faq-matching.md, "Chinese").
            for faq_id, (answer, texts) in self.intents.cjk_answers(ids).items():
                answers[faq_id] = cjk_overlap(read, synonyms.canonical(answer))
                intents[faq_id] = (None, texts)
        out = []
        for h in hits:
            intent, texts = intents.get(h.faq_id, (None, 0))
            overlap = cjk_overlap(read, synonyms.canonical(h.matched)) if cjk else None
            out.append(Candidate(h.faq_id, h.matched, h.lexical, h.semantic, intent, texts, overlap,
                                 answers.get(h.faq_id)))
        return out, vector, False

    @staticmethod
    def _chinese_candidates(reading: Reading | None, hits: Sequence[Hit], language: str | None) -> list[Candidate]:
        """The lexical hits and the Chinese model's best FAQs (a paraphrase often shares no two characters
        with its FAQ: the lexical top 10 held the right FAQ for 0.86 of the demo's Chinese similar questions),
        scored by the model. FAQs of another language than the query's are left to the lexical side."""
        if reading is None:
            return []
        out = []
        for h in hits:
            intent, texts = reading.scores.get(h.faq_id, (None, 0))
            out.append(Candidate(h.faq_id, h.matched, h.lexical, reading.semantic.get(h.faq_id), intent, texts, None,
                                 reading.answers.get(h.faq_id), chinese=intent is not None))
        found = {h.faq_id for h in hits}
        if language is None or language.lower().startswith(CJK_LANGUAGES):
            for faq_id, question in reading.best.items():
                if faq_id not in found:
                    score, texts = reading.scores[faq_id]
                    out.append(Candidate(faq_id, question, 0.0, reading.semantic.get(faq_id), score, texts, None,
                                         reading.answers.get(faq_id), chinese=True))
        return out

    def set_off_topic(self, texts: Sequence[str]) -> None:
        """The questions an admin marked off-topic (``learning``): a confident answer is declined when the question
        is at least as near one of them as to its FAQ's nearest text. Only new texts are embedded."""
        self._off_topic.set(texts, self.embedder, self.chinese.embedder if self.chinese is not None else None)

    def snapshot(self) -> bytes:
        """The classifiers as one snapshot another process can :meth:`restore` (``IntentModel.to_bytes``)."""
        buffer = io.BytesIO()
        chinese = self.chinese.to_bytes() if self.chinese is not None and self.chinese.complete else b""
        np.savez(buffer, format=np.array([MATCHER_SNAPSHOT_FORMAT]),
                 intents=np.frombuffer(self.intents.to_bytes(), dtype=np.uint8),
                 chinese=np.frombuffer(chinese, dtype=np.uint8))
        return buffer.getvalue()

    def restore(self, data: bytes) -> None:
        """Take a :meth:`snapshot`. Raises ValueError when it is not one, or of another format or model. A
        snapshot without the Chinese model (saved where none is installed) leaves it to be fitted: ``complete``
        stays False and :meth:`learn` fits both."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                fmt = int(npz["format"][0])
                intents = bytes(np.asarray(npz["intents"], dtype=np.uint8))
                chinese = bytes(np.asarray(npz["chinese"], dtype=np.uint8))
        except (OSError, KeyError, IndexError, ValueError) as e:
            raise ValueError(f"not a matcher snapshot: {e}") from e
        if fmt != MATCHER_SNAPSHOT_FORMAT:
            raise ValueError(f"matcher snapshot of format {fmt}, not {MATCHER_SNAPSHOT_FORMAT}")
        if self.chinese is not None and not chinese:
            raise ValueError("matcher snapshot without the Chinese model")
        self.intents.restore(intents, dim=self.embedder.dim if self.embedder is not None else None)
        if self.chinese is not None:
            self.chinese.restore(chinese)

    @property
    def complete(self) -> bool:
        """Whether the classifiers know the whole knowledge base (fitted, or restored from a snapshot)."""
        return self.intents.complete and (self.chinese is None or self.chinese.complete)

    def rank(self, query: str, k: int = 5, language: str | None = None, synonyms: Synonyms = NONE) -> list[Hit]:
        """Up to ``k`` FAQs for ``query``, best first; ``score`` is the blend, 0..1."""
        return fuse(self.candidates_for(query, language, synonyms), self.fusion)[:k]

    def decide(self, query: str, threshold: float = DEFAULT_THRESHOLD, k: int = 3,
               language: str | None = None, synonyms: Synonyms = NONE,
               off_topic: Sequence[str] | None = None) -> Decision:
        """The robot's move: ``answer`` is the best FAQ when the confidence reaches ``threshold`` (then
        ``suggestions`` are the next ones, up to ``k - 1``); otherwise no answer and the top ``k``. A confident
        answer is still declined (``off_topic``) when the question is as near one marked off-topic as to its FAQ
        (``off_topic``: the marked questions, as :meth:`set_off_topic`; None keeps those set before)."""
        if off_topic is not None:
            self.set_off_topic(off_topic)
        candidates, vector, chinese = self._read(query, language, synonyms)
        ranked = fuse(candidates, self.fusion)
        conf = confidence(ranked, self.fusion)
        if ranked and conf >= threshold:
            if is_off_topic(vector, ranked[0].semantic, self._off_topic.vectors(chinese)):
                return Decision(answer=None, suggestions=ranked[:k], confidence=conf, off_topic=True)
            return Decision(answer=ranked[0], suggestions=ranked[1:k], confidence=conf)
        return Decision(answer=None, suggestions=ranked[:k], confidence=conf)


class OffTopic:
    """Questions marked off-topic, as vectors of the model that reads each (E5 for Chinese where it is installed,
    else MiniLM): negatives for the gate (:func:`is_off_topic`)."""

    def __init__(self) -> None:
        self._texts: tuple[str, ...] = ()
        self._vectors = LanguageVectors()
        self._matrices: dict[str, Vector] = {}

    def set(self, texts: Sequence[str], english: Embedder | None, chinese: Embedder | None) -> None:
        wanted = tuple(dict.fromkeys(t for t in (clean_query(x) for x in texts) if t))
        if wanted == self._texts:
            return
        sides: dict[str, list[Vector]] = {}
        for read in self._vectors.read(wanted, english, chinese):
            if read is not None:
                sides.setdefault(read[0], []).append(read[1])
        self._matrices = {side: np.array(rows, dtype=np.float32) for side, rows in sides.items()}
        self._texts = wanted

    def vectors(self, chinese: bool) -> Vector | None:
        return self._matrices.get("zh" if chinese else "en")


def is_off_topic(vector: Vector | None, best_semantic: float | None, negatives: Vector | None,
                 margin: float = OFF_TOPIC_MARGIN) -> bool:
    """Whether a question is at least as near a question marked off-topic as to its best FAQ's nearest text
    (less ``margin``). With 20 marked examples per shop this rejected 0.88 and 0.79 of the HINT3 bots' simulated
    off-topic questions instead of 0.72 and 0.62, falsely rejecting 0.3 and 0.7 points more in-scope ones
    (docs/faq-matching.md, "Learning from the robot's misses")."""
    if vector is None or best_semantic is None or negatives is None or not len(negatives):
        return False
    return float(np.max(negatives @ np.asarray(vector, dtype=np.float32))) >= best_semantic - margin


def readable_answer(faq: Faq) -> str | None:
    """The FAQ's answer as the model reads it: None when empty, or in CJK text (the model is English-only,
    and its vectors of Chinese text are near one another whatever they say)."""
    text = faq.answer.strip()
    return text if text and CJK.search(text) is None else None


def _answers(known: dict[str, Vector], faqs: Sequence[Faq]) -> dict[str, Vector]:
    return {f.faq_id: known[a] for f in faqs if (a := readable_answer(f)) is not None and a in known}


def _rows(known: dict[str, Vector], faq: Faq) -> Vector:
    return np.array([known[t] for t in faq.texts()], dtype=np.float32)


def fuse(candidates: Sequence[Candidate], fusion: Fusion) -> list[Hit]:
    """Blended hits, best first (ties by id); ``score`` is 0..1."""
    if not candidates:
        return []
    lex = np.array([c.lexical for c in candidates], dtype=np.float64)
    lo, hi = float(lex.min()), float(lex.max())
    # BM25 has no fixed range; over the candidates, 1 is the best lexical match and 0 the worst.
    lex_scaled = (lex - lo) / (hi - lo) if hi > lo else (lex > 0).astype(np.float64)
    hits = []
    for c, lx in zip(candidates, lex_scaled, strict=True):
        sem = min(max(c.semantic, 0.0), 1.0) if c.semantic is not None else 0.0
        share = c.texts / (c.texts + fusion.saturation) if c.texts else 0.0
        if c.chinese and fusion.method == "hybrid":
            intent = min(max(c.intent or 0.0, 0.0), 1.0)
            answer = c.answer if c.answer is not None else intent
            score = calibrated((intent + fusion.cjk_answer * answer) / (1.0 + fusion.cjk_answer))
            hits.append(Hit(c.faq_id, score, c.matched, lexical=c.lexical, semantic=c.semantic))
            continue
        if c.overlap is not None and fusion.method != "embedding":
            score = c.overlap + TIE_BREAK * float(lx)  # BM25 only orders equal overlaps
        elif fusion.method == "bm25":
            score = float(lx)
        elif fusion.method == "embedding":
            score = sem
        else:
            w_lex = fusion.lexical * share
            w_intent = fusion.intent * share if c.intent is not None else 0.0
            intent = min(max(c.intent, 0.0), 1.0) if c.intent is not None else 0.0
            score = w_lex * float(lx) + w_intent * intent + (1.0 - w_lex - w_intent) * sem
        if c.answer is not None and fusion.method == "hybrid":  # an English answer's cosine, a CJK one's overlap
            w_answer = fusion.answer * (1.0 - share)
            score = (score + w_answer * min(max(c.answer, 0.0), 1.0)) / (1.0 + w_answer)
        hits.append(Hit(c.faq_id, score, c.matched, lexical=c.lexical, semantic=c.semantic))
    hits.sort(key=lambda h: (-h.score, h.faq_id))
    return hits


def calibrated(score: float, knee: float | None = None) -> float:
    """The Chinese model's blend on the English one's scale: ``knee`` (``CJK_KNEE``) goes to the default threshold,
    0 and 1 stay, linear in between (the order of hits is kept)."""
    knee = CJK_KNEE if knee is None else knee
    if score <= knee:
        return max(score, 0.0) * DEFAULT_THRESHOLD / knee
    return min(DEFAULT_THRESHOLD + (score - knee) * (1.0 - DEFAULT_THRESHOLD) / (1.0 - knee), 1.0)


def cjk_overlap(query: str, text: str) -> float:
    """How much of a CJK query ``text`` covers, 0..1: 0.7 x recall + 0.3 x precision of the query's
    characters (0.7 of the result) and character bigrams (0.3). Unlike BM25 it has a fixed scale, so
    it can serve as a confidence; particles and pronouns (的, 了, 我...) do not count as characters."""
    q_bigrams, q_chars = cjk_terms(query)
    t_bigrams, t_chars = cjk_terms(text)

    def share(q: set[str], t: set[str]) -> float:
        common = len(q & t)
        return 0.7 * common / len(q) + 0.3 * (common / len(t) if t else 0.0)

    chars = set(q_chars) - _CJK_FUNCTION_CHARS or set(q_chars)
    by_chars = share(chars, set(t_chars) - _CJK_FUNCTION_CHARS) if chars else 0.0
    if not q_bigrams:
        return min(1.0, by_chars)
    return min(1.0, 0.7 * by_chars + 0.3 * share(set(q_bigrams), set(t_bigrams)))


def confidence(ranked: Sequence[Hit], fusion: Fusion) -> float:
    """How sure the robot is of the first hit, 0..1: its blended score ``s``, raised by its lead over
    the second hit in proportion to the room left (``s + margin * lead * (1 - s)``), so it reaches 1
    only for a perfect match and a threshold near 1 still means something."""
    if not ranked:
        return 0.0
    best = min(max(ranked[0].score, 0.0), 1.0)
    lead = best - (ranked[1].score if len(ranked) > 1 else 0.0)
    return min(1.0, best + fusion.margin * max(lead, 0.0) * (1.0 - best))
