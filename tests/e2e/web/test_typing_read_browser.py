"""Typing indicators and read receipts in real headless Chromium, the widget and the console face to face: each
shows the other side typing, typing goes out throttled (not one frame per key), and the console shows "read" once
the widget's window has shown the agent's message (and again after a reload, from history)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from local.harness import Stack, agent_token
from tests.e2e.web import test_pages_browser as pages
from tests.e2e.web.test_acks_browser import Side, record_sent

pytestmark = pytest.mark.e2e

browser = pages.browser  # one Chromium for the module
stack = pages.stack      # a fresh stack per test


def typing_frames(page: Page, sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    page.wait_for_timeout(200)  # Playwright hands frame events over only inside its calls
    return [f for f in sent if f.get("action") == "typing"]


def test_widget_and_console_show_each_other_typing_and_the_console_shows_read(stack: Stack,
                                                                              browser: Browser) -> None:
    agent = browser.new_context(viewport={"width": 1280, "height": 760}).new_page()
    _, agent_sent = record_sent(agent)
    pages.sign_in(agent, stack, "alice")
    visitor = browser.new_context(viewport={"width": 420, "height": 760}).new_page()
    _, visitor_sent = record_sent(visitor)
    visitor.goto(f"{stack.base}/")
    expect(visitor.get_by_test_id("vis-conn")).to_have_text("open")
    visitor.get_by_test_id("vis-talk").click()
    expect(agent.get_by_test_id("con-input")).to_be_enabled()

    # The agent types: the widget shows it, and the console sent one frame for many keys.
    agent.get_by_test_id("con-input").press_sequentially("Let me check your order", delay=20)
    expect(visitor.get_by_test_id("vis-typing")).to_be_visible()
    expect(visitor.get_by_test_id("vis-typing")).to_have_text("The agent is typing…")
    assert [f["state"] for f in typing_frames(agent, agent_sent)] == ["start"]
    agent.get_by_test_id("con-input").press("Enter")
    expect(visitor.locator("[data-testid=msg][data-mine='0']")).to_have_count(1)
    expect(visitor.get_by_test_id("vis-typing")).to_be_hidden()  # the line they were typing has come

    # The widget's window shows the message: the console marks it read.
    mine = agent.locator("[data-testid=msg][data-mine='1']")
    expect(mine).to_have_attribute("data-status", "read")
    expect(mine.locator(".mark")).to_have_text("✓✓ read")
    reads = [f for f in visitor_sent if f.get("action") == "read"]
    assert len(reads) == 1 and len(reads[0]["message_ids"]) == 1

    # The visitor types, then clears the box: "typing…" on the console, then gone at the `stop`.
    visitor.get_by_test_id("vis-input").press_sequentially("Where is", delay=20)
    expect(agent.get_by_test_id("con-typing")).to_have_text("The visitor is typing…")
    visitor.get_by_test_id("vis-input").fill("")
    visitor.get_by_test_id("vis-input").dispatch_event("input")
    expect(agent.get_by_test_id("con-typing")).to_be_hidden()
    assert [f["state"] for f in typing_frames(visitor, visitor_sent)] == ["start", "stop"]

    # A reloaded console shows the read from history.
    agent.reload()
    expect(agent.locator("[data-testid=msg][data-mine='1']")).to_have_attribute("data-status", "read")


def test_a_hidden_widget_does_not_mark_read_until_shown(stack: Stack, browser: Browser) -> None:
    side = Side()
    try:
        alice = side.peer(stack, side.run(agent_token(side.http, stack.base, "alice")))
        visitor = browser.new_context(viewport={"width": 420, "height": 760}).new_page()
        _, sent = record_sent(visitor)
        visitor.goto(f"{stack.base}/")
        expect(visitor.get_by_test_id("vis-conn")).to_have_text("open")
        # The page is in a background tab: visibilityState says hidden.
        visitor.evaluate("""() => {
            Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
        }""")
        visitor.get_by_test_id("vis-talk").click()
        side.wait(alice, lambda p: bool(p.by_event["session"]))
        session_id = alice.by_event["session"][-1]["session"]["session_id"]
        side.run(alice.text(session_id, "Hello"))
        expect(visitor.locator("[data-testid=msg][data-mine='0']")).to_have_count(1)
        side.wait(alice, lambda p: len(p.delivered()) == 1)  # ACKed on arrival all the same
        visitor.wait_for_timeout(600)
        assert not [f for f in sent if f.get("action") == "read"] and not alice.by_event["read"]
        visitor.evaluate("""() => {
            Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'visible'});
            document.dispatchEvent(new Event('visibilitychange'));
        }""")
        side.wait(alice, lambda p: bool(p.by_event["read"]))
        assert alice.by_event["read"][0]["messages"][0]["session_id"] == session_id
    finally:
        side.close()
