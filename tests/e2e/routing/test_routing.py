"""Routing over real sockets against the local stack: queue positions, backfill, the dashboard, service
hours with leave-a-message, and configuration edits taking effect through SSM."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from local.harness import Peer, Stack, agent_token, connect, run_client, run_stack

pytestmark = pytest.mark.e2e


def one_chat_for_alice_and_shoes_closed(documents: dict[str, Any]) -> None:
    documents["groups"]["agents"]["capacity"] = {"alice": 1}
    documents["hours"]["schedules"]["standard"] = {"weekly": {}, "closed_message": "Shoe experts are away."}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state: Path = tmp_path_factory.mktemp("state")
    with run_stack(state, config_edit=one_chat_for_alice_and_shoes_closed) as running:
        yield running


async def visitor(http: aiohttp.ClientSession, stack: Stack, name: str, **attrs: str) -> Peer:
    async with http.post(f"{stack.base}/api/visitors/token", json={"channel": "web", "name": name, **attrs}) as r:
        assert r.status == 201, await r.text()
        token = (await r.json())["token"]
    peer = await connect(http, stack, token)
    await peer.request({"action": "hello"}, "welcome")
    return peer


async def get(http: aiohttp.ClientSession, stack: Stack, path: str, token: str) -> tuple[int, Any]:
    async with http.get(f"{stack.base}/api{path}", headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.json()


async def ask_for_agent(peer: Peer) -> dict[str, Any]:
    """Send request_agent; the answer is a session, a queue position or a leave-a-message offer."""
    start = len(peer.frames)
    await peer.send({"action": "request_agent"})
    answers = ("session", "queue", "leave_message_offered", "error")
    await peer.wait_for(lambda p: any(f.get("event") in answers for f in p.frames[start:]), 10)
    return next(f for f in peer.frames[start:] if f.get("event") in answers)


def last(peer: Peer, event: str) -> dict[str, Any]:
    return peer.by_event[event][-1]


def test_queue_positions_backfill_and_dashboard(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        carol_token = await agent_token(http, stack.base, "carol")
        carol = await connect(http, stack, carol_token)
        snapshot = await carol.request({"action": "subscribe_dashboard"}, "dashboard.snapshot")
        assert "general" in [g["id"] for g in snapshot["groups"]]
        alice_token = await agent_token(http, stack.base, "alice")
        alice = await connect(http, stack, alice_token)

        first = await visitor(http, stack, "First")
        assigned = await first.request({"action": "request_agent"}, "session")
        assert (assigned["session"]["status"], assigned["session"]["agent_id"]) == ("active", "alice")
        second = await visitor(http, stack, "Second")
        queued = await second.request({"action": "request_agent"}, "queue")
        assert (queued["position"], queued["waiting"], queued["estimated_wait_seconds"]) == (1, 1, 300)
        third = await visitor(http, stack, "Third")
        assert (await third.request({"action": "request_agent"}, "queue"))["position"] == 2
        await carol.wait_for(lambda p: any(f["group"]["id"] == "general" and f["group"]["waiting"] == 2
                                           for f in p.by_event["dashboard.group"]))
        status, board = await get(http, stack, "/dashboard", carol_token)
        general = next(g for g in board["groups"] if g["id"] == "general")
        assert status == 200 and (general["waiting"], general["active_sessions"]) == (2, 1)
        assert general["agents"]["online"] >= 1
        assert (await get(http, stack, "/dashboard", alice_token))[0] == 403

        # The agent ends the first chat: its slot goes at once to the head of the queue.
        await alice.send({"action": "end_session", "session_id": assigned["session"]["session_id"]})
        await second.wait_for(lambda p: last(p, "session")["session"]["status"] == "active")
        assert last(second, "session")["session"]["agent_id"] == "alice"
        await third.wait_for(lambda p: last(p, "queue")["position"] == 1)
        await first.wait_for(lambda p: last(p, "session")["session"]["status"] == "closed")

        left = await third.request({"action": "leave_queue"}, "session")
        assert left["session"]["status"] == "bot"
        for peer in (carol, alice, first, second, third):
            await peer.close()

    run_client(scenario)


def test_closed_hours_offer_leave_a_message_until_the_hours_are_changed(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        bob_token = await agent_token(http, stack.base, "bob")
        bob = await connect(http, stack, bob_token)
        await bob.request({"action": "hello"}, "welcome")
        shopper = await visitor(http, stack, "Shopper", category="shoes")
        offer = await shopper.request({"action": "request_agent"}, "leave_message_offered")
        assert offer["reason"] == "closed" and offer["group"]["id"] == "shoes"
        assert offer["hours"]["open"] is False and offer["hours"]["next_open"] is None
        assert offer["message"].startswith("Shoe experts are away. We are closed now.")
        done = await shopper.request({"action": "leave_message", "text": "Do you have size 46?",
                                      "contact": "shopper@example.com", "reason": "closed"}, "message_left")
        assert done["group_id"] == "shoes"
        status, listed = await get(http, stack, "/left-messages", bob_token)
        assert status == 200
        assert [(m["text"], m["contact"], m["reason"]) for m in listed["left_messages"]] == [
            ("Do you have size 46?", "shopper@example.com", "closed")]
        async with http.post(f"{stack.base}/api/visitors/token", json={"channel": "web"}) as r:
            visitor_only = (await r.json())["token"]
        assert (await get(http, stack, "/left-messages", visitor_only))[0] == 403

        # An admin opens the shoe group around the clock: the stack puts the edit in SSM, and the
        # Lambdas' configuration (1 s old at most here) routes the next request to bob.
        hours_file = stack.state_dir / "config" / "hours.json"
        hours = json.loads(hours_file.read_text())
        hours["schedules"]["standard"] = {"daily": [["00:00", "24:00"]]}
        hours_file.write_text(json.dumps(hours))
        for _ in range(40):
            answer = await ask_for_agent(shopper)
            if answer["event"] == "session":
                break
            assert answer["event"] == "leave_message_offered", answer
            await asyncio.sleep(0.25)
        assert (answer["session"]["agent_id"], answer["session"]["group_id"]) == ("bob", "shoes")
        for peer in (bob, shopper):
            await peer.close()

    run_client(scenario)


def test_a_bad_config_edit_is_refused_and_the_last_good_one_stays(stack: Stack) -> None:
    groups_file = stack.state_dir / "config" / "groups.json"
    good = groups_file.read_text()
    broken = json.loads(good)
    broken["groups"][0]["allocation"] = "fastest"
    groups_file.write_text(json.dumps(broken))

    async def scenario(http: aiohttp.ClientSession) -> None:
        deadline = asyncio.get_running_loop().time() + 10
        while not any("config/ not applied" in line for line in stack.output):
            assert asyncio.get_running_loop().time() < deadline, "".join(stack.output[-10:])
            await asyncio.sleep(0.2)
        message = next(line for line in stack.output if "config/ not applied" in line)
        assert "groups" in message and "allocation" in message
        # Routing still works on the last good configuration.
        alice = await connect(http, stack, await agent_token(http, stack.base, "bob"))
        shopper = await visitor(http, stack, "Later")
        got = await shopper.request({"action": "request_agent"}, "session")
        assert got["session"]["group_id"] == "general"
        for peer in (alice, shopper):
            await peer.close()

    try:
        run_client(scenario)
    finally:
        groups_file.write_text(good)


def test_an_agent_connecting_while_visitors_wait_gets_them_once_its_connection_is_open(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        waiting = await visitor(http, stack, "Early")
        # Nobody serves general now: the earlier tests' agents went offline with their sockets.
        queued = await ask_for_agent(waiting)
        assert queued["event"] == "session" and queued["session"]["status"] == "waiting", queued
        bob = await connect(http, stack, await agent_token(http, stack.base, "bob"))
        welcome = await bob.request({"action": "hello"}, "welcome")
        assert welcome["user"]["id"] == "bob"
        await bob.wait_for(lambda p: any(f["session"]["visitor_name"] == "Early" for f in p.by_event["session"]))
        await waiting.wait_for(lambda p: p.by_event["session"] and last(p, "session")["session"]["status"] == "active")
        # Still online and registered: its next frame is served, not refused.
        assert (await bob.request({"action": "ping"}, "pong"))["event"] == "pong"
        for peer in (bob, waiting):
            await peer.close()

    run_client(scenario)
