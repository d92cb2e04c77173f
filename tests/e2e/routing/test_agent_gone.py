"""An agent whose console closes, over real sockets on the real lifecycle state machine: the visitor's
messages are kept for it, and once its grace period ends the session goes back to the queue and on to
the next agent, with the kept message in its history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chalicelib.routing.service import AGENT_GONE_NOTE, AGENT_GONE_NOTICE
from local.harness import Stack, agent_token, connect, run_client, run_stack

pytestmark = pytest.mark.e2e


def short_agent_grace(documents: dict[str, Any]) -> None:
    documents["groups"]["sessions"] = {"agent_grace_seconds": 2}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state: Path = tmp_path_factory.mktemp("state")
    with run_stack(state, config_edit=short_agent_grace) as running:
        yield running


def test_an_agent_gone_past_its_grace_period_hands_the_session_to_the_next_one(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        first = await connect(http, stack, await agent_token(http, stack.base, "load02"))
        await first.request({"action": "hello"}, "welcome")
        async with http.post(f"{stack.base}/api/visitors/token", json={"channel": "web", "name": "Left"}) as r:
            visitor = await connect(http, stack, (await r.json())["token"])
        await visitor.request({"action": "hello"}, "welcome")
        assigned = (await visitor.request({"action": "request_agent"}, "session"))["session"]
        assert (assigned["status"], assigned["agent_id"]) == ("active", "load02")
        session_id = assigned["session_id"]

        await first.close()  # the console is gone
        await visitor.send({"action": "send", "session_id": session_id, "client_msg_id": "c-1", "type": "text",
                            "content": {"text": "are you still there?"}})
        await visitor.wait_for(lambda p: bool(p.by_event["stored"]), 10)
        assert not visitor.by_event["send_failed"]
        # The grace period ends: back to the queue, and the visitor is told why.
        await visitor.wait_for(lambda p: any(f.get("notice") == AGENT_GONE_NOTICE for f in p.by_event["session"]),
                               20)
        told = next(f for f in visitor.by_event["session"] if f.get("notice") == AGENT_GONE_NOTICE)
        assert told["session"]["status"] == "waiting"

        second = await connect(http, stack, await agent_token(http, stack.base, "load03"))
        await second.request({"action": "hello"}, "welcome")
        await second.wait_for(lambda p: any(f["session"]["session_id"] == session_id
                                            and f["session"]["status"] == "active" for f in p.by_event["session"]), 10)
        handed = [f for f in second.by_event["session"] if f["session"]["session_id"] == session_id][-1]["session"]
        assert (handed["agent_id"], handed["transfer"]) == ("load03", {"from": "load02", "note": AGENT_GONE_NOTE})
        # The kept message is the new agent's to read and ACK; the visitor then sees it delivered.
        resumed = await second.request({"action": "resume", "session_id": session_id, "after_seq": 0}, "resumed")
        assert [m["content"]["text"] for m in resumed["messages"]] == ["are you still there?"]
        await second.send({"action": "ack", "message_id": resumed["messages"][0]["message_id"]})
        await visitor.wait_for(lambda p: bool(p.by_event["delivered"]), 10)
        await second.send({"action": "end_session", "session_id": session_id})
        for peer in (second, visitor):
            await peer.close()

    run_client(scenario)
