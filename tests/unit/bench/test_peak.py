"""The peak capacity model's own logic on small hand-made inputs: the rates, the roles of partition keys, the
projection onto the profile, the limits it reports and the generated doc (the measurement itself runs only in
``python -m bench --only peak``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench import peak
from bench.peak import AGENT, GLOBAL, GROUP, SESSION, Profile, Recorder, SearchDomain, Usage

GROUP_ID = "general"
AGENTS = ("load01", "load02")
DOMAIN = SearchDomain("t3.small.search", 2, 6)


def parts(*units: tuple[str, float, float]) -> dict[str, list[float]]:
    """Partitions from ``("table/key" or "table@index/key", read, write)``."""
    out = {}
    for name, read, write in units:
        where, key = name.split("/", 1)
        table, _, index = where.partition("@")
        out[peak.partition_key(table, index, key)] = [read, write]
    return out


def usage(partitions: dict[str, list[float]] | None = None, **extra: Any) -> Usage:
    return {"calls": {}, "gateway": {}, "lambda_ms": {}, "invocations": {},
            "sfn": {"starts": {}, "starts_by_machine": {}, "transitions": {}, "lambda_tasks": 0.0},
            "search_requests": 0.0, "partitions": partitions or {}, **extra}


def test_rates_follow_the_profile() -> None:
    r = peak.rates(Profile())
    assert r["chat_message"].total == r["ack"].total == 3_000
    assert r["chat_message"].per_session == pytest.approx(0.06)  # 3,000 messages / 50,000 chats
    assert r["chat_message"].per_agent == pytest.approx(0.3)  # an agent's 5 chats
    assert r["robot_turn"].total == pytest.approx(20_000 / 60)
    assert (r["arrival_queued"].total, r["arrival_queued"].hot_group) == (pytest.approx(120), pytest.approx(120))
    assert r["arrival_direct"].total == pytest.approx(180)
    assert r["arrival_direct"].hot_group == 0 and r["arrival_direct"].other_group == pytest.approx(20)
    assert r["assignment_from_queue"].total == r["queue_move"].total == pytest.approx(120)
    assert r["close"].total == pytest.approx(300) and r["close"].hot_group == pytest.approx(120)
    # 10 % of 50,000 connections a minute, and every connection again after 2 hours.
    assert r["reconnect"].total == pytest.approx(5_000 / 60 + 50_000 / 7_200)
    assert r["tick"].total == pytest.approx(1 / 60)


def test_keys_take_their_roles_shards_of_the_group_included() -> None:
    def role(table: str, index: str, key: str) -> tuple[str, str, bool]:
        found = peak.role_of(table, index, key, GROUP_ID, AGENTS)
        return found.name, found.scope, found.shared

    assert role("group-state", "", "general") == ("group counters", GROUP, True)
    assert role("group-state", "", "general#3") == ("group counters", GROUP, True)
    assert role("group-state", "", "shoes#3") == ("group counters of other groups", GLOBAL, True)
    assert role("group-state", "", "#dashboard") == ("dashboard subscribers item", GLOBAL, True)
    assert role("queue", "", "general") == ("queue partition", GROUP, True)
    assert role("members", "available", "general") == ("free-agents index", GROUP, True)
    assert role("sessions", "", "s-1") == ("session item", SESSION, False)
    assert role("agents", "", "load01") == ("agent item", AGENT, False)
    assert role("presence", "", "load02") == ("agent presence", AGENT, False)
    assert role("presence", "", "v-9") == ("visitor presence", SESSION, False)
    assert role("tickets", "by-status", "open") == ("other: tickets@by-status/open", GLOBAL, True)


def test_a_shared_role_takes_its_most_loaded_key_and_an_own_role_the_sum() -> None:
    found = peak.role_units(parts(("group-state/general", 9, 0), ("group-state/general#1", 1, 2),
                                  ("group-state/general#5", 1, 6), ("sessions/s1", 1, 3), ("sessions/s2", 0.5, 1),
                                  ("sessions/s3", -0.5, -1)), GROUP_ID, AGENTS)
    assert (found["group counters"]["rcu"], found["group counters"]["wcu"]) == (9, 6)
    assert found["group counters"]["keys"] == 3
    # Own items: one event's load on all of them (a difference may leave one below zero).
    assert (found["session item"]["rcu"], found["session item"]["wcu"]) == (1, 3)
    assert peak.table_units(parts(("sessions/s1", 1, 3), ("sessions@sessions-by-agent/load01", 0, 1))) == \
        {"sessions": [1, 4]}


def test_a_difference_of_measurements_is_taken_key_by_key() -> None:
    with_one = usage(parts(("queue/general", 1, 4), ("sessions/a", 1, 3), ("sessions/b", 1, 4)),
                     calls={"dynamodb.Query": 3})
    nobody = usage(parts(("queue/general", 1, 0), ("sessions/c", 1, 4)), calls={"dynamodb.Query": 1})
    diff = peak.combine(with_one, nobody, -1)
    assert diff["calls"] == {"dynamodb.Query": 2}
    found = peak.role_units(diff["partitions"], GROUP_ID, AGENTS)
    assert found["queue partition"]["wcu"] == 4 and found["queue partition"]["rcu"] == 0
    assert (found["session item"]["rcu"], found["session item"]["wcu"]) == (1, 3)
    assert peak.scale({"a": [2.0, 4.0], "b": {"c": 3}}, 0.5) == {"a": [1.0, 2.0], "b": {"c": 1.5}}


def test_usage_between_two_readouts() -> None:
    def readout(calls: int, frames: int, ms: float, executions: int, units: float) -> dict[str, Any]:
        return {"aws_calls": {"dynamodb.GetItem": calls, "ssm.GetParametersByPath": calls},
                "gateway": {"frames_in": frames, "posts": frames},
                "handlers": {"$default": {"invocations": frames, "ms": ms}},
                "stepfunctions": {"by_machine": {"cs-local-delivery": {"type": "EXPRESS", "executions": executions,
                                                                       "running": 0, "transitions": 4 * executions,
                                                                       "lambda_tasks": 0}}},
                "capacity_by_partition": [["messages", "", "s1", units, 2 * units]], "search_requests": frames}

    got = peak.usage_between(readout(1, 2, 10.0, 1, 0.5), readout(3, 3, 25.0, 2, 1.5))
    # The configuration's reads are a container's: left out of events.
    assert got["calls"] == {"dynamodb.GetItem": 2}
    assert got["gateway"] == {"frames_in": 1, "posts": 1}
    assert got["lambda_ms"] == {"$default": 15.0}
    assert got["sfn"]["starts"] == {"express": 1} and got["sfn"]["starts_by_machine"] == {"delivery (express)": 1}
    assert got["sfn"]["transitions"] == {"express": 4}
    assert got["partitions"] == {"messages||s1": [1.0, 2.0]}
    assert got["search_requests"] == 1


def small_profile() -> Profile:
    return Profile(concurrent_chats=1_000, messages_per_s=100.0, requests_per_s=10.0, hot_group_share=0.5,
                   agents=100, groups=2, robot_questions_per_minute=600.0, reconnect_share_per_minute=0.0,
                   connection_max_seconds=1e12)


def test_the_projection_multiplies_rates_by_units_per_key() -> None:
    events = {
        # 100 messages/s, 50 in the hot group; each writes its session once and reads a FAQ.
        "chat_message": usage(parts(("sessions/s1", 0, 1), ("faqs/f1", 0.5, 0)),
                              gateway={"frames_in": 1, "posts": 1}, sfn={"starts": {"express": 1}}),
        # 5 queued arrivals/s, all in the hot group: two counter shards, a queue partition, the session.
        "arrival_queued": usage(parts(("group-state/general#1", 1, 2), ("group-state/general#2", 1, 0),
                                      ("queue/general#3", 1, 2), ("sessions/s2", 1, 3)),
                                gateway={"frames_in": 1, "posts": 2}, invocations={"rest": 1},
                                sfn={"starts": {"standard": 1}}, calls={"stepfunctions.StopExecution": 1}),
        "close": usage(parts(("group-state/general#2", 0, 4), ("group-state/general", 0, 0.5), ("agents/load01", 1, 2)),
                       gateway={"connections": 1}),
    }
    limits = {x["name"]: x for x in peak.project(small_profile(), events, GROUP_ID, AGENTS, DOMAIN)}
    rate = peak.rates(small_profile())
    # The shards (general#1: 5 arrivals/s x 2; general#2: 5 closes/s x 4) share their sum evenly, as the hash of
    # many sessions spreads it; the group's own key (5 closes/s x 0.5) keeps its own. The most loaded key counts.
    shards = peak.shards_of("group-state")
    hot = limits["DynamoDB per-partition WCU: group counters (hot group)"]
    assert hot["demand_per_s"] == pytest.approx((rate["arrival_queued"].hot_group * 2 + rate["close"].hot_group * 4)
                                                / shards)
    assert f"general#(each of {shards})" in hot["note"]
    assert limits["DynamoDB per-partition RCU: group counters (hot group)"]["demand_per_s"] == \
        pytest.approx(5 * 2 / shards)
    assert limits["DynamoDB per-partition WCU: queue partition (hot group)"]["demand_per_s"] == \
        pytest.approx(10 / peak.shards_of("queue"))
    # Another group sees no queued arrival, only its share of closes.
    assert limits["DynamoDB per-partition WCU: group counters (another group)"]["demand_per_s"] == \
        pytest.approx(rate["close"].other_group * 4 / shards)
    # One session item: every kind at the per-session rate.
    assert limits["DynamoDB per-partition WCU: session item"]["demand_per_s"] == pytest.approx(
        rate["chat_message"].per_session * 1 + rate["arrival_queued"].per_session * 3)
    assert limits["DynamoDB per-partition WCU: agent item"]["demand_per_s"] == pytest.approx(
        rate["close"].per_agent * 2)
    assert limits["DynamoDB per-partition RCU: FAQ item"]["demand_per_s"] == pytest.approx(100 * 0.5)
    assert limits["DynamoDB table WCU: sessions"]["demand_per_s"] == pytest.approx(100 * 1 + 5 * 3)
    api = limits["API Gateway requests/s (frames in + @connections posts + REST)"]
    assert api["demand_per_s"] == pytest.approx(100 * 2 + 5 * 4)
    assert api["headroom"] == pytest.approx(10_000 / 220, abs=0.01)
    assert limits["API Gateway new WebSocket connections/s"]["demand_per_s"] == pytest.approx(10)
    assert limits["Step Functions Express StartExecution/s"]["demand_per_s"] == pytest.approx(100)
    assert limits["Step Functions Standard StartExecution/s (bucket refill)"]["demand_per_s"] == pytest.approx(5)
    assert limits["Step Functions StopExecution/s (bucket refill)"]["demand_per_s"] == pytest.approx(5)


REQUIRED = (
    "DynamoDB per-partition WCU: group counters (hot group)",
    "DynamoDB per-partition RCU: group counters (hot group)",
    "DynamoDB per-partition WCU: queue partition (hot group)",
    "DynamoDB per-partition WCU: free-agents index (hot group)",
    "DynamoDB per-partition WCU: session item", "DynamoDB per-partition WCU: agent item",
    "DynamoDB table WCU: sessions", "DynamoDB table RCU: sessions",
    "API Gateway requests/s (frames in + @connections posts + REST)", "API Gateway new WebSocket connections/s",
    "Lambda concurrent executions (rate x duration)", "Step Functions Express StartExecution/s",
    "Step Functions Standard StartExecution/s (bucket refill)", "Step Functions StopExecution/s (bucket refill)",
    "SSM GetParametersByPath/s", "OpenSearch search requests/s (2 x t3.small.search)",
)

KIND_PARTS = {"resolve_0": ("resolve_0", 1), "resolve_1": ("resolve_1", 1), "resolve_50": ("resolve_50", 1),
              "resolve_big": ("resolve_big", 1), "rate": ("rate", 1), "tick_small": ("tick_small", 1)}


def recorder() -> Recorder:
    """Every kind ``assemble`` reads, each one event of the same small footprint."""
    one = usage(parts(("group-state/general#1", 1, 2), ("queue/general#0", 1, 2),
                      ("members@available/general#1", 0.5, 1), ("sessions/s1", 1, 3), ("agents/load01", 1, 2),
                      ("presence/load01", 0.5, 0)),
                gateway={"frames_in": 1, "posts": 1, "connections": 1}, lambda_ms={"$default": 10.0},
                invocations={"$default": 1}, sfn={"starts": {"express": 1, "standard": 1}},
                calls={"dynamodb.GetItem": 2, "stepfunctions.StopExecution": 1}, search_requests=1.0)
    kinds = [*peak.KINDS, "resolve_0", "resolve_1", "resolve_50", "resolve_big", "rate", "tick_small"]
    return Recorder(sums={k: one for k in kinds}, events=Counter({k: 1 for k in kinds}))


def assembled() -> dict[str, Any]:
    cold = {"route": "$default", "cpu_factor": 2.0, "goal_ms": 1000.0, "added_before_first_reply_ms": 2.5,
            "added_before_first_reply_scaled_ms": 5.0,
            "after_init_ms": {"after_restore_hook_ms": 0.5, "first_answer_ms": 2.0},
            "init_ms": 3.0, "init_scaled_ms": 6.0, "init_breakdown_ms": {"import_app_ms": 1.0, "classifier_ms": 2.0},
            "warm_answer_ms": 0.5, "snapstart": {"restore": "not measured here"}, "local_index_build_ms": 9.0}
    extra = {"tick": {"waiting": 5_000, "connected": 40}, "tick_small": {"waiting": 45}, "seed": {"seconds": 1.0}}
    r = peak.assemble(Profile(), recorder(), extra, [], cold, DOMAIN)
    return {**r, "date": "2026-12-07", "machine": {"cpus": 2}, "seconds": 1.0}


def test_the_result_has_every_required_limit_and_its_headrooms() -> None:
    r = assembled()
    names = {x["name"] for x in r["limits"]}
    assert set(REQUIRED) <= names
    for x in r["limits"]:
        assert set(x) >= {"name", "demand_per_s", "limit_per_s", "headroom", "adjustable", "limit_after_increase"}
        assert x["adjustable"] == (not x["name"].startswith("DynamoDB per-partition"))
    fixed = [x["headroom"] for x in r["limits"] if not x["adjustable"] and x["headroom"] is not None]
    assert r["min_headroom_fixed"] == min(fixed)
    assert r["min_headroom_after_increase"] == pytest.approx(
        min(x["limit_after_increase"] / x["demand_per_s"] for x in r["limits"] if x["demand_per_s"] > 0), abs=0.01)
    # The same footprint for every kind: the differences are empty, the sums doubled.
    assert r["events"]["assignment_from_queue"]["calls_total"] == 0
    assert r["events"]["close"]["calls_total"] == 2 * r["events"]["chat_message"]["calls_total"]
    # The tick at the profile posts to every waiting visitor, not only those with a socket here.
    assert r["events"]["tick"]["frames"]["posts"] == 1 + 5_000 - 40
    assert r["frames_per_chat_message"] == 4
    assert {"waiting_50", "waiting_5000"} <= set(r["queue_move"])


def test_one_group_taking_every_arrival_is_projected_on_its_own_keys() -> None:
    r = assembled()
    stress = r["hot_group_stress"]
    assert stress["arrivals_per_s"] == Profile().hot_group_stress_per_s == 300
    assert stress["limits"] and all(x["name"].endswith("(hot group)") for x in stress["limits"])
    assert stress["min_headroom"] == min(x["headroom"] for x in stress["limits"] if x["headroom"] is not None)
    # The queue sees the hot group's events at 300 arrivals/s instead of the profile's 40% of 300 (all but the
    # tick, whose rate is its schedule's).
    at_profile = {x["name"]: x for x in r["limits"]}
    name = "DynamoDB per-partition WCU: queue partition (hot group)"
    stressed = next(x for x in stress["limits"] if x["name"] == name)
    assert stressed["demand_per_s"] == pytest.approx(at_profile[name]["demand_per_s"] * 300 / 120, rel=1e-4)


def test_schedules_are_read_as_seconds() -> None:
    assert peak.schedule_seconds("rate(1 minute)") == 60
    assert peak.schedule_seconds("rate(5 minutes)") == 300
    assert peak.schedule_seconds("rate(2 hours)") == 7_200
    assert peak.schedule_seconds("cron(0 12 * * ? *)") is None


def test_headrooms_and_quota_requests() -> None:
    limits = [peak.limit("fixed", 500, 1_000, False, 1_000), peak.limit("raised", 9_000, 10_000, True, 30_000),
              peak.limit("idle", 0, 40, True, 100), peak.limit("far", 10, 6_000, True, 12_000)]
    assert peak.headrooms(limits) == (2.0, 2.0)
    asks = peak.quota_requests(limits)
    assert [a["name"] for a in asks] == ["raised"]
    assert asks[0]["request"] == 18_000 and asks[0]["enough_after_increase"]


def test_the_doc_is_generated_and_keeps_its_search_section(tmp_path: Path) -> None:
    r = assembled()
    doc = tmp_path / "capacity.md"
    peak.write_doc(r, doc)
    text = doc.read_text()
    for heading in ("## The profile", "## Rates", "## Limits", "### One group taking 300 arrivals a second",
                    "## Quota increases to request before a peak",
                    "## Queue move", "## Cold start", "## Frames per chat message", "## Search"):
        assert heading in text
    filled = text.replace("The search domain's sizing goes here (kept as it is when this file is generated again).",
                          "Two nodes serve 400 searches a second.")
    doc.write_text(filled)
    peak.write_doc(r, doc)
    assert "Two nodes serve 400 searches a second." in doc.read_text()
    assert doc.read_text().count(peak.SEARCH_BEGIN) == 1

    deploy = tmp_path / "deploy.md"
    deploy.write_text(f"# Deploy\n\n{peak.QUOTAS_BEGIN}\nold\n{peak.QUOTAS_END}\n\n## After\n")
    peak.write_quotas(r, deploy)
    written = deploy.read_text()
    assert "old" not in written and "[capacity.md](capacity.md)" in written and written.endswith("## After\n")
