"""Order self-service in the widget, in real headless Chromium against the local stack: an anonymous visitor asks
where its order is, is asked for the number and the check the demo shop configures (the phone's last 4 digits),
and gets the order's card with its status and tracking; a wrong check gets the same answer as a wrong number. A
Chinese visitor reads it all in Chinese, and both widgets are held to WCAG 2.1 AA with the card showing. An admin
switches the check to the postcode in robot management, keeping the next steps set through the API."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from local.harness import Stack
from tests.e2e.web import test_pages_browser as pages
from tests.e2e.web.test_a11y_browser import Audit, page_in
from tests.e2e.web.test_consoles_browser import admin_api, sign_in

pytestmark = pytest.mark.e2e

browser = pages.browser  # one Chromium for the module
stack = pages.stack      # a fresh stack per test


def ask(page: Page, text: str, replies: int) -> None:
    page.get_by_test_id("vis-input").fill(text)
    page.get_by_test_id("vis-send").click()
    expect(page.locator("[data-testid=msg][data-type=robot]")).to_have_count(replies)


def test_an_anonymous_visitor_gets_its_order_with_the_number_and_the_check(stack: Stack, browser: Browser) -> None:
    check = Audit()
    page = page_in(browser, "en", 420, 760)
    page.goto(f"{stack.base}/")
    expect(page.get_by_test_id("vis-conn")).to_have_text("open")
    robot = page.locator("[data-testid=msg][data-type=robot]")

    ask(page, "wher is my oder??", 1)
    expect(robot.last).to_contain_text("the last 4 digits of the phone number on the order")
    expect(robot.last.get_by_test_id("robot-handoff")).to_be_visible()  # a person is always offered

    ask(page, "SO-88121 0042", 2)
    card = robot.last.get_by_test_id("robot-order")
    expect(card).to_contain_text("Order SO-88121")
    expect(card).to_contain_text("Shipped")
    expect(card).to_contain_text("Trail Runner 2 running shoe")
    expect(robot.last).to_contain_text("SF Express, tracking number SF1402987731.")
    check(page, "widget: an order card")

    ask(page, "SO-88121 1234", 3)
    expect(robot.last.locator(".robot > p")).to_have_text(
        "I couldn't find that order. Please check what you sent, or talk to a person.")
    expect(robot.last.get_by_test_id("robot-order")).to_have_count(0)
    page.context.close()

    chinese = page_in(browser, "zh-CN", 420, 760)
    chinese.goto(f"{stack.base}/")
    expect(chinese.get_by_test_id("robot-greeting")).to_be_visible()
    ask(chinese, "我的定单SO-88121到哪了 0042", 1)
    reply = chinese.locator("[data-testid=msg][data-type=robot]").last
    expect(reply.get_by_test_id("robot-order")).to_contain_text("已发货")
    expect(reply).to_contain_text("SF Express，运单号 SF1402987731。")
    check(chinese, "widget (zh-CN): an order card")
    chinese.context.close()
    check.assert_clean()

    admin = browser.new_context().new_page()
    request, auth = admin_api(admin, stack)
    link = {"url": "https://shop.example.com/orders/{order_id}/cancel", "handoff": False, "label": None,
            "statuses": ["processing"]}
    assert request.put(f"{stack.base}/api/robot/settings", headers=auth,
                       data={"orders": {"check": "phone_last4", "actions": {"cancel": link}}}).ok
    sign_in(admin, stack, "/robot", "admin")
    admin.get_by_test_id("tab-settings").click()
    expect(admin.get_by_test_id("settings-orders-check")).to_have_value("phone_last4")
    check(admin, "robot management: the order settings")
    admin.get_by_test_id("settings-orders-check").select_option("postcode")
    admin.get_by_test_id("settings-save").click()
    expect(admin.get_by_test_id("settings-status")).to_contain_text("Saved")
    saved = request.get(f"{stack.base}/api/robot/settings", headers=auth).json()["orders"]
    assert (saved["check"], saved["actions"]["cancel"]) == ("postcode", link)
    admin.context.close()
    check.assert_clean()
