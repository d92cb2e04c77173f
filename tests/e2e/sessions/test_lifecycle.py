"""Session lifecycle over real sockets against the local stack, on the real lifecycle state machine
(moto's Step Functions engine): the idle warning and close, the agent's resolution, the visitor's end,
a dropped visitor, the one survey and its answer, and a transfer to a group."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from local.harness import Peer, Stack, agent_token, connect, run_client, run_stack

pytestmark = pytest.mark.e2e


def short_lifecycle(documents: dict[str, Any]) -> None:
    # Waits come from the configuration through the execution's input: seconds here, minutes in shops.
    documents["groups"]["sessions"] = {"idle_warn_seconds": 2, "idle_close_seconds": 2,
                                       "reconnect_grace_seconds": 2}
    documents["groups"]["agents"]["capacity"] = {"alice": 1}
    documents["groups"]["groups"].append({"id": "specialists", "name": "Specialists", "hours": "always",
                                          "members": ["load01"]})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state: Path = tmp_path_factory.mktemp("state")
    with run_stack(state, config_edit=short_lifecycle) as running:
        yield running


async def visitor(http: aiohttp.ClientSession, stack: Stack, name: str, **attrs: str) -> tuple[Peer, str]:
    async with http.post(f"{stack.base}/api/visitors/token", json={"channel": "web", "name": name, **attrs}) as r:
        assert r.status == 201, await r.text()
        token: str = (await r.json())["token"]
    peer = await connect(http, stack, token)
    await peer.request({"action": "hello"}, "welcome")
    return peer, token


async def agent(http: aiohttp.ClientSession, stack: Stack, name: str) -> tuple[Peer, str]:
    token = await agent_token(http, stack.base, name)
    peer = await connect(http, stack, token)
    await peer.request({"action": "hello"}, "welcome")
    return peer, token


async def served(peer: Peer) -> str:
    answer = await peer.request({"action": "request_agent"}, "session")
    assert answer["session"]["status"] == "active", answer
    return str(answer["session"]["session_id"])


def session_frames(peer: Peer, session_id: str) -> list[dict[str, Any]]:
    return [f for f in peer.by_event["session"] if f["session"]["session_id"] == session_id]


def closed(peer: Peer, session_id: str) -> bool:
    return any(f["session"]["status"] == "closed" for f in session_frames(peer, session_id))


def test_an_idle_visitor_is_warned_then_closed_with_one_survey_and_the_slot_backfills(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        alice, alice_token = await agent(http, stack, "alice")
        quiet, _ = await visitor(http, stack, "Quiet")
        session_id = await served(quiet)
        waiting, _ = await visitor(http, stack, "Next")
        assert (await waiting.request({"action": "request_agent"}, "queue"))["position"] == 1
        await alice.text(session_id, "Hello! How can I help?")
        # No reply: the warning reaches both sides before the close, then the survey, then the close.
        await quiet.wait_for(lambda p: closed(p, session_id), 30)
        events = [f["event"] for f in quiet.frames if f.get("event") in ("idle_warning", "survey", "session")
                  and f.get("session_id", f.get("session", {}).get("session_id")) == session_id]
        assert events[-3:] == ["idle_warning", "survey", "session"]
        assert [f["session_id"] for f in alice.by_event["idle_warning"]] == [session_id]
        end = session_frames(quiet, session_id)[-1]["session"]
        assert (end["close_reason"], end["survey"]["status"]) == ("idle_timeout", "pending")
        survey = quiet.by_event["survey"][-1]
        assert survey["agent"]["id"] == "alice" and survey["scale"] == [1, 5]
        # alice's one slot is free again: the waiting visitor gets it at once.
        await waiting.wait_for(lambda p: any(f["session"]["status"] == "active" for f in p.by_event["session"]), 10)

        rated = await quiet.request({"action": "rate", "session_id": session_id, "stars": 5,
                                     "tags": ["quick"], "comment": "great"}, "rated")
        assert rated["stars"] == 5
        again = await quiet.request({"action": "rate", "session_id": session_id, "stars": 1}, "rated")
        assert (again["event"], again["code"]) == ("error", "already_rated")
        bad = await quiet.request({"action": "rate", "session_id": session_id, "stars": 6}, "rated")
        assert (bad["code"], bad["field"]) == ("invalid_frame", "stars")
        carol_token = await agent_token(http, stack.base, "carol")
        async with http.get(f"{stack.base}/api/dashboard", headers={"Authorization": f"Bearer {carol_token}"}) as r:
            board = await r.json()
        assert next(g for g in board["groups"] if g["id"] == "general")["csat"] == {"avg": 5.0, "count": 1}
        assert next(a for a in board["agents"] if a["id"] == "alice")["csat"]["count"] == 1
        assert alice_token
        for peer in (alice, quiet, waiting):
            await peer.close()

    run_client(scenario)


def test_resolution_and_the_visitors_end_each_close_once_with_one_survey(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        bob, _ = await agent(http, stack, "bob")
        first, _ = await visitor(http, stack, "First")
        first_id = await served(first)
        await first.text(first_id, "Where is my parcel?")
        await bob.wait_for(lambda p: bool(p.by_event["message"]))
        await bob.send({"action": "resolve", "session_id": first_id})
        await first.wait_for(lambda p: closed(p, first_id), 10)
        assert session_frames(first, first_id)[-1]["session"]["close_reason"] == "resolved"
        again = await bob.request({"action": "resolve", "session_id": first_id}, "session")
        assert (again["event"], again["code"]) == ("error", "session_closed")

        second, _ = await visitor(http, stack, "Second")
        second_id = await served(second)
        await second.send({"action": "end_session", "session_id": second_id})
        await bob.wait_for(lambda p: closed(p, second_id), 10)
        assert session_frames(bob, second_id)[-1]["session"]["close_reason"] == "visitor_ended"
        for peer in (first, second):
            assert len(peer.by_event["survey"]) == 1
        # A visitor cannot resolve; only agents do.
        third, _ = await visitor(http, stack, "Third")
        third_id = await served(third)
        refused = await third.request({"action": "resolve", "session_id": third_id}, "session")
        assert refused["code"] == "forbidden"
        await bob.send({"action": "end_session", "session_id": third_id})
        await third.wait_for(lambda p: closed(p, third_id), 10)
        for peer in (bob, first, second, third):
            await peer.close()

    run_client(scenario)


def test_a_dropped_visitor_goes_offline_keeps_the_session_and_resumes(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        bob, _ = await agent(http, stack, "bob")
        leaving, token = await visitor(http, stack, "Leaving")
        session_id = await served(leaving)
        await leaving.text(session_id, "one sec, switching to my phone")
        await bob.wait_for(lambda p: bool(p.by_event["message"]))
        await leaving.close()
        await bob.wait_for(lambda p: [f["state"] for f in p.by_event["visitor_presence"]][-1:] == ["offline"], 20)
        assert [f["state"] for f in bob.by_event["visitor_presence"]] == ["reconnecting", "offline"]
        await bob.text(session_id, "No problem, I'm here")
        await bob.wait_for(lambda p: bool(p.by_event["stored"]), 10)
        assert not bob.by_event["send_failed"]

        back = await connect(http, stack, token)
        welcome = await back.request({"action": "hello"}, "welcome")
        assert (welcome["session"]["session_id"], welcome["session"]["status"]) == (session_id, "active")
        await bob.wait_for(lambda p: p.by_event["visitor_presence"][-1]["state"] == "online", 10)
        resumed = await back.request({"action": "resume", "session_id": session_id, "after_seq": 1}, "resumed")
        assert [m["content"]["text"] for m in resumed["messages"]] == ["No problem, I'm here"]
        await back.send({"action": "ack", "message_id": resumed["messages"][0]["message_id"]})
        await bob.wait_for(lambda p: bool(p.by_event["delivered"]), 10)
        await back.send({"action": "end_session", "session_id": session_id})
        await back.wait_for(lambda p: closed(p, session_id), 10)
        for peer in (bob, back):
            await peer.close()

    run_client(scenario)


def test_a_transfer_to_a_group_reaches_its_agent_with_the_note(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        bob, _ = await agent(http, stack, "bob")
        vip, _ = await visitor(http, stack, "Vip")
        session_id = await served(vip)
        assert session_frames(vip, session_id)[-1]["session"]["agent_id"] == "bob"
        await vip.text(session_id, "I need an electronics expert")
        await bob.wait_for(lambda p: bool(p.by_event["message"]))
        dave, _ = await agent(http, stack, "load01")
        await bob.send({"action": "transfer", "session_id": session_id, "to_group": "specialists",
                        "note": "camera question, order 889"})
        await dave.wait_for(lambda p: bool(session_frames(p, session_id)), 10)
        handed = session_frames(dave, session_id)[-1]["session"]
        assert (handed["agent_id"], handed["transfer"]) == ("load01", {"from": "bob",
                                                                     "note": "camera question, order 889"})
        # Told of the transfer, and of the new agent (a periodic drain may serve the queue first).
        await vip.wait_for(lambda p: any("notice" in f for f in session_frames(p, session_id))
                           and any(f["session"]["agent_id"] == "load01" for f in session_frames(p, session_id)), 10)
        async with http.get(f"{stack.base}/api/sessions/{session_id}/messages",
                            headers={"Authorization": f"Bearer {await agent_token(http, stack.base, 'load01')}"}) as r:
            history = (await r.json())["messages"]
        assert [m["content"]["text"] for m in history] == ["I need an electronics expert"]
        for peer in (bob, vip, dave):
            await peer.close()

    run_client(scenario)
