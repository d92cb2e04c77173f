"""One staff sign-in for every tab of the browser, in real headless Chromium against the local stack: a second tab
is signed in already, and a sign-out or another sign-in in one tab reaches the others."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from local.harness import Stack
from tests.e2e.web import test_pages_browser as pages

pytestmark = pytest.mark.e2e

browser = pages.browser  # one Chromium for the module
stack = pages.stack      # a fresh stack per test


def test_one_sign_in_serves_every_staff_tab_and_a_sign_out_reaches_them_all(stack: Stack, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    first = context.new_page()
    pages.sign_in(first, stack, "carol")

    # A second tab of the same browser is signed in already, on any staff page.
    second = context.new_page()
    second.goto(f"{stack.base}/tickets")
    expect(second.get_by_test_id("me")).to_contain_text("Carol Wang")
    expect(second.get_by_test_id("login-user")).to_be_hidden()
    second.goto(f"{stack.base}/dashboard")
    expect(second.get_by_test_id("dash-conn")).to_have_text("live")

    # Signing out in one tab signs out the others, which go back to the sign-in form.
    second.get_by_test_id("signout").click()
    expect(second.get_by_test_id("login-user")).to_be_visible()
    expect(first.get_by_test_id("login-user")).to_be_visible()
    expect(first.locator("#app")).to_be_hidden()

    # Signing in on one tab's form lets the other in too, without typing.
    first.get_by_test_id("login-user").fill("carol")
    first.get_by_test_id("login-pass").fill("demo")
    first.get_by_test_id("login-submit").click()
    expect(first.locator("#conn")).to_have_text("open")
    expect(second.get_by_test_id("dash-conn")).to_have_text("live")
    expect(second.get_by_test_id("me")).to_contain_text("Carol Wang")

    # Another user signing in on one tab: the other starts afresh as that user (here one the dashboard refuses).
    first.get_by_test_id("signout").click()
    pages.sign_in(first, stack, "alice")
    expect(second.get_by_test_id("denied")).to_contain_text("Alice")
    context.close()
