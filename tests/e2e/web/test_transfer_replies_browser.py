"""The agent console in real headless Chromium against the local stack: a chat transferred from the list to an
online colleague and to a group, with the hand-over's lines in order on both sides; shared canned replies kept by
a supervisor and found with "/" in the composer; the keyboard shortcuts and their help."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from local.harness import Stack
from tests.e2e.web import test_console_browser as console
from tests.e2e.web import test_pages_browser as pages

pytestmark = pytest.mark.e2e

browser = pages.browser  # one Chromium for the module
stack = pages.stack      # a fresh stack per test
sign_in = pages.sign_in
new_page = console.new_page
agent_says = console.agent_says

LINES = "els => els.map(e => e.textContent)"


def zh_visitor(browser: Browser, stack: Stack) -> Page:
    """A visitor whose phone speaks Chinese: its session's language is zh-CN."""
    page = browser.new_context(viewport={"width": 420, "height": 760}, locale="zh-CN").new_page()
    page.goto(f"{stack.base}/")
    expect(page.get_by_test_id("robot-greeting")).to_be_visible()
    return page


NAMES = {"alice": "Alice Chen", "bob": "Bob Li"}  # the demo agents' display names (config/dev_users.json)


def talk_to(visitor: Page, agent: str) -> None:
    visitor.get_by_test_id("vis-talk").click()
    # The widget speaks its visitor's language: a Chinese phone's reads Chinese.
    name = re.escape(NAMES[agent])
    chatting = re.compile(rf"^(You are chatting with {name}|正在与 {name} 对话)$")
    expect(visitor.get_by_test_id("vis-status")).to_have_text(chatting)


def visitor_says(visitor: Page, text: str) -> None:
    visitor.get_by_test_id("vis-input").fill(text)
    visitor.get_by_test_id("vis-send").click()
    # Delivered, and read as soon as the agent's console shows it.
    expect(visitor.locator("[data-testid=msg][data-mine='1']").last).to_have_attribute(
        "data-status", re.compile("^(delivered|read)$"))


def system_lines(visitor: Page) -> list[str]:
    lines: list[str] = visitor.locator(".system").evaluate_all(LINES)
    return lines


def index_of(lines: list[str], pattern: str, *, last: bool = False) -> int:
    found = [i for i, line in enumerate(lines) if re.search(pattern, line)]
    assert found, (pattern, lines)
    return found[-1] if last else found[0]


def thread_lines(agent: Page) -> list[str]:
    lines: list[str] = agent.locator("#messages > *").evaluate_all(LINES)
    return lines


# -- transfer ----------------------------------------------------------------------------------------------

def test_a_chat_goes_to_a_colleague_picked_from_the_list_and_both_sides_read_it_in_order(
        stack: Stack, browser: Browser) -> None:
    bob = new_page(browser)
    sign_in(bob, stack, "bob")
    visitor = console.open_widget(browser, stack)
    talk_to(visitor, "bob")
    visitor_says(visitor, "My parcel has not arrived")
    agent_says(bob, "Let me hand you to Alice, she handles parcels")
    expect(visitor.locator("[data-testid=msg][data-mine='0']").last).to_contain_text("hand you to Alice")

    alice = new_page(browser)
    sign_in(alice, stack, "alice")
    bob.keyboard.press("Alt+t")  # the shortcut opens the same dialog as the button
    dialog = bob.get_by_test_id("transfer-dialog")
    expect(dialog).to_be_visible()
    target = bob.locator("[data-testid=transfer-target][data-kind=agent]")
    expect(target).to_have_count(1)  # alice: bob never lists himself
    expect(target).to_contain_text("Alice Chen")
    expect(target).to_contain_text("0 of 5 chats · 5 free")
    general = bob.locator("[data-testid=transfer-target][data-kind=group][data-id=general]")
    expect(general).to_contain_text("General support")
    expect(general).to_contain_text("2 online")
    target.click()
    expect(target).to_have_attribute("aria-pressed", "true")
    bob.get_by_test_id("transfer-note-input").fill("Parcel SO-88121 is late")
    bob.get_by_test_id("transfer-submit").click()
    expect(dialog).to_be_hidden()
    expect(bob.get_by_test_id("con-toast")).to_contain_text("transferred to alice")

    # The visitor reads that it is being transferred, then that Alice joined.
    expect(visitor.locator(".system", has_text="You are being transferred to Alice Chen")).to_have_count(1)
    expect(visitor.locator(".system", has_text=re.compile("joined")).last).to_contain_text(re.compile("alice|Alice"))
    lines = system_lines(visitor)
    assert index_of(lines, "being transferred") < index_of(lines, "joined", last=True), lines

    # Alice's console: the history first, then the hand-over, then what follows it.
    thread = alice.get_by_test_id("con-messages")
    expect(thread.locator("[data-role=agent]")).to_contain_text("hand you to Alice")
    # Each bubble keeps its sender's name: Bob's line before the hand-over is his, on both sides.
    expect(thread.locator("[data-role=agent]").first.get_by_test_id("sender-name")).to_have_text("Bob Li")
    expect(thread.locator("[data-testid=con-notice][data-kind=transfer]")).to_have_text(
        "Transferred to you by bob: “Parcel SO-88121 is late”")
    agent_says(alice, "Hi, Alice here")
    expect(visitor.locator("[data-testid=msg][data-mine='0']").last).to_contain_text("Alice here")
    theirs = visitor.locator("[data-testid=msg][data-mine='0']")
    expect(theirs.last.get_by_test_id("sender-name")).to_have_text("Alice Chen")
    expect(theirs.filter(has_text="hand you to Alice").get_by_test_id("sender-name")).to_have_text("Bob Li")
    lines = thread_lines(alice)
    assert index_of(lines, "not arrived") < index_of(lines, "hand you to Alice") < index_of(
        lines, "Transferred to you by bob") < index_of(lines, "Alice here"), lines


