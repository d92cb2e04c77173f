"""Canned replies on moto through Chalice's test client: who reads and keeps which group's replies, every bad
input and its exact error, language filtering, and a list that costs one Query per group (never a scan)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.auth.devidp import dev_idp
from chalicelib.auth.identity import Identity
from chalicelib.platform import metering
from chalicelib.replies.errors import ReplyError
from chalicelib.replies.service import MAX_PER_GROUP, ReplyService, language_matches
from chalicelib.wiring import Services, build, override
from tests.conftest import RecordingSender, RecordingTimer, count_aws_calls, group, routing_config
from tests.functional.conftest import error

# config/dev_users.json: carol supervises general; alice works in general and shoes, bob in general and cosmetics.
CONFIG = routing_config([group("general", ["alice", "bob"]), group("shoes", ["alice"]),
                         group("cosmetics", ["bob"])])


class Api:
    def __init__(self, client: Client, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def call(self, who: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}", "Content-Type": "application/json"}
        return self.client.http.request(method, path, headers=headers,
                                        body=json.dumps(body).encode() if body is not None else b"")

    def add(self, who: str, **fields: Any) -> dict[str, Any]:
        body = {"group_id": "general", "language": "zh-CN", "shortcut": "hi", "text": "您好，请问有什么可以帮您？",
                **fields}
        response = self.call(who, "POST", "/canned-replies", body)
        assert response.status_code == 201, response.body
        out: dict[str, Any] = response.json_body
        return out


@pytest.fixture(scope="module")
def tokens() -> dict[str, str]:
    return {user: dev_idp().login(user, "demo")[0] for user in ("alice", "bob", "carol", "admin")}


@pytest.fixture
def api(aws: None, sender: RecordingSender, timer: RecordingTimer, tokens: dict[str, str]) -> Iterator[Api]:
    svc: Services = build(sender, timer, config=lambda: CONFIG)
    override(svc)
    with Client(app) as client:
        yield Api(client, tokens)


def test_a_supervisor_adds_a_reply_that_the_groups_agents_find_in_their_language(api: Api) -> None:
    zh = api.add("carol", shortcut="hi", text="您好，请问有什么可以帮您？")
    en = api.add("carol", language="en", shortcut="hi", text="Hello! How can I help?")
    assert (zh["group_id"], zh["language"], zh["shortcut"], zh["updated_by"]) == ("general", "zh-CN", "hi", "carol")
    assert zh["id"].startswith("r_")

    for agent in ("alice", "bob"):
        listed = api.call(agent, "GET", "/canned-replies?language=zh-CN").json_body
        assert [r["id"] for r in listed["replies"]] == [zh["id"]]
    everything = api.call("alice", "GET", "/canned-replies").json_body
    assert {r["id"] for r in everything["replies"]} == {zh["id"], en["id"]}
    # Alice reads general's and shoes' replies, and keeps none of them.
    names = {"general": {"en": "General", "zh-CN": "General"}, "shoes": {"en": "Shoes", "zh-CN": "Shoes"}}
    assert everything["groups"] == [{"id": "general", "name": "General", "names": names["general"], "manage": False},
                                    {"id": "shoes", "name": "Shoes", "names": names["shoes"], "manage": False}]
    assert api.call("carol", "GET", "/canned-replies").json_body["groups"] == [
        {"id": "general", "name": "General", "names": names["general"], "manage": True}]
    # A chat in plain "zh" is offered the zh-CN reply too.
    assert [r["id"] for r in api.call("bob", "GET", "/canned-replies?language=zh").json_body["replies"]] == [zh["id"]]


def test_edits_and_deletes_reach_the_agents(api: Api) -> None:
    reply = api.add("carol")
    changed = api.call("carol", "PUT", f"/canned-replies/general/{reply['id']}", {"text": "亲，您好！"})
    assert changed.status_code == 200, changed.body
    assert (changed.json_body["text"], changed.json_body["shortcut"]) == ("亲，您好！", "hi")
    assert [r["text"] for r in api.call("alice", "GET", "/canned-replies").json_body["replies"]] == ["亲，您好！"]
    assert api.call("admin", "DELETE", f"/canned-replies/general/{reply['id']}").status_code == 204
    assert api.call("alice", "GET", "/canned-replies").json_body["replies"] == []
    error(api.call("carol", "DELETE", f"/canned-replies/general/{reply['id']}"), 404, "not_found")
    error(api.call("carol", "PUT", f"/canned-replies/general/{reply['id']}", {"text": "x"}), 404, "not_found")


def test_who_may_keep_which_groups_replies(api: Api) -> None:
    reply = api.add("admin", group_id="cosmetics")
    # Agents read, never keep; a supervisor keeps only the groups in its token.
    error(api.call("alice", "POST", "/canned-replies", {"group_id": "general", "language": "en", "shortcut": "a",
                                                       "text": "b"}), 403, "forbidden")
    error(api.call("carol", "POST", "/canned-replies", {"group_id": "cosmetics", "language": "en", "shortcut": "a",
                                                       "text": "b"}), 403, "forbidden")
    error(api.call("carol", "PUT", f"/canned-replies/cosmetics/{reply['id']}", {"text": "b"}), 403, "forbidden")
    error(api.call("carol", "DELETE", f"/canned-replies/cosmetics/{reply['id']}"), 403, "forbidden")
    # An agent reads its own groups only: bob sees cosmetics, alice does not and may not ask for it.
    assert [r["id"] for r in api.call("bob", "GET", "/canned-replies").json_body["replies"]] == [reply["id"]]
    assert api.call("alice", "GET", "/canned-replies").json_body["replies"] == []
    error(api.call("alice", "GET", "/canned-replies?group_id=cosmetics"), 403, "forbidden")
    error(api.call("alice", "GET", "/canned-replies?group_id=nosuch"), 404, "not_found", "group_id")


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    ({"language": "en", "shortcut": "a", "text": "b"}, 400, "invalid_body", "group_id"),
    ({"group_id": "General!", "language": "en", "shortcut": "a", "text": "b"}, 400, "invalid_body", "group_id"),
    ({"group_id": "nosuch", "language": "en", "shortcut": "a", "text": "b"}, 404, "not_found", "group_id"),
    ({"group_id": "general", "language": "english", "shortcut": "a", "text": "b"}, 400, "invalid_body", "language"),
    ({"group_id": "general", "shortcut": "a", "text": "b"}, 400, "invalid_body", "language"),
    ({"group_id": "general", "language": "en", "shortcut": "two words", "text": "b"}, 400, "invalid_body",
     "shortcut"),
    ({"group_id": "general", "language": "en", "shortcut": "a/b", "text": "b"}, 400, "invalid_body", "shortcut"),
    ({"group_id": "general", "language": "en", "shortcut": "x" * 33, "text": "b"}, 400, "invalid_body", "shortcut"),
    ({"group_id": "general", "language": "en", "shortcut": "a", "text": "   "}, 400, "invalid_body", "text"),
    ({"group_id": "general", "language": "en", "shortcut": "a", "text": "x" * 1001}, 400, "invalid_body", "text"),
    ({"group_id": "general", "language": "en", "shortcut": "a", "text": 7}, 400, "invalid_body", "text"),
    ({"group_id": "general", "language": "en", "shortcut": "a", "text": "b", "tags": []}, 400, "invalid_body",
     "tags"),
])
def test_each_bad_new_reply_gets_its_error(api: Api, body: dict[str, Any], status: int, code: str,
                                           field: str) -> None:
    error(api.call("admin", "POST", "/canned-replies", body), status, code, field)


def test_bad_updates_queries_and_paths(api: Api) -> None:
    reply = api.add("carol")
    path = f"/canned-replies/general/{reply['id']}"
    error(api.call("carol", "PUT", path, {}), 400, "invalid_body")
    error(api.call("carol", "PUT", path, {"text": ""}), 400, "invalid_body", "text")
    error(api.call("carol", "PUT", path, {"language": "zh CN"}), 400, "invalid_body", "language")
    error(api.call("carol", "PUT", path, {"group_id": "shoes"}), 400, "invalid_body", "group_id")
    error(api.call("carol", "PUT", "/canned-replies/general/not-an-id", {"text": "x"}), 404, "not_found")
    error(api.call("carol", "PUT", "/canned-replies/general/r_0123456789abcdef", {"text": "x"}), 404, "not_found")
    error(api.call("alice", "GET", "/canned-replies?language=中文"), 400, "invalid_body", "language")
    error(api.call("alice", "GET", "/canned-replies?sort=name"), 400, "invalid_body", "sort")
    # Nothing changed by the refusals.
    assert api.call("alice", "GET", "/canned-replies").json_body["replies"] == [reply]


def test_a_group_keeps_at_most_its_limit(api: Api) -> None:
    carol = Identity("carol", "supervisor", "Carol Wang", groups=("general",))
    small = ReplyService(lambda: CONFIG, max_per_group=2)
    small.create(carol, "general", "en", "one", "1")
    small.create(carol, "general", "en", "two", "2")
    with pytest.raises(ReplyError) as refused:
        small.create(carol, "general", "en", "three", "3")
    assert (refused.value.code, refused.value.status) == ("too_many", 409)
    assert len(small.list(carol, "general")) == 2
    # The product's own limit is far above a group's few dozen replies.
    assert MAX_PER_GROUP == 200
    api.add("carol", shortcut="three")


def test_the_list_is_one_query_per_group_and_never_a_scan(api: Api) -> None:
    api.add("carol")
    api.add("admin", group_id="shoes", shortcut="size")
    calls = count_aws_calls()
    assert len(api.call("alice", "GET", "/canned-replies?language=zh-CN").json_body["replies"]) == 2
    ops = metering.snapshot()
    assert calls() == 2
    assert ops == {"dynamodb.Query": 2}


def test_language_matching() -> None:
    assert language_matches("zh-CN", "zh-CN") and language_matches("zh", "zh-CN") and language_matches("zh-CN", "zh")
    assert language_matches("EN", "en") and not language_matches("en", "zh-CN")
    assert not language_matches("zh-TW", "zh-CN")
