"""The web clients' ACKs in real headless Chromium: the visitor widget and the agent console (both ImClient)
connect with protocol 2, ACK a lone message at once and a burst in fewer frames than its lines, and ACK a
resumed backlog in one frame; the other side is a harness client over a real socket."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from playwright.sync_api import Browser, Page, WebSocket, expect

from local.harness import Peer, Stack, agent_token, connect, run_stack, visitor_token
from tests.e2e.web import test_pages_browser as pages

pytestmark = pytest.mark.e2e

browser = pages.browser  # one Chromium for the module
T = TypeVar("T")
N = 6


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A fresh stack per test, with the production ACK wait: a page's held ACKs must not race the first retry."""
    with run_stack(tmp_path, ack_wait_seconds=5, config_edit=pages.open_all_day) as running:
        yield running


def held_still(page: Page) -> None:
    """Stops the page's clock (its timers and performance.now()): what arrives now reaches the page at one moment,
    as a burst does on a quiet phone, however slowly a loaded test machine delivers it."""
    page.clock.pause_at(int(page.evaluate("Date.now()")) + 1)


def let_go(page: Page) -> None:
    """The page's clock runs again, past the ACK window first."""
    page.clock.run_for(500)
    page.clock.resume()


class Side:
    """The harness client on a background event loop, while the browser runs in the test's thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.http: aiohttp.ClientSession = self.run(self._open())
        self.peers: list[Peer] = []

    async def _open(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def peer(self, stack: Stack, token: str) -> Peer:
        async def go() -> Peer:
            found = await connect(self.http, stack, token, protocol=2)
            await found.request({"action": "hello"}, "welcome")
            return found

        self.peers.append(self.run(go()))
        return self.peers[-1]

    def wait(self, peer: Peer, predicate: Any) -> None:
        self.run(peer.wait_for(predicate, 20))

    def burst(self, peer: Peer, session_id: str, prefix: str) -> None:
        async def go() -> None:
            for i in range(N):
                await peer.text(session_id, f"{prefix} {i}")

        self.run(go())

    def close(self) -> None:
        for peer in self.peers:
            self.run(peer.close())
        self.run(self.http.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


def _frame(payload: Any) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(payload if isinstance(payload, str) else payload["payload"])
    return found


def record_sent(page: Page) -> tuple[list[str], list[dict[str, Any]]]:
    """The page's WebSocket URLs and every frame it sends, as they happen."""
    urls: list[str] = []
    sent: list[dict[str, Any]] = []

    def opened(ws: WebSocket) -> None:
        urls.append(ws.url)
        ws.on("framesent", lambda payload: sent.append(_frame(payload)))

    page.on("websocket", opened)
    return urls, sent


def acked(page: Page, sent: list[dict[str, Any]]) -> list[list[str]]:
    """The id lists of the page's ``ack`` frames so far (Playwright hands events over only inside its calls)."""
    page.wait_for_timeout(300)
    return [f.get("message_ids") or [f["message_id"]] for f in sent if f.get("action") == "ack"]


def test_the_widget_acks_a_burst_in_fewer_frames_and_its_resumed_backlog_in_one(stack: Stack,
                                                                                 browser: Browser) -> None:
    side = Side()
    try:
        alice = side.peer(stack, side.run(agent_token(side.http, stack.base, "alice")))
        context = browser.new_context(viewport={"width": 420, "height": 760})
        visitor = context.new_page()
        visitor.clock.install()
        urls, sent = record_sent(visitor)
        visitor.goto(f"{stack.base}/")
        expect(visitor.get_by_test_id("vis-conn")).to_have_text("open")
        assert "protocol=2" in urls[0]
        visitor.get_by_test_id("vis-talk").click()
        side.wait(alice, lambda p: bool(p.by_event["session"]))
        session_id = alice.by_event["session"][-1]["session"]["session_id"]

        held_still(visitor)
        side.burst(alice, session_id, "line")
        expect(visitor.locator("[data-testid=msg][data-mine='0']")).to_have_count(N)
        let_go(visitor)
        side.wait(alice, lambda p: len(p.delivered()) == N)
        lists = acked(visitor, sent)
        assert sorted(i for ids in lists for i in ids) == sorted(d["message_id"] for d in alice.delivered())
        assert len(lists) < N  # the lines that came within a window went in one frame
        assert len(alice.by_event["delivered"]) == len(lists)  # and came back as one `delivered` each

        # The visitor leaves; what alice writes meanwhile is kept, and ACKed in one frame on the way back.
        saved = context.storage_state()
        context.close()
        side.wait(alice, lambda p: bool(p.by_event["visitor_presence"]))
        side.burst(alice, session_id, "kept")
        side.wait(alice, lambda p: len(p.by_event["stored"]) == N)
        back = browser.new_context(storage_state=saved, viewport={"width": 420, "height": 760}).new_page()
        _, resent = record_sent(back)
        back.goto(f"{stack.base}/")
        expect(back.locator("[data-testid=msg][data-mine='0']")).to_have_count(2 * N)
        side.wait(alice, lambda p: len(p.delivered()) == 2 * N)
        assert [len(ids) for ids in acked(back, resent)] == [N]
        back.context.close()
    finally:
        side.close()


def test_the_console_acks_every_line_of_a_burst_with_protocol_2(stack: Stack, browser: Browser) -> None:
    side = Side()
    try:
        agent = browser.new_context(viewport={"width": 1280, "height": 760}).new_page()
        urls, sent = record_sent(agent)
        pages.sign_in(agent, stack, "alice")
        assert any("protocol=2" in url for url in urls)
        vera = side.peer(stack, side.run(visitor_token(side.http, stack.base, "Vera")))
        assigned = side.run(vera.request({"action": "request_agent"}, "session"))
        session_id = assigned["session"]["session_id"]
        side.burst(vera, session_id, "question")
        side.wait(vera, lambda p: len(p.delivered()) == N)
        lists = acked(agent, sent)
        assert sorted(i for ids in lists for i in ids) == sorted(d["message_id"] for d in vera.delivered())
        # Every line ACKed, and each `delivered` answers one ACK frame: it confirms ids of that frame only. How many
        # lines share a frame depends on how far apart they reach the page (within 100 ms): the console's ImClient
        # is the widget's, whose coalescing the test above checks with the page's clock held (here the console's
        # keep-alive would not survive a held clock). One `delivered` per ACK frame is the rule, but a frame may
        # come back as one per message: when the post of the combined frame fails, the sender's connections are
        # told message by message (ImService._tell_delivered_many); a loaded machine once showed such a split.
        answered = [{m["message_id"] for m in f.get("messages") or [f]} for f in vera.by_event["delivered"]]
        assert all(any(ids <= set(acks) for acks in lists) for ids in answered), (answered, lists)
        assert len(lists) <= len(answered) <= N
    finally:
        side.close()