def test_a_chat_goes_to_a_group_picked_from_the_list_and_the_notice_comes_before_the_next_agent(
        stack: Stack, browser: Browser) -> None:
    bob = new_page(browser)
    sign_in(bob, stack, "bob")
    visitor = console.open_widget(browser, stack)
    talk_to(visitor, "bob")
    visitor_says(visitor, "I am a VIP member")
    alice = new_page(browser)
    sign_in(alice, stack, "alice")
    bob.get_by_test_id("agent-status").select_option("busy")  # keeps this chat, takes no new one
    expect(bob.get_by_test_id("agent-status")).to_have_value("busy")

    bob.get_by_test_id("con-transfer").click()
    vip = bob.locator("[data-testid=transfer-target][data-kind=group][data-id=vip]")
    expect(vip).to_contain_text("VIP service")
    # Bob is busy (once the server has it: Refresh reads the list again): only alice counts.
    for _ in range(20):
        if "1 online · 5 free · 0 waiting" in vip.inner_text():
            break
        bob.wait_for_timeout(250)
        bob.get_by_test_id("transfer-refresh").click()
    expect(vip).to_contain_text("1 online · 5 free · 0 waiting")
    # Only alice is free among bob's colleagues.
    expect(bob.locator("[data-testid=transfer-target][data-kind=agent]")).to_have_count(1)
    vip.click()
    bob.get_by_test_id("transfer-submit").click()
    expect(bob.get_by_test_id("transfer-dialog")).to_be_hidden()
    expect(bob.locator("[data-testid=session-item]")).to_have_count(0)

    expect(visitor.get_by_test_id("vis-status")).to_have_text("You are chatting with Alice Chen")
    lines = system_lines(visitor)
    assert index_of(lines, "being transferred to VIP service") < index_of(lines, "joined", last=True), lines
    thread = alice.get_by_test_id("con-messages")
    expect(thread.locator("[data-role=visitor]")).to_contain_text("VIP member")
    expect(thread.locator("[data-testid=con-notice][data-kind=transfer]")).to_have_text(
        "Transferred to you by bob (no note)")
    lines = thread_lines(alice)
    assert index_of(lines, "VIP member") < index_of(lines, "Transferred to you by bob"), lines


# -- canned replies --------------------------------------------------------------------------------------------

def add_reply(page: Page, language: str, shortcut: str, text: str) -> None:
    dialog = page.get_by_test_id("canned-dialog")
    page.get_by_test_id("canned-language").select_option(language)
    page.get_by_test_id("canned-shortcut").fill(shortcut)
    page.get_by_test_id("canned-text").fill(text)
    page.get_by_test_id("canned-save").click()
    expect(page.get_by_test_id("canned-status")).to_have_text("Saved: agents find it with /")
    expect(dialog.locator("[data-testid=canned-row]", has_text=f"/{shortcut}")).to_have_count(1)


