"""The robot, the hand-off and the SOP assistant over real sockets, on the demo knowledge base the local
stack loads at start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from local.harness import Peer, Stack, agent_token, connect, run_client, run_stack, visitor_token

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state: Path = tmp_path_factory.mktemp("state")
    with run_stack(state) as running:
        yield running


def robot_replies(peer: Peer) -> list[dict[str, Any]]:
    return [f["message"] for f in peer.by_event["message"] if f["message"]["sender_role"] == "robot"]


async def say(peer: Peer, session_id: str, text: str) -> None:
    await peer.text(session_id, text)


def test_robot_answers_hands_off_and_the_agent_gets_suggestions(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        alice = await connect(http, stack, await agent_token(http, stack.base, "alice"))
        await alice.request({"action": "hello"}, "welcome")
        vis = await connect(http, stack, await visitor_token(http, stack.base))
        welcome = await vis.request({"action": "hello"}, "welcome")
        session_id = welcome["session"]["session_id"]
        robot = welcome["robot"]
        assert robot["greeting"] and len(robot["suggested_questions"]) == 4

        await say(vis, session_id, "How long does delivery take within mainland China?")
        await vis.wait_for(lambda p: len(robot_replies(p)) == 1)
        answer = robot_replies(vis)[0]["content"]
        assert answer["faq_id"] == "shipping-delivery-time-mainland", answer

        await say(vis, session_id, "我要转人工")
        await vis.wait_for(lambda p: any(f["session"]["status"] == "active" for f in p.by_event["session"]))
        assert robot_replies(vis)[-1]["content"]["handoff_reason"] == "keyword"
        await alice.wait_for(lambda p: any(f["session"]["session_id"] == session_id for f in p.by_event["session"]))

        await say(vis, session_id, "Can I pay with Alipay?")
        # The suggestions ride in the agent's message frame, or follow it when the search was slow.
        await alice.wait_for(lambda p: any(f.get("suggestions") for f in p.by_event["message"])
                             or bool(p.by_event["suggestions"]))
        pushed = next((f["suggestions"] for f in alice.by_event["message"] if f.get("suggestions")), None) \
            or alice.by_event["suggestions"][-1]
        assert pushed["session_id"] == session_id and pushed["query"] == "Can I pay with Alipay?"
        top = pushed["suggestions"][0]
        assert top["category"] == "payment" and top["answer"] and top["why"]["matched"], top
        await alice.text(session_id, top["answer"])  # sent in one click from the console
        await vis.wait_for(lambda p: any(f["message"]["content"].get("text") == top["answer"]
                                         for f in p.by_event["message"]))
        assert len(robot_replies(vis)) == 2  # silent since the hand-off
        for peer in (alice, vis):
            await peer.close()

    run_client(scenario)


def test_robot_management_over_rest(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        admin = {"Authorization": f"Bearer {await agent_token(http, stack.base, 'admin')}"}
        agent = {"Authorization": f"Bearer {await agent_token(http, stack.base, 'alice')}"}
        # A topic the demo knowledge base has nothing on, so the new FAQ is the only match.
        faq = {"faq_id": "demo/telescope-lens", "question": "Do you sell replacement lenses for telescopes?",
               "similar": ["spare eyepiece for my telescope"], "answer": "Yes: see Optics > Telescope lenses.",
               "category": "products"}
        async with http.post(f"{stack.base}/api/faqs", json=faq, headers=admin) as r:
            assert r.status == 201, await r.text()
        async with http.post(f"{stack.base}/api/faqs", json=faq, headers=agent) as r:
            assert r.status == 403
        # An id with a slash is one path parameter, as on API Gateway.
        async with http.get(f"{stack.base}/api/faqs/demo%2Ftelescope-lens", headers=agent) as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["question"] == "Do you sell replacement lenses for telescopes?"
        async with http.post(f"{stack.base}/api/robot/try", json={"query": "can I buy a new lens for my telescope?"},
                             headers=agent) as r:
            assert r.status == 200, await r.text()
            tried = await r.json()
        assert tried["hits"][0]["faq_id"] == "demo/telescope-lens", tried

    run_client(scenario)
