"""Robot management in a browser: the greeting and the suggested questions have a box for Chinese visitors beside
the one for everyone, filled from the saved settings, saved as one text per language, and a Chinese visitor's
widget greets with the Chinese one. The learning loop too: "not helpful" on an answer and a declined question reach
the Learning tab, whose buttons resolve them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from local.harness import Stack
from tests.e2e.web import test_pages_browser as pages
from tests.e2e.web.test_consoles_browser import admin_api, sign_in

pytestmark = pytest.mark.e2e

browser = pages.browser  # one Chromium for the module (the fixture of the page tests)


def test_a_greeting_per_language_is_saved_and_greets_each_visitor_in_its_own(stack: Stack, browser: Browser) -> None:
    page = browser.new_context().new_page()
    sign_in(page, stack, "/robot", "admin")
    page.get_by_test_id("tab-settings").click()
    # The shipped greeting, in both languages.
    expect(page.get_by_test_id("settings-greeting")).to_have_value(
        "Hi! I'm the shop's assistant. Ask me anything, or tap \u201cTalk to a person\u201d.")
    expect(page.get_by_test_id("settings-greeting-zh")).to_have_value(
        "您好！我是本店的智能助手，有什么问题都可以问我，也可以点击\u201c转人工\u201d。")

    page.get_by_test_id("settings-greeting").fill("Welcome to Harbor Lane!")
    page.get_by_test_id("settings-greeting-zh").fill("欢迎光临港湾小店！")
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("settings-status")).to_contain_text("Saved")
    page.reload()
    expect(page.get_by_test_id("settings-greeting-zh")).to_have_value("欢迎光临港湾小店！")
    request, auth = admin_api(page, stack)
    assert request.get(f"{stack.base}/api/robot/settings", headers=auth).json()["greeting"] == {
        "en": "Welcome to Harbor Lane!", "zh-CN": "欢迎光临港湾小店！"}

    # Each visitor is greeted in its browser's language (the widget asks for its token with it).
    for locale, greeting in (("zh-CN", "欢迎光临港湾小店！"), ("en-US", "Welcome to Harbor Lane!")):
        widget = browser.new_context(locale=locale).new_page()
        widget.goto(f"{stack.base}/")
        expect(widget.get_by_test_id("robot-greeting")).to_contain_text(greeting)
        widget.context.close()

    # One box left empty: one text for everyone.
    page.get_by_test_id("settings-greeting-zh").fill("")
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("settings-status")).to_contain_text("Saved")
    assert request.get(f"{stack.base}/api/robot/settings", headers=auth).json()["greeting"] == (
        "Welcome to Harbor Lane!")
    page.context.close()


def test_what_the_robot_missed_reaches_the_learning_tab_and_is_resolved_there(stack: Stack, browser: Browser) -> None:
    visitor = browser.new_context(locale="en-US").new_page()
    visitor.goto(f"{stack.base}/")
    expect(visitor.get_by_test_id("robot-greeting")).to_be_visible()
    visitor.get_by_test_id("vis-input").fill("How do I track my order?")
    visitor.get_by_test_id("vis-send").click()
    robot = visitor.locator(".msg[data-type=robot]")
    expect(robot).to_have_count(2)
    robot.last.get_by_test_id("robot-not-helpful").click()
    expect(robot.last.get_by_test_id("robot-feedback-thanks")).to_be_visible()
    expect(robot.last.get_by_test_id("robot-helpful")).to_have_count(0)  # one verdict per answer
    visitor.get_by_test_id("vis-input").fill("Tell me a joke about penguins")
    visitor.get_by_test_id("vis-send").click()
    expect(robot).to_have_count(3)
    expect(robot.last.get_by_test_id("robot-feedback")).to_have_count(0)  # no answer, nothing to rate
    visitor.get_by_test_id("vis-input").fill("tell me a penguin joke")  # other words, the same question
    visitor.get_by_test_id("vis-send").click()
    expect(robot).to_have_count(4)
    visitor.context.close()

    page = browser.new_context().new_page()
    sign_in(page, stack, "/robot", "admin")
    page.get_by_test_id("tab-learning").click()
    rows = page.get_by_test_id("learning-row")
    expect(rows).to_have_count(2)  # the two penguin wordings are one row: asked twice
    penguins = rows.filter(has_text="penguin")
    expect(penguins.get_by_test_id("learning-similar")).to_have_count(1)
    expect(penguins.get_by_test_id("learning-count")).to_have_text("2")
    penguins.get_by_test_id("learning-create-faq").click()  # the FAQ editor, prefilled
    expect(page.get_by_test_id("faq-question")).to_have_value(re.compile("penguin"))
    # Back on the tab, the list is read again (its wordings embedded): act on the rows it draws, not on the old ones.
    with page.expect_response(lambda r: "/robot/learning?" in r.url and r.request.method == "GET"):
        page.get_by_test_id("tab-learning").click()
    penguins.get_by_test_id("learning-off-topic").click()
    expect(penguins.get_by_test_id("learning-actions")).to_contain_text("off-topic")
    tracked = rows.filter(has_text="track my order")
    expect(tracked.get_by_test_id("learning-faq")).to_have_value("orders-track-order")  # the matcher's pick
    tracked.get_by_test_id("learning-add-similar").click()
    expect(tracked.get_by_test_id("learning-actions")).to_contain_text("Added to the FAQ")
    page.get_by_test_id("learning-refresh").click()
    expect(page.get_by_test_id("learning-empty")).to_be_visible()
    page.context.close()
