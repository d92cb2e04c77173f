"""Which collected questions count as the same: their normalised text (Unicode NFKC, case folded, punctuation,
spaces and a few filler particles dropped). It costs no model call and no read, so an event stays one write;
paraphrases with other words stay separate groups (the admin's list shows both, and once one is added to an FAQ
the robot answers the other by embedding as well)."""

from __future__ import annotations

import hashlib
import re
import unicodedata

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
