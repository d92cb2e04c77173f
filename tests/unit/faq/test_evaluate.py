"""``make faq-eval``: cross-validation that never scores a query against itself, and the result's keys."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from chalicelib.faq import evaluate as ev
from chalicelib.faq.matcher import Candidate, Fusion
from chalicelib.faq.model import Faq
from tests.conftest import WordsEmbedder


class RecordingMatcher:
    """Stands in for the matcher: records what each fold indexed and which queries it scored there."""

    def __init__(self, log: list[tuple[set[str], list[str]]]) -> None:
        self.log = log

    def index(self, faqs: Iterable[Faq]) -> int:
        faqs = list(faqs)
        self.log.append(({ev.key(t) for f in faqs for t in f.texts()}, []))
        return len(faqs)

    def candidates_for(self, query: str, language: str | None = None) -> list[Candidate]:
        self.log[-1][1].append(query)
        return []


KB = [
    {"id": "refund", "question": "How do I get a refund?", "answer": "From your orders.", "category": "returns"},
    {"id": "delivery", "question": "When will my parcel arrive?"},
    {"id": "password", "question": "I forgot my password"},
]
SIMILAR = [
    {"query": "I want my money back", "faq_id": "refund"},
    {"query": "refund my order please", "faq_id": "refund"},
    {"query": "can I be refunded", "faq_id": "refund"},
    {"query": "where is my parcel", "faq_id": "delivery"},
    {"query": "parcel delivery time", "faq_id": "delivery"},
    {"query": "how long does shipping take", "faq_id": "delivery"},
    {"query": "reset my password", "faq_id": "password"},
    {"query": "password reset link", "faq_id": "password"},
    {"query": "cannot remember my password", "faq_id": "password"},
]


def write(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_cross_validation_never_scores_a_query_against_an_index_holding_it() -> None:
    similar = [ev.Labelled(r["query"], r["faq_id"]) for r in SIMILAR]
    log: list[tuple[set[str], list[str]]] = []
    kb = [Faq(r["id"], r["question"], "") for r in KB]
    scored = ev.collect(kb, similar, similar, lambda: RecordingMatcher(log), folds=3)
    assert len(log) == 3
    assert sorted(q for _, queries in log for q in queries) == sorted(r["query"] for r in SIMILAR)
    for indexed, queries in log:
        assert queries
        assert not {ev.key(q) for q in queries} & indexed
        assert {ev.key(r["question"]) for r in KB} <= indexed  # the FAQs themselves stay
    assert [q.query for q, _ in scored] == [q for _, queries in log for q in queries]


def test_a_query_differing_only_in_case_and_spaces_counts_as_indexed() -> None:
    similar = [ev.Labelled("Reset my  password", "password"), ev.Labelled("password reset link", "password")]
    queries = [ev.Labelled("reset MY password", "password")]
    log: list[tuple[set[str], list[str]]] = []
    ev.collect(None, similar, queries, lambda: RecordingMatcher(log))
    ((indexed, scored),) = log
    assert scored == ["reset MY password"]
    assert indexed == {"password reset link"}


def test_queries_absent_from_the_index_share_one_index() -> None:
    similar = [ev.Labelled(r["query"], r["faq_id"]) for r in SIMILAR]
    queries = [ev.Labelled("my parcel is late", "delivery"), ev.Labelled("forgot password", "password")]
    log: list[tuple[set[str], list[str]]] = []
    ev.collect(None, similar, queries, lambda: RecordingMatcher(log))
    assert len(log) == 1


def test_folds_spread_every_label() -> None:
    queries = [ev.Labelled(f"q{i}", "a" if i < 10 else "b") for i in range(15)]
    folds = ev.stratified_folds(queries, k=5, seed=3)
    assert folds == ev.stratified_folds(queries, k=5, seed=3)
    for label in "ab":
        mine = [f for q, f in zip(queries, folds, strict=True) if q.label == label]
        assert max(mine.count(f) for f in range(5)) - min(mine.count(f) for f in range(5)) <= 1


def test_without_a_kb_each_label_is_one_faq_made_of_its_rows() -> None:
    rows = [ev.Labelled("a1", "A"), ev.Labelled("a2", "A"), ev.Labelled("b1", "B"),
            ev.Labelled("noise", "NO_NODES_DETECTED", in_scope=False)]
    faqs = ev.build_faqs(None, rows, exclude={"a1"})
    assert [(f.faq_id, f.texts()) for f in faqs] == [("A", ("a2",)), ("B", ("b1",))]


def test_similar_rows_join_their_kb_faq_and_unknown_labels_are_ignored() -> None:
    kb = [Faq("refund", "How do I get a refund?", "x")]
    faqs = ev.build_faqs(kb, [ev.Labelled("money back", "refund"), ev.Labelled("How do I get a refund?", "refund"),
                              ev.Labelled("hello", "unknown")])
    assert faqs[0].similar == ("money back",)
    assert len(faqs) == 1


def test_metrics_rank_in_scope_queries_and_gate_out_of_scope_ones() -> None:
    def cand(faq_id: str, semantic: float) -> Candidate:
        return Candidate(faq_id, faq_id, 0.0, semantic, None, 0)

    scored = [
        (ev.Labelled("q1", "a"), [cand("a", 0.9), cand("b", 0.2)]),  # right, confident
        (ev.Labelled("q2", "a"), [cand("b", 0.5), cand("a", 0.45)]),  # second, unsure
        (ev.Labelled("q3", "a"), []),  # nothing found
        (ev.Labelled("q4", "z", in_scope=False), [cand("a", 0.3), cand("b", 0.29)]),
    ]
    m = ev.metrics(scored, Fusion(method="embedding"), threshold=0.6)
    assert (m["n"], m["top1"], m["recall3"], m["mrr5"]) == (3, pytest.approx(1 / 3, abs=1e-4),
                                                           pytest.approx(2 / 3, abs=1e-4), pytest.approx(0.5, abs=1e-4))
    assert (m["n_oos"], m["oos_rejection"], m["false_rejection"]) == (1, 1.0, pytest.approx(2 / 3, abs=1e-4))
    assert "oos_rejection" not in ev.metrics(scored[:3], Fusion(method="embedding"))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "kb": write(tmp_path / "kb.jsonl", KB),
        "similar": write(tmp_path / "similar.jsonl", SIMILAR),
        "queries": write(tmp_path / "queries.jsonl", SIMILAR),
        "oos": write(tmp_path / "oos.jsonl", [*({"query": r["query"], "intent": r["faq_id"], "in_scope": True}
                                                  for r in SIMILAR),
                                                {"query": "what is the capital of France", "intent": "NONE",
                                                 "in_scope": False}]),
    }


def test_evaluate_writes_the_documented_keys(files: dict[str, Path]) -> None:
    result = ev.evaluate(files["kb"], files["queries"], files["similar"], embedder=WordsEmbedder(), folds=3)
    assert {"n", "top1", "recall3", "mrr5", "threshold", "method"} <= set(result)
    assert "oos_rejection" not in result and "false_rejection" not in result
    assert result["n"] == len(SIMILAR)
    assert 0.0 <= result["top1"] <= result["recall3"] <= 1.0


def test_out_of_scope_rows_add_the_gate_figures(files: dict[str, Path]) -> None:
    result = ev.evaluate(None, files["oos"], files["similar"], embedder=WordsEmbedder(), folds=3)
    assert result["n"] == len(SIMILAR)
    assert result["n_oos"] == 1
    assert 0.0 <= result["oos_rejection"] <= 1.0
    assert 0.0 <= result["false_rejection"] <= 1.0


def test_the_command_line_writes_out(files: dict[str, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "result.json"
    assert ev.main(["--kb", str(files["kb"]), "--queries", str(files["queries"]), "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written == json.loads(capsys.readouterr().out)
    assert written["n"] == len(SIMILAR)


def test_rows_missing_their_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="faq_id"):
        ev.load_labelled(write(tmp_path / "bad.jsonl", [{"query": "hello"}]))
    with pytest.raises(ValueError, match="question"):
        ev.load_kb(write(tmp_path / "bad-kb.jsonl", [{"intent": "EMI", "n_queries": 3}]))


def test_unlabelled_off_topic_rows_are_accepted(tmp_path: Path) -> None:
    rows = ev.load_labelled(write(tmp_path / "logs.jsonl", [
        {"query": "what's the weather", "intent": None, "in_scope": False},
        {"query": "tell me a joke", "faq_id": None},
        {"query": "sing a song", "intent": "chitchat", "in_scope": False},
        {"query": "refund please", "faq_id": "refund"}]))
    assert [(r.label, r.in_scope) for r in rows] == [
        (ev.OFF_TOPIC, False), (ev.OFF_TOPIC, False), ("chitchat", False), ("refund", True)]
    with pytest.raises(ValueError, match="off-topic"):
        ev.load_labelled(write(tmp_path / "bad.jsonl", [{"query": "x", "faq_id": None, "in_scope": True}]))


def test_a_kb_row_brings_its_own_similar_questions(tmp_path: Path) -> None:
    path = write(tmp_path / "kb.jsonl", [
        {"id": "ship", "question": "订单满多少包邮？", "similar": ["包邮吗", "运费怎么算"], "language": "zh"},
        {"id": "pw", "question": "reset password"}])
    kb = ev.load_kb(path)
    assert kb[0].similar == ("包邮吗", "运费怎么算") and kb[0].language == "zh" and kb[1].similar == ()
    # indexed with the SIMILAR file's rows, a KB similar question equal to a scored query left out of its fold
    faqs = ev.build_faqs(kb, [ev.Labelled("满多少免运费", "ship")], exclude={ev.key("包邮吗")})
    assert faqs[0].similar == ("运费怎么算", "满多少免运费")
    log: list[tuple[set[str], list[str]]] = []
    ev.collect(kb, [], [ev.Labelled("包邮吗", "ship"), ev.Labelled("password help", "pw")],
               lambda: RecordingMatcher(log), folds=2)
    assert all(not {ev.key(q) for q in queries} & indexed for indexed, queries in log)
    assert len(log) == 2  # the KB's own similar questions count as indexed: the queries are folded


def test_a_kb_row_whose_similar_questions_are_not_a_list_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "kb.jsonl", [{"id": "ship", "question": "包邮吗", "similar": "运费怎么算"}])
    with pytest.raises(ValueError, match="similar"):
        ev.load_kb(path)
