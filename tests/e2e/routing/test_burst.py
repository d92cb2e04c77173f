"""A peak's burst over real sockets: 500 visitors ask one group for a person at the same moment. None gets an
error (transaction conflicts on the group's counters and agents are retried, never reported), no agent takes
more than its capacity, and the queue serves priority tiers first, each class in arrival order."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest

from local.harness import Peer, Stack, agent_token, connect, run_client, run_stack

pytestmark = pytest.mark.e2e

VISITORS = 500
VIPS = 50  # every tenth visitor
AGENTS = [f"load{i:02d}" for i in range(1, 27)]
FIRST_CAPACITY = 4  # 26 agents x 4 = 104 taken at once, 396 queue
LATER_CAPACITY = 20  # then three agents take 16 more each, from the head of the queue
LATECOMERS = 5


def one_big_group(documents: dict[str, Any]) -> None:
    # Customers of the vip tier stay in the general group, where its queue serves them first.
    documents["routing"]["rules"] = [r for r in documents["routing"]["rules"] if r["group"] != "vip"]
    general = next(g for g in documents["groups"]["groups"] if g["id"] == "general")
    general["members"] = AGENTS
    general["queue"]["max_waiting"] = 1000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state: Path = tmp_path_factory.mktemp("state")
    with run_stack(state, config_edit=one_big_group) as running:
        yield running


def shop_token(stack: Stack, customer: str, tier: str | None) -> str:
    """A visitor token as a shop's backend signs it (docs/configuration.md): the only kind that carries a tier."""
    now = int(time.time())
    claims = {"sub": customer, "typ": "visitor", "iss": "cs-visitor", "ch": "app", "name": customer,
              "iat": now, "exp": now + 3600, **({"tier": tier} if tier else {})}
    return jwt.encode(claims, (stack.state_dir / "visitor-token-secret").read_text().strip(), algorithm="HS256")


def _answer(frame: dict[str, Any]) -> bool:
    """An agent (an active session), a place in the queue, or a refusal (the waiting status comes before the place)."""
    if frame.get("event") == "session":
        return bool(frame["session"]["status"] == "active")
    return frame.get("event") in ("queue", "leave_message_offered", "error")


async def answer_to_request(peer: Peer) -> dict[str, Any]:
    start = len(peer.frames)
    await peer.send({"action": "request_agent"})
    await peer.wait_for(lambda p: any(_answer(f) for f in p.frames[start:]), 120)
    return next(f for f in peer.frames[start:] if _answer(f))


def assigned_to(peer: Peer) -> str | None:
    for frame in reversed(peer.by_event["session"]):
        if frame["session"]["status"] == "active":
            return str(frame["session"]["agent_id"])
    return None


def test_500_simultaneous_requests_to_one_group(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        agents = {}
        for name in AGENTS:
            agents[name] = await connect(http, stack, await agent_token(http, stack.base, name))
            await agents[name].request({"action": "set_status", "status": "online", "capacity": FIRST_CAPACITY},
                                       "status")
        tiers = ["vip" if i % 10 == 0 else None for i in range(VISITORS)]
        # Each socket's $connect opens its visitor's session: a client may ask for a person without a hello.
        visitors = await asyncio.gather(*(connect(http, stack, shop_token(stack, f"burst-{i}", tier))
                                          for i, tier in enumerate(tiers)))

        answers = await asyncio.gather(*(answer_to_request(v) for v in visitors))

        assert [a for a in answers if a["event"] not in ("session", "queue")] == []
        assert not any(v.by_event["error"] for v in visitors)
        served = Counter(a for v in visitors if (a := assigned_to(v)))
        assert sum(served.values()) == len(AGENTS) * FIRST_CAPACITY
        assert max(served.values()) <= FIRST_CAPACITY  # nobody over capacity, however the arrivals raced
        waiting = [v for v in visitors if assigned_to(v) is None]
        assert len(waiting) == VISITORS - len(AGENTS) * FIRST_CAPACITY

        # Latecomers, one after another: their arrival order is known.
        late = [await connect(http, stack, shop_token(stack, f"late-{i}-{secrets.token_hex(2)}", None))
                for i in range(LATECOMERS)]
        for peer in late:
            assert (await answer_to_request(peer))["event"] == "queue"

        # The next refresh (the stack's tick) gives every waiting visitor its exact place: VIPs first, each class
        # in arrival order, so the latecomers are last, in the order they came.
        queued = waiting + late
        seen = {id(p): len(p.by_event["queue"]) for p in queued}
        for peer in queued:
            await peer.wait_for(lambda p: len(p.by_event["queue"]) > seen[id(p)], 30)
        place = {id(p): p.by_event["queue"][-1]["position"] for p in queued}
        order = sorted(queued, key=lambda p: place[id(p)])
        assert [place[id(p)] for p in order] == list(range(1, len(queued) + 1))
        vip_peers = {id(v) for v, tier in zip(visitors, tiers, strict=True) if tier}
        classes = [id(p) in vip_peers for p in order]
        assert classes == sorted(classes, reverse=True) and any(classes)  # every waiting VIP before everyone else
        assert [id(p) for p in order[-LATECOMERS:]] == [id(p) for p in late]  # then arrival order

        # Slots open: the queue is served from its head, and still nobody goes over capacity.
        for name in AGENTS[:3]:
            await agents[name].request({"action": "set_status", "status": "online", "capacity": LATER_CAPACITY},
                                       "status")
        freed = 3 * (LATER_CAPACITY - FIRST_CAPACITY)
        for peer in order[:freed]:
            await peer.wait_for(lambda p: assigned_to(p) is not None, 30)
        assert not any(assigned_to(p) for p in order[freed:])
        assert Counter(assigned_to(v) for v in visitors + late if assigned_to(v)) == {
            name: LATER_CAPACITY if name in AGENTS[:3] else FIRST_CAPACITY for name in AGENTS}
        assert not any(p.by_event["error"] for p in visitors + late + list(agents.values()))
        for peer in [*visitors, *late, *agents.values()]:
            await peer.close()

    run_client(scenario)
