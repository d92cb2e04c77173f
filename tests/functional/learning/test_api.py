"""Robot management's learning list through Chalice's test client: admins only, every bad input and its error,
the order of the list, and the three one-click actions (similar question, new FAQ, off-topic)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.auth.devidp import dev_idp
from chalicelib.auth.tokens import issue_visitor_token
from chalicelib.faq.kb import KnowledgeBase
from chalicelib.learning.grouping import group_key
from chalicelib.learning.service import LearningLog
from chalicelib.platform.clock import Clock
from chalicelib.wiring import Services, build, override
from tests.conftest import RecordingSender, RecordingTimer, routing_config
from tests.functional.conftest import error

NOW = [1_800_000_000.0]


class Api:
    def __init__(self, client: Client, tokens: dict[str, str], svc: Services) -> None:
        self.client = client
        self.tokens = tokens
        self.svc = svc

    def call(self, who: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}", "Content-Type": "application/json"}
        return self.client.http.request(method, path, headers=headers,
                                        body=json.dumps(body).encode() if body is not None else b"")

    def groups(self, query: str = "") -> list[dict[str, Any]]:
        response = self.call("admin", "GET", "/robot/learning" + query)
        assert response.status_code == 200, response.body
        out: list[dict[str, Any]] = response.json_body["groups"]
        return out


@pytest.fixture(scope="module")
def tokens() -> dict[str, str]:
    return {"visitor": issue_visitor_token("v_vera", "Vera", "web", None, None)[0],
            **{user: dev_idp().login(user, "demo")[0] for user in ("alice", "carol", "admin")}}


@pytest.fixture
def api(kb: KnowledgeBase, sender: RecordingSender, timer: RecordingTimer, tokens: dict[str, str]) -> Iterator[Api]:
    svc = build(sender, timer, config=lambda: routing_config(), kb=kb, clock=Clock(lambda: NOW[0]))
    override(svc)
    kb.create({"faq_id": "shipping-time", "question": "How long does delivery take?",
               "answer": "2 to 4 days.", "similar": ["delivery time"]})
    log: LearningLog = svc.learning
    log.record("declined", "Do you ship to Mars?")
    NOW[0] += 1
    for _ in range(3):
        log.record("handoff", "when will it arrive", "shipping-time")
    NOW[0] += 1
    log.record("not_helpful", "where is the parcel", "shipping-time")
    with Client(app) as client:
        yield Api(client, tokens, svc)


def test_only_admins_see_and_act_on_the_learning_list(api: Api) -> None:
    gid = group_key("Do you ship to Mars?")
    for who in ("visitor", "alice", "carol"):
        error(api.call(who, "GET", "/robot/learning"), 403, "forbidden")
        error(api.call(who, "POST", f"/robot/learning/{gid}/off-topic"), 403, "forbidden")
        error(api.call(who, "POST", f"/robot/learning/{gid}/similar", {"faq_id": "shipping-time"}), 403, "forbidden")
        error(api.call(who, "POST", f"/robot/learning/{gid}/faq", {"answer": "No."}), 403, "forbidden")


def test_the_list_is_newest_first_or_most_frequent_first_with_counts_and_examples(api: Api) -> None:
    assert [g["text"] for g in api.groups()] == ["where is the parcel", "when will it arrive", "Do you ship to Mars?"]
    top = api.groups("?order=count")[0]
    assert (top["text"], top["count"], top["handoff"], top["faq_ids"]) == ("when will it arrive", 3, 3,
                                                                          ["shipping-time"])
    assert [g["text"] for g in api.groups("?limit=1")] == ["where is the parcel"]


@pytest.mark.parametrize(("query", "field"), [("?order=oldest", "order"), ("?limit=0", "limit"),
                                              ("?status=done", "status"), ("?colour=red", "colour")])
def test_a_bad_query_is_refused(api: Api, query: str, field: str) -> None:
    error(api.call("admin", "GET", "/robot/learning" + query), 400, "invalid_body", field)


def test_one_click_adds_the_question_as_a_similar_question_of_an_faq(api: Api) -> None:
    gid = group_key("when will it arrive")
    done = api.call("admin", "POST", f"/robot/learning/{gid}/similar", {"faq_id": "shipping-time"})
    assert done.status_code == 200, done.body
    assert (done.json_body["status"], done.json_body["resolved_faq"]) == ("similar", "shipping-time")
    assert api.svc.kb.get("shipping-time").faq.similar == ("delivery time", "when will it arrive")
    assert "when will it arrive" not in [g["text"] for g in api.groups()]
    assert [g["text"] for g in api.groups("?status=similar")] == ["when will it arrive"]
    error(api.call("admin", "POST", f"/robot/learning/{gid}/similar", {"faq_id": "shipping-time"}), 409, "conflict")


def test_adding_to_an_faq_that_does_not_exist_or_without_one_is_refused(api: Api) -> None:
    gid = group_key("when will it arrive")
    error(api.call("admin", "POST", f"/robot/learning/{gid}/similar", {"faq_id": "nope"}), 404, "not_found")
    error(api.call("admin", "POST", f"/robot/learning/{gid}/similar", {}), 400, "invalid_body", "faq_id")
    error(api.call("admin", "POST", "/robot/learning/g_0000000000000000/similar", {"faq_id": "shipping-time"}),
          404, "not_found")
    error(api.call("admin", "POST", "/robot/learning/nonsense/off-topic"), 404, "not_found")
    assert len(api.groups()) == 3  # nothing resolved


def test_one_click_creates_an_faq_from_the_question(api: Api) -> None:
    gid = group_key("Do you ship to Mars?")
    created = api.call("admin", "POST", f"/robot/learning/{gid}/faq",
                       {"question": "Do you ship to Mars?", "answer": "We ship within China only."})
    assert created.status_code == 201, created.body
    faq = created.json_body["faq"]
    assert (faq["question"], faq["answer"]) == ("Do you ship to Mars?", "We ship within China only.")
    assert created.json_body["group"]["status"] == "faq"
    assert created.json_body["group"]["resolved_faq"] == faq["faq_id"]
    error(api.call("admin", "POST", f"/robot/learning/{group_key('where is the parcel')}/faq",
                   {"question": "where is the parcel"}), 400, "invalid_body", "answer")


def test_one_click_marks_a_question_off_topic_and_keeps_it_for_the_gate(api: Api) -> None:
    gid = group_key("Do you ship to Mars?")
    done = api.call("admin", "POST", f"/robot/learning/{gid}/off-topic")
    assert (done.status_code, done.json_body["status"]) == (200, "off_topic")
    assert api.svc.learning.off_topic_examples() == ["Do you ship to Mars?"]
    assert [g["text"] for g in api.groups("?status=off_topic")] == ["Do you ship to Mars?"]


@pytest.fixture
def read_by_models(aws: None, sender: RecordingSender, timer: RecordingTimer, tokens: dict[str, str]) -> Iterator[Api]:
    """The list as on a stack with its sentence models: groups that ask the same are put together."""
    from chalicelib.faq.embed import cjk_embedder, default_embedder
    from chalicelib.faq.search.embedded import EmbeddedBackend
    from chalicelib.faq.store import FaqStore

    kb = KnowledgeBase(FaqStore(), EmbeddedBackend(), default_embedder(), load_on_first_use=False,
                       chinese=cjk_embedder())
    svc = build(sender, timer, config=lambda: routing_config(), kb=kb, clock=Clock(lambda: NOW[0]))
    override(svc)
    kb.create({"faq_id": "tracking", "question": "How do I track my order?", "answer": "Under My orders."})
    log: LearningLog = svc.learning
    for text, times in (("How can I track my parcel?", 3), ("how do i track my parcel", 1), ("Do you ship to Mars?", 2),
                        ("我的快递到哪了", 2), ("快递现在到哪了", 1)):
        for _ in range(times):
            NOW[0] += 1
            log.record("declined", text)
    with Client(app) as client:
        yield Api(client, tokens, svc)


def test_groups_that_ask_the_same_are_listed_together_and_resolved_in_one_click(read_by_models: Api) -> None:
    api = read_by_models
    listed = {g["text"]: g for g in api.groups("?order=count")}
    assert set(listed) == {"How can I track my parcel?", "Do you ship to Mars?", "我的快递到哪了"}
    parcel = listed["How can I track my parcel?"]
    assert ([s["text"] for s in parcel["similar"]], parcel["count"], parcel["count_with_similar"]) == (
        ["how do i track my parcel"], 3, 4)
    assert [s["text"] for s in listed["我的快递到哪了"]["similar"]] == ["快递现在到哪了"]  # read by E5
    assert listed["Do you ship to Mars?"]["similar"] == []
    others = [s["group_id"] for s in parcel["similar"]]
    done = api.call("admin", "POST", f"/robot/learning/{parcel['group_id']}/similar",
                    {"faq_id": "tracking", "with_groups": others})
    assert done.status_code == 200, done.body
    assert done.json_body["resolved_with"] == [group_key("how do i track my parcel")]
    assert api.svc.kb.get("tracking").faq.similar == ("How can I track my parcel?", "how do i track my parcel")
    assert [g["text"] for g in api.groups("?status=similar&order=count")] == ["How can I track my parcel?",
                                                                               "how do i track my parcel"]
    zh = listed["我的快递到哪了"]
    created = api.call("admin", "POST", f"/robot/learning/{zh['group_id']}/faq",
                       {"question": "我的快递到哪了", "answer": "在“我的订单”里查看物流。",
                        "with_groups": [zh["similar"][0]["group_id"]]})
    assert created.status_code == 201, created.body
    assert created.json_body["faq"]["similar"] == ["快递现在到哪了"]  # the group asking the same, as a similar question
    mars = f"/robot/learning/{group_key('Do you ship to Mars?')}/off-topic"
    error(api.call("admin", "POST", mars, {"with_groups": ["nonsense"]}), 400, "invalid_body", "with_groups[0]")
    error(api.call("admin", "POST", mars, {"with_groups": [group_key("x")] * 51}), 400, "invalid_body", "with_groups")
    error(api.call("admin", "POST", mars, {"also": []}), 400, "invalid_body", "also")
    assert [g["text"] for g in api.groups()] == ["Do you ship to Mars?"]
