"""Robot management in a browser: the greeting and the suggested questions have a box for Chinese visitors beside
the one for everyone, filled from the saved settings, saved as one text per language, and a Chinese visitor's
widget greets with the Chinese one."""

from __future__ import annotations

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
