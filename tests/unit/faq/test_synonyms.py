"""The shop's synonyms: each term read as its group's first, and the search widened to the group."""

from __future__ import annotations

from chalicelib.faq.synonyms import NONE, Synonyms, synonyms_of

GROUPS = (("优惠", "折扣", "打折"), ("退货运费", "寄回运费"), ("EMI", "installments", "分期"), ("618", "年中大促"))


def test_chinese_terms_match_inside_words_and_read_as_the_first_of_their_group() -> None:
    s = Synonyms(GROUPS)
    assert s.canonical("有没有折扣") == "有没有优惠"
    assert s.canonical("打折吗") == "优惠吗"
    assert s.canonical("有优惠吗") == "有优惠吗"  # the first term stays itself


def test_latin_terms_match_whole_words_only_and_any_case() -> None:
    s = Synonyms(GROUPS)
    assert s.canonical("Do you do installments?") == "Do you do EMI?"
    assert s.canonical("premium emi") == "premium EMI"
    assert s.canonical("semis and emission") == "semis and emission"
    assert s.canonical("618大促打折吗") == "618大促优惠吗"  # Chinese next to a number is still a boundary


def test_the_longest_term_wins_where_terms_overlap() -> None:
    s = Synonyms((("退货", "退款"), ("退货运费", "寄回运费")))
    assert s.canonical("寄回运费谁出") == "退货运费谁出"
    assert s.canonical("退货运费谁出") == "退货运费谁出"  # not "退货" + "运费"


def test_expand_adds_each_used_groups_other_terms_once() -> None:
    s = Synonyms(GROUPS)
    assert s.expand("有没有折扣") == "有没有折扣 优惠 打折"
    assert s.expand("折扣还是打折") == "折扣还是打折 优惠"
    assert s.expand("where is my parcel") == "where is my parcel"


def test_no_synonyms_change_nothing() -> None:
    assert not NONE and not Synonyms(())
    assert NONE.canonical("有没有折扣") == NONE.expand("有没有折扣") == "有没有折扣"
    assert synonyms_of(GROUPS) is synonyms_of(GROUPS)  # compiled once per settings value
