"""Wrap-up reasons and internal notes in real headless Chromium against one local stack: an agent whose console
reads Chinese writes a note mentioning her supervisor, who is notified (a toast and a desktop notification) and
answers with a note of her own; the visitor's widget never shows either, live or after a reload; the Resolve dialog
lists the group's reasons in Chinese, refuses to resolve without one (the group requires it), is used with the
keyboard alone, and the ended chat shows the reason."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from local.harness import Stack, run_stack
from tests.e2e.web import test_console_browser as console
from tests.e2e.web import test_pages_browser as pages

pytestmark = pytest.mark.e2e

browser = pages.browser  # one Chromium for the module

REASONS = [
    {"code": "logistics", "label": {"zh-CN": "物流查询", "en": "Logistics"}},
    {"code": "returns", "label": {"zh-CN": "退换货", "en": "Returns & exchanges"}},
    {"code": "quality", "label": {"zh-CN": "质量问题", "en": "Quality problem"}},
]
NOTE = "@carol 客户要求退款 600 元，可以吗？"
ANSWER = "OK, refund approved"

# A stand-in for the browser's notifications, and a switch for "the tab is hidden": the console notifies on the
# desktop only while its tab is hidden and the user has turned notifications on.
NOTIFICATIONS = """
window.__shown = [];
window.__hidden = false;
Object.defineProperty(Document.prototype, "hidden", { get: () => window.__hidden, configurable: true });
class FakeNotification {
  constructor(title, options) { window.__shown.push({ title, body: options.body, tag: options.tag }); }
  close() {}
}
FakeNotification.permission = "granted";
FakeNotification.requestPermission = async () => "granted";
window.Notification = FakeNotification;
localStorage.setItem("cs.notify", "on");
"""


def wrapup_required(documents: dict[str, Any]) -> None:
    pages.open_all_day(documents)
    general = next(g for g in documents["groups"]["groups"] if g["id"] == "general")
    general["wrapup"] = {"required": True, "reasons": REASONS}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(Path(tmp_path_factory.mktemp("wrapup-notes")), config_edit=wrapup_required) as running:
        yield running


def staff(browser: Browser, stack: Stack, user: str, lang: str, init: str | None = None) -> Page:
    page = console.new_page(browser)
    if init:
        page.context.add_init_script(init)
    page.goto(f"{stack.base}/console?lang={lang}")
    page.get_by_test_id("login-user").fill(user)
    page.get_by_test_id("login-pass").fill("demo")
    page.get_by_test_id("login-submit").click()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    return page


def test_notes_stay_with_staff_and_a_resolve_asks_the_group_s_reason_in_chinese(stack: Stack,
                                                                               browser: Browser) -> None:
    alice = staff(browser, stack, "alice", "zh-CN")
    carol = staff(browser, stack, "carol", "en", init=NOTIFICATIONS)
    visitor = console.open_widget(browser, stack)
    visitor.get_by_test_id("vis-talk").click()
    expect(visitor.get_by_test_id("vis-status")).to_contain_text("Alice Chen")
    console.visitor_says(visitor, "I want my money back for order SO-88121")
    expect(alice.get_by_test_id("con-messages")).to_contain_text("money back")

    # A mention of someone who cannot be told (Bob has not signed in) is refused in Alice's language, and her
    # words come back to the box.
    alice.get_by_test_id("con-note").click()
    alice.get_by_test_id("note-input").fill("@bob 看一下")
    alice.get_by_test_id("note-send").click()
    expect(alice.get_by_test_id("con-toast")).to_have_text(
        "无法提醒 @bob：对方未登录，或无权查看这段会话。备注未添加。")
    expect(alice.get_by_test_id("note-input")).to_have_value("@bob 看一下")
    alice.get_by_test_id("note-input").fill("")

    # Alice writes a note that mentions Carol: a yellow "internal note" bubble with her name, in Chinese.
    carol.evaluate("window.__hidden = true")  # Carol's tab is in the background
    alice.get_by_test_id("con-note").click()
    alice.get_by_test_id("note-input").fill(NOTE)
    alice.get_by_test_id("note-send").click()
    note = alice.get_by_test_id("con-messages").get_by_test_id("note")
    expect(note).to_have_count(1)
    expect(note).to_contain_text("内部备注 · Alice Chen")
    expect(note).to_contain_text("退款 600 元")
    assert note.evaluate("el => getComputedStyle(el.querySelector('.bubble')).backgroundColor") == "rgb(255, 244, 194)"

    # Carol is told: a toast, a desktop notification, and the chat in her list to open.
    expect(carol.get_by_test_id("con-toast")).to_contain_text("Alice Chen mentioned you in a note")
    shown = carol.evaluate("window.__shown")
    assert [(n["title"], n["body"]) for n in shown] == [("Alice Chen mentioned you", f"Note: {NOTE}")], shown
    carol.evaluate("window.__hidden = false")
    carol.get_by_test_id("session-item").first.click()
    expect(carol.get_by_test_id("con-messages").get_by_test_id("note")).to_contain_text("退款 600 元")
    expect(carol.get_by_test_id("con-messages")).to_contain_text("money back")  # the history, in place
    expect(carol.get_by_test_id("con-input")).to_be_disabled()  # she reads it; she does not reply to the visitor
    carol.keyboard.press("Alt+i")  # the shortcut opens the note box, as its button does
    expect(carol.get_by_test_id("note-input")).to_be_focused()
    carol.get_by_test_id("note-input").fill(ANSWER)
    carol.get_by_test_id("note-input").press("Enter")
    expect(alice.get_by_test_id("con-messages").get_by_test_id("note").last).to_contain_text(
        "内部备注 · Carol Wang")
    expect(alice.get_by_test_id("con-messages").get_by_test_id("note").last).to_contain_text(ANSWER)

    # The visitor sees neither note: not as they were written, and not after a reload (the resumed history).
    console.agent_says(alice, "您好，退款已批准")
    expect(visitor.locator("[data-testid=msg][data-mine='0']").last).to_contain_text("退款已批准")
    for _ in range(2):
        page_text = visitor.locator("body").inner_text()
        assert "600" not in page_text and ANSWER not in page_text and "内部备注" not in page_text, page_text
        assert visitor.locator("[data-type=note]").count() == 0
        visitor.reload()
        expect(visitor.locator("[data-testid=msg][data-mine='0']").last).to_contain_text("退款已批准")

    # Resolve: the group's reasons in Chinese; the group requires one, so the dialog will not go without it.
    alice.get_by_test_id("con-resolve").click()
    dialog = alice.get_by_test_id("resolve-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_contain_text("结束与")
    expect(dialog.locator("legend")).to_have_text("小结原因 (必填)")
    expect(dialog.get_by_test_id("wrapup-option")).to_have_count(3)
    expect(dialog.locator(".ac-wrapup-option")).to_have_text(["物流查询", "退换货", "质量问题"])
    dialog.get_by_test_id("resolve-submit").click()
    expect(dialog.get_by_test_id("resolve-error")).to_have_text("请先选择小结原因。")
    expect(dialog).to_be_visible()
    expect(alice.get_by_test_id("con-resolve")).to_be_enabled()  # still open
    # With the keyboard alone: the first reason has the focus; the arrow picks the next, Tab reaches the note
    # and the button.
    expect(dialog.get_by_test_id("wrapup-option").first).to_be_focused()
    alice.keyboard.press("ArrowDown")
    expect(dialog.locator("[data-code=returns]")).to_be_checked()
    alice.keyboard.press("Tab")
    expect(dialog.get_by_test_id("wrapup-note")).to_be_focused()
    alice.keyboard.type("主管已批准退款")
    alice.keyboard.press("Tab")
    expect(dialog.get_by_test_id("resolve-submit")).to_be_focused()
    alice.keyboard.press("Enter")
    expect(dialog).to_be_hidden()

    # Closed, with the reason shown on the ended chat; the visitor is asked to rate it, and sees no reason.
    expect(alice.get_by_test_id("con-resolve")).to_be_disabled()
    expect(alice.get_by_test_id("chat-wrapup")).to_contain_text("小结：退换货")
    expect(alice.get_by_test_id("chat-wrapup")).to_contain_text("主管已批准退款")
    expect(visitor.get_by_test_id("vis-survey")).to_be_visible()
    assert "退换货" not in visitor.locator("body").inner_text()
    ended = alice.request.get(f"{stack.base}/api/sessions?status=closed",
                              headers=console.bearer(alice.request, stack, "alice")).json()["sessions"][0]
    assert (ended["wrapup"], ended["wrapup_note"], ended["close_reason"]) == ("returns", "主管已批准退款", "resolved")
    assert re.fullmatch(r"s_[0-9a-f]{20}", ended["session_id"])
