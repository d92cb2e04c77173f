"""Names and starting again over real sockets against the local stack: the agent's display name on the session
and its messages, the visitor's name on its messages to the agent, and a visitor whose chat was resolved
starting another on the same socket (new_session), rating the first, the agent told of the rating at once and
the visitor listing it among its earlier chats over REST."""

from __future__ import annotations

import aiohttp
import pytest

from local.harness import Stack, run_client
from tests.e2e.sessions.test_lifecycle import agent, served, stack, visitor

pytestmark = pytest.mark.e2e

__all__ = ["stack"]


def test_names_and_a_new_chat_on_the_same_socket(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        bob, _ = await agent(http, stack, "bob")
        await bob.request({"action": "set_status", "status": "busy"}, "status")
        alice, _ = await agent(http, stack, "alice")
        mei, mei_token = await visitor(http, stack, "Mei Lin")
        first = await served(mei)
        assert mei.by_event["session"][-1]["session"]["agent_name"] == "Alice Chen"
        await alice.text(first, "您好，我是 Alice")
        await mei.wait_for(lambda p: any(f["message"]["sender_role"] == "agent" for f in p.by_event["message"]))
        said = next(f["message"] for f in mei.by_event["message"] if f["message"]["sender_role"] == "agent")
        assert said["sender_name"] == "Alice Chen"
        await mei.text(first, "Where is my parcel?")
        await alice.wait_for(lambda p: any(f["message"]["sender_role"] == "visitor" for f in p.by_event["message"]))
        heard = next(f["message"] for f in alice.by_event["message"] if f["message"]["sender_role"] == "visitor")
        assert heard["sender_name"] == "Mei Lin"

        await alice.request({"action": "resolve", "session_id": first}, "session")
        await mei.wait_for(lambda p: any(f["session"]["status"] == "closed" for f in p.by_event["session"]))
        welcome = await mei.request({"action": "new_session"}, "welcome")
        second = welcome["session"]["session_id"]
        assert second != first and welcome["session"]["status"] == "bot" and welcome["robot"]["greeting"]
        rated = await mei.request({"action": "rate", "session_id": first, "stars": 5, "comment": "谢谢"}, "rated")
        assert rated["stars"] == 5
        await alice.wait_for(lambda p: any(f["session"]["session_id"] == first and (f["session"]["survey"] or {})
                                           .get("status") == "answered" for f in p.by_event["session"]))
        told = [f["session"] for f in alice.by_event["session"] if f["session"]["session_id"] == first][-1]
        assert (told["survey"]["stars"], told["survey"]["comment"]) == (5, "谢谢")
        headers = {"Authorization": f"Bearer {mei_token}"}
        async with http.get(f"{stack.base}/api/sessions?status=closed", headers=headers) as r:
            assert r.status == 200, await r.text()
            earlier = (await r.json())["sessions"]
        assert [s["session_id"] for s in earlier] == [first]
        assert earlier[0]["survey"]["comment"] == "谢谢"
        await mei.text(second, "one more thing")  # the new chat takes messages on the same socket
        await mei.wait_for(lambda p: any(d["client_msg_id"] for d in p.delivered()
                                         if d.get("session_id") == second))

    run_client(scenario)
