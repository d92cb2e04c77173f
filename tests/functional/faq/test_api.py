"""The robot-management REST API through Chalice's test client, on moto, over an embedded index without
vectors (fast): each route's success, each role it refuses, each bad body as 400 naming the field."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.auth.devidp import dev_idp
from chalicelib.auth.tokens import issue_visitor_token
from chalicelib.edge.faq import faq_reindex
from chalicelib.faq.kb import KnowledgeBase
from chalicelib.faq.matcher import DEFAULT_THRESHOLD
from chalicelib.faq.model import DEFAULT_GREETING
from chalicelib.faq.schemas import MAX_IMPORT_CHARS
from chalicelib.settings import get_settings
from chalicelib.wiring import build, override
from tests.conftest import RecordingSender, RecordingTimer, routing_config
from tests.functional.conftest import RecordingBackend, error

CONFIG = routing_config()
PARCEL = {"faq_id": "orders/where-is-my-parcel", "question": "Where is my parcel?",
          "answer": "Track it under My orders: https://shop.example.com/orders",
          "similar": ["track my order", "my package has not arrived"], "category": "shipping", "tags": ["orders"]}
REFUND = {"faq_id": "refund-time", "question": "How long does a refund take?", "answer": "3 to 5 working days.",
          "category": "refunds"}
ZH = {"faq_id": "zh-returns", "question": "如何退货", "answer": "签收后7天内可申请无理由退货。", "language": "zh",
      "category": "refunds"}



class NoInvoker:
    """Starts nothing: a test runs the reindex job's function itself."""

    def invoke(self, function: str, event: Mapping[str, Any]) -> None:
        pass


