"""Whatever the local stack acknowledged survives ``kill -9`` of its process group mid-conversation, and the
chat resumes where it was: no message lost, none stored twice, no message id ever given to another message."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from local.harness import Peer, Stack, agent_token, connect, run_stack, visitor_token
from tests.e2e.im.test_im import history

pytestmark = pytest.mark.e2e

PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4
NEW_FAQ = {"faq_id": "demo/crash-safe", "question": "Do you sell replacement lenses for telescopes?",
           "answer": "Yes: see Optics > Telescope lenses.", "category": "products"}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _acknowledged_writes(stack: Stack) -> dict[str, Any]:
    """A chat, a left message, a ticket with a comment, a new FAQ and greeting, a photo: every one answered."""
    async with aiohttp.ClientSession() as http:
        alice = await agent_token(http, stack.base)
        admin = await agent_token(http, stack.base, "admin")
        # The agent takes the chat but never ACKs the last message: it is pending when the stack dies.
        agent = await connect(http, stack, alice, should_ack=lambda f: f["message"]["content"].get("text") != "unacked")
        vtoken = await visitor_token(http, stack.base)
        visitor = await connect(http, stack, vtoken)
        sid = (await visitor.request({"action": "hello"}, "welcome"))["session"]["session_id"]
        assert (await visitor.request({"action": "request_agent"}, "session"))["session"]["status"] == "active"
        for n in (1, 2, 3):
            await visitor.text(sid, f"message {n}", client_msg_id=f"cm-{n}")
        await visitor.wait_for(lambda p: len(p.by_event["delivered"]) == 3)
        await agent.send({"action": "send", "session_id": sid, "client_msg_id": "agent-1", "type": "text",
                          "content": {"text": "hello from alice"}})
        await agent.wait_for(lambda p: bool(p.by_event["delivered"]))
        await visitor.text(sid, "unacked", client_msg_id="cm-4")
        await agent.wait_for(lambda p: any(f["message"]["content"].get("text") == "unacked"
                                           for f in p.by_event["message"]))

        other = await connect(http, stack, await visitor_token(http, stack.base, "Lin"))
        left = await other.request({"action": "leave_message", "text": "请给我回电话", "contact": "138 0000 0000"},
                                   "message_left")
        assert "message_id" in left, left

        async with http.post(f"{stack.base}/api/tickets", headers=_bearer(alice),
                             json={"subject": "Broken strap", "session_id": sid}) as r:
            assert r.status == 201, await r.text()
            ticket = await r.json()
        async with http.post(f"{stack.base}/api/tickets/{ticket['ticket_id']}/comments", headers=_bearer(alice),
                             json={"text": "courier called"}) as r:
            assert r.status == 201, await r.text()
        async with http.post(f"{stack.base}/api/faqs", json=NEW_FAQ, headers=_bearer(admin)) as r:
            assert r.status == 201, await r.text()
        async with http.put(f"{stack.base}/api/robot/settings", json={"greeting": "您好！有什么可以帮您？"},
                            headers=_bearer(admin)) as r:
            assert r.status == 200, await r.text()
        async with http.post(f"{stack.base}/api/uploads", data=PHOTO,
                             headers={**_bearer(vtoken), "Content-Type": "image/jpeg"}) as r:
            assert r.status == 201, await r.text()
            photo_path = (await r.json())["path"]
        messages = await history(http, stack, vtoken, sid)
        # The sockets stay open: the stack dies under them, mid-conversation.
        return {"alice": alice, "admin": admin, "vtoken": vtoken, "sid": sid, "history": messages,
                "left": left, "ticket": ticket, "photo": photo_path}


async def _everything_is_back(stack: Stack, before: dict[str, Any]) -> None:
    sid, vtoken, alice = before["sid"], before["vtoken"], before["alice"]
    async with aiohttp.ClientSession() as http:
        # Delivered messages keep their ids and sequence numbers; the unACKed one (history leaves pending
        # ones out) is now kept for its recipient, under the number it was sent with.
        after = await history(http, stack, vtoken, sid)
        assert [(m["message_id"], m["seq"], m["content"]["text"]) for m in after[:4]] == [
            (m["message_id"], m["seq"], m["content"]["text"]) for m in before["history"]]
        assert [m["status"] for m in after] == ["delivered"] * 4 + ["stored"]
        assert (after[4]["seq"], after[4]["content"]["text"]) == (5, "unacked")

        visitor = await connect(http, stack, vtoken)
        welcome = await visitor.request({"action": "hello"}, "welcome")
        assert welcome["session"]["session_id"] == sid  # the same chat, not a new one
        # A resend of an acknowledged client id is the same message, not a new one.
        await visitor.text(sid, "message 2", client_msg_id="cm-2")
        await visitor.wait_for(lambda p: bool(p.by_event["delivered"]) or bool(p.by_event["stored"]))
        resent = (visitor.by_event["delivered"] or visitor.by_event["stored"])[0]
        assert resent["message_id"] == before["history"][1]["message_id"]

        agent = await connect(http, stack, alice)
        await agent.request({"action": "hello"}, "welcome")
        resumed = await agent.request({"action": "resume", "session_id": sid, "after_seq": 0}, "resumed")
        assert [m["content"]["text"] for m in resumed["messages"]][-1] == "unacked"
        kept = after[4]["message_id"]  # the agent's ACK of the kept one tells the visitor it was delivered
        await agent.send({"action": "ack", "message_id": kept})
        await visitor.wait_for(lambda p: any(f["message_id"] == kept for f in p.by_event["delivered"]))

        # The chat goes on: the next message takes the next number, never one handed out before the crash.
        await visitor.text(sid, "after the crash", client_msg_id="cm-5")
        await _wait_for_text(agent, "after the crash")
        # History shows it once the agent's ACK has landed (it leaves pending messages out).
        await visitor.wait_for(lambda p: any(f.get("client_msg_id") == "cm-5" for f in p.by_event["delivered"]))
        new = [m for m in await history(http, stack, vtoken, sid) if m["content"]["text"] == "after the crash"]
        assert len(new) == 1 and new[0]["seq"] > max(m["seq"] for m in after)
        assert new[0]["message_id"] not in {m["message_id"] for m in after}

        async with http.get(f"{stack.base}/api/tickets/{before['ticket']['ticket_id']}",
                            headers=_bearer(alice)) as r:
            assert r.status == 200, await r.text()
            ticket = await r.json()
        assert [c["text"] for c in ticket["comments"]] == ["courier called"]
        async with http.get(f"{stack.base}/api/left-messages", headers=_bearer(alice)) as r:
            left = (await r.json())["left_messages"]
        assert [m["text"] for m in left if m["ticket_id"] == before["left"]["message_id"]] == ["请给我回电话"]
        admin = _bearer(before["admin"])
        async with http.get(f"{stack.base}/api/faqs/demo%2Fcrash-safe", headers=admin) as r:
            assert r.status == 200, await r.text()
        async with http.post(f"{stack.base}/api/robot/try", json={"query": "replacement lenses for telescopes"},
                             headers=admin) as r:
            assert (await r.json())["hits"][0]["faq_id"] == "demo/crash-safe"  # indexed again at start
        async with http.get(f"{stack.base}/api/robot/settings", headers=admin) as r:
            assert (await r.json())["greeting"] == "您好！有什么可以帮您？"
        async with http.get(stack.base + before["photo"]) as r:
            assert r.status == 200
            assert await r.read() == PHOTO
        await visitor.close()
        await agent.close()


async def _wait_for_text(peer: Peer, text: str) -> None:
    await peer.wait_for(lambda p: any(f["message"]["content"].get("text") == text for f in p.by_event["message"]))


def test_kill_9_mid_conversation_loses_nothing_acknowledged(tmp_path: Path) -> None:
    with run_stack(tmp_path) as first:
        before = asyncio.run(_acknowledged_writes(first))
        first.crash()
    assert not any("items saved" in line for line in first.output)  # no clean stop ran
    journals = list(tmp_path.glob("journal-*.log"))
    assert len(journals) == 1 and journals[0].stat().st_size > 0
    with run_stack(tmp_path) as second:
        assert any("journalled writes restored" in line for line in second.output), "".join(second.output)
        asyncio.run(_everything_is_back(second, before))

