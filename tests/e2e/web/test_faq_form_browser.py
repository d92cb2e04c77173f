"""The robot page's FAQ form in real headless Chromium against the local stack (one stack for the module, from
conftest): every field the server refuses is marked at once, and a FAQ left without an id gets one."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from local.harness import Stack
from tests.e2e.web import test_pages_browser as pages

pytestmark = pytest.mark.e2e

browser = pages.browser  # one Chromium for the module
# The first write loads the search index: seconds, and many of them on a busy machine.
INDEXING_MS = 90_000


def test_the_faq_form_marks_every_faulty_field_at_once_and_makes_a_missing_id(stack: Stack,
                                                                               browser: Browser) -> None:
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    page.goto(f"{stack.base}/robot")
    page.get_by_test_id("login-user").fill("admin")
    page.get_by_test_id("login-pass").fill("demo")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("faq-caption")).to_contain_text("Page 1", timeout=INDEXING_MS)

    # No question, no answer, a '|' in a similar question and in a tag: one save shows all four.
    page.get_by_test_id("faq-new").click()
    page.get_by_test_id("faq-similar").fill("can I get an invoice\n\nfapiao | invoice")
    page.get_by_test_id("faq-tags").fill("billing, a|b")
    page.get_by_test_id("faq-save").click()
    # On the English page, the server's own words (the Chinese page says each refusal's code: below).
    expect(page.get_by_test_id("error-question")).to_have_text("'question' must be a non-empty string")
    expect(page.get_by_test_id("error-answer")).to_contain_text("'answer' is required")
    expect(page.get_by_test_id("error-similar")).to_contain_text("(line 3)")
    expect(page.get_by_test_id("error-tags")).to_contain_text("may not contain '|'")
    for field in ("faq-question", "faq-answer", "faq-similar", "faq-tags"):
        expect(page.get_by_test_id(field)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("faq-question")).to_be_focused()  # the first of them
    expect(page.get_by_test_id("faq-form-error")).to_be_empty()
    expect(page.get_by_test_id("error-faq_id")).to_be_empty()  # an empty id is no fault

    # Put right, with a Chinese question (no Latin words to suggest an id from) and the id left empty.
    page.get_by_test_id("faq-question").fill("能开发票吗？")
    page.get_by_test_id("faq-language").select_option("zh")
    page.get_by_test_id("faq-similar").fill("可以开发票吗")
    page.get_by_test_id("faq-tags").fill("billing")
    page.get_by_test_id("faq-answer").fill("可以，在“我的订单”中申请电子发票。")
    expect(page.get_by_test_id("faq-id")).to_have_value("")
    page.get_by_test_id("faq-save").click()
    expect(page.get_by_test_id("faq-status")).to_have_text(re.compile(r"^Created “faq-[0-9a-f]{6}”\.$"),
                                                           timeout=INDEXING_MS)
    made = page.get_by_test_id("faq-id").input_value()
    assert re.fullmatch(r"faq-[0-9a-f]{6}", made), made
    for slot in ("error-question", "error-answer", "error-similar", "error-tags"):
        expect(page.get_by_test_id(slot)).to_be_empty()
    expect(page.get_by_test_id("faq-editor-meta")).to_contain_text("version 1")

    # The same refusals on the Chinese page (the sign-in is shared): said in Chinese.
    page.goto(f"{stack.base}/robot?lang=zh-CN")
    page.get_by_test_id("faq-new").click()
    page.get_by_test_id("faq-save").click()
    expect(page.get_by_test_id("error-question")).to_have_text("“question”不能为空。")
    expect(page.get_by_test_id("error-answer")).to_have_text("“answer”为必填项。")
    page.context.close()
