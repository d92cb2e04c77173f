"""Words a shop declares to mean the same (robot settings ``synonyms``): ``[["优惠", "折扣", "打折"], ["EMI",
"installments"]]``.

Chinese questions are matched on the characters they share with a FAQ (``matcher.cjk_overlap``), so "有没有折扣"
shares almost nothing with "有优惠吗" although both ask for a discount; the sentence model does not read Chinese.
With the group above, both sides are read with every term of the group replaced by its first term before the
overlap is counted, and the search also looks for the group's other terms. English questions are matched on their
meaning as well, where synonyms matter less: there the other terms only widen the search.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from chalicelib.faq.search.base import CJK

MAX_GROUPS = 200
MAX_TERMS = 20  # per group
MAX_TERM = 30  # characters


class Synonyms:
    """Groups of terms that mean the same; the first term of a group stands for the group."""

    def __init__(self, groups: Sequence[Sequence[str]]) -> None:
        self.groups = tuple(tuple(g) for g in groups)
        self._canonical: dict[str, str] = {}
        self._group: dict[str, tuple[str, ...]] = {}
        for group in self.groups:
            for term in group:
                self._canonical[term.casefold()] = group[0]
                self._group[term.casefold()] = group
        # Longest terms first, so "退货运费" wins over "退货" where both are terms. A term without Chinese matches
        # whole words only ("emi" is not in "premium"); Chinese has no spaces to look for.
        alternatives = [_bounded(re.escape(t)) if _is_word(t) else re.escape(t)
                        for t in sorted(self._canonical, key=len, reverse=True)]
        self._pattern = re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def canonical(self, text: str) -> str:
        """``text`` with each term replaced by its group's first term."""
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._canonical[m.group(0).casefold()], text)

    def expand(self, text: str) -> str:
        """``text`` followed by the other terms of each group it uses: what the search looks for."""
        if self._pattern is None:
            return text
        found = {m.group(0).casefold() for m in self._pattern.finditer(text)}
        extra = dict.fromkeys(t for f in found for t in self._group[f] if t.casefold() not in found)
        return " ".join([text, *extra]) if extra else text


def _is_word(term: str) -> bool:
    return CJK.search(term) is None


def _bounded(escaped: str) -> str:
    # Latin letters and digits only: "618" is a whole word in "618大促".
    return rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])"


@lru_cache(maxsize=8)
def synonyms_of(groups: tuple[tuple[str, ...], ...]) -> Synonyms:
    """One compiled set per distinct settings value: built once, not per question."""
    return Synonyms(groups)


NONE = Synonyms(())
