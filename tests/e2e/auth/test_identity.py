"""A shop customer who signs in as "alice" stays a customer, over real WebSockets against the local stack."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import aiohttp
import jwt
import pytest

from local.harness import Stack, agent_token, connect, run_client, run_stack, visitor_token

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(tmp_path_factory.mktemp("state")) as running:
        yield running


def shop_token(stack: Stack, sub: str) -> str:
    """Signed as configuration.md tells a shop to, with the stack's visitor secret."""
    secret = (stack.state_dir / "visitor-token-secret").read_text().strip()
    now = int(time.time())
    return jwt.encode({"sub": sub, "typ": "visitor", "iss": "cs-visitor", "ch": "web", "iat": now, "exp": now + 600},
                      secret, algorithm="HS256")


def test_a_customer_named_alice_neither_reads_sends_receives_nor_ends_alice_s_chat(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        agent = await connect(http, stack, await agent_token(http, stack.base, "alice"))
        vera = await connect(http, stack, await visitor_token(http, stack.base))
        await vera.request({"action": "hello"}, "welcome")
        sid = (await vera.request({"action": "request_agent"}, "session"))["session"]["session_id"]
        mallory_token = shop_token(stack, "alice")
        mallory = await connect(http, stack, mallory_token)
        me = await mallory.request({"action": "hello"}, "welcome")
        assert (me["user"]["id"], me["user"]["role"]) == ("c:alice", "visitor")

        async with http.get(f"{stack.base}/api/sessions/{sid}/messages",
                            headers={"Authorization": f"Bearer {mallory_token}"}) as r:
            assert r.status == 403
        for frame in ({"action": "send", "session_id": sid, "client_msg_id": "m1", "type": "text",
                       "content": {"text": "this is alice"}},
                      {"action": "end_session", "session_id": sid}):
            refused = await mallory.request(frame, "error")
            assert refused["code"] == "forbidden", refused

        await vera.text(sid, "meant for alice")
        await agent.wait_for(lambda p: any(f["message"]["content"] == {"text": "meant for alice"}
                                           for f in p.by_event["message"]))
        await asyncio.sleep(0.3)  # a misdirected copy would have arrived with the agent's
        assert not mallory.by_event["message"]
        assert all(f["message"]["sender_id"] != "alice" for f in vera.by_event["message"])
        for peer in (agent, vera, mallory):
            await peer.close()

    run_client(scenario)
