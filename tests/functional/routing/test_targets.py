"""The transfer dialog's list on moto: groups with their figures, the colleagues who could take a chat now and
their load, who sees whom, and what it costs (batched reads and index Queries, never a scan)."""

from __future__ import annotations

import json

from chalice.test import Client

from app import app
from chalicelib.auth.devidp import dev_idp
from chalicelib.auth.identity import Identity
from chalicelib.platform import metering
from chalicelib.routing.models import MEMBER_SHARDS
from chalicelib.routing.targets import transfer_targets
from chalicelib.wiring import build, override
from tests.conftest import RecordingSender, RecordingTimer, count_aws_calls, group, routing_config

COSMETICS = {"en": "Cosmetics", "zh-CN": "美妆护肤"}  # a group named in both languages
CONFIG = routing_config([group("general", ["alice", "bob", "dave", "fay"]), group("shoes", ["alice"]),
                         group("cosmetics", ["erin"], name=COSMETICS)], default_capacity=2)


def agent(agent_id: str, *groups: str) -> Identity:
    return Identity(agent_id, "agent", name=f"{agent_id.capitalize()} Li", groups=groups)


def test_an_agent_sees_every_group_and_only_its_groups_free_colleagues(aws: None, sender: RecordingSender,
                                                                      timer: RecordingTimer) -> None:
    svc = build(sender, timer, config=lambda: CONFIG)
    for who in ("alice", "bob", "dave", "erin", "fay"):
        svc.routing.set_agent_status(agent(who), "online")
    svc.routing.set_agent_status(agent("fay"), "busy")  # online but taking nothing new: not a target
    # Three visitors: least loaded first, so alice, bob and dave take one each.
    for n in range(3):
        visitor = Identity(f"v_{n}", "visitor", name=f"V{n}", channel="web")
        svc.sessions.current_or_new(visitor, svc.presence.connect(f"c-{n}", visitor))
        svc.routing.request_agent(visitor)
    load = {a: int(svc.agents.get(a).active) for a in ("alice", "bob", "dave")}  # type: ignore[union-attr]
    assert sorted(load.values()) == [1, 1, 1]

    calls = count_aws_calls()
    out = transfer_targets(CONFIG, agent("bob", "general"))
    # Counters of every group in one BatchGetItem, the free-agent index of each group, the agents in one more.
    assert metering.snapshot() == {"dynamodb.BatchGetItem": 2, "dynamodb.Query": 3 * MEMBER_SHARDS}
    assert calls() == 2 + 3 * MEMBER_SHARDS

    assert [g["id"] for g in out["groups"]] == ["cosmetics", "general", "shoes"]  # by name
    general = next(g for g in out["groups"] if g["id"] == "general")
    # fay is busy: online in the counters, no free slot in the index.
    assert (general["online_agents"], general["free_slots"], general["waiting"], general["mine"]) == (3, 3, 0, True)
    assert next(g for g in out["groups"] if g["id"] == "cosmetics") == {
        "id": "cosmetics", "name": "Cosmetics", "names": COSMETICS, "mine": False,
        "online_agents": 1, "free_slots": 2, "waiting": 0}
    # Bob does not see himself, fay (busy) or erin (not his group's).
    assert {a["id"] for a in out["agents"]} == {"alice", "dave"}
    alice = next(a for a in out["agents"] if a["id"] == "alice")
    assert alice == {"id": "alice", "name": "Alice Li", "active": 1, "capacity": 2, "free_slots": 1,
                     "groups": ["general"]}

    # An admin sees everyone's free agents; a full agent is no target.
    admin = Identity("admin", "admin", name="Admin")
    seen = {a["id"] for a in transfer_targets(CONFIG, admin)["agents"]}
    assert seen == {"alice", "bob", "dave", "erin"}
    svc.routing.set_agent_status(agent("dave"), "online", capacity=1)  # dave has 1 chat of 1 now: full
    assert "dave" not in {a["id"] for a in transfer_targets(CONFIG, admin)["agents"]}


def test_a_supervisor_sees_the_agents_of_the_groups_in_its_token_over_rest(aws: None, sender: RecordingSender,
                                                                          timer: RecordingTimer) -> None:
    svc = build(sender, timer, config=lambda: CONFIG)
    override(svc)
    for who in ("alice", "erin"):
        svc.routing.set_agent_status(agent(who), "online")
    token = dev_idp().login("carol", "demo")[0]  # carol supervises general
    with Client(app) as client:
        response = client.http.get("/transfer-targets", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    assert [a["id"] for a in body["agents"]] == ["alice"]
    assert {g["id"]: g["mine"] for g in body["groups"]} == {"general": True, "shoes": False, "cosmetics": False}
