"""WCAG 2.1 AA in real headless Chromium: axe-core checks every page in its main states, in English and in Chinese
(contrast of every text and control, names and labels, ARIA), and the widget's and the console's main flows are
done with the keyboard alone, focus always drawn."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Page, expect

from local.harness import Stack
from tests.e2e.web import test_console_browser as console
from tests.e2e.web import test_consoles_browser as consoles
from tests.e2e.web import test_pages_browser as pages
from tests.e2e.web.a11y import axe_violations, field_edges, report

pytestmark = pytest.mark.e2e

browser = pages.browser  # one Chromium for the module
stack = pages.stack      # a fresh stack per test: its visitor queues until the test signs an agent in

LOCALES = {"en": "en-US", "zh-CN": "zh-CN"}
DELIVERED = pages.DELIVERED


class Audit:
    """axe's findings per page state, gathered so that one run names every fault of every state."""

    def __init__(self) -> None:
        self.found: dict[str, list[str]] = {}

    def __call__(self, page: Page, state: str) -> None:
        lines = report(axe_violations(page)) + field_edges(page)
        if lines:
            self.found[state] = lines

    def assert_clean(self) -> None:
        assert not self.found, "WCAG 2.1 AA violations:\n" + "\n".join(
            f"[{state}]\n  " + "\n  ".join(lines) for state, lines in self.found.items())


def page_in(browser: Browser, language: str, width: int = 1280, height: int = 900) -> Page:
    context = browser.new_context(viewport={"width": width, "height": height}, locale=LOCALES[language])
    console.shop_images(context)
    return context.new_page()


