"""Typos corrected against the knowledge base's own words, and only those."""

from __future__ import annotations

import random
import string

import pytest

from chalicelib.faq.model import Faq
from chalicelib.faq.spelling import Vocabulary, distance, lexicon, words_of

FAQS = [
    Faq("cancel", "How do I cancel my order?", "Open the order and press Cancel.",
        similar=("cancel order", "stop my order")),
    Faq("invoice", "Where is my invoice?", "Download the bill from your orders page."),
    Faq("close", "How do I close my account?", "Account termination is under Settings."),
]


@pytest.fixture
def vocab() -> Vocabulary:
    v = Vocabulary()
    v.replace_all({f.faq_id: words_of(f) for f in FAQS})
    return v


@pytest.mark.parametrize(("typed", "meant"), [
    ("cancfel my ordr", "cancel my order"),  # a letter too many; one missing
    ("where is the biull", "where is the bill"),
    ("I want the invocie", "I want the invoice"),  # two letters swapped: one edit
    ("account temrinatoin", "account termination"),  # long words may be two edits away
])
def test_a_typo_of_a_knowledge_base_word_becomes_that_word(vocab: Vocabulary, typed: str, meant: str) -> None:
    assert vocab.correct(typed) == meant


@pytest.mark.parametrize("text", [
    "an older bull",  # English words stay, though one edit from "order" and "bill"
    "my parcel is late",  # not a typo of anything here
    "ok",  # too short to judge
    "pls thx lol",  # chat shorthand: three letters are left alone ("plus", "the", "low" are one edit away)
    "退货 cancel",  # CJK is left as it is
])
def test_words_and_unknown_words_are_left_alone(vocab: Vocabulary, text: str) -> None:
    assert vocab.correct(text) == text


def test_the_vocabulary_follows_edits(vocab: Vocabulary) -> None:
    assert vocab.correct("biull") == "bill"
    vocab.remove("invoice")  # the only FAQ with "bill"
    assert vocab.correct("biull") == "biull"
    vocab.set("invoice", words_of(Faq("invoice", "Where is my receipt?", "Download it.")))
    assert vocab.correct("recepit") == "receipt"
    assert set(vocab.by_faq()) == {"cancel", "invoice", "close"}


def test_distance_counts_a_swap_as_one_edit() -> None:
    assert (distance("invocie", "invoice"), distance("bill", "biull"), distance("abc", "xyz")) == (1, 1, 3)
    assert "hello" in lexicon() and "biull" not in lexicon()


# -- what a correction costs: counted in deletions made and candidates scored, never timed -----------

def _cost(vocab: Vocabulary, text: str) -> int:
    before = vocab.work
    vocab.correct(text)
    return vocab.work - before


def test_a_word_longer_than_any_in_the_knowledge_base_costs_nothing(vocab: Vocabulary) -> None:
    ordinary = _cost(vocab, "cancfel my ordr")
    assert ordinary > 0
    pasted = "".join(random.Random(1).choice(string.ascii_lowercase) for _ in range(500))
    assert _cost(vocab, pasted) == 0  # 115,920 deletions before
    assert _cost(vocab, "terminationxyz") == 0  # the longest word ("termination", 11) plus two edits is 13


def test_a_pasted_run_of_letters_is_neither_indexed_nor_makes_long_words_costly() -> None:
    v = Vocabulary()
    v.replace_all({"code": ["q" * 400, "cancel"]})
    assert v.by_faq() == {"code": ("cancel",)}
    assert words_of(Faq("k", "Your key is " + "q" * 400, "see " + "z" * 31)) == ("your",)
    assert _cost(v, "q" * 399) == 0
    assert v.correct("cancle") == "cancel"
    # The bound follows the vocabulary: with its longest word gone, so is what reaching it may cost.
    v.remove("code")
    assert _cost(v, "cancle") == 0