@pytest.fixture
def client(kb: KnowledgeBase, sender: RecordingSender, timer: RecordingTimer,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setenv("FAQ_REINDEX_FUNCTION", "faq_reindex")
    get_settings.cache_clear()
    override(build(sender, timer, config=lambda: CONFIG, kb=kb, invoker=NoInvoker()))
    with Client(app) as c:
        yield c


@pytest.fixture(scope="module")
def tokens() -> dict[str, str]:
    return {"visitor": issue_visitor_token("v_vera", "Vera", "web", None, None)[0],
            **{role: dev_idp().login(user, "demo")[0]
               for role, user in (("agent", "alice"), ("supervisor", "carol"), ("admin", "admin"))}}


class Api:
    def __init__(self, client: Client, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def __call__(self, method: str, path: str, role: str | None = "admin", body: Any = None,
                 raw: str | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        data = raw if raw is not None else json.dumps(body) if body is not None else None
        return self.client.http.request(method, path, headers=headers, body=data.encode() if data else b"")


@pytest.fixture
def api(client: Client, tokens: dict[str, str]) -> Api:
    return Api(client, tokens)


# -- FAQs -----------------------------------------------------------------------------------------

def test_faq_lifecycle_with_versions_and_write_through(api: Api, backend: RecordingBackend) -> None:
    created = api("POST", "/faqs", body=PARCEL)
    assert created.status_code == 201
    faq = created.json_body
    assert {k: faq[k] for k in PARCEL} == PARCEL
    assert (faq["version"], faq["enabled"], faq["language"], faq["product_category"]) == (1, True, "en", None)
    path = "/faqs/orders%2Fwhere-is-my-parcel"  # ids may hold '/': sent URL-encoded

    read = api("GET", path, "agent")
    assert read.status_code == 200
    assert read.json_body == faq

    updated = api("PUT", path, body={"answer": "See My orders > Track.", "version": 1})
    assert updated.status_code == 200
    assert (updated.json_body["answer"], updated.json_body["version"]) == ("See My orders > Track.", 2)
    assert updated.json_body["similar"] == PARCEL["similar"]
    stale = api("PUT", path, body={"answer": "An edit from an old copy.", "version": 1})
    error(stale, 409, "conflict", "version")
    assert api("PUT", path, body={"enabled": False}).json_body["version"] == 3  # no version: last write wins

    deleted = api("DELETE", path)
    assert deleted.status_code == 200
    assert deleted.json_body == {"faq_id": PARCEL["faq_id"], "deleted": True}
    error(api("GET", path, "agent"), 404, "not_found")
    error(api("DELETE", path), 404, "not_found")
    error(api("PUT", path, body={"answer": "x"}), 404, "not_found")
    assert backend.calls == [("upsert", [PARCEL["faq_id"]])] * 3 + [("delete", [PARCEL["faq_id"]])] * 2


def test_a_taken_id_is_a_conflict(api: Api) -> None:
    assert api("POST", "/faqs", body=REFUND).status_code == 201
    error(api("POST", "/faqs", body={**REFUND, "answer": "Other"}), 409, "conflict", "faq_id")


def test_a_faq_created_without_an_id_gets_one_made_from_its_question(api: Api, backend: RecordingBackend) -> None:
    english = api("POST", "/faqs", body={k: v for k, v in REFUND.items() if k != "faq_id"})
    assert english.status_code == 201
    made = english.json_body["faq_id"]
    assert re.fullmatch(r"how-long-does-a-refund-take-[0-9a-f]{6}", made), made
    assert api("GET", f"/faqs/{made}", "agent").json_body["question"] == REFUND["question"]
    chinese = api("POST", "/faqs", body={**ZH, "faq_id": "  "})  # blank as a form leaves it: the same
    assert chinese.status_code == 201 and re.fullmatch(r"faq-[0-9a-f]{6}", chinese.json_body["faq_id"])
    again = api("POST", "/faqs", body={k: v for k, v in REFUND.items() if k != "faq_id"} | {"faq_id": None})
    assert again.status_code == 201 and again.json_body["faq_id"] != made  # the same question twice: two FAQs
    assert backend.calls == [("upsert", [made]), ("upsert", [chinese.json_body["faq_id"]]),
                             ("upsert", [again.json_body["faq_id"]])]


def test_a_new_faq_with_several_faults_is_refused_once_with_every_field_named(api: Api) -> None:
    body = {"faq_id": "has space", "question": "", "answer": "a" * 5001, "tags": ["ok", "a|b"], "language": "de"}
    refused = error(api("POST", "/faqs", body=body), 400, "invalid_body", "faq_id")
    assert refused["message"].startswith("'faq_id' must be")
    assert [e["field"] for e in refused["errors"]] == ["faq_id", "question", "answer", "language", "tags[1]"]
    assert all(e["message"].startswith(f"'{e['field']}'") for e in refused["errors"])
    assert api("GET", "/faqs", "agent").json_body["faqs"] == []  # nothing written


def test_an_update_is_refused_in_the_order_it_always_was(api: Api) -> None:
    # A bad version first, then a new faq_id, then a missing FAQ, then a bad value of a field.
    error(api("PUT", "/faqs/nobody", body={"version": 0, "question": ""}), 400, "invalid_body", "version")
    error(api("PUT", "/faqs/nobody", body={"faq_id": "other", "question": ""}), 400, "invalid_body", "faq_id")
    error(api("PUT", "/faqs/nobody", body={"question": "", "tags": ["a|b"]}), 404, "not_found")
    assert api("POST", "/faqs", body=REFUND).status_code == 201
    error(api("PUT", "/faqs/refund-time", body={"question": "", "tags": ["a|b"]}), 400, "invalid_body", "question")
    error(api("PUT", "/faqs/refund-time", body={"tags": ["ok", "a|b"]}), 400, "invalid_body", "tags[1]")


def test_a_path_id_that_cannot_exist_is_not_found(api: Api) -> None:
    for path in ("/faqs/%20spaced", "/faqs/-dash", "/faqs/" + "x" * 129):
        error(api("GET", path, "agent"), 404, "not_found")
        error(api("DELETE", path), 404, "not_found")


def test_listing_pages_and_filters(api: Api) -> None:
    for body in (PARCEL, REFUND, ZH):
        assert api("POST", "/faqs", body=body).status_code == 201
    first = api("GET", "/faqs?limit=2", "agent").json_body
    assert len(first["faqs"]) == 2
    assert first["next_cursor"]
    rest = api("GET", f"/faqs?limit=2&cursor={first['next_cursor']}", "agent").json_body
    assert rest["next_cursor"] is None
    assert {f["faq_id"] for f in first["faqs"] + rest["faqs"]} == {PARCEL["faq_id"], REFUND["faq_id"], "zh-returns"}
    refunds = api("GET", "/faqs?category=refunds&language=zh", "supervisor").json_body
    assert [f["faq_id"] for f in refunds["faqs"]] == ["zh-returns"]
    assert api("GET", "/faqs", "agent").json_body["next_cursor"] is None


def test_import_export_and_reindex(api: Api, backend: RecordingBackend) -> None:
    data = "\n".join(json.dumps(row, ensure_ascii=False) for row in (
        {**{k: v for k, v in PARCEL.items() if k != "faq_id"}, "id": PARCEL["faq_id"]},
        {"id": "zh-returns", "question": ZH["question"], "answer": ZH["answer"], "language": "zh"},
        {"query": "where is my stuff", "faq_id": PARCEL["faq_id"]},
        {"intent": "COD", "answer": None}))
    imported = api("POST", "/faqs/import", body={"format": "jsonl", "data": data, "namespace": "shop"})
    assert imported.status_code == 200
    assert imported.json_body == {"faqs": 3, "created": 3, "similar_added": 1, "placeholders": 1, "skipped": 0}
    assert backend.written() == {PARCEL["faq_id"], "zh-returns", "shop/COD"}

    exported = api("GET", "/faqs/export?format=csv")
    assert exported.status_code == 200
    assert exported.headers["Content-Type"] == "text/csv; charset=utf-8"
    csv_text = exported.body.decode("utf-8")
    assert csv_text.splitlines()[0] == "id,question,similar,answer,category,product_category,tags,enabled,language"
    assert "track my order | my package has not arrived | where is my stuff" in csv_text
    as_jsonl = api("GET", "/faqs/export")
    assert as_jsonl.headers["Content-Type"] == "application/x-ndjson; charset=utf-8"
    lines = [json.loads(line) for line in as_jsonl.body.decode("utf-8").splitlines()]
    assert [row["id"] for row in lines] == [PARCEL["faq_id"], "shop/COD", "zh-returns"]

    again = api("POST", "/faqs/import", body={"format": "csv", "data": csv_text})
    assert again.json_body["created"] == 0

    started = api("POST", "/faqs/reindex")  # a job (tests/functional/faq/test_reindex_jobs.py), run here at once
    assert started.status_code == 202
    assert faq_reindex({"job_id": started.json_body["job_id"]}, None)["state"] == "succeeded"
    assert api("GET", "/faqs/reindex").json_body["indexed"] == 2  # the disabled COD FAQ is not searchable
    assert backend.calls[-1][0] == "replace_all"


def test_a_bad_import_names_the_line_and_writes_nothing(api: Api, backend: RecordingBackend) -> None:
    data = "\n".join(json.dumps(row) for row in ({"id": "a", "question": "A?", "answer": "A."},
                                                 {"id": "b", "question": "B?", "answer": "x" * 5001}))
    bad = error(api("POST", "/faqs/import", body={"format": "jsonl", "data": data}), 400, "invalid_body", "answer")
    assert bad["line"] == 2
    assert bad["message"].startswith("data line 2: 'answer' may be at most 5000 characters")
    assert api("GET", "/faqs", "agent").json_body["faqs"] == []
    assert backend.calls == []


# -- the robot ------------------------------------------------------------------------------------

def test_robot_settings_defaults_then_partial_updates(api: Api) -> None:
    defaults = api("GET", "/robot/settings", "agent")
    assert defaults.status_code == 200
    assert defaults.json_body["greeting"] == DEFAULT_GREETING
    assert (defaults.json_body["threshold"], defaults.json_body["default_threshold"]) == (None, DEFAULT_THRESHOLD)
    api("POST", "/faqs", body=REFUND)
    saved = api("PUT", "/robot/settings", body={"threshold": 0.8, "suggested_questions": ["refund-time"],
                                                 "handoff_keywords": ["agent", "人工"]})
    assert saved.status_code == 200
    later = api("PUT", "/robot/settings", body={"greeting": "Welcome!"}).json_body
    assert (later["greeting"], later["threshold"], later["suggested_questions"], later["handoff_keywords"]) == (
        "Welcome!", 0.8, ["refund-time"], ["agent", "人工"])
    assert api("GET", "/robot/settings", "supervisor").json_body == later


def test_robot_texts_per_language_or_one_for_all(api: Api) -> None:
    defaults = api("GET", "/robot/settings", "agent").json_body
    assert defaults["greeting"]["zh-CN"].startswith("您好！我是本店的智能助手")
    assert defaults["phrases"]["handoff"] == {"en": "Let me connect you with a person.",
                                              "zh-CN": "正在为您转接人工客服，请稍候。"}
    for body in (REFUND, ZH):
        api("POST", "/faqs", body=body)
    saved = api("PUT", "/robot/settings", body={
        "greeting": {"en": " Welcome! ", "zh-CN": "欢迎光临！"},
        "phrases": {"miss": "Sorry?", "handoff": {"zh-CN": "马上为您转人工。"}},
        "suggested_questions": {"en": ["refund-time"], "zh-CN": ["zh-returns"]}})
    assert saved.status_code == 200, saved.json_body
    body = saved.json_body
    assert body["greeting"] == {"en": "Welcome!", "zh-CN": "欢迎光临！"}
    assert (body["phrases"]["miss"], body["phrases"]["handoff"]) == ("Sorry?", {"zh-CN": "马上为您转人工。"})
    assert body["phrases"]["thanks"] == defaults["phrases"]["thanks"]  # not given: the shipped one
    assert body["suggested_questions"] == {"en": ["refund-time"], "zh-CN": ["zh-returns"]}
    assert api("GET", "/robot/settings", "agent").json_body == body
    # A plain string again means every language.
    plain = api("PUT", "/robot/settings", body={"greeting": "Hello", "suggested_questions": ["refund-time"]})
    assert (plain.json_body["greeting"], plain.json_body["suggested_questions"]) == ("Hello", ["refund-time"])


def test_trying_a_question_shows_the_ranked_hits_and_the_decision(api: Api) -> None:
    for body in (PARCEL, REFUND, ZH):
        api("POST", "/faqs", body=body)
    tried = api("POST", "/robot/try", "agent", body={"query": "Where is my parcel?"})
    assert tried.status_code == 200
    result = tried.json_body
    assert (result["decision"], result["answer"], result["language"]) == ("answer", PARCEL["faq_id"], "en")
    assert result["threshold"] == DEFAULT_THRESHOLD
    best = result["hits"][0]
    assert (best["faq_id"], best["question"], best["matched"]) == (PARCEL["faq_id"], "Where is my parcel?",
                                                                  "Where is my parcel?")
    assert best["score"] > 0
    assert result["hits"] == sorted(result["hits"], key=lambda h: -h["score"])
    # In a chat this one goes to the visitor's order, not the FAQ: the admin trying it is told.
    assert result["order_question"] == {"intent": "where", "order_id": None}

    chinese = api("POST", "/robot/try", "admin", body={"query": "我想退货"}).json_body
    assert chinese["language"] == "zh"
    assert [h["faq_id"] for h in chinese["hits"]] == ["zh-returns"]
    api("PUT", "/robot/settings", body={"threshold": 0.9, "suggestions": 1})
    tuned = api("POST", "/robot/try", "supervisor", body={"query": "parcel refund", "language": "en"}).json_body
    assert tuned["threshold"] == 0.9
    assert tuned["order_question"] is None
    assert (tuned["decision"] == "answer") == (tuned["confidence"] >= 0.9)
    assert len(tuned["suggestions"]) <= 1
    nothing = api("POST", "/robot/try", "agent", body={"query": "zzzz qqqq"}).json_body
    assert (nothing["decision"], nothing["hits"]) == ("suggest", [])


# -- roles ----------------------------------------------------------------------------------------

ROUTES = [
    ("GET", "/faqs", None, "staff"),
    ("POST", "/faqs", REFUND, "admin"),
    ("GET", "/faqs/refund-time", None, "staff"),
    ("PUT", "/faqs/refund-time", {"answer": "x"}, "admin"),
    ("DELETE", "/faqs/refund-time", None, "admin"),
    ("POST", "/faqs/import", {"format": "jsonl", "data": '{"id": "a", "question": "A?", "answer": "A."}'}, "admin"),
    ("GET", "/faqs/export", None, "admin"),
    ("POST", "/faqs/reindex", None, "admin"),
    ("GET", "/faqs/reindex", None, "admin"),
    ("GET", "/faqs/reindex/0123456789abcdef01234", None, "admin"),
    ("GET", "/robot/settings", None, "staff"),
    ("PUT", "/robot/settings", {"greeting": "Hi"}, "admin"),
    ("POST", "/robot/try", {"query": "refund"}, "staff"),
]


@pytest.mark.parametrize(("method", "path", "body", "who"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_each_route_refuses_the_roles_it_is_not_for(api: Api, method: str, path: str, body: Any, who: str) -> None:
    api("POST", "/faqs", body=REFUND)
    error(api(method, path, None, body), 401, "missing_token")
    error(api(method, path, "visitor", body), 403, "forbidden")
    if who == "admin":
        error(api(method, path, "agent", body), 403, "forbidden")
        error(api(method, path, "supervisor", body), 403, "forbidden")
    else:
        assert api(method, path, "agent", body).status_code == 200
    assert api("GET", "/faqs/refund-time", "agent").json_body["answer"] == REFUND["answer"]


# -- bad bodies and parameters ----------------------------------------------------------------------

BAD = [
    ("POST", "/faqs", {"faq_id": 5, "question": "Q?", "answer": "A."}, "faq_id"),
    ("POST", "/faqs", {**REFUND, "faq_id": "has space"}, "faq_id"),
    ("POST", "/faqs", {**REFUND, "faq_id": "import"}, "faq_id"),
    ("POST", "/faqs", {"faq_id": "x", "answer": "A."}, "question"),
    ("POST", "/faqs", {**REFUND, "answer": "a" * 5001}, "answer"),
    ("POST", "/faqs", {**REFUND, "similar": ["ok", 3]}, "similar[1]"),
    ("POST", "/faqs", {**REFUND, "tags": "not-a-list"}, "tags"),
    ("POST", "/faqs", {**REFUND, "language": "de"}, "language"),
    ("POST", "/faqs", {**REFUND, "enabled": "true"}, "enabled"),
    ("POST", "/faqs", {**REFUND, "priority": 1}, "priority"),
    ("PUT", "/faqs/refund-time", {"version": "1", "answer": "x"}, "version"),
    ("PUT", "/faqs/refund-time", {"version": 0, "answer": "x"}, "version"),
    ("PUT", "/faqs/refund-time", {"faq_id": "renamed"}, "faq_id"),
    ("PUT", "/faqs/refund-time", {"question": ""}, "question"),
    ("PUT", "/faqs/refund-time", {"colour": "red"}, "colour"),
    ("PUT", "/faqs/refund-time", {}, None),
    ("POST", "/faqs/import", {"data": "x"}, "format"),
    ("POST", "/faqs/import", {"format": "xml", "data": "x"}, "format"),
    ("POST", "/faqs/import", {"format": "jsonl"}, "data"),
    ("POST", "/faqs/import", {"format": "jsonl", "data": 5}, "data"),
    ("POST", "/faqs/import", {"format": "jsonl", "data": "x" * (MAX_IMPORT_CHARS + 1)}, "data"),
    ("POST", "/faqs/import", {"format": "jsonl", "data": "{}", "namespace": "bad space"}, "namespace"),
    ("POST", "/faqs/import", {"format": "csv", "data": "id,question,answer,colour\n"}, "colour"),
    ("POST", "/faqs/import", {"format": "jsonl", "data": "{}", "extra": 1}, "extra"),
    ("PUT", "/robot/settings", {"threshold": 2}, "threshold"),
    ("PUT", "/robot/settings", {"threshold": 1e-200}, "threshold"),  # DynamoDB refuses numbers under 1e-130
    ("PUT", "/robot/settings", {"greeting": "hi \ud800"}, None),  # an unpaired surrogate: no DynamoDB string
    ("POST", "/faqs", {**REFUND, "faq_id": "other", "question": "q\udfff?"}, None),
    ("PUT", "/robot/settings", {"greeting": ""}, "greeting"),
    ("PUT", "/robot/settings", {"handoff_keywords": []}, "handoff_keywords"),
    ("PUT", "/robot/settings", {"misses_before_handoff": 11}, "misses_before_handoff"),
    ("PUT", "/robot/settings", {"suggestions": 0}, "suggestions"),
    ("PUT", "/robot/settings", {"suggested_questions": ["no-such-faq"]}, "suggested_questions[0]"),
    ("PUT", "/robot/settings", {"volume": 11}, "volume"),
    # per-language texts: each refusal names the language or the phrase at fault
    ("PUT", "/robot/settings", {"greeting": {"fr": "Bonjour"}}, "greeting.fr"),
    ("PUT", "/robot/settings", {"greeting": {}}, "greeting"),
    ("PUT", "/robot/settings", {"greeting": 5}, "greeting"),
    ("PUT", "/robot/settings", {"greeting": {"zh-CN": "  "}}, "greeting.zh-CN"),
    ("PUT", "/robot/settings", {"greeting": {"en": "Hi", "zh-CN": "您" * 501}}, "greeting.zh-CN"),
    ("PUT", "/robot/settings", {"greeting": {"en": ["Hi"]}}, "greeting.en"),
    ("PUT", "/robot/settings", {"phrases": {"goodbye": "Bye"}}, "phrases.goodbye"),
    ("PUT", "/robot/settings", {"phrases": ["Bye"]}, "phrases"),
    ("PUT", "/robot/settings", {"phrases": {"miss": {"zh-CN": ""}}}, "phrases.miss.zh-CN"),
    ("PUT", "/robot/settings", {"phrases": {"thanks": "t" * 501}}, "phrases.thanks"),
    ("PUT", "/robot/settings", {"phrases": None}, "phrases"),
    ("PUT", "/robot/settings", {"suggested_questions": {"de": ["refund-time"]}}, "suggested_questions.de"),
    ("PUT", "/robot/settings", {"suggested_questions": {}}, "suggested_questions"),
    ("PUT", "/robot/settings", {"suggested_questions": {"zh-CN": ["bad id"]}}, "suggested_questions.zh-CN[0]"),
    ("PUT", "/robot/settings", {"suggested_questions": {"zh-CN": ["no-such-faq"]}},
     "suggested_questions.zh-CN[0]"),
    ("POST", "/robot/try", {}, "query"),
    ("POST", "/robot/try", {"query": "  "}, "query"),
    ("POST", "/robot/try", {"query": "q" * 501}, "query"),
    ("POST", "/robot/try", {"query": "hi", "language": "fr"}, "language"),
    ("POST", "/robot/try", {"query": "hi", "k": 3}, "k"),
    ("GET", "/faqs?limit=0", None, "limit"),
    ("GET", "/faqs?limit=201", None, "limit"),
    ("GET", "/faqs?limit=ten", None, "limit"),
    ("GET", "/faqs?language=fr", None, "language"),
    ("GET", "/faqs?cursor=forged", None, "cursor"),
    ("GET", "/faqs/export?format=xml", None, "format"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), BAD,
                         ids=[f"{m} {p.split('?')[0]} {f}" for m, p, _, f in BAD])
def test_each_bad_body_or_parameter_is_a_400_naming_the_field(api: Api, method: str, path: str, body: Any,
                                                               field: str | None) -> None:
    api("POST", "/faqs", body=REFUND)
    error(api(method, path, "admin", body), 400, "invalid_body", field)
    assert api("GET", "/faqs/refund-time", "agent").json_body["version"] == 1


@pytest.mark.parametrize(("method", "path"), [("POST", "/faqs"), ("PUT", "/faqs/refund-time"),
                                              ("POST", "/faqs/import"), ("PUT", "/robot/settings"),
                                              ("POST", "/robot/try")])
def test_a_body_that_is_not_a_json_object_is_a_400(api: Api, method: str, path: str) -> None:
    error(api(method, path, "admin", raw="{not json"), 400, "invalid_body")
    error(api(method, path, "admin", raw="[1, 2]"), 400, "invalid_body")
