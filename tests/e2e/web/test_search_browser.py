"""Conversation search in real headless Chromium against one local stack: a Chinese chat about an order, resolved,
is found in the console by its order number and by a Chinese word, and opens read-only; the ticket made from it
shows the chat itself in the ticket console."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from local.harness import Stack, run_stack
from tests.e2e.web import test_console_browser as console
from tests.e2e.web import test_pages_browser as pages
from tests.e2e.web.a11y import axe_violations, field_edges, report

pytestmark = pytest.mark.e2e

browser = pages.browser  # one Chromium for the module
new_page = console.new_page

ASKED = "我想退货，订单 SO-88121 还没收到"
ANSWERED = "好的，我来帮您办理退货"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(Path(tmp_path_factory.mktemp("search")), config_edit=pages.open_all_day) as running:
        yield running


@pytest.fixture(scope="module")
def ended(stack: Stack, browser: Browser) -> Iterator[tuple[Page, str]]:
    """Alice's console after a chat with a visitor that she made a ticket of and resolved; the chat indexed (the
    local stand-in for the sessions table's stream). Yields her page and the ticket's id."""
    alice = new_page(browser)
    pages.sign_in(alice, stack, "alice")
    visitor = console.open_widget(browser, stack)
    visitor.get_by_test_id("vis-talk").click()
    expect(visitor.get_by_test_id("vis-status")).to_have_text(re.compile("Alice Chen"))
    console.visitor_says(visitor, ASKED)
    expect(alice.get_by_test_id("con-messages")).to_contain_text(ASKED)
    console.agent_says(alice, ANSWERED)
    expect(visitor.locator("[data-testid=msg][data-mine='0']").last).to_contain_text(ANSWERED)
    session_id = alice.evaluate("() => document.querySelector('[data-testid=list-online] [data-session-id]')"
                                ".dataset.sessionId")
    headers = console.bearer(alice.request, stack, "alice")
    made = alice.request.post(f"{stack.base}/api/tickets", headers=headers,
                              data={"subject": "退货 SO-88121", "session_id": session_id})
    assert made.ok, made.text()
    alice.get_by_test_id("con-resolve").click()
    expect(alice.get_by_test_id("con-resolve")).to_be_disabled()
    indexed = alice.request.post(f"{stack.base}/_local/actions/index_conversations", data={})
    assert indexed.ok and indexed.json() == {"indexed": 1}, indexed.text()
    visitor.context.close()
    yield alice, made.json()["ticket_id"]
    alice.context.close()


def search(page: Page, **fields: str) -> None:
    page.get_by_test_id("search-reset").click()
    for name, value in fields.items():
        page.get_by_test_id(f"search-{name}").fill(value)
    page.get_by_test_id("search-submit").click()


def test_a_chat_is_found_by_its_order_number_and_a_chinese_word_and_opens_read_only(
        ended: tuple[Page, str]) -> None:
    alice, _ = ended
    alice.get_by_test_id("search-open").click()
    dialog = alice.get_by_test_id("search-dialog")
    expect(dialog).to_be_visible()

    search(alice, order="so-88121")
    hit = alice.get_by_test_id("search-hit")
    expect(hit).to_have_count(1)
    expect(alice.get_by_test_id("search-status")).to_have_text("1 conversation found")
    expect(hit.get_by_test_id("search-hit-agent")).to_have_text("Alice Chen")
    expect(hit.get_by_test_id("search-hit-group")).to_have_text(re.compile(r"\S"))
    expect(hit.get_by_test_id("search-hit-rating")).to_have_text("Not rated")

    search(alice, q="退货")
    expect(hit).to_have_count(1)
    expect(hit.locator("mark").first).to_have_text("退货")
    expect(hit.get_by_test_id("search-snippet")).to_contain_text("SO-88121")
    assert report(axe_violations(alice)) + field_edges(alice) == []  # WCAG 2.1 AA, as every page

    search(alice, q="退款")  # the words must be in the chat
    expect(alice.get_by_test_id("search-status")).to_contain_text("No conversation matches")

    search(alice, q="退货", customer="nobody")
    expect(alice.get_by_test_id("search-status")).to_contain_text("No conversation matches")

    search(alice, q="退货")
    hit.click()
    transcript = alice.get_by_test_id("search-transcript")
    expect(transcript.get_by_test_id("transcript-msg")).to_have_count(2)
    expect(transcript.get_by_test_id("transcript-msg").first).to_contain_text(ASKED)
    expect(transcript.get_by_test_id("transcript-msg").last).to_contain_text(ANSWERED)
    expect(alice.get_by_test_id("search-view")).to_contain_text("Read only")
    expect(dialog.locator("textarea, [contenteditable]")).to_have_count(0)  # nothing to write with
    assert report(axe_violations(alice)) == []
    alice.get_by_test_id("search-back").click()
    expect(hit).to_be_visible()
    alice.get_by_test_id("search-close").click()
    expect(dialog).to_be_hidden()


def test_in_chinese_every_word_of_the_search_is_the_catalogues(stack: Stack, browser: Browser,
                                                               ended: tuple[Page, str]) -> None:
    from tests.e2e.web.test_i18n_browser import strays

    page = new_page(browser)
    pages.sign_in(page, stack, "alice")
    page.goto(f"{stack.base}/console?lang=zh-CN")
    page.get_by_test_id("search-open").click()
    search(page, q="退货")
    expect(page.get_by_test_id("search-status")).to_have_text("找到 1 个会话")
    expect(page.get_by_test_id("search-hit-rating")).to_have_text("未评价")
    assert strays(page, "zh-CN") == []
    page.get_by_test_id("search-hit").click()
    expect(page.get_by_test_id("transcript-msg")).to_have_count(2)
    assert strays(page, "zh-CN") == []
    page.context.close()


def test_a_ticket_made_from_the_chat_shows_the_chat(stack: Stack, ended: tuple[Page, str]) -> None:
    alice, ticket_id = ended
    alice.goto(f"{stack.base}/tickets?ticket={ticket_id}")
    chat = alice.get_by_test_id("tk-chat")
    expect(chat.get_by_test_id("transcript-msg")).to_have_count(2)
    expect(chat.get_by_test_id("transcript-msg").first).to_contain_text(ASKED)
    expect(alice.get_by_test_id("tk-facts")).not_to_contain_text("s_")  # the chat, not its id
