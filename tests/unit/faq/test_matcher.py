"""The matcher: blending, the confidence gate, awkward input, the intent classifier; a few checks on the real model."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np
import pytest

from chalicelib.faq.embed import MiniLmEmbedder, Vector, default_embedder
from chalicelib.faq.matcher import (
    DEFAULT_METHOD,
    DEFAULT_THRESHOLD,
    MAX_QUERY_CHARS,
    Candidate,
    Fusion,
    IntentModel,
    Matcher,
    cjk_overlap,
    clean_query,
    confidence,
    fuse,
)
from chalicelib.faq.model import Faq, Hit
from chalicelib.faq.search.embedded import EmbeddedBackend
from tests.conftest import CountingEmbedder, WordsEmbedder


class RecordingBackend:
    """Remembers the queries it was asked and answers with fixed hits."""

    def __init__(self, hits: list[Hit] | None = None) -> None:
        self.queries: list[tuple[str, int, str | None, Vector | None]] = []
        self.hits = hits or []

    def replace_all(self, faqs: Iterable[Faq], embedder: object = None) -> int:
        return len(list(faqs))

    def upsert(self, faqs: Sequence[Faq], embedder: object = None) -> None: ...

    def delete(self, faq_ids: Sequence[str]) -> None: ...

    def count(self) -> int:
        return len(self.hits)

    def search(self, query: str, k: int = 10, language: str | None = None,
               vector: Vector | None = None) -> list[Hit]:
        self.queries.append((query, k, language, vector))
        return list(self.hits)


FAQS = [
    Faq("refund", "How do I get a refund?", "From your orders page.",
        similar=("I want my money back", "refund my order please", "how can I be refunded")),
    Faq("delivery", "When will my parcel arrive?", "In 3 to 5 days.",
        similar=("where is my parcel", "parcel delivery time", "how long does shipping take")),
    Faq("password", "I forgot my password", "Use the reset link.", similar=("reset my password",)),
    Faq("zh-return", "如何退货", "在订单页面申请退货。", language="zh"),
]


@pytest.fixture
def matcher() -> Matcher:
    m = Matcher(EmbeddedBackend(), WordsEmbedder())
    assert m.index(FAQS) == 4
    return m


def candidate(faq_id: str, lexical: float, semantic: float | None, intent: float | None = None,
              texts: int = 0, overlap: float | None = None) -> Candidate:
    return Candidate(faq_id, faq_id, lexical, semantic, intent, texts, overlap)


# -- input --------------------------------------------------------------------------------------
def test_clean_query_drops_emoji_and_control_characters_and_cuts_long_text() -> None:
    assert clean_query("  where is\tmy 📦 parcel?? 😀\u200d\ufe0f ") == "where is my parcel??"
    assert clean_query("退货 😀 please") == "退货 please"
    assert clean_query("refund $20") == "refund $20"
    assert len(clean_query("word " * 1000)) <= MAX_QUERY_CHARS


@pytest.mark.parametrize("query", ["", "   ", "\n\t", "😀😀", "👍🏽"])
def test_an_empty_query_finds_nothing_and_asks_no_backend(query: str) -> None:
    backend = RecordingBackend([Hit("refund", 1.0, "x", lexical=1.0, semantic=0.9)])
    m = Matcher(backend, WordsEmbedder())
    assert m.rank(query) == []
    decision = m.decide(query)
    assert (decision.answer, decision.suggestions, decision.confidence) == (None, [], 0.0)
    assert backend.queries == []


def test_a_very_long_query_is_cut_before_it_reaches_the_backend() -> None:
    backend = RecordingBackend()
    Matcher(backend, WordsEmbedder()).rank("refund " * 5000)
    (query, _, _, vector), = backend.queries
    assert len(query) <= MAX_QUERY_CHARS
    assert vector is not None


def test_language_and_candidate_count_are_passed_to_the_backend() -> None:
    backend = RecordingBackend()
    Matcher(backend, WordsEmbedder(), candidates=7).rank("退货", language="zh")
    assert backend.queries[0][1:3] == (7, "zh")


# -- matching -----------------------------------------------------------------------------------
def test_similar_questions_and_chinese_are_matched(matcher: Matcher) -> None:
    assert matcher.rank("I want my money back")[0].faq_id == "refund"
    assert matcher.rank("where is my parcel")[0].faq_id == "delivery"
    assert matcher.rank("退货")[0].faq_id == "zh-return"
    assert matcher.rank("我要退货 please")[0].faq_id == "zh-return"  # mixed Chinese and English
    assert matcher.rank("退货", language="en") == []


def test_a_chinese_query_is_not_embedded(matcher: Matcher) -> None:
    backend = RecordingBackend()
    Matcher(backend, WordsEmbedder()).rank("我要退货 please")
    assert backend.queries[0][3] is None


def test_rank_scores_are_blended_into_0_1_best_first(matcher: Matcher) -> None:
    hits = matcher.rank("refund my parcel", k=5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert len({h.faq_id for h in hits}) == len(hits)
    assert len(matcher.rank("refund my parcel", k=1)) == 1


def test_decide_answers_a_confident_match_and_lists_the_next_as_suggestions(matcher: Matcher) -> None:
    decision = matcher.decide("reset my password", threshold=0.5, k=3)
    assert decision.answer is not None and decision.answer.faq_id == "password"
    assert decision.confidence >= 0.5
    assert "password" not in [h.faq_id for h in decision.suggestions]
    assert len(decision.suggestions) <= 2


def test_decide_offers_suggestions_below_the_threshold(matcher: Matcher) -> None:
    decision = matcher.decide("reset my password", threshold=1.01, k=2)
    assert decision.answer is None
    assert decision.suggestions[0].faq_id == "password"
    assert len(decision.suggestions) == 2


def test_without_an_embedder_the_matcher_is_lexical() -> None:
    m = Matcher(EmbeddedBackend(), None)
    assert m.method == "bm25"
    m.index(FAQS)
    hits = m.rank("refunds")
    assert hits[0].faq_id == "refund"
    assert hits[0].semantic is None
    assert len(m.intents) == 0


def test_an_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown matching method"):
        Matcher(EmbeddedBackend(), WordsEmbedder(), method="magic")


def test_shipped_defaults() -> None:
    assert DEFAULT_METHOD == "hybrid"
    assert 0.0 < DEFAULT_THRESHOLD < 1.0
    assert Matcher(EmbeddedBackend(), WordsEmbedder()).method == DEFAULT_METHOD


# -- the index ----------------------------------------------------------------------------------
def test_upsert_and_delete_keep_backend_and_classifier_in_step(matcher: Matcher) -> None:
    matcher.upsert([Faq("warranty", "How long is the warranty?", "Two years.", similar=("warranty period",))])
    assert (matcher.backend.count(), len(matcher.intents)) == (5, 5)
    assert matcher.rank("warranty period")[0].faq_id == "warranty"
    matcher.upsert([Faq("warranty", "How long is the warranty?", "Two years.", enabled=False)])
    matcher.delete(["password", "nope"])
    assert (matcher.backend.count(), len(matcher.intents)) == (3, 3)
    assert all(h.faq_id != "password" for h in matcher.rank("reset my password"))


def test_over_a_backend_filled_elsewhere_the_classifier_waits_for_learn() -> None:
    backend = EmbeddedBackend()
    backend.replace_all(FAQS, WordsEmbedder())
    m = Matcher(backend, WordsEmbedder())
    m.upsert([Faq("warranty", "How long is the warranty?", "Two years.")])
    assert len(m.intents) == 0  # one FAQ is not a classifier over the knowledge base
    assert all(c.intent is None for c in m.candidates_for("reset my password"))
    assert m.rank("reset my password")[0].faq_id == "password"
    assert m.learn([*FAQS, Faq("warranty", "How long is the warranty?", "Two years.")]) == 5
    assert backend.count() == 5  # learn writes nothing to the backend
    assert any(c.intent is not None for c in m.candidates_for("reset my password"))


def test_index_embeds_each_text_once() -> None:
    counting = CountingEmbedder()
    Matcher(EmbeddedBackend(), counting).index(FAQS)
    # Each question and similar question once, and each answer the English model can read.
    assert sorted(counting.texts) == sorted([*(t for f in FAQS for t in f.texts()),
                                            *(f.answer for f in FAQS if f.language != "zh")])  # not Chinese


def test_the_intent_model_separates_faqs_that_share_words() -> None:
    embedder = WordsEmbedder()
    model = IntentModel()
    see = ["see my invoice", "view my invoice", "look at invoice", "see the bill"]
    get = ["download my invoice", "get my invoice", "download the bill", "get invoice copy"]
    model.replace_all({"check": embedder.embed(see), "get": embedder.embed(get)})
    scores = model.scores(embedder.embed(["download invoice"])[0], ["check", "get", "unknown"])
    assert set(scores) == {"check", "get"}
    assert scores["get"][0] > scores["check"][0]
    assert scores["get"][1] == 4  # texts behind the score
    model.delete("get")
    assert set(model.scores(embedder.embed(["download invoice"])[0], ["check", "get"])) == {"check"}


def test_edits_to_the_intent_model_equal_a_fit_from_scratch() -> None:
    embedder = WordsEmbedder()
    texts = {"a": ["see my invoice", "view invoice"], "b": ["download invoice", "get a copy"],
             "c": ["reset password"], "d": ["track my parcel", "where is my order"]}
    edited = IntentModel()
    edited.replace_all({f: embedder.embed(t) for f, t in texts.items() if f != "d"})
    edited.upsert("d", embedder.embed(texts["d"]))
    edited.upsert("a", embedder.embed(["look at my bill"]))
    edited.delete("c")
    final = {"a": ["look at my bill"], "b": texts["b"], "d": texts["d"]}
    fresh = IntentModel()
    # the same kernel features: the landmarks the edited model chose when it was first fitted
    landmarks = embedder.embed([t for f in "abc" for t in texts[f]])
    fresh.replace_all({f: embedder.embed(t) for f, t in final.items()}, landmarks=landmarks)
    query = embedder.embed(["where is my invoice"])[0]
    got, want = edited.scores(query, "abcd"), fresh.scores(query, "abcd")
    assert set(got) == set(want) == {"a", "b", "d"}
    for f in want:
        assert got[f][0] == pytest.approx(want[f][0], abs=1e-4)
        assert got[f][1] == want[f][1]


def test_the_intent_model_scores_low_far_from_every_text() -> None:
    # A linear scorer keeps growing along its direction; the kernel's scores fade away from the texts.
    embedder = WordsEmbedder()
    model = IntentModel()
    model.replace_all({"refund": embedder.embed(["refund my order", "I want my money back", "get a refund"]),
                       "track": embedder.embed(["where is my parcel", "track my parcel", "parcel not here"])})
    near = model.scores(embedder.embed(["refund my money"])[0], ["refund", "track"])
    far = model.scores(embedder.embed(["weather forecast tomorrow"])[0], ["refund", "track"])
    assert near["refund"][0] > 0.5 > max(score for score, _ in far.values())


def test_past_the_landmark_limit_every_faq_keeps_a_landmark() -> None:
    embedder = WordsEmbedder()
    texts = {f"faq{i}": [f"question {i} alpha{i}", f"other {i} beta{i}", f"third {i} gamma{i}"] for i in range(4)}
    model = IntentModel(max_landmarks=5)
    model.replace_all({f: embedder.embed(t) for f, t in texts.items()})
    scores = model.scores(embedder.embed(["question 3 alpha3"])[0], texts)
    assert set(scores) == set(texts)
    assert max(scores, key=lambda f: scores[f][0]) == "faq3"
    restored = IntentModel(max_landmarks=5)
    restored.restore(model.to_bytes())
    assert restored.scores(embedder.embed(["question 3 alpha3"])[0], texts)["faq3"][0] == pytest.approx(
        scores["faq3"][0], abs=2e-3)


def test_a_snapshot_of_the_intent_model_scores_as_the_model_did() -> None:
    embedder = WordsEmbedder()
    texts = {"check": ["see my invoice", "view my invoice", "look at invoice"],
             "get": ["download my invoice", "get my invoice"], "track": ["where is my parcel"]}
    model = IntentModel()
    model.replace_all({f: embedder.embed(t) for f, t in texts.items()}, cjk_answers={"track": "在“我的订单”查看物流"})
    restored = IntentModel()
    restored.restore(model.to_bytes(), dim=embedder.dim)
    assert restored.cjk_answers(texts) == {"track": ("在“我的订单”查看物流", 1)}  # Chinese answers travel too
    query = embedder.embed(["download the invoice"])[0]
    got, want = restored.scores(query, texts), model.scores(query, texts)
    assert set(got) == set(want) == set(texts)
    for f in want:
        assert got[f][0] == pytest.approx(want[f][0], abs=2e-3)  # rows travel as float16
        assert got[f][1] == want[f][1]
    restored.upsert("track", embedder.embed(["track my parcel"]))  # edits work on a restored model
    assert restored.scores(query, ["track"])["track"][1] == 1


def test_a_snapshot_of_another_model_or_of_nothing_is_refused() -> None:
    embedder = WordsEmbedder()
    model = IntentModel()
    with pytest.raises(ValueError, match="whole knowledge base"):
        model.to_bytes()  # an incomplete model would be taken for the whole knowledge base
    model.replace_all({"a": embedder.embed(["see my invoice"])})
    with pytest.raises(ValueError, match="64-dimensional"):
        IntentModel().restore(model.to_bytes(), dim=384)
    with pytest.raises(ValueError, match="not an intent model snapshot"):
        IntentModel().restore(b"not a snapshot")
    empty = IntentModel()
    empty.replace_all({})
    fresh = IntentModel()
    fresh.restore(empty.to_bytes(), dim=384)
    assert fresh.complete and len(fresh) == 0


def test_teach_edits_the_classifier_alone(matcher: Matcher) -> None:
    matcher.teach([Faq("warranty", "How long is the warranty?", "Two years.", similar=("warranty period",))],
                  deleted=["password"])
    assert (matcher.backend.count(), len(matcher.intents)) == (4, 4)  # the backend is left as it was
    assert set(matcher.intents.scores(WordsEmbedder().embed(["warranty"])[0], ["warranty", "password"])) == {
        "warranty"}


# -- blending and confidence --------------------------------------------------------------------
def test_a_faq_without_similar_questions_is_ranked_by_cosine() -> None:
    # BM25 prefers "a", cosine "b"; with one text each the blend follows the cosine.
    hits = fuse([candidate("a", 9.0, 0.50, 1.0, texts=1), candidate("b", 1.0, 0.80, 0.0, texts=1)], Fusion())
    assert [h.faq_id for h in hits] == ["b", "a"]


def test_the_classifier_weighs_more_as_a_faq_gains_texts() -> None:
    few = fuse([candidate("a", 0, 0.7, 1.0, texts=1), candidate("b", 0, 0.8, 0.0, texts=1)], Fusion())
    many = fuse([candidate("a", 0, 0.7, 1.0, texts=40), candidate("b", 0, 0.8, 0.0, texts=40)], Fusion())
    assert few[0].faq_id == "b"
    assert many[0].faq_id == "a"


def test_bm25_and_embedding_methods_use_one_signal() -> None:
    cands = [candidate("a", 5.0, 0.2, 0.9, texts=10), candidate("b", 1.0, 0.9, 0.1, texts=10)]
    assert [h.faq_id for h in fuse(cands, Fusion(method="bm25"))] == ["a", "b"]
    assert [h.faq_id for h in fuse(cands, Fusion(method="embedding"))] == ["b", "a"]


def test_a_chinese_query_is_scored_by_its_overlap_with_the_matched_text() -> None:
    cands = [candidate("a", 1.0, None, overlap=0.8), candidate("b", 5.0, None, overlap=0.3),
             candidate("c", 2.0, None, overlap=0.3)]
    hits = fuse(cands, Fusion())
    assert [h.faq_id for h in hits] == ["a", "b", "c"]  # BM25 only breaks the tie
    assert hits[0].score == pytest.approx(0.8, abs=0.011)


def test_cjk_overlap_rewards_covering_the_query_and_ignores_particles() -> None:
    assert cjk_overlap("退货", "如何退货") > 0.8
    assert cjk_overlap("我要退货", "我想退货") > 0.6  # 我, 要, 想 carry no topic
    assert cjk_overlap("今天天气怎么样", "尺码怎么选") < 0.3  # only 怎么 in common
    assert cjk_overlap("我想找工作", "我想退货") < 0.3
    assert cjk_overlap("退货", "how do I pay") == 0.0


def test_scores_stay_within_0_1_whatever_the_inputs() -> None:
    hits = fuse([candidate("a", 50.0, 1.2, 3.0, texts=99), candidate("b", 0.0, -0.4, -2.0, texts=99),
                 candidate("c", 0.0, None, None)], Fusion())
    assert all(0.0 <= h.score <= 1.0 for h in hits)


def test_confidence_adds_the_lead_over_the_second_within_the_room_left() -> None:
    fusion = Fusion(margin=1.0)
    assert confidence([], fusion) == 0.0
    assert confidence([Hit("a", 0.6, "")], fusion) == pytest.approx(0.84)  # 0.6 + 0.6 * 0.4
    assert confidence([Hit("a", 0.6, ""), Hit("b", 0.5, "")], fusion) == pytest.approx(0.64)
    assert confidence([Hit("a", 0.6, ""), Hit("b", 0.6, "")], fusion) == pytest.approx(0.6)  # a tie adds nothing
    assert 0.9 < confidence([Hit("a", 0.9, ""), Hit("b", 0.1, "")], fusion) < 1.0  # only a perfect match reaches 1
    assert confidence([Hit("a", 1.0, "")], fusion) == 1.0


# -- the real model (local files, about a second) ------------------------------------------------
@pytest.fixture(scope="module")
def minilm() -> MiniLmEmbedder:
    return default_embedder()


def test_minilm_vectors_are_unit_length_and_paraphrases_are_close(minilm: MiniLmEmbedder) -> None:
    a, b, c, empty = minilm.embed(["How do I get a refund?", "I want my money back",
                                   "What is the weather in Paris?", ""])
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    assert float(a @ b) > 0.5 > float(a @ c) + 0.3
    assert np.linalg.norm(empty) == pytest.approx(1.0, abs=1e-5)  # [CLS][SEP] still has a vector
    assert minilm.embed([]).shape == (0, 384)


def test_minilm_batches_agree_with_single_texts(minilm: MiniLmEmbedder) -> None:
    texts = ["short", "a much longer sentence about returning a parcel that arrived broken", "退货"]
    together = minilm.embed(texts)
    alone = np.vstack([minilm.embed([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-4)
    assert minilm.embed(["x " * 2000]).shape == (1, 384)  # truncated to the model's 256 tokens


def test_the_real_matcher_answers_paraphrases_and_rejects_off_topic(minilm: MiniLmEmbedder) -> None:
    m = Matcher(EmbeddedBackend(), minilm)
    m.index(FAQS)
    assert m.rank("I'd like a refund for my order")[0].faq_id == "refund"
    assert m.rank("my package has not arrived yet")[0].faq_id == "delivery"
    answered = m.decide("how can I get my money back?")
    assert answered.answer is not None and answered.answer.faq_id == "refund"
    for off_topic in ("What is the capital of France?", "tell me a joke", "asdfgh qwerty"):
        decision = m.decide(off_topic)
        assert decision.answer is None, (off_topic, decision.confidence)
        assert decision.suggestions


def test_the_real_matcher_answers_chinese_on_words_and_rejects_chinese_small_talk(minilm: MiniLmEmbedder) -> None:
    faqs = [Faq("return", "如何退货", "", language="zh", similar=("我想退货", "商品怎么退回去")),
            Faq("track", "怎么查物流", "", language="zh", similar=("我的快递到哪了",)),
            Faq("size", "尺码怎么选", "", language="zh", similar=("尺码表在哪",)),
            Faq("pay", "支持哪些付款方式", "", language="zh", similar=("可以用支付宝吗",))]
    m = Matcher(EmbeddedBackend(), minilm)
    m.index(faqs)
    for query, faq_id in (("退货", "return"), ("快递到哪里了", "track"), ("我要退货 please", "return"),
                          ("支付宝可以吗", "pay")):
        decision = m.decide(query)
        assert decision.answer is not None and decision.answer.faq_id == faq_id, (query, decision)
    for small_talk in ("今天天气怎么样", "你是机器人吗", "我想找工作"):
        assert m.decide(small_talk).answer is None, small_talk


def test_where_questions_say_little_the_answer_decides() -> None:
    # Two FAQs with the same question and no similar questions: only their answers tell them apart.
    faqs = [Faq("a-password", "A question about my account", "Reset your password from the login page."),
            Faq("b-address", "A question about my account", "Update your address in the settings.")]
    m = Matcher(EmbeddedBackend(), WordsEmbedder())
    m.index(faqs)
    assert m.rank("password reset")[0].faq_id == "a-password"
    assert m.rank("update my address")[0].faq_id == "b-address"
    assert all(c.answer is not None for c in m.candidates_for("update my address"))


def test_a_chinese_answer_names_what_its_questions_do_not() -> None:
    # "放丰巢" shares 可, 以 with both questions; only the first answer names 丰巢.
    faqs = [Faq("locker", "可以放快递柜或驿站吗？", "可以。下单时备注“放丰巢”或“放驿站”，快递员会放到柜子里。",
                language="zh"),
            Faq("carrier", "可以指定发顺丰吗？", "可以，顺丰需加收10元运费。", language="zh")]
    m = Matcher(EmbeddedBackend(), WordsEmbedder())
    m.index(faqs)
    assert m.rank("放丰巢可以吗")[0].faq_id == "locker"
    without = Matcher(EmbeddedBackend(), WordsEmbedder())
    without.index([dataclasses.replace(f, answer="") for f in faqs])
    assert without.rank("放丰巢可以吗")[0].faq_id == "carrier"  # on the questions alone the courier wins
    assert {c.faq_id: c.answer is not None for c in m.candidates_for("放丰巢可以吗")} == {
        "locker": True, "carrier": True}


def test_chinese_question_words_are_not_what_a_question_is_about() -> None:
    # 怎么 and 如何 both say "how": asking it either way is the same question (0.64 when 怎 counted).
    assert cjk_overlap("怎么退货", "如何退货") == pytest.approx(0.8)
    assert cjk_overlap("怎样", "如何") == 0.0


def test_a_typo_finds_the_faq_of_the_word_it_stands_for(matcher: Matcher) -> None:
    # "parcle" reaches neither BM25 nor the vectors; corrected, it is the delivery FAQ's word.
    assert matcher.rank("my parcle")[0].faq_id == "delivery"
    assert matcher.candidates_for("my parcle")[0].matched in {f for f in FAQS[1].texts()}


def test_texts_are_taken_in_turn_past_the_limit_so_every_faq_keeps_one() -> None:
    from chalicelib.faq.model import texts_in_turn

    assert texts_in_turn([2, 1], 5) == [(0, 0), (0, 1), (1, 0)]  # all fit: every text, FAQ by FAQ
    assert texts_in_turn([3, 1, 2], 4) == [(0, 0), (1, 0), (2, 0), (0, 1)]  # first texts first
    assert texts_in_turn([3, 3], 1) == [(0, 0)]
    assert texts_in_turn([], 10) == []