def signed_in(page: Page, stack: Stack, path: str, user: str, check: Callable[[Page, str], None]) -> None:
    """The page's sign-in form checked, then the user signed in."""
    page.goto(f"{stack.base}{path}")
    expect(page.get_by_test_id("login-user")).to_be_visible()
    check(page, f"{path} sign-in")
    page.get_by_test_id("login-user").fill(user)
    page.get_by_test_id("login-pass").fill("demo")
    page.get_by_test_id("login-submit").click()


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_every_page_in_its_main_states_meets_wcag_21_aa(stack: Stack, browser: Browser, language: str) -> None:
    check = Audit()

    # The widget: the robot's greeting, an answer, then a person asked for while nobody is online.
    visitor = page_in(browser, language, 420, 760)
    visitor.goto(f"{stack.base}/?name=Mei%20Lin")
    expect(visitor.get_by_test_id("robot-greeting")).to_be_visible()
    check(visitor, "widget: greeting")
    visitor.get_by_test_id("vis-input").fill("where is my parcel")
    visitor.get_by_test_id("vis-send").click()
    expect(visitor.locator(".msg[data-type=robot]")).to_have_count(2)
    check(visitor, "widget: robot answer")
    visitor.get_by_test_id("vis-talk").click()
    expect(visitor.get_by_test_id("vis-queue")).to_be_visible()
    expect(visitor.get_by_test_id("vis-leave-form")).to_be_visible()
    check(visitor, "widget: queue card and leave-a-message form")
    visitor.get_by_test_id("vis-leave-queue").click()
    expect(visitor.get_by_test_id("vis-leave-confirm")).to_be_visible()
    check(visitor, "widget: leave the queue?")
    visitor.get_by_test_id("vis-leave-stay").click()
    # The dashboard meanwhile: a visitor waiting, nobody online to take them.
    board = page_in(browser, language)
    signed_in(board, stack, "/dashboard", "carol", check)
    expect(board.get_by_test_id("dash-total-waiting")).to_have_text("1")
    check(board, "dashboard: a visitor waiting")

    # An agent takes the chat: messages both ways, delivered marks, names and avatars on both pages.
    agent = page_in(browser, language)
    signed_in(agent, stack, "/console", "alice", check)
    expect(visitor.get_by_test_id("vis-queue")).to_be_hidden()
    visitor.get_by_test_id("vis-input").fill("The strap of my order SO-88121 broke")
    visitor.get_by_test_id("vis-send").click()
    expect(agent.locator("#messages [data-testid=msg][data-mine='0']").last).to_contain_text("strap")
    console.agent_says(agent, "Sorry to hear that, a new strap is on its way.")
    expect(visitor.locator("[data-testid=msg][data-mine='0']").last).to_contain_text("strap")
    expect(agent.locator("#messages [data-testid=msg][data-mine='1']").last).to_have_attribute(
        "data-status", DELIVERED)
    expect(visitor.locator("[data-testid=msg][data-mine='1']").last).to_have_attribute("data-status", DELIVERED)
    check(visitor, "widget: chatting with an agent")
    check(agent, "console: a chat open")

    # The console's tools beside the chat, each tab as it is used.
    agent.get_by_test_id("tab-customer").click()
    expect(agent.get_by_test_id("visitor-info")).not_to_be_empty()
    check(agent, "console: customer tab")
    agent.get_by_test_id("tab-order").click()
    agent.get_by_test_id("order-id").fill("SO-88121")
    agent.get_by_test_id("order-lookup").click()
    expect(agent.get_by_test_id("order-card")).to_be_visible()
    check(agent, "console: order tab, an order looked up")
    agent.get_by_test_id("tab-ticket").click()
    agent.get_by_test_id("ticket-subject").fill("New strap for SO-88121")
    agent.get_by_test_id("ticket-create").click()
    expect(agent.get_by_test_id("ticket-status")).not_to_be_empty()
    check(agent, "console: ticket tab, a ticket made")
    agent.get_by_test_id("tab-products").click()
    check(agent, "console: products tab")
    agent.get_by_test_id("tab-answers").click()
    agent.get_by_test_id("con-image").click()
    expect(agent.get_by_test_id("image-form")).to_be_visible()
    check(agent, "console: the image form")
    agent.locator("#image-cancel").click()

    # A second visitor whose connection drops: the console's list of visitors offline.
    gone = page_in(browser, language, 420, 760)
    gone.goto(f"{stack.base}/?name=Li%20Wei")
    expect(gone.get_by_test_id("robot-greeting")).to_be_visible()
    gone.get_by_test_id("vis-talk").click()
    expect(agent.locator("[data-testid=session-item]")).to_have_count(2)
    gone.context.close()
    expect(agent.get_by_test_id("list-offline").locator("[data-testid=session-item]")).to_have_count(1)
    check(agent, "console: a visitor gone offline")

    # Its overlays: the transfer dialog, the replies found with "/", the shortcuts' help.
    agent.get_by_test_id("con-transfer").click()
    expect(agent.get_by_test_id("transfer-dialog")).to_be_visible()
    check(agent, "console: transfer dialog")
    agent.keyboard.press("Escape")
    expect(agent.get_by_test_id("transfer-dialog")).to_be_hidden()
    agent.get_by_test_id("con-input").press_sequentially("/")
    expect(agent.locator("[data-testid=canned-item]").first).to_be_visible()
    check(agent, "console: replies found with /")
    agent.get_by_test_id("con-input").press("Escape")
    agent.get_by_test_id("con-input").fill("")
    agent.get_by_test_id("help-open").click()
    expect(agent.get_by_test_id("help-dialog")).to_be_visible()
    check(agent, "console: shortcuts help")
    agent.keyboard.press("Escape")

    # Resolved: the survey, rated, then the ended chat with its rating on both sides.
    agent.get_by_test_id("con-resolve").click()
    survey = visitor.get_by_test_id("vis-survey")
    expect(survey).to_be_visible()
    check(visitor, "widget: survey")
    survey.locator("[data-stars='4']").click()
    survey.get_by_test_id("vis-survey-tags").locator("button").first.click()
    check(visitor, "widget: survey, 4 stars and a tag picked")
    survey.get_by_test_id("vis-survey-send").click()
    expect(survey).to_be_hidden()
    expect(visitor.get_by_test_id("vis-chat-ended")).to_be_visible()
    check(visitor, "widget: chat ended")
    expect(agent.get_by_test_id("chat-banner")).to_be_visible()
    check(agent, "console: the chat resolved and rated")
    visitor.get_by_test_id("vis-new-chat").click()
    # The new session has begun once the ended conversation has left the list (its welcome clears the view).
    expect(visitor.locator("#messages [data-testid=msg][data-mine='1']")).to_have_count(0)
    expect(visitor.get_by_test_id("vis-earlier")).to_be_visible()
    visitor.get_by_test_id("vis-earlier-toggle").click()
    visitor.get_by_test_id("vis-earlier-list").locator("button").first.click()
    expect(visitor.get_by_test_id("vis-past-chat")).to_be_visible()
    check(visitor, "widget: a new chat, an earlier one open")

    # The staff pages: the dashboard again (the rating in its CSAT), the ticket made above, robot management.
    expect(board.get_by_test_id("dash-total-waiting")).to_have_text("0")
    expect(board.get_by_test_id("dash-conn")).to_have_attribute("data-state", "live")
    check(board, "dashboard: the chat served and rated")
    desk = page_in(browser, language)
    signed_in(desk, stack, "/tickets", "alice", check)
    desk.get_by_role("button", name="New strap for SO-88121").click()
    expect(desk.locator("[data-testid=tk-change]").first).to_be_visible()
    check(desk, "tickets: one open")
    robot = page_in(browser, language)
    signed_in(robot, stack, "/robot", "admin", check)
    expect(robot.locator("[data-testid=faq-row]")).to_have_count(50)
    robot.locator("[data-testid=faq-open]").first.click()
    expect(robot.get_by_test_id("faq-editor-meta")).not_to_be_empty()
    check(robot, "robot: knowledge base, an FAQ open")
    robot.get_by_test_id("tab-try").click()
    robot.get_by_test_id("try-input").fill("where is my parcel")
    robot.get_by_test_id("try-submit").click()
    expect(robot.locator("[data-testid=try-hit]").first).to_be_visible(timeout=consoles.INDEXING_MS)
    check(robot, "robot: a question tried")
    robot.get_by_test_id("tab-settings").click()
    expect(robot.get_by_test_id("settings-greeting")).not_to_be_empty()
    check(robot, "robot: settings")
    robot.get_by_test_id("tab-transfer").click()
    check(robot, "robot: import and export")

    for page in (visitor, agent, board, desk, robot):
        page.context.close()
    check.assert_clean()


