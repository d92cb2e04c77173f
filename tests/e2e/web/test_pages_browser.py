"""The visitor page and the agent console in real headless Chromium against the local stack."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute, expect, sync_playwright

from local.harness import Stack, run_stack

pytestmark = pytest.mark.e2e

# Delivered, and perhaps read already: read implies delivered (the other side's window showed it).
DELIVERED = re.compile(r"^(delivered|read)$")

CHROMIUM = "/usr/bin/chromium"
# English, whatever the machine's locale: the pages follow the browser's language (test_i18n_browser.py tests zh-CN).
ARGS = ["--lang=en-US", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def open_all_day(documents: dict[str, Any]) -> None:
    """The shoes group keeps shop hours (08:00-24:00, Asia/Shanghai): open them around the clock so the
    chat tests do not depend on the time they run at."""
    documents["hours"]["schedules"]["standard"] = {"daily": [["00:00", "24:00"]]}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A fresh stack per test, so no agent of another test lingers."""
    with run_stack(tmp_path, config_edit=open_all_day) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


def sign_in(page: Page, stack: Stack, user: str) -> None:
    page.goto(f"{stack.base}/console")
    page.get_by_test_id("login-user").fill(user)
    page.get_by_test_id("login-pass").fill("demo")
    page.get_by_test_id("login-submit").click()
    expect(page.locator("#conn")).to_have_text("open")


def test_visitor_and_agent_chat_through_the_pages(stack: Stack, browser: Browser) -> None:
    agent = browser.new_context(viewport={"width": 1280, "height": 760}).new_page()
    sign_in(agent, stack, "alice")
    visitor = browser.new_context(viewport={"width": 420, "height": 760}).new_page()
    visitor.goto(f"{stack.base}/?source=/product/SKU-1042&category=shoes")
    expect(visitor.get_by_test_id("vis-conn")).to_have_text("open")
    visitor.get_by_test_id("vis-talk").click()
    expect(visitor.get_by_test_id("vis-status")).to_have_text("You are chatting with Alice Chen")

    visitor.get_by_test_id("vis-input").fill("Hi! Do the Trail Runner 2 run small?")
    visitor.get_by_test_id("vis-send").click()
    expect(visitor.locator("[data-testid=msg][data-mine='1']").last).to_have_attribute("data-status", DELIVERED)
    expect(agent.locator("[data-testid=session-item]")).to_have_count(1)
    expect(agent.locator("#messages [data-testid=msg][data-mine='0']").last).to_contain_text("run small")

    agent.get_by_test_id("con-input").fill("They run true to size; take your usual size.")
    agent.get_by_test_id("con-send").click()
    agent.get_by_test_id("tab-order").click()
    agent.get_by_test_id("order-id").fill("SO-88121")
    agent.get_by_test_id("order-lookup").click()
    agent.get_by_test_id("order-send").click()
    expect(visitor.locator("[data-testid=msg][data-mine='0']")).to_have_count(2)
    expect(visitor.locator("[data-testid=msg][data-type=order]")).to_contain_text("Order SO-88121")
    expect(agent.locator("#messages [data-testid=msg][data-mine='1']").last).to_have_attribute(
        "data-status", DELIVERED)
    agent.context.close()
    visitor.context.close()


def test_hostile_content_shows_as_text_and_runs_nothing(stack: Stack, browser: Browser) -> None:
    agent = browser.new_context().new_page()
    sign_in(agent, stack, "bob")
    agent.locator("#status").select_option("online")
    visitor = browser.new_context().new_page()
    visitor.goto(stack.base + "/")
    expect(visitor.get_by_test_id("vis-conn")).to_have_text("open")
    visitor.get_by_test_id("vis-talk").click()
    expect(visitor.get_by_test_id("vis-status")).to_have_text("You are chatting with Bob Li")
    hostile = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    visitor.get_by_test_id("vis-input").fill(hostile)
    visitor.get_by_test_id("vis-send").click()
    expect(visitor.locator("[data-testid=msg][data-mine='1']").last).to_have_attribute("data-status", DELIVERED)
    shown = agent.locator("#messages [data-testid=msg]").last
    expect(shown).to_contain_text("<script>")
    assert shown.locator("script, img").count() == 0
    assert agent.evaluate("window.__pwned") is None
    assert visitor.evaluate("window.__pwned") is None
    agent.context.close()
    visitor.context.close()


