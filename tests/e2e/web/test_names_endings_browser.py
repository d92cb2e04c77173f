"""Names and avatars on every bubble, and a chat that ends well, in real headless Chromium: the widget and the
console name the robot, the agent (its display name) and the visitor beside each bubble; a resolved chat closes
the widget's input with a "chat ended" line and a New chat button that starts a fresh chat on the same socket;
the ended chat is listed under "Earlier chats" with its messages; a reload keeps the conversation; and the agent
sees the stars, tags and comment the visitor gave, at once and after a reload of the console."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Locator, Page, WebSocket, expect

from local.harness import Stack
from tests.e2e.web import test_pages_browser as pages

pytestmark = pytest.mark.e2e

browser = pages.browser  # one Chromium for the module
stack = pages.stack      # a fresh stack per test


def bubble(page: Page, text: str) -> Locator:
    return page.locator("[data-testid=msg]", has_text=text).last


def test_names_avatars_the_end_of_a_chat_a_new_one_and_the_rating_on_both_sides(stack: Stack,
                                                                               browser: Browser) -> None:
    agent = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    pages.sign_in(agent, stack, "alice")
    visitor = browser.new_context(viewport={"width": 420, "height": 800}).new_page()
    visitor.goto(f"{stack.base}/?name=Mei%20Lin")
    expect(visitor.get_by_test_id("vis-conn")).to_have_text("open")

    # The robot's bubbles carry its glyph and its name.
    greeting = visitor.get_by_test_id("robot-greeting")
    expect(greeting.get_by_test_id("sender-name")).to_have_text("Assistant")
    expect(greeting.get_by_test_id("avatar")).to_have_class("avatar robot")
    visitor.get_by_test_id("vis-input").fill("hello")
    visitor.get_by_test_id("vis-send").click()
    robot = visitor.locator("[data-testid=msg][data-type=robot]").last
    expect(robot.get_by_test_id("sender-name")).to_have_text("Assistant")

    # The agent is named by its display name everywhere the visitor looks, never by its sign-in.
    visitor.get_by_test_id("vis-talk").click()
    expect(visitor.get_by_test_id("vis-status")).to_have_text("You are chatting with Alice Chen")
    expect(visitor.locator(".system", has_text="Alice Chen joined the chat")).to_be_visible()
    expect(agent.get_by_test_id("con-input")).to_be_enabled()
    agent.get_by_test_id("con-input").fill("Hello Mei, how can I help?")
    agent.get_by_test_id("con-input").press("Enter")
    from_agent = bubble(visitor, "Hello Mei")
    expect(from_agent.get_by_test_id("sender-name")).to_have_text("Alice Chen")
    expect(from_agent.get_by_test_id("avatar")).to_have_text("AC")
    expect(visitor.locator("body")).not_to_contain_text("alice joined")

    # The console names the visitor, the robot and the agent herself on their bubbles.
    visitor.get_by_test_id("vis-input").fill("Where is my order?")
    visitor.get_by_test_id("vis-send").click()
    from_visitor = bubble(agent, "Where is my order?")
    expect(from_visitor.get_by_test_id("sender-name")).to_have_text("Mei Lin")
    expect(from_visitor.get_by_test_id("avatar")).to_have_text("ML")
    expect(bubble(agent, "Hello Mei").get_by_test_id("sender-name")).to_have_text("Alice Chen")
    expect(agent.locator("[data-testid=msg][data-role=robot]").first.get_by_test_id("sender-name")).to_have_text(
        "Robot")
    # Your own bubbles on the widget say so.
    expect(bubble(visitor, "Where is my order?").get_by_test_id("sender-name")).to_have_text("You")

    # The agent resolves: the widget's input gives way to a "chat ended" line and New chat; the survey names her.
    agent.get_by_test_id("con-resolve").click()
    expect(visitor.get_by_test_id("vis-chat-ended")).to_be_visible()
    expect(visitor.get_by_test_id("vis-ended-line")).to_have_text("This chat has ended.")
    expect(visitor.get_by_test_id("vis-input")).to_be_hidden()
    expect(visitor.get_by_test_id("vis-survey-question")).to_contain_text("Alice Chen")
    visitor.locator("[data-stars='4']").click()
    visitor.get_by_test_id("vis-survey-tags").locator("button").first.click()
    visitor.get_by_test_id("vis-survey-comment").fill("Quick and kind")
    visitor.get_by_test_id("vis-survey-send").click()
    expect(visitor.get_by_test_id("vis-survey")).to_be_hidden()

    # The agent sees the rating at once, in the chat and in its list of ended chats.
    expect(agent.get_by_test_id("chat-rating-stars")).to_have_text("★★★★☆")
    expect(agent.get_by_test_id("chat-rating-comment")).to_have_text("Quick and kind")
    expect(agent.get_by_test_id("chat-rating-tags")).not_to_be_empty()
    agent.locator("#ended-group summary").click()
    expect(agent.get_by_test_id("ended-item").get_by_test_id("ended-stars")).to_have_text("★★★★")

    # New chat: a fresh conversation on the same page, the robot first; the ended one is under Earlier chats.
    sockets: list[WebSocket] = []
    visitor.on("websocket", lambda ws: sockets.append(ws))
    visitor.get_by_test_id("vis-new-chat").click()
    expect(visitor.get_by_test_id("vis-input")).to_be_visible()
    expect(visitor.get_by_test_id("vis-chat-ended")).to_be_hidden()
    expect(visitor.get_by_test_id("robot-greeting")).to_be_visible()
    expect(visitor.locator("[data-testid=msg]", has_text="Hello Mei")).to_have_count(0)
    assert sockets == []  # no reconnect, no reload
    visitor.get_by_test_id("vis-input").fill("one more question")
    visitor.get_by_test_id("vis-send").click()
    expect(bubble(visitor, "one more question")).to_have_attribute("data-status", "delivered")
    expect(visitor.locator("body")).not_to_contain_text("not delivered")
    earlier = visitor.get_by_test_id("vis-earlier")
    expect(earlier).to_be_visible()
    visitor.get_by_test_id("vis-earlier-toggle").click()
    expect(visitor.get_by_test_id("vis-earlier-item")).to_have_count(1)
    expect(visitor.get_by_test_id("vis-earlier-item")).to_contain_text("Alice Chen")
    expect(visitor.get_by_test_id("vis-earlier-item")).to_contain_text("★★★★")
    visitor.get_by_test_id("vis-earlier-item").locator("button").click()
    past = visitor.get_by_test_id("vis-past-chat")
    expect(past.locator("[data-testid=msg]", has_text="Hello Mei").get_by_test_id("sender-name")).to_have_text(
        "Alice Chen")
    expect(past.locator("[data-testid=msg]", has_text="Where is my order?")).to_be_visible()

    # A reloaded console lists the ended chat with its rating from the server.
    agent.reload()
    expect(agent.locator("#conn")).to_have_text("open")
    agent.locator("#ended-group summary").click()
    expect(agent.get_by_test_id("ended-item")).to_have_count(1)
    expect(agent.get_by_test_id("ended-stars")).to_have_text("★★★★")
    agent.get_by_test_id("ended-item").locator("button").click()
    expect(agent.get_by_test_id("chat-rating-comment")).to_have_text("Quick and kind")
    expect(bubble(agent, "Where is my order?").get_by_test_id("sender-name")).to_have_text("Mei Lin")


def test_a_reload_keeps_the_conversation(stack: Stack, browser: Browser) -> None:
    visitor = browser.new_context(viewport={"width": 420, "height": 800}).new_page()
    visitor.goto(f"{stack.base}/")
    expect(visitor.get_by_test_id("vis-conn")).to_have_text("open")
    visitor.get_by_test_id("vis-input").fill("do you ship to Shanghai?")
    visitor.get_by_test_id("vis-send").click()
    expect(visitor.locator("[data-testid=msg][data-type=robot]")).to_have_count(1)
    visitor.reload()
    expect(visitor.get_by_test_id("vis-conn")).to_have_text("open")
    mine = visitor.locator("[data-testid=msg]", has_text="do you ship to Shanghai?")
    expect(mine).to_have_count(1)
    expect(mine.get_by_test_id("sender-name")).to_have_text("You")
    expect(visitor.locator("[data-testid=msg][data-type=robot]")).to_have_count(1)
    expect(visitor.get_by_test_id("vis-earlier")).to_be_hidden()  # nothing has ended yet
