"""Every page used in real headless Chromium under the Content-Security-Policy the stack sends: the policy is in
force (an injected inline script or style attribute is refused) and the pages' own code breaks none of it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect

from local.harness import Stack
from tests.conftest import png
from tests.e2e.web import test_consoles_browser as consoles
from tests.e2e.web import test_pages_browser as pages

pytestmark = pytest.mark.e2e

browser = pages.browser  # one Chromium for the module (the fixture of the page tests)

# Installed before any script of the page runs: every violation the browser reports, kept for the test.
RECORD = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push({
  directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber,
  sample: e.sample}));
"""

# What a successful injection would do; the policy must refuse both.
PROBE = """() => {
  const script = document.createElement("script");
  script.textContent = "window.__injected = true";
  document.body.append(script);
  const styled = document.createElement("div");
  styled.setAttribute("style", "color: red");
  document.body.append(styled);
  return window.__injected === true;
}"""


def watched(browser: Browser) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.add_init_script(RECORD)
    return page


def violations(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate("window.__csp")
    return found


def assert_policy_in_force(page: Page) -> None:
    """The page's own response carries the policy, and an injected inline script and style attribute are
    refused (and reported, which shows the recorder hears violations); then the record starts afresh."""
    assert page.evaluate(PROBE) is False, "an inline script ran"
    page.wait_for_function("window.__csp.length >= 2")
    seen = violations(page)
    assert sorted(v["directive"] for v in seen) == ["script-src-elem", "style-src-attr"], seen
    page.evaluate("window.__csp = []")


def test_every_page_works_under_its_csp_without_a_violation(stack: Stack, browser: Browser) -> None:
    # The agent console: signed in, its WebSocket open (connect-src to the same host).
    agent = watched(browser)
    pages.sign_in(agent, stack, "alice")
    assert_policy_in_force(agent)

    # The visitor widget: a chat with the agent, and a photo uploaded and shown from /media.
    visitor = watched(browser)
    answer = visitor.goto(f"{stack.base}/")
    assert answer is not None and "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert_policy_in_force(visitor)
    expect(visitor.get_by_test_id("vis-conn")).to_have_text("open")
    visitor.get_by_test_id("vis-talk").click()
    expect(visitor.get_by_test_id("vis-status")).to_have_text("You are chatting with Alice Chen")
    visitor.get_by_test_id("vis-input").fill("The strap broke, photo attached")
    visitor.get_by_test_id("vis-send").click()
    visitor.get_by_test_id("vis-photo-file").set_input_files(
        FilePayload(name="strap.png", mimeType="image/png", buffer=png(40, 20)))
    photo = agent.locator("#messages [data-type=image] img").last
    expect(photo).to_have_attribute("src", re.compile(rf"^{re.escape(stack.base)}/media/"))
    agent.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=photo.element_handle())
    agent.get_by_test_id("con-input").fill("Sorry to see that; a new strap is on its way.")
    agent.get_by_test_id("con-send").click()
    expect(visitor.locator("[data-testid=msg][data-mine='0']").last).to_contain_text("new strap")

    # The dashboard with the agent online: its load meters and group swatches are styled from script.
    board = watched(browser)
    consoles.sign_in(board, stack, "/dashboard", "carol")
    assert_policy_in_force(board)
    expect(board.get_by_test_id("dash-conn")).to_have_text("live")
    expect(board.locator(".meter-fill").first).to_be_attached()
    assert board.locator(".meter-fill").first.evaluate("e => e.style.width").endswith("%")
    assert board.locator(".swatch").first.evaluate("e => e.style.background") != ""

    # Tickets, in the agent's tab (the console is done with: what it recorded is read before it goes).
    assert violations(agent) == [], agent.url
    agent.goto(f"{stack.base}/tickets")
    assert_policy_in_force(agent)
    expect(agent.get_by_test_id("me")).to_have_text("Alice Chen · agent")

    # The robot console: the knowledge base and a tried question with its score meters.
    robot = watched(browser)
    consoles.sign_in(robot, stack, "/robot", "admin")
    assert_policy_in_force(robot)
    expect(robot.locator("[data-testid=faq-row]")).to_have_count(50)
    robot.get_by_test_id("tab-try").click()
    robot.get_by_test_id("try-input").fill("where is my parcel")
    robot.get_by_test_id("try-submit").click()
    expect(robot.locator("[data-testid=try-hit]").first).to_be_visible(timeout=consoles.INDEXING_MS)
    assert robot.locator(".meter-fill").first.evaluate("e => e.style.width").endswith("%")

    for page in (visitor, agent, board, robot):
        assert violations(page) == [], page.url
    for page in (visitor, agent, board, robot):
        page.context.close()
