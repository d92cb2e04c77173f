"""Typing indicators and read receipts over real sockets against the local stack: typing reaches the other side
(and nobody while the robot has the chat), over-rate typing is answered rate_limited; a read reaches the sender
once, implies delivered, and history shows it after a reload."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from local.harness import Stack, agent_token, connect, run_client, visitor_token
from tests.e2e.im.test_ack_batch import chat

pytestmark = pytest.mark.e2e


def test_typing_goes_both_ways_and_never_to_the_robot(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        lone = await connect(http, stack, await visitor_token(http, stack.base), protocol=2)
        bot_sid = (await lone.request({"action": "hello"}, "welcome"))["session"]["session_id"]
        await lone.send({"action": "typing", "session_id": bot_sid, "state": "start"})  # the robot's: nobody

        vis, ag, sid, _ = await chat(http, stack, "alice")
        await vis.send({"action": "typing", "session_id": sid, "state": "start"})
        await ag.wait_for(lambda p: bool(p.by_event["typing"]))
        assert ag.by_event["typing"][0] == {"event": "typing", "session_id": sid, "state": "start",
                                            "sender_role": "visitor", "ttl_ms": 6000}
        await ag.send({"action": "typing", "session_id": sid, "state": "stop"})
        await vis.wait_for(lambda p: bool(p.by_event["typing"]))
        assert vis.by_event["typing"][0]["state"] == "stop"
        assert ag.by_event["typing"][0]["session_id"] != bot_sid and len(ag.by_event["typing"]) == 1
        # Twice the burst of 4 at once: however long the machine takes, the refill (one every 2 s) cannot keep up,
        # and only typing is refused, as rate_limited.
        for _ in range(8):
            await vis.send({"action": "typing", "session_id": sid, "state": "start"})
        await vis.wait_for(lambda p: any(e["code"] == "rate_limited" for e in p.by_event["error"]))
        assert {(e["action"], e["code"]) for e in vis.by_event["error"]} == {("typing", "rate_limited")}
        assert not lone.by_event["error"]

    run_client(scenario)


def test_read_reaches_the_sender_once_and_history_keeps_it(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        vis, ag, sid, _ = await chat(http, stack, "bob", visitor_acks=False)
        sent = [await ag.text(sid, f"line {i}") for i in range(3)]
        await vis.wait_for(lambda p: len({f["message"]["message_id"] for f in p.by_event["message"]}) == 3)
        ids = list(dict.fromkeys(f["message"]["message_id"] for f in vis.by_event["message"]))
        # Shown at once: one read instead of an ACK and a read. It delivers them too.
        await vis.send({"action": "read", "message_ids": ids})
        await ag.wait_for(lambda p: bool(p.by_event["read"]) and len(p.delivered()) == 3)
        [frame] = ag.by_event["read"]
        assert [m["client_msg_id"] for m in frame["messages"]] == sent
        await vis.send({"action": "read", "message_ids": ids})  # a repeat: nothing, nobody told again
        await asyncio.sleep(1.5)
        assert len(ag.by_event["read"]) == 1 and not vis.by_event["error"] and not ag.by_event["send_failed"]
        async with http.get(f"{stack.base}/api/sessions/{sid}/messages",
                            headers={"Authorization": f"Bearer {await agent_token(http, stack.base, 'bob')}"}) as res:
            page = await res.json()
        assert [m["read_at"] for m in page["messages"]] == [frame["read_at"]] * 3

    run_client(scenario)