RECEIVED = ":is([data-status=delivered], [data-status=read])"  # a message the other side has (read implies it)


def chat_through(stack: Stack, browser: Browser, proxy: Callable[[WebSocketRoute], None]) -> tuple[Page, Page]:
    """Alice's console and a visitor chatting with her, the visitor's socket going through ``proxy``."""
    agent = browser.new_context().new_page()
    sign_in(agent, stack, "alice")
    visitor = browser.new_context().new_page()
    visitor.route_web_socket(re.compile(r".*/ws\?token=.*"), proxy)
    visitor.goto(stack.base + "/")
    expect(visitor.get_by_test_id("vis-conn")).to_have_text("open")
    visitor.get_by_test_id("vis-talk").click()
    expect(visitor.get_by_test_id("vis-status")).to_have_text("You are chatting with Alice Chen")
    return agent, visitor


def test_the_widget_reconnects_and_resumes_without_losing_or_repeating(stack: Stack, browser: Browser) -> None:
    routes: list[WebSocketRoute] = []

    def through_proxy(route: WebSocketRoute) -> None:
        route.connect_to_server()  # frames pass through unchanged; the test can cut the line
        routes.append(route)

    agent, visitor = chat_through(stack, browser, through_proxy)

    routes[-1].close(code=1011, reason="network dropped")  # the page sees its socket die
    expect(visitor.get_by_test_id("vis-conn")).not_to_have_text("open")
    for text in ("first while you were away", "second", "third"):
        agent.get_by_test_id("con-input").fill(text)
        agent.get_by_test_id("con-send").click()
    expect(visitor.get_by_test_id("vis-conn")).to_have_text("open")
    theirs = visitor.locator("[data-testid=msg][data-mine='0']")
    expect(theirs).to_have_count(3)
    expect(theirs.locator(".bubble")).to_have_text(["first while you were away", "second", "third"])
    # Delivered, or already read: the visitor's window shows them, so its read receipt may come first.
    expect(agent.locator(f"#messages [data-testid=msg][data-mine='1']{RECEIVED}")).to_have_count(3)
    assert len(routes) >= 2
    agent.context.close()
    visitor.context.close()


def test_replies_that_arrive_out_of_order_show_in_the_order_they_were_written(stack: Stack, browser: Browser) -> None:
    """Frames can arrive out of order (a reply kept while the line was down comes with the resume, after a
    newer one pushed live). Here the first reply's frame is held back until the second has arrived."""
    held: list[str | bytes] = []

    def through_proxy(route: WebSocketRoute) -> None:
        server = route.connect_to_server()

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            text = frame.get("message", {}).get("content", {}).get("text") if frame.get("event") == "message" else None
            if text == "written first":
                held.append(message)
                return
            route.send(message)
            if text == "written second":
                route.send(held[0])

        server.on_message(from_server)

    agent, visitor = chat_through(stack, browser, through_proxy)
    for text in ("written first", "written second"):
        agent.get_by_test_id("con-input").fill(text)
        agent.get_by_test_id("con-send").click()
    theirs = visitor.locator("[data-testid=msg][data-mine='0'] .bubble")
    expect(theirs).to_have_text(["written first", "written second"])
    assert len(held) == 1  # the first did arrive second
    expect(agent.locator(f"#messages [data-testid=msg][data-mine='1']{RECEIVED}")).to_have_count(2)
    agent.context.close()
    visitor.context.close()


