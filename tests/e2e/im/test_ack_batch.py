"""ACKs of several messages in one frame over real sockets against the local stack: a burst ACKed together is
answered with one `delivered`, the harness client coalesces what arrives within its window, a resumed
backlog is ACKed in one frame, and clients of protocol 1 that ACK one id at a time work as before."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from local.harness import Peer, Stack, agent_token, connect, run_client, visitor_token

pytestmark = pytest.mark.e2e

N = 5


async def chat(http: aiohttp.ClientSession, stack: Stack, agent: str, *, agent_protocol: int = 2,
               visitor_protocol: int = 2, visitor_acks: bool = True,
               visitor_window: float | None = 0.1) -> tuple[Peer, Peer, str, str]:
    """An agent and a visitor assigned to it; returns (visitor, agent, session id, visitor token)."""
    ag = await connect(http, stack, await agent_token(http, stack.base, agent), protocol=agent_protocol)
    await ag.request({"action": "hello"}, "welcome")
    token = await visitor_token(http, stack.base)
    vis = await connect(http, stack, token, lambda f: visitor_acks, protocol=visitor_protocol,
                        ack_window=visitor_window)
    session_id = (await vis.request({"action": "hello"}, "welcome"))["session"]["session_id"]
    assigned = await vis.request({"action": "request_agent"}, "session")
    assert assigned["session"]["agent_id"] == agent, assigned
    return vis, ag, session_id, token


def acks(peer: Peer) -> list[dict[str, Any]]:
    return [f for f in peer.sent if f["action"] == "ack"]


def received(peer: Peer, n: int) -> list[str]:
    ids = list(dict.fromkeys(f["message"]["message_id"] for f in peer.by_event["message"]))
    assert len(ids) == n, ids
    return ids


def test_a_burst_acked_in_one_frame_gets_one_delivered_for_all_of_it(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        vis, ag, sid, _ = await chat(http, stack, "alice", visitor_acks=False)
        sent = [await ag.text(sid, f"line {i}") for i in range(N)]
        await vis.wait_for(lambda p: len({f["message"]["message_id"] for f in p.by_event["message"]}) == N)
        await vis.ack_all(received(vis, N))
        await ag.wait_for(lambda p: len(p.delivered()) == N)
        [frame] = ag.by_event["delivered"]
        assert [m["client_msg_id"] for m in frame["messages"]] == sent
        assert not ag.by_event["send_failed"] and not vis.by_event["error"]
        await asyncio.sleep(1.5)  # past the first retry wait: nothing comes again
        assert len(vis.by_event["message"]) == N

    run_client(scenario)


def test_the_client_acks_at_once_when_idle_and_coalesces_a_burst(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        vis, ag, sid, _ = await chat(http, stack, "bob")
        await ag.text(sid, "alone")
        await ag.wait_for(lambda p: len(p.delivered()) == 1)
        assert acks(vis) == [{"action": "ack", "message_id": vis.by_event["message"][0]["message"]["message_id"]}]
        await asyncio.sleep(0.2)  # idle again
        for i in range(N):
            await ag.text(sid, f"line {i}")
        await ag.wait_for(lambda p: len(p.delivered()) == N + 1)
        burst = acks(vis)[1:]
        # The first of the burst at once, the ones that came within the window in one more frame (or two, if
        # the stack spread them over more than one window): fewer ACK frames, and as few deliveries, as lines.
        assert len(burst) < N and len(ag.by_event["delivered"]) == 1 + len(burst)
        covered = [i for f in burst for i in (f.get("message_ids") or [f["message_id"]])]
        assert sorted(covered) == sorted(received(vis, N + 1)[1:])

    run_client(scenario)


def test_a_resumed_backlog_is_acked_in_one_frame(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        vis, ag, sid, token = await chat(http, stack, "alice")
        await vis.close()
        await ag.wait_for(lambda p: any(f.get("state") in ("reconnecting", "offline")
                                        for f in p.by_event["visitor_presence"]))
        for i in range(N):
            await ag.text(sid, f"kept {i}")
        await ag.wait_for(lambda p: len(p.by_event["stored"]) == N)
        back = await connect(http, stack, token, protocol=2)
        await back.request({"action": "hello"}, "welcome")
        resumed = await back.request({"action": "resume", "session_id": sid, "after_seq": 0}, "resumed")
        owed = [m["message_id"] for m in resumed["messages"] if m["status"] in ("pending", "stored")]
        assert len(owed) == N
        await back.ack_all(owed)
        await ag.wait_for(lambda p: len(p.delivered()) == N)
        assert len(acks(back)) == 1 and len(ag.by_event["delivered"]) == 1

    run_client(scenario)


def test_clients_of_protocol_1_acking_one_id_at_a_time_work_as_before(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        vis, ag, sid, _ = await chat(http, stack, "bob", agent_protocol=1, visitor_protocol=1, visitor_window=None)
        sent = [await ag.text(sid, f"line {i}") for i in range(N)]
        await ag.wait_for(lambda p: len(p.by_event["delivered"]) == N)
        assert sorted(f["client_msg_id"] for f in ag.by_event["delivered"]) == sorted(sent)
        assert all("messages" not in f for f in ag.by_event["delivered"])
        assert all("message_id" in f and "message_ids" not in f for f in acks(vis)) and len(acks(vis)) == N
        # A new client ACKing a burst from an old one together: the old sender still gets one frame per message.
        late = await connect(http, stack, await agent_token(http, stack.base, "bob"), lambda f: False)
        await late.request({"action": "hello"}, "welcome")
        await ag.close()  # only the new console gets (and ACKs) the visitor's lines
        own = [await vis.text(sid, f"reply {i}") for i in range(N)]
        await late.wait_for(lambda p: len({f["message"]["message_id"] for f in p.by_event["message"]}) >= N)
        await late.ack_all(received(late, N))
        await vis.wait_for(lambda p: len(p.by_event["delivered"]) == N)
        assert sorted(f["client_msg_id"] for f in vis.by_event["delivered"]) == sorted(own)
        assert all("messages" not in f for f in vis.by_event["delivered"])

    run_client(scenario)