# -- the keyboard alone ------------------------------------------------------------------------------------------

# The focused element: a name for it (its test id, id, star or list item), its text, whether it is inside an open
# dialog, and whether focus is drawn on it (an outline).
FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return {name: "body", text: "", inDialog: false, ring: true};
  const style = getComputedStyle(e);
  const item = e.parentElement && e.parentElement.closest("li[data-testid]");  // a list's entry: its item's id
  return {name: e.dataset.testid || e.id || (e.dataset.stars && `star-${e.dataset.stars}`)
            || (item && item.dataset.testid) || e.tagName.toLowerCase(),
          text: e.textContent.trim().slice(0, 60), inDialog: !!e.closest("dialog[open]"),
          ring: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 1};
}"""


def tab_to(page: Page, name: str, key: str = "Tab", text: str = "", limit: int = 40) -> list[str]:
    """Press ``key`` until the element named ``name`` (and showing ``text``) has focus; every element on the way
    must draw its focus. The names passed, in order."""
    passed: list[str] = []
    for _ in range(limit):
        page.keyboard.press(key)
        now = page.evaluate(FOCUSED)
        assert now["ring"], f"focus is not drawn on {now['name']} ({now['text']!r})"
        passed.append(now["name"])
        if now["name"] == name and text in now["text"]:
            return passed
    raise AssertionError(f"{name} {text!r} not reached with {key}: {passed}")


def focused(page: Page) -> str:
    name: str = page.evaluate(FOCUSED)["name"]
    return name


def test_the_widget_is_used_with_the_keyboard_alone(stack: Stack, browser: Browser) -> None:
    agent = page_in(browser, "en")
    pages.sign_in(agent, stack, "alice")
    visitor = page_in(browser, "en", 420, 760)
    visitor.goto(f"{stack.base}/")
    expect(visitor.get_by_test_id("robot-greeting")).to_be_visible()

    # Tab reaches the message box past the actions above it, in the order they are shown.
    passed = tab_to(visitor, "vis-input")
    assert passed.index("vis-talk") < passed.index("vis-photo") < passed.index("vis-input"), passed
    visitor.keyboard.type("where is my parcel")
    visitor.keyboard.press("Enter")
    expect(visitor.locator(".msg[data-type=robot]")).to_have_count(2)

    # Back to "Talk to a person", and Enter: the agent joins.
    tab_to(visitor, "vis-talk", "Shift+Tab")
    visitor.keyboard.press("Enter")
    expect(visitor.get_by_test_id("vis-status")).to_have_text("You are chatting with Alice Chen")
    tab_to(visitor, "vis-input")
    visitor.keyboard.type("The strap broke")
    visitor.keyboard.press("Enter")
    expect(agent.locator("#messages [data-testid=msg][data-mine='0']").last).to_contain_text("strap broke")

    # The survey, rated and sent with keys: Tab to the fourth star, Space; Tab to a tag, Enter; on to Send.
    agent.get_by_test_id("con-resolve").click()
    survey = visitor.get_by_test_id("vis-survey")
    expect(survey).to_be_visible()
    tab_to(visitor, "star-4")
    visitor.keyboard.press("Space")
    expect(survey.locator("[data-stars='4']")).to_have_attribute("aria-pressed", "true")
    visitor.keyboard.press("Tab")
    visitor.keyboard.press("Tab")
    visitor.keyboard.press("Enter")
    expect(survey.get_by_test_id("vis-survey-tags").locator("[aria-pressed=true]")).to_have_count(1)
    tab_to(visitor, "vis-survey-send")
    visitor.keyboard.press("Enter")
    expect(survey).to_be_hidden()
    expect(visitor.get_by_test_id("vis-chat-ended")).to_be_visible()
    visitor.context.close()
    agent.context.close()


def test_the_console_is_used_with_the_keyboard_alone(stack: Stack, browser: Browser) -> None:
    # Signed in with keys: the name box has focus, the password is the next stop, Enter submits.
    agent = page_in(browser, "en")
    agent.goto(f"{stack.base}/console")
    expect(agent.get_by_test_id("login-user")).to_be_focused()
    agent.keyboard.type("alice")
    tab_to(agent, "login-pass")
    agent.keyboard.type("demo")
    agent.keyboard.press("Enter")
    expect(agent.locator("#conn")).to_have_text("open")

    visitors: dict[str, Page] = {}
    for name in ("Mei Lin", "Li Wei"):
        visitors[name] = console.open_widget(browser, stack, f"?name={name.replace(' ', '%20')}")
        visitors[name].get_by_test_id("vis-talk").click()
        expect(visitors[name].get_by_test_id("vis-status")).to_have_text("You are chatting with Alice Chen")
    expect(agent.locator("[data-testid=session-item]")).to_have_count(2)

    # The other chat of the list, reached with Tab and opened with Enter.
    title = agent.get_by_test_id("chat-title")
    other = "Li Wei" if "Mei Lin" in title.inner_text() else "Mei Lin"
    tab_to(agent, "session-item", text=other)
    agent.keyboard.press("Enter")
    expect(title).to_have_text(other)

    # On to the reply box; Enter sends.
    tab_to(agent, "con-input")
    agent.keyboard.type("Hello, how can I help?")
    agent.keyboard.press("Enter")
    expect(visitors[other].locator("[data-testid=msg][data-mine='0']").last).to_contain_text("how can I help")

    # The image form: its address box takes focus, and Upload (a file box under its label) is a stop of its own.
    tab_to(agent, "con-image", "Shift+Tab")
    agent.keyboard.press("Enter")
    expect(agent.get_by_test_id("con-image-url")).to_be_focused()
    tab_to(agent, "con-image-file")
    tab_to(agent, "image-cancel")
    agent.keyboard.press("Enter")
    expect(agent.get_by_test_id("image-form")).to_be_hidden()

    # The transfer dialog takes focus and keeps Tab inside it (past its last control focus goes to the browser's
    # own bar, as in any modal dialog, then back to its first): nothing behind it is reached. Escape closes it and
    # gives focus back to its button.
    tab_to(agent, "con-transfer", "Shift+Tab")
    agent.keyboard.press("Enter")
    expect(agent.get_by_test_id("transfer-dialog")).to_be_visible()
    expect(agent.get_by_test_id("transfer-target").first).to_be_visible()
    stops: list[str] = []
    while stops.count("transfer-note-input") < 2:  # round the dialog, back to where it started
        now = agent.evaluate(FOCUSED)
        assert now["inDialog"] or now["name"] == "body", f"focus left the dialog for {now['name']}"
        stops.append(now["name"])
        assert len(stops) < 40, stops
        agent.keyboard.press("Tab")
    agent.keyboard.press("Escape")
    expect(agent.get_by_test_id("transfer-dialog")).to_be_hidden()
    assert focused(agent) == "con-transfer"

    # Resolve, the next button: the visitor is asked for a rating.
    tab_to(agent, "con-resolve")
    agent.keyboard.press("Enter")
    expect(agent.get_by_test_id("chat-banner")).to_be_visible()
    expect(visitors[other].get_by_test_id("vis-survey")).to_be_visible()
    for page in (agent, *visitors.values()):
        page.context.close()