def test_what_is_sent_before_the_welcome_is_shown_at_once_and_sent_when_the_chat_is_known(
        stack: Stack, browser: Browser) -> None:
    """The socket opens before the welcome names the visitor's chat (on a busy server, seconds before). What the
    visitor sends meanwhile (a question, the page's product) is not dropped: it shows as sending, and goes, in
    order, once the welcome has come."""
    held: list[str | bytes] = []
    routes: list[WebSocketRoute] = []
    sends: list[str] = []  # the type of each `send` frame the page wrote

    def through_proxy(route: WebSocketRoute) -> None:
        server = route.connect_to_server()
        routes.append(route)

        def from_server(message: str | bytes) -> None:
            if not held and json.loads(message).get("event") == "welcome":
                held.append(message)  # the first welcome waits until the test lets it through
                return
            route.send(message)

        def from_page(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("action") == "send":
                sends.append(frame["type"])
            server.send(message)

        server.on_message(from_server)
        route.on_message(from_page)

    visitor = browser.new_context(viewport={"width": 420, "height": 760}).new_page()
    visitor.route_web_socket(re.compile(r".*/ws\?token=.*"), through_proxy)
    visitor.goto(f"{stack.base}/?product_id=SKU-7&product_title=Desk%20lamp")
    expect(visitor.get_by_test_id("vis-conn")).to_have_text("open")
    for _ in range(300):  # until the server's welcome has reached the proxy (not the page), 15 s at most
        if held:
            break
        visitor.wait_for_timeout(50)
    assert held, "the server sent no welcome"
    visitor.get_by_test_id("vis-input").fill("do you ship to Shanghai?")
    visitor.get_by_test_id("vis-send").click()
    visitor.get_by_test_id("vis-card").click()
    mine = visitor.locator("[data-testid=msg][data-mine='1']")
    expect(mine).to_have_count(2)
    expect(mine.nth(0)).to_have_attribute("data-status", "sending")
    expect(mine.nth(1)).to_have_attribute("data-status", "sending")
    expect(visitor.get_by_test_id("vis-input")).to_have_value("")

    routes[0].send(held[0])
    expect(mine.nth(0)).to_have_attribute("data-status", "delivered")
    expect(mine.nth(1)).to_have_attribute("data-status", "delivered")
    expect(mine.nth(1)).to_contain_text("Desk lamp")
    robot = visitor.locator("[data-testid=msg][data-type=robot]")
    expect(robot).to_have_count(2)  # an answer to the question, and the card's reply (a person is offered)
    expect(robot.filter(has_text="Shanghai")).to_have_count(1)
    expect(visitor.get_by_test_id("robot-greeting")).to_be_visible()
    expect(mine).to_have_count(2)
    assert sends == ["text", "product"]  # each went once, in the order the visitor sent them
    visitor.context.close()


def test_the_visitor_rates_the_chat_once_when_the_agent_ends_it(stack: Stack, browser: Browser) -> None:
    agent = browser.new_context(viewport={"width": 1280, "height": 760}).new_page()
    sign_in(agent, stack, "bob")
    visitor = browser.new_context(viewport={"width": 420, "height": 760}).new_page()
    visitor.goto(f"{stack.base}/")
    expect(visitor.get_by_test_id("vis-conn")).to_have_text("open")
    visitor.get_by_test_id("vis-talk").click()
    expect(visitor.get_by_test_id("vis-status")).to_have_text("You are chatting with Bob Li")
    expect(agent.locator("[data-testid=session-item]")).to_have_count(1)
    expect(visitor.get_by_test_id("vis-survey")).to_be_hidden()

    agent.get_by_test_id("con-end").click()
    survey = visitor.get_by_test_id("vis-survey")
    expect(survey).to_be_visible()
    expect(visitor.get_by_test_id("vis-status")).to_have_text("This chat has ended")
    expect(survey.get_by_test_id("vis-survey-send")).to_be_disabled()
    survey.locator("[data-stars='4']").click()
    survey.get_by_role("button", name="quick").click()
    survey.get_by_test_id("vis-survey-comment").fill("Fast answer, thanks")
    survey.get_by_test_id("vis-survey-send").click()
    expect(visitor.locator(".system").last).to_have_text("Thank you for your feedback!")
    expect(survey).to_be_hidden()

    token = visitor.request.post(f"{stack.base}/api/auth/login",
                                 data={"username": "carol", "password": "demo"}).json()["token"]
    board = visitor.request.get(f"{stack.base}/api/dashboard", headers={"Authorization": f"Bearer {token}"}).json()
    assert next(g for g in board["groups"] if g["id"] == "general")["csat"] == {"avg": 4.0, "count": 1}
    agent.context.close()
    visitor.context.close()
