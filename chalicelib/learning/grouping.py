"""Which collected questions count as the same: their normalised text (Unicode NFKC, case folded, punctuation,
spaces and a few filler particles dropped). It costs no model call and no read, so an event stays one write.
Paraphrases with other words are separate groups in the table, and are put together by meaning when the admins'
list is read (:func:`clusters`, called by ``edge/learning.py``), where a model call costs nobody's chat a thing."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]

_DROP = re.compile(r"[\s\W_]+", re.UNICODE)
# Sentence-final particles and politeness that change nothing a knowledge base answers.
_FILLERS = re.compile(r"请问|麻烦|你好|您好|呢|吗|啊|呀|吧|哦|嘛|\b(please|pls|hi|hello)\b", re.IGNORECASE)
MAX_TEXT = 500


def normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _DROP.sub("", _FILLERS.sub(" ", folded))


def group_key(text: str) -> str:
    """A short stable key for ``text``'s group (a hash: the normalised text may be long and any script)."""
    return "g_" + hashlib.sha1(normalise(text).encode()).hexdigest()[:16]


def clusters(vectors: Sequence[tuple[str, Vector] | None], threshold: Mapping[str, float]) -> list[int]:
    """Greedy grouping by meaning, for the admins' list: each item (``(space, unit vector)``, None when no model
    read it) joins the first earlier item that leads a cluster of its space and lies within ``threshold[space]``
    (cosine), else leads one itself. Returns each item's leader; the caller orders the items (most asked first)."""
    leaders: dict[str, list[tuple[int, Vector]]] = {}
    out: list[int] = []
    for i, item in enumerate(vectors):
        if item is None:
            out.append(i)
            continue
        space, vector = item
        found = next((j for j, led in leaders.get(space, ()) if float(np.dot(led, vector)) >= threshold[space]), None)
        if found is None:
            leaders.setdefault(space, []).append((i, vector))
            found = i
        out.append(found)
    return out