def test_a_supervisor_shares_a_reply_that_an_agent_finds_with_slash(stack: Stack, browser: Browser) -> None:
    parcel = "亲，您的包裹已经发出，请留意物流信息。"
    carol = new_page(browser)
    sign_in(carol, stack, "carol")  # supervises general
    carol.get_by_test_id("canned-manage").click()
    expect(carol.get_by_test_id("canned-dialog")).to_be_visible()
    expect(carol.get_by_test_id("canned-group")).to_have_value("general")
    add_reply(carol, "zh-CN", "wuliu", parcel)
    add_reply(carol, "en", "wuliu-en", "Your parcel is on its way.")
    add_reply(carol, "zh-CN", "typo", "临时")
    carol.locator("[data-testid=canned-row]", has_text="/typo").get_by_test_id("canned-delete").click()
    expect(carol.locator("[data-testid=canned-row]", has_text="/typo")).to_have_count(0)

    alice = new_page(browser)
    sign_in(alice, stack, "alice")
    expect(alice.get_by_test_id("canned-manage")).to_be_hidden()  # agents read, never keep
    visitor = zh_visitor(browser, stack)
    talk_to(visitor, "alice")
    box = alice.get_by_test_id("con-input")
    expect(box).to_be_enabled()

    box.press_sequentially("/wu")
    items = alice.locator("[data-testid=canned-item]")
    # The chat is in zh-CN: the English reply is not offered.
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("/wuliu")
    expect(items.first).to_have_attribute("aria-selected", "true")
    box.press("Enter")  # inserts, does not send
    expect(box).to_have_value(parcel)
    expect(alice.get_by_test_id("canned-list")).to_be_hidden()
    expect(alice.locator("[data-testid=msg][data-role=agent]")).to_have_count(0)
    box.press("Enter")  # now it sends
    expect(visitor.locator("[data-testid=msg][data-mine='0']").last).to_contain_text(parcel)

    # "/" alone lists the shared reply and this browser's own ones; arrows move, Escape closes.
    box.fill("")
    box.press_sequentially("/")
    expect(items).not_to_have_count(0)
    first = items.nth(0).get_attribute("data-key")
    box.press("ArrowDown")
    expect(items.nth(1)).to_have_attribute("aria-selected", "true")
    expect(alice.locator("[data-testid=canned-item][data-key=mine-0]")).to_have_count(1)
    box.press("Escape")
    expect(alice.get_by_test_id("canned-list")).to_be_hidden()
    expect(box).to_have_value("/")
    assert first is not None


# -- shortcuts -------------------------------------------------------------------------------------------------

def test_the_help_overlay_lists_the_shortcuts_that_move_resolve_and_transfer(stack: Stack, browser: Browser) -> None:
    alice = new_page(browser)
    sign_in(alice, stack, "alice")
    first = console.open_widget(browser, stack, "?name=Mei%20Lin")
    talk_to(first, "alice")
    second = console.open_widget(browser, stack, "?name=Li%20Wei")
    talk_to(second, "alice")
    expect(alice.locator("[data-testid=session-item]")).to_have_count(2)

    alice.evaluate("document.activeElement && document.activeElement.blur()")
    alice.keyboard.press("?")
    help_ = alice.get_by_test_id("help-dialog")
    expect(help_).to_be_visible()
    expect(help_.get_by_test_id("help-keys")).to_contain_text("Alt + N")
    expect(help_.get_by_test_id("help-keys")).to_contain_text("Alt + R")
    expect(help_.get_by_test_id("help-keys")).to_contain_text("Alt + T")
    alice.keyboard.press("Escape")
    expect(help_).to_be_hidden()
    # "?" typed in the reply box is just a question mark.
    alice.get_by_test_id("con-input").press_sequentially("?")
    expect(help_).to_be_hidden()
    expect(alice.get_by_test_id("con-input")).to_have_value("?")

    title = alice.get_by_test_id("chat-title")
    before = title.inner_text()
    alice.keyboard.press("Alt+n")
    expect(title).not_to_have_text(before)
    after = title.inner_text()
    alice.keyboard.press("Alt+n")  # wraps round to the first
    expect(title).to_have_text(before)
    alice.keyboard.press("Alt+n")
    expect(title).to_have_text(after)

    alice.keyboard.press("Alt+t")
    expect(alice.get_by_test_id("transfer-dialog")).to_be_visible()
    alice.keyboard.press("Escape")
    expect(alice.get_by_test_id("transfer-dialog")).to_be_hidden()

    alice.keyboard.press("Alt+r")
    expect(alice.get_by_test_id("chat-banner")).to_contain_text("This chat has ended")
    resolved = first if after == "Mei Lin" else second
    expect(resolved.get_by_test_id("vis-survey")).to_be_visible()
