"""GET /reports through Chalice's test client: who sees which figures (agents their own, supervisors their groups',
admins all), and what each bad query gets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from app import app
from chalicelib.auth.devidp import dev_idp
from chalicelib.auth.tokens import issue_visitor_token
from chalicelib.reports.store import ReportStore
from chalicelib.wiring import Services, build, override
from tests.conftest import RecordingSender, RecordingTimer, group, routing_config
from tests.functional.conftest import error

# config/dev_users.json: carol supervises general; alice works in general and shoes, bob in general and cosmetics.
CONFIG = routing_config([group("general", ["alice", "bob"]), group("shoes", ["alice"]),
                         group("cosmetics", ["bob"], name={"en": "Cosmetics", "zh-CN": "美妆护肤"})])
HOUR = 1796634000000 // 3_600_000  # 2026-12-07 09:00 UTC
DAY = {"from": "2026-12-07", "to": "2026-12-07"}


class Api:
    def __init__(self, client: Client, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def get(self, who: str, **query: str) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.client.http.get(f"/reports?{urlencode(query)}", headers=headers)

    def total(self, who: str, **query: str) -> dict[str, Any]:
        response = self.get(who, **{**DAY, **query})
        assert response.status_code == 200, response.body
        out: dict[str, Any] = response.json_body["total"]
        return out


@pytest.fixture(scope="module")
def tokens() -> dict[str, str]:
    return {user: dev_idp().login(user, "demo")[0] for user in ("alice", "bob", "carol", "admin")}


@pytest.fixture
def api(aws: None, sender: RecordingSender, timer: RecordingTimer, tokens: dict[str, str]) -> Iterator[Api]:
    svc: Services = build(sender, timer, config=lambda: CONFIG)
    override(svc)
    # What the stream's consumer would have written: alice ended 2 chats in shoes, bob 3 in cosmetics.
    ReportStore().apply({
        f"all|{HOUR}": {"n": 5, "srv": 5, "ho": 5}, f"g#shoes|{HOUR}": {"n": 2}, f"g#cosmetics|{HOUR}": {"n": 3},
        f"a#alice|{HOUR}": {"n": 2}, f"a#bob|{HOUR}": {"n": 3}, f"c#web|{HOUR}": {"n": 5},
        f"k#shoes|{HOUR}": {"n": 2}}, "shard-1", "1".zfill(40), "9".zfill(40))
    with Client(app) as client:
        yield Api(client, tokens)


def test_an_admin_sees_everything_and_any_scope(api: Api) -> None:
    assert api.total("admin")["conversations"] == 5
    for key, value, expected in (("group", "cosmetics", 3), ("agent", "alice", 2), ("channel", "web", 5),
                                 ("category", "shoes", 2)):
        assert api.total("admin", **{key: value})["conversations"] == expected, key
    body = api.get("admin", **DAY).json_body
    assert body["scope"] == {"dimension": "all", "value": None}
    assert [g["id"] for g in body["filters"]["groups"]] == ["cosmetics", "general", "shoes"]
    assert body["filters"]["groups"][0] == {"id": "cosmetics", "name": "Cosmetics",
                                            "names": {"en": "Cosmetics", "zh-CN": "美妆护肤"}}
    assert body["filters"]["groups"][1]["names"] == {"en": "General", "zh-CN": "General"}  # one text: both
    assert body["filters"]["channels"] == ["app", "mini_program", "web"]
    assert len(body["buckets"]) == 1 and body["buckets"][0]["conversations"] == 5


def test_an_agent_sees_its_own_figures_only(api: Api) -> None:
    assert api.total("alice")["conversations"] == 2
    assert api.total("alice", agent="alice")["conversations"] == 2
    body = api.get("alice", **DAY).json_body
    assert body["scope"] == {"dimension": "agent", "value": "alice"}
    assert body["filters"] == {"groups": [], "agents": [{"id": "alice"}], "channels": [], "categories": []}
    for key, value in (("agent", "bob"), ("group", "shoes"), ("channel", "web"), ("category", "shoes")):
        refused = error(api.get("alice", **DAY, **{key: value}), 403, "forbidden", key)
        assert refused["message"] == "agents see their own figures only"


def test_a_supervisor_sees_its_groups_and_their_agents(api: Api) -> None:
    # carol supervises general (her token's group): alice and bob work in it.
    assert api.total("carol")["conversations"] == 0  # general's own sums: none written above
    assert api.total("carol", group="general")["conversations"] == 0
    assert api.total("carol", agent="bob")["conversations"] == 3
    body = api.get("carol", **DAY).json_body
    assert [g["id"] for g in body["filters"]["groups"]] == ["general"]
    assert [a["id"] for a in body["filters"]["agents"]] == ["alice", "bob"]
    error(api.get("carol", **DAY, group="shoes"), 403, "forbidden", "group")
    error(api.get("carol", **DAY, agent="dave"), 403, "forbidden", "agent")
    for key, value in (("channel", "web"), ("category", "shoes")):
        refused = error(api.get("carol", **DAY, **{key: value}), 403, "forbidden", key)
        assert "span every group" in refused["message"]


def test_visitors_and_strangers_are_refused(api: Api) -> None:
    error(api.get("", **DAY), 401, "missing_token")
    token = issue_visitor_token("v_vera", "Vera", "web", None, None)[0]
    refused = api.client.http.get(f"/reports?{urlencode(DAY)}", headers={"Authorization": f"Bearer {token}"})
    error(refused, 403, "forbidden")


@pytest.mark.parametrize(("query", "code", "field"), [
    ({}, "invalid_body", "from"),
    ({"from": "2026-12-07"}, "invalid_body", "to"),
    ({**DAY, "from": "7 Dec"}, "invalid_body", "from"),
    ({**DAY, "from": "2026-02-30"}, "invalid_query", "from"),
    ({**DAY, "to": "1999-12-31", "from": "1999-12-01"}, "invalid_query", "from"),
    ({**DAY, "to": "2026-12-06"}, "invalid_query", "to"),
    ({**DAY, "to": "2027-01-08", "granularity": "hour"}, "invalid_query", "to"),
    ({**DAY, "to": "2027-12-08"}, "invalid_query", "to"),
    ({**DAY, "granularity": "week"}, "invalid_body", "granularity"),
    ({**DAY, "tz": "Mars/Olympus"}, "invalid_query", "tz"),
    ({**DAY, "tz": "America"}, "invalid_query", "tz"),
    ({**DAY, "sla_seconds": "7"}, "invalid_body", "sla_seconds"),
    ({**DAY, "channel": "fax"}, "invalid_body", "channel"),
    ({**DAY, "group": "Not A Group"}, "invalid_body", "group"),
    ({**DAY, "group": "shoes", "agent": "alice"}, "invalid_query", "agent"),
    ({**DAY, "colour": "red"}, "invalid_body", "colour"),
])
def test_each_bad_query_is_refused_with_its_field(api: Api, query: dict[str, str], code: str, field: str) -> None:
    error(api.get("admin", **query), 400, code, field)
