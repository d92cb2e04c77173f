"""Import and export on moto: the shared data files as they are, bad files refused whole with the line
named, exports that import back to the same FAQs, the CLI, and write-through to the search backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.faq.__main__ import main
from chalicelib.faq.kb import KnowledgeBase
from chalicelib.faq.model import Faq
from chalicelib.faq.store import FaqStore
from chalicelib.faq.transfer import FaqImportError, Source, default_namespace, humanise
from tests.functional.conftest import RecordingBackend

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "faq"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="the shared FAQ data is not beside the repository")





def stored(kb: KnowledgeBase) -> dict[str, Faq]:
    return {f.faq_id: f for f in kb.store.all()}


def shared(name: str, labelled_only: bool = False) -> Source:
    return Source(name, (DATA / name).read_text(encoding="utf-8"), "jsonl", labelled_only=labelled_only,
                  namespace=default_namespace(name))


def rows(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def jsonl(*lines: Any) -> str:
    return "\n".join(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines)


def faq_row(faq_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": faq_id, "question": f"Question {faq_id}?", "answer": f"Answer {faq_id}.", **extra}


# -- the shared files -----------------------------------------------------------------------------

@needs_data
def test_bitext_faqs_then_their_labelled_queries_as_similar_questions(kb: KnowledgeBase,
                                                                      backend: RecordingBackend) -> None:
    result = kb.import_rows([shared("bitext_faqs.jsonl")])
    assert (result.faqs, result.created, result.similar_added) == (27, 27, 0)
    faqs = stored(kb)
    source = {r["id"]: r for r in rows("bitext_faqs.jsonl")}
    assert faqs["bitext/cancel_order"] == Faq("bitext/cancel_order", source["bitext/cancel_order"]["question"],
                                              source["bitext/cancel_order"]["answer"], category="ORDER")

    expected: dict[str, set[str]] = {}
    for row in rows("bitext_queries_dev.jsonl"):
        if row["query"].strip() != faqs[row["faq_id"]].question:
            expected.setdefault(row["faq_id"], set()).add(row["query"].strip())
    result = kb.import_rows([shared("bitext_queries_dev.jsonl", labelled_only=True)])
    assert (result.faqs, result.created) == (27, 0)
    assert result.similar_added == sum(len(v) for v in expected.values()) == 1247
    assert {k: set(f.similar) for k, f in stored(kb).items() if f.similar} == expected
    assert backend.written() == set(source)
    # Importing the same queries again adds nothing and writes nothing.
    assert kb.import_rows([shared("bitext_queries_dev.jsonl", labelled_only=True)]).faqs == 0


@needs_data
def test_bitext_large_knowledge_base(kb: KnowledgeBase, backend: RecordingBackend) -> None:
    result = kb.import_rows([shared("bitext_kb_large.jsonl")])
    assert (result.faqs, result.created, result.placeholders) == (769, 769, 0)
    assert len(stored(kb)) == 769
    assert backend.count() == 769


@needs_data
@pytest.mark.parametrize("bot", ["curekart", "sofmattress"])
def test_hint3_intents_and_queries_make_disabled_faqs_awaiting_answers(kb: KnowledgeBase, bot: str) -> None:
    intents = [r["intent"] for r in rows(f"hint3_{bot}_intents.jsonl")]
    queries: dict[str, set[str]] = {}
    for row in rows(f"hint3_{bot}_train.jsonl"):
        if row["in_scope"] and row["query"].strip() != humanise(row["intent"]):
            queries.setdefault(row["intent"], set()).add(row["query"].strip())
    result = kb.import_rows([shared(f"hint3_{bot}_intents.jsonl"),
                             shared(f"hint3_{bot}_train.jsonl", labelled_only=True)])
    assert (result.faqs, result.created, result.placeholders) == (len(intents), len(intents), len(intents))
    assert result.similar_added == sum(len(q) for q in queries.values())
    faqs = stored(kb)
    assert set(faqs) == {f"hint3_{bot}/{i}" for i in intents}
    cancel = faqs[f"hint3_{bot}/CANCEL_ORDER"]
    assert (cancel.question, cancel.answer, cancel.enabled) == ("Cancel order", "", False)
    assert set(cancel.similar) == queries["CANCEL_ORDER"]
    assert kb.backend.count() == 0  # disabled FAQs are not searchable


@needs_data
def test_hint3_queries_alone_name_their_faqs_by_the_first_query(kb: KnowledgeBase) -> None:
    train = rows("hint3_sofmattress_train.jsonl")
    kb.import_rows([shared("hint3_sofmattress_train.jsonl", labelled_only=True)])
    first_emi = next(r["query"].strip() for r in train if r["intent"] == "EMI")
    emi = stored(kb)["hint3_sofmattress/EMI"]
    assert (emi.question, emi.enabled) == (first_emi, False)


def test_an_intent_with_an_answer_is_enabled_and_answers_fill_existing_faqs(kb: KnowledgeBase) -> None:
    text = jsonl({"intent": "COD", "n_queries": 3, "answer": None},
                 {"intent": "WARRANTY", "n_queries": 2, "answer": "10 years."})
    kb.import_rows([Source("shop_intents.jsonl", text, "jsonl", namespace="shop")])
    faqs = stored(kb)
    assert (faqs["shop/COD"].enabled, faqs["shop/WARRANTY"].enabled) == (False, True)
    result = kb.import_rows([Source("answers.jsonl", jsonl({"intent": "COD", "answer": "Yes, cash on delivery."}),
                                    "jsonl", namespace="shop")])
    assert (result.faqs, result.created) == (1, 0)
    assert stored(kb)["shop/COD"] == Faq("shop/COD", "Cod", "Yes, cash on delivery.")


def test_out_of_scope_rows_are_skipped(kb: KnowledgeBase) -> None:
    kb.import_rows([Source("f.jsonl", jsonl(faq_row("a")), "jsonl")])
    text = jsonl({"query": "is this in scope", "faq_id": "a", "in_scope": True},
                 {"query": "what is the weather", "intent": "NO_NODES_DETECTED", "in_scope": False})
    result = kb.import_rows([Source("q.jsonl", text, "jsonl", labelled_only=True)])
    assert (result.similar_added, result.skipped, result.faqs) == (1, 1, 1)
    assert set(stored(kb)) == {"a"}


# -- bad files: the line named, nothing written ---------------------------------------------------

BAD_FILES = [
    ("malformed JSON", jsonl(faq_row("a"), "", '{"id": "b", "question": '), "jsonl", 3, None, "malformed JSON"),
    ("missing question", jsonl(faq_row("a"), {"id": "b", "answer": "x"}), "jsonl", 2, "question", "required"),
    ("answer too long", jsonl(faq_row("a"), faq_row("b"), faq_row("c"), faq_row("d", answer="x" * 5001)),
     "jsonl", 4, "answer", "at most 5000"),
    ("not an object", jsonl(faq_row("a"), "[1, 2]"), "jsonl", 2, None, "JSON object"),
    ("unknown field", jsonl(faq_row("a", colour="red")), "jsonl", 1, "colour", "not a known field"),
    ("bad id", jsonl(faq_row("a"), faq_row("no spaces please")), "jsonl", 2, "id", "'id'"),
    ("duplicate id", jsonl(faq_row("a"), faq_row("b"), faq_row("a")), "jsonl", 3, "id", "line 1"),
    ("bad language", jsonl(faq_row("a", language="fr")), "jsonl", 1, "language", "en, zh"),
    ("labelled row for an unknown FAQ", jsonl(faq_row("a"), {"query": "where is it", "faq_id": "a"},
                                              {"query": "hello", "faq_id": "ghost"}), "jsonl", 3, "faq_id", "ghost"),
    ("labelled row without a FAQ", jsonl({"query": "hello"}), "jsonl", 1, "faq_id", "needs"),
    ("bad in_scope", jsonl({"query": "hello", "intent": "X", "in_scope": "no"}), "jsonl", 1, "in_scope", "true"),
    ("bad CSV column", "id,question,answer,colour\nx,q?,a.,red\n", "csv", 1, "colour", "unknown CSV column"),
    ("missing CSV column", "id,question\nx,q?\n", "csv", 1, "answer", "missing"),
    ("CSV cell count", "id,question,answer\na,q?,a.\nb,q?\n", "csv", 3, None, "2 cells"),
    ("CSV enabled", "id,question,answer,enabled\na,q?,a.,maybe\n", "csv", 2, "enabled", "true or false"),
    ("CSV error after a multi-line cell", 'id,question,answer\na,q?,"two\nlines"\nb,,a.\n', "csv", 4, "question",
     "'question'"),
]


@pytest.mark.parametrize(("text", "fmt", "line", "field", "says"), [b[1:] for b in BAD_FILES],
                         ids=[b[0] for b in BAD_FILES])
def test_a_bad_file_is_refused_naming_the_line_and_nothing_is_written(
        kb: KnowledgeBase, backend: RecordingBackend, text: str, fmt: str, line: int, field: str | None,
        says: str) -> None:
    kb.store.put(Faq("kept", "Stays as it was?", "Yes."))
    before = stored(kb)
    with pytest.raises(FaqImportError) as raised:
        kb.import_rows([Source(f"upload.{fmt}", text, fmt)])
    err = raised.value
    assert (err.source, err.line, err.field) == (f"upload.{fmt}", line, field)
    assert str(err).startswith(f"upload.{fmt} line {line}: ")
    assert says in str(err)
    assert stored(kb) == before
    assert backend.calls == []


def test_a_bad_row_in_a_later_file_stops_the_earlier_files_too(kb: KnowledgeBase, backend: RecordingBackend) -> None:
    good = Source("good.jsonl", jsonl(faq_row("a"), faq_row("b")), "jsonl")
    bad = Source("bad.jsonl", jsonl({"query": "q", "faq_id": "a"}, {"query": "", "faq_id": "b"}), "jsonl",
                 labelled_only=True)
    with pytest.raises(FaqImportError) as raised:
        kb.import_rows([good, bad])
    assert (raised.value.source, raised.value.line, raised.value.field) == ("bad.jsonl", 2, "query")
    assert stored(kb) == {}
    assert backend.calls == []


def test_a_similar_file_takes_labelled_queries_only(kb: KnowledgeBase) -> None:
    with pytest.raises(FaqImportError) as raised:
        kb.import_rows([Source("q.jsonl", jsonl(faq_row("a")), "jsonl", labelled_only=True)])
    assert (raised.value.line, raised.value.field) == (1, "query")


def test_an_unknown_format_is_refused(kb: KnowledgeBase) -> None:
    with pytest.raises(FaqImportError) as raised:
        kb.import_rows([Source("faqs.xml", "<faqs/>", "xml")])
    assert (raised.value.line, raised.value.field) == (None, "format")
    assert "jsonl, csv" in str(raised.value)
    assert stored(kb) == {}


# -- export and back ------------------------------------------------------------------------------

TRICKY = [
    Faq("zh/returns", "如何退货", "签收后7天内可申请无理由退货 https://shop.example.com/退货",
        similar=("我想退货", "退货流程是什么"), category="售后", tags=("退货", "政策"), language="zh"),
    Faq("en/commas", 'What does "free, fast shipping" mean?', 'It means "free", then fast,\nand a new line.\r\nOK?',
        similar=("free shipping, really?", 'quote "this"'), category="shipping, delivery",
        product_category="shoes", tags=("a,b", 'c"d')),
    Faq("en/disabled", "Waiting for an answer?", "", enabled=False),
    Faq("en/plain", "Plain?", "Plain.", similar=("line\u2028separator\u2029inside",)),
]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_then_import_gives_the_same_faqs(kb: KnowledgeBase, fmt: str, aws: None) -> None:
    kb.store.put_many(TRICKY)
    text = kb.export(fmt)
    for faq in TRICKY:
        kb.store.delete(faq.faq_id)
    assert stored(kb) == {}
    result = kb.import_rows([Source(f"faqs.{fmt}", text, fmt)])
    assert (result.faqs, result.created, result.placeholders) == (4, 4, 1)
    assert stored(kb) == {f.faq_id: f for f in TRICKY}
    assert kb.export(fmt) == text
    fresh = KnowledgeBase(FaqStore(), RecordingBackend())
    assert fresh.import_rows([Source(f"again.{fmt}", text, fmt)]).created == 0


def test_csv_export_has_the_documented_columns(kb: KnowledgeBase) -> None:
    kb.store.put(TRICKY[0])
    header, row = kb.export("csv").splitlines()
    assert header == "id,question,similar,answer,category,product_category,tags,enabled,language"
    assert row == ("zh/returns,如何退货,我想退货 | 退货流程是什么,签收后7天内可申请无理由退货 https://shop.example.com/退货,"
                   "售后,,退货 | 政策,true,zh")


def test_a_hand_written_csv_with_defaults_imports(kb: KnowledgeBase) -> None:
    text = "\ufeffid,question,answer,similar\r\nsize,What size?,See the chart.,my size | which size\r\n\r\n"
    assert kb.import_rows([Source("faqs.csv", text, "csv")]).faqs == 1
    assert stored(kb)["size"] == Faq("size", "What size?", "See the chart.", similar=("my size", "which size"))


# -- the CLI --------------------------------------------------------------------------------------

def test_cli_imports_exports_and_reports_bad_files_with_exit_code_2(
        kb: KnowledgeBase, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    faqs = tmp_path / "faqs.jsonl"
    faqs.write_text(jsonl(faq_row("a"), faq_row("b")), encoding="utf-8")
    similar = tmp_path / "similar.jsonl"
    similar.write_text(jsonl({"query": "another way to ask a", "faq_id": "a"}), encoding="utf-8")
    assert main(["import", str(faqs), "--similar", str(similar)], kb=lambda: kb) == 0
    assert "imported 2 FAQs (2 new" in capsys.readouterr().out
    assert stored(kb)["a"].similar == ("another way to ask a",)

    out = tmp_path / "out.csv"
    assert main(["export", str(out)], kb=lambda: kb) == 0
    assert out.read_text(encoding="utf-8").startswith("id,question,similar")

    bad = tmp_path / "bad.jsonl"
    bad.write_text(jsonl(faq_row("c"), {"id": "d", "answer": "no question"}), encoding="utf-8")
    assert main(["import", str(bad)], kb=lambda: kb) == 2
    err = capsys.readouterr().err
    assert f"error: {bad} line 2: 'question' is required" in err
    assert "c" not in stored(kb)
    (tmp_path / "faqs.txt").write_text("id,question,answer\n", encoding="utf-8")
    assert main(["import", str(tmp_path / "faqs.txt")], kb=lambda: kb) == 2
    assert "cannot tell the format" in capsys.readouterr().err


# -- write-through --------------------------------------------------------------------------------

def test_create_update_delete_and_rebuild_reach_the_backend(kb: KnowledgeBase, backend: RecordingBackend) -> None:
    kb.create({"faq_id": "a", "question": "Where is my parcel?", "answer": "Track it in My orders."})
    kb.update("a", {"similar": ["where is my order"]})
    kb.create({"faq_id": "b", "question": "Hidden?", "answer": "", "enabled": False})
    kb.delete("a")
    assert backend.calls == [("upsert", ["a"]), ("upsert", ["a"]), ("upsert", ["b"]), ("delete", ["a"])]
    kb.store.put(Faq("c", "Written behind the index's back?", "Yes."))
    assert kb.rebuild() == 1
    assert backend.calls[-1] == ("replace_all", ["c"])
    assert [h.faq_id for h in kb.matcher().rank("written behind the index")] == ["c"]


def test_a_new_process_loads_an_empty_index_from_the_store(aws: None) -> None:
    FaqStore().put(Faq("a", "Where is my parcel?", "Track it."))
    backend = RecordingBackend()
    kb = KnowledgeBase(FaqStore(), backend)
    assert [h.faq_id for h in kb.matcher().rank("parcel")] == ["a"]
    assert backend.calls == [("replace_all", ["a"])]
