"""Local state survives a restart of `python -m local`, and Ctrl-C stops it cleanly."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from local.harness import ForkedStack, Stack, agent_token, connect, run_stack, visitor_token

pytestmark = pytest.mark.e2e


async def conversations(http: aiohttp.ClientSession, stack: Stack, expected: int) -> int:
    """The reports' count of ended conversations today, once it is ``expected`` (the stream is read every half
    second), else what it is after a few seconds."""
    token = await agent_token(http, stack.base, "admin")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    count = -1
    for _ in range(50):
        async with http.get(f"{stack.base}/api/reports", params={"from": today, "to": today},
                            headers={"Authorization": f"Bearer {token}"}) as r:
            count = int((await r.json())["total"]["conversations"])
        if count == expected:
            break
        await asyncio.sleep(0.1)
    return count


def test_chat_history_and_tokens_survive_a_restart(tmp_path: Path) -> None:
    async def before(stack: Stack) -> tuple[str, str, str]:
        async with aiohttp.ClientSession() as http:
            atoken = await agent_token(http, stack.base)
            agent = await connect(http, stack, atoken)
            vtoken = await visitor_token(http, stack.base)
            visitor = await connect(http, stack, vtoken)
            sid = (await visitor.request({"action": "hello"}, "welcome"))["session"]["session_id"]
            await visitor.request({"action": "request_agent"}, "session")
            await visitor.text(sid, "before the restart")
            await visitor.wait_for(lambda p: bool(p.by_event["delivered"]))
            # Another visitor ends its robot chat: one conversation in the reports.
            robot = await connect(http, stack, await visitor_token(http, stack.base, "Rob"))
            robot_sid = (await robot.request({"action": "hello"}, "welcome"))["session"]["session_id"]
            await robot.request({"action": "end_session", "session_id": robot_sid}, "session")
            assert await conversations(http, stack, 1) == 1
            await robot.close()
            await visitor.close()
            await agent.close()
            return vtoken, atoken, sid

    async def after(stack: Stack, vtoken: str, atoken: str, sid: str) -> None:
        async with aiohttp.ClientSession() as http:
            visitor = await connect(http, stack, vtoken)  # same token: the secret was kept
            welcome = await visitor.request({"action": "hello"}, "welcome")
            assert welcome["session"]["session_id"] == sid
            agent = await connect(http, stack, atoken)  # same agent token: the signing key was kept
            agent_welcome = await agent.request({"action": "hello"}, "welcome")
            assert [s["session_id"] for s in agent_welcome["sessions"]] == [sid]
            async with http.get(f"{stack.base}/api/sessions/{sid}/messages",
                                headers={"Authorization": f"Bearer {vtoken}"}) as r:
                assert [m["content"]["text"] for m in (await r.json())["messages"]] == ["before the restart"]
            await visitor.text(sid, "after the restart")
            await visitor.wait_for(lambda p: bool(p.by_event["delivered"]))
            assert [f["seq"] for f in visitor.by_event["delivered"]] == [2]
            # Restoring the state wrote every session into the stream again: none of it counted twice, and the
            # chat that ends now is counted.
            # (The stream has been read every half second since the start: a recount would show by now.)
            assert await conversations(http, stack, 1) == 1
            await agent.request({"action": "resolve", "session_id": sid}, "session")
            assert await conversations(http, stack, 2) == 2
            await visitor.close()
            await agent.close()

    with run_stack(tmp_path, clean_stop=True) as first:
        vtoken, atoken, sid = asyncio.run(before(first))
    assert first.process.returncode == 0, "".join(first.output)
    assert any("items saved" in line for line in first.output)
    assert (tmp_path / "snapshot.json").exists()
    with run_stack(tmp_path) as second:
        asyncio.run(after(second, vtoken, atoken, sid))


def test_idle_connections_are_closed_and_the_heartbeat_keeps_one_open(tmp_path: Path) -> None:
    async def scenario(stack: Stack) -> None:
        async with aiohttp.ClientSession() as http:
            silent = await connect(http, stack, await visitor_token(http, stack.base))
            chatty = await connect(http, stack, await visitor_token(http, stack.base))
            for _ in range(8):  # 4 s of pings every 0.5 s, against a 2 s idle limit
                await chatty.request({"action": "ping"}, "pong")
                await asyncio.sleep(0.5)
            assert silent.ws.closed
            assert not chatty.ws.closed
            await chatty.close()

    with run_stack(tmp_path, extra_env={"LOCAL_WS_IDLE_SECONDS": "2"}) as stack:
        asyncio.run(scenario(stack))


def test_fresh_stacks_are_forks_with_secrets_and_state_of_their_own(tmp_path: Path) -> None:
    """Fresh stacks are forked from one prepared process (local/zygote.py): each still has its own state
    folder, visitor token secret and sign-in key, and nothing written in one is seen by another."""
    async def scenario(one: Stack, two: Stack) -> None:
        async with aiohttp.ClientSession() as http:
            vtoken, atoken = await visitor_token(http, one.base), await agent_token(http, one.base)
            for token in (vtoken, atoken):
                async with http.get(f"{two.base}/api/sessions", headers={"Authorization": f"Bearer {token}"}) as r:
                    assert r.status == 401, await r.text()
            ticket = {"subject": "only in one", "customer": {"name": "Wu"}, "group_id": "general"}
            async with http.post(f"{one.base}/api/tickets", headers={"Authorization": f"Bearer {atoken}"},
                                 json=ticket) as r:
                assert r.status == 201, await r.text()
            for stack, count in ((one, 1), (two, 0)):
                token = await agent_token(http, stack.base)
                async with http.get(f"{stack.base}/api/tickets",
                                    headers={"Authorization": f"Bearer {token}"}) as r:
                    assert len((await r.json())["tickets"]) == count

    with run_stack(tmp_path / "one") as one, run_stack(tmp_path / "two") as two:
        assert isinstance(one.process, ForkedStack) and isinstance(two.process, ForkedStack)
        asyncio.run(scenario(one, two))
    assert {p.name for p in (tmp_path / "one").iterdir()} >= {"journal-0.log", "visitor-token-secret"}
