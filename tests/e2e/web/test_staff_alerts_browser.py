"""The staff pages' alerts in real headless Chromium against the local stack: desktop notifications asked for from
the console's own prompt and shown while it is hidden, a banner while the connection is down, and the wait counted
from the visitor's request."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, WebSocketRoute, expect

from local.harness import Stack
from tests.e2e.web import test_console_browser as console
from tests.e2e.web import test_pages_browser as pages

pytestmark = pytest.mark.e2e

browser = pages.browser  # one Chromium for the module
stack = pages.stack      # a fresh stack per test: no agent of another test lingers

# The page's Notification observed: the permission starts as a browser that has not been asked (then as granted,
# once granted on this origin), requestPermission is counted and passed to the browser's own (the context grants
# it), and every notification is recorded instead of drawn. document.hidden is the test's to set.
OBSERVED_NOTIFICATIONS = """(() => {
  const real = window.Notification;
  let permission = localStorage.getItem("test.permission") || "default";
  const shown = [];
  let asked = 0;
  class Observed {
    static get permission() { return permission; }
    static async requestPermission() {
      asked += 1;
      permission = await real.requestPermission();
      localStorage.setItem("test.permission", permission);
      return permission;
    }
    constructor(title, options = {}) {
      Object.assign(this, { title, body: options.body, tag: options.tag, closed: false, onclick: null });
      shown.push(this);
    }
    close() { this.closed = true; }
  }
  window.Notification = Observed;
  window.__shown = shown;
  window.__asked = () => asked;
  let hidden = false;
  Object.defineProperty(Document.prototype, "hidden", { get: () => hidden, configurable: true });
  window.__hide = (on) => { hidden = on; document.dispatchEvent(new Event("visibilitychange")); };
})()"""


def agent_context(browser: Browser, stack: Stack) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.grant_permissions(["notifications"], origin=stack.base)
    context.add_init_script(OBSERVED_NOTIFICATIONS)
    return context


def shown(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        "window.__shown.map((n) => ({title: n.title, body: n.body, tag: n.tag}))")
    return found


def says(visitor: Page, text: str) -> None:
    visitor.get_by_test_id("vis-input").fill(text)
    visitor.get_by_test_id("vis-send").click()
    expect(visitor.locator("[data-testid=msg][data-mine='1']").last).to_have_attribute(
        "data-status", re.compile("delivered|read"))


def test_desktop_notifications_are_asked_for_by_the_agent_and_shown_while_the_console_is_hidden(
        stack: Stack, browser: Browser) -> None:
    agent = agent_context(browser, stack).new_page()
    pages.sign_in(agent, stack, "alice")

    # Nothing is asked on load: the console's own prompt asks, and the browser is asked once it is accepted.
    ask = agent.get_by_test_id("notify-ask")
    expect(ask).to_be_visible()
    expect(ask).to_contain_text("desktop notification")
    expect(agent.get_by_test_id("notify")).to_be_hidden()
    assert agent.evaluate("window.__asked()") == 0
    agent.get_by_test_id("notify-yes").click()
    expect(ask).to_be_hidden()
    expect(agent.get_by_test_id("notify")).to_have_text("Desktop alerts on")
    assert agent.evaluate("window.__asked()") == 1

    # The choice is remembered: no prompt and no question after a reload.
    agent.reload()
    expect(agent.locator("#conn")).to_have_text("open")
    expect(agent.get_by_test_id("notify")).to_have_text("Desktop alerts on")
    expect(ask).to_be_hidden()
    assert agent.evaluate("window.__asked()") == 0

    # While the console is in view, a new chat makes no notification (the list, the sound and the title tell).
    mei = console.open_widget(browser, stack, "?name=Mei%20Lin")
    mei.get_by_test_id("vis-talk").click()
    expect(agent.get_by_test_id("chat-title")).to_have_text("Mei Lin")
    assert shown(agent) == []

    # Hidden: a new chat and each visitor message are notified, one notification per chat (its tag).
    agent.evaluate("window.__hide(true)")
    wang = console.open_widget(browser, stack, "?name=Wang%20Fang")
    wang.get_by_test_id("vis-talk").click()
    expect(agent.locator("[data-testid=session-item]", has_text="Wang Fang")).to_be_visible()
    agent.wait_for_function("window.__shown.length === 1")
    (new_chat,) = shown(agent)
    assert (new_chat["title"], new_chat["body"]) == ("New chat: Wang Fang", "The visitor is waiting for your reply.")
    says(wang, "Where is my parcel?")
    agent.wait_for_function("window.__shown.length === 2")
    assert shown(agent)[1] == {"title": "Wang Fang wrote", "body": "Where is my parcel?", "tag": new_chat["tag"]}
    says(mei, "Hello again")
    agent.wait_for_function("window.__shown.length === 3")
    assert shown(agent)[2]["title"] == "Mei Lin wrote" and shown(agent)[2]["tag"] != new_chat["tag"]

    # Clicking Wang Fang's notification brings the console to that chat.
    expect(agent.get_by_test_id("chat-title")).to_have_text("Mei Lin")
    agent.evaluate("window.__hide(false); window.__shown[1].onclick()")
    expect(agent.get_by_test_id("chat-title")).to_have_text("Wang Fang")
    assert agent.evaluate("window.__shown[1].closed") is True

    # Turned off from the header: hidden again, a message makes none.
    agent.get_by_test_id("notify").click()
    expect(agent.get_by_test_id("notify")).to_have_text("Desktop alerts off")
    agent.evaluate("window.__hide(true)")
    says(wang, "Hello?")
    expect(agent.locator("[data-testid=session-item]", has_text="Wang Fang")).to_contain_text("Hello?")
    assert len(shown(agent)) == 3
    for page in (agent, mei, wang):
        page.context.close()


def test_not_now_is_remembered_and_the_header_turns_them_on_later(stack: Stack, browser: Browser) -> None:
    agent = agent_context(browser, stack).new_page()
    pages.sign_in(agent, stack, "bob")
    agent.get_by_test_id("notify-no").click()
    expect(agent.get_by_test_id("notify-ask")).to_be_hidden()
    expect(agent.get_by_test_id("notify")).to_have_text("Desktop alerts off")
    agent.reload()
    expect(agent.locator("#conn")).to_have_text("open")
    expect(agent.get_by_test_id("notify-ask")).to_be_hidden()
    assert agent.evaluate("window.__asked()") == 0  # "not now" asked the browser nothing
    agent.get_by_test_id("notify").click()
    expect(agent.get_by_test_id("notify")).to_have_text("Desktop alerts on")
    assert agent.evaluate("window.__asked()") == 1
    agent.context.close()


def proxied(page: Page) -> list[WebSocketRoute]:
    """The page's WebSocket through the test, which can cut the line; every connection's route, newest last."""
    routes: list[WebSocketRoute] = []

    def through(route: WebSocketRoute) -> None:
        route.connect_to_server()
        routes.append(route)

    page.route_web_socket(re.compile(r".*/ws\?token=.*"), through)
    return routes


def test_a_lost_connection_shows_a_banner_until_it_is_back_on_the_console_and_the_dashboard(
        stack: Stack, browser: Browser) -> None:
    for path, user, pill, back in (("/console", "alice", "#conn", "open"), ("/dashboard", "carol", "#conn", "live")):
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        routes = proxied(page)
        console.sign_in_at(page, stack, path, user)
        expect(page.locator(pill)).to_have_text(back)
        banner = page.get_by_test_id("conn-banner")
        expect(banner).to_be_hidden()

        routes[-1].close(code=1011, reason="network dropped")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("Connection to the server lost. Reconnecting…")
        expect(banner).to_have_attribute("role", "alert")
        expect(page.locator(pill)).to_have_text(re.compile("reconnecting"))

        expect(page.locator(pill)).to_have_text(back)  # the page reconnects by itself
        expect(banner).to_be_hidden()
        assert len(routes) >= 2
        page.context.close()


def test_the_wait_shown_counts_from_the_request_not_the_assignment(stack: Stack, browser: Browser) -> None:
    asked_at = time.time() * 1000
    visitor = console.open_widget(browser, stack, "?name=Mei%20Lin")
    visitor.get_by_test_id("vis-talk").click()
    expect(visitor.get_by_test_id("vis-queue")).to_be_visible()  # nobody online: queued
    time.sleep(4)

    signed_in_at = time.time() * 1000
    agent = console.new_page(browser)
    pages.sign_in(agent, stack, "alice")  # the queue is drained to her: assigned now, four seconds after the request
    wait = agent.locator("[data-testid=session-item]", has_text="Mei Lin").get_by_test_id("wait")
    expect(wait).to_be_visible()
    since = int(wait.get_attribute("data-since") or 0)
    assert asked_at - 1000 <= since < signed_in_at, (asked_at, since, signed_in_at)
    shown_seconds = int(re.fullmatch(r"(\d+) s", wait.inner_text() or "")[1])  # type: ignore[index]
    assert shown_seconds >= 4
    visitor.context.close()
    agent.context.close()
