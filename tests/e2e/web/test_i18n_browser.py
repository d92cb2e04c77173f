"""The pages in zh-CN and English in real headless Chromium: every text a page shows is one of its language's
catalogue (web/static/i18n/), the language follows the browser, the page's ?lang= and the switch, and Chinese
renders with a Chinese font."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from chalicelib import i18n
from local.harness import Stack, run_stack
from tests.e2e.web import test_consoles_browser as consoles
from tests.e2e.web import test_pages_browser as pages

pytestmark = pytest.mark.e2e

browser = pages.browser  # one Chromium for the module (the fixture of the page tests)
kb_loaded = consoles.kb_loaded  # the knowledge base searchable before the robot page is walked

CATALOGUES = Path(__file__).resolve().parents[3] / "web" / "static" / "i18n"
BROWSER_LOCALE = {"en": "en-US", "zh-CN": "zh-CN"}

# Placeholders that stand for figures: filled with anything but digits, separators and dates they fail, so that a
# template such as "{s} s" cannot pass an untranslated "Loading s". Every other placeholder stands for data.
FIGURES = ["count", "n", "s", "m", "h", "pct", "position", "total", "page", "pages", "status", "time", "ago", "active",
           "capacity", "free", "online", "waiting", "done"]

WALK = (Path(__file__).parent / "catalogue_walk.js").read_text(encoding="utf-8")


def catalogue(language: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((CATALOGUES / f"{language}.json").read_text(encoding="utf-8"))
    return data


def strays(page: Page, language: str) -> list[str]:
    """The texts on ``page`` that are not of ``language``'s catalogues: the page's, and the server's for the lines
    it sends (a queue offer, a transfer notice, the survey's question and tags)."""
    assert page.evaluate("document.documentElement.lang") == language
    texts = [*catalogue(language).values(), *i18n.catalogue(language).values()]
    found: list[str] = page.evaluate(WALK, [texts, FIGURES])
    return found


def in_language(browser: Browser, language: str, **options: Any) -> Page:
    """A page in a browser whose language is ``language`` (navigator.languages and Accept-Language)."""
    return browser.new_context(locale=BROWSER_LOCALE[language], **options).new_page()


def fonts_of(page: Page, selector: str) -> dict[str, int]:
    """The fonts Chromium drew ``selector``'s text with: family -> glyphs (DevTools' platform fonts)."""
    cdp = page.context.new_cdp_session(page)
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    cdp.send("CSS.enable")
    used = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cdp.detach()
    return {f["familyName"]: f["glyphCount"] for f in used}


def shown_switch(page: Page) -> Locator:
    """The page's language switch in view (the sign-in form and the signed-in header each have one)."""
    return page.locator("cs-lang-switch:visible")


# -- each page in each language: nothing shown outside the catalogue -------------------------------

def check_dashboard(stack: Stack, page: Page, language: str, seen: Callable[[str], None]) -> None:
    page.goto(f"{stack.base}/dashboard")
    expect(page.get_by_test_id("login-user")).to_be_visible()
    seen("dashboard sign-in")
    consoles.sign_in(page, stack, "/dashboard", "carol", "wrong")
    expect(page.get_by_test_id("login-error")).not_to_be_empty()
    seen("dashboard sign-in refused")
    consoles.sign_in(page, stack, "/dashboard", "alice")  # an agent: the page says who may use it
    expect(page.get_by_test_id("denied")).to_be_visible()
    seen("dashboard denied")
    page.get_by_test_id("denied-signout").click()
    consoles.sign_in(page, stack, "/dashboard", "carol")
    expect(page.locator("[data-testid=dash-group]").first).to_be_visible()
    expect(page.get_by_test_id("dash-conn")).to_have_attribute("data-state", "live")
    # The groups are named in the page's language (config/groups.json names them in both).
    general = page.locator("[data-testid=dash-group][data-group=general] .group-name")
    expect(general).to_have_text({"en": "General support", "zh-CN": "综合服务"}[language])
    seen("dashboard")
    page.get_by_test_id("signout").click()


def check_tickets(stack: Stack, page: Page, language: str, seen: Callable[[str], None]) -> None:
    request, admin = consoles.admin_api(page, stack)
    answer = request.post(f"{stack.base}/api/tickets", headers=admin, data={
        "subject": f"Parcel late ({language})", "customer": {"name": "Mei Lin"}, "group_id": "general",
        "priority": "high", "description": "The courier has not moved it."})
    assert answer.status == 201, answer.text()
    consoles.sign_in(page, stack, "/tickets", "alice")
    page.get_by_role("button", name=f"Parcel late ({language})").click()
    page.get_by_test_id("tk-move-pending").click()
    page.get_by_test_id("tk-comment-text").fill("Called the courier.")
    page.get_by_test_id("tk-comment-add").click()
    expect(page.locator("[data-testid=tk-comment]")).to_have_count(1)
    expect(page.locator("[data-testid=tk-change]")).to_have_count(2)
    seen("tickets")
    page.get_by_test_id("tk-save").click()  # nothing changed: a status line
    expect(page.get_by_test_id("tk-edit-status-line")).not_to_be_empty()
    page.get_by_test_id("tk-move-solved").click()
    page.get_by_test_id("tk-move-closed").click()
    expect(page.get_by_test_id("tk-comment-text")).to_be_disabled()
    seen("tickets, one closed")
    page.get_by_test_id("signout").click()


def check_robot(stack: Stack, page: Page, language: str, seen: Callable[[str], None]) -> None:
    consoles.sign_in(page, stack, "/robot", "admin")
    expect(page.locator("[data-testid=faq-row]")).to_have_count(50)
    page.locator("[data-testid=faq-open]").first.click()
    expect(page.get_by_test_id("faq-editor-meta")).not_to_be_empty()
    page.get_by_test_id("faq-delete").click()  # armed: "click again"
    seen("robot: knowledge base, an FAQ open")
    page.get_by_test_id("faq-search").fill("where is my parcel")
    page.get_by_test_id("faq-search-submit").click()
    expect(page.locator("[data-testid=faq-score]").first).to_be_visible(timeout=consoles.INDEXING_MS)
    seen("robot: search")
    page.get_by_test_id("tab-try").click()
    page.get_by_test_id("try-input").fill("where is my parcel")
    page.get_by_test_id("try-submit").click()
    expect(page.locator("[data-testid=try-hit]").first).to_be_visible(timeout=consoles.INDEXING_MS)
    seen("robot: try")
    page.get_by_test_id("tab-settings").click()
    expect(page.get_by_test_id("settings-greeting")).not_to_be_empty()
    seen("robot: settings")
    page.get_by_test_id("tab-transfer").click()
    page.get_by_test_id("import-submit").click()  # no file chosen: the form says so
    expect(page.get_by_test_id("import-result")).not_to_be_empty()
    seen("robot: import and export")
    page.get_by_test_id("signout").click()


def check_console(stack: Stack, page: Page, language: str, seen: Callable[[str], None]) -> None:
    consoles.sign_in(page, stack, "/console", "bob")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    seen("console")
    page.get_by_test_id("help-open").click()
    expect(page.get_by_test_id("help-dialog")).to_be_visible()
    seen("console: keyboard shortcuts")
    page.keyboard.press("Escape")
    page.get_by_test_id("tab-ticket").click()
    page.get_by_test_id("signout").click()


CHECKS: list[Callable[[Stack, Page, str, Callable[[str], None]], None]] = [
    check_dashboard, check_tickets, check_robot, check_console]


@pytest.mark.parametrize("language", ["en", "zh-CN"])
@pytest.mark.usefixtures("kb_loaded")
def test_every_text_of_every_page_is_in_the_catalogue(stack: Stack, browser: Browser, language: str) -> None:
    page = in_language(browser, language, viewport={"width": 1280, "height": 900})
    found: dict[str, list[str]] = {}

    def seen(view: str) -> None:
        found[view] = strays(page, language)

    for check in CHECKS:
        check(stack, page, language, seen)
    strayed = {view: texts for view, texts in found.items() if texts}
    assert not strayed, json.dumps(strayed, ensure_ascii=False, indent=1)
    assert len(found) >= 3
    page.context.close()


def test_the_walk_finds_a_text_outside_the_catalogue(stack: Stack, browser: Browser) -> None:
    """The catalogue test would fail on a stray text, attribute or title, and passes names marked as data."""
    page = in_language(browser, "zh-CN")
    page.goto(f"{stack.base}/dashboard")
    expect(page.get_by_test_id("login-user")).to_be_visible()
    assert strays(page, "zh-CN") == []
    page.evaluate("""() => {
      document.querySelector("#login-form h1").append(" Sign in");
      document.querySelector("#user").setAttribute("placeholder", "Username");
      const name = document.createElement("span");
      name.dataset.userContent = "";
      name.textContent = "Mei Lin";
      document.body.append(name);
      document.title = "Loading s";
    }""")
    assert sorted(strays(page, "zh-CN")) == sorted([
        "title: Loading s", "h1: Sign in", "input#user[login-user] @placeholder: Username"])
    page.context.close()


# -- choosing and switching -----------------------------------------------------------------------

def test_the_language_follows_the_browser_then_lang_then_the_switch(stack: Stack, browser: Browser) -> None:
    page = in_language(browser, "zh-CN")
    page.goto(f"{stack.base}/dashboard")
    expect(page.locator("#login-form h1")).to_have_text("主管监控看板")
    expect(page.get_by_test_id("login-submit")).to_have_text("登录")
    assert page.title() == "主管监控看板"

    page.goto(f"{stack.base}/dashboard?lang=en")  # a page's parameter wins over the browser
    expect(page.locator("#login-form h1")).to_have_text("Supervisor dashboard")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.goto(f"{stack.base}/dashboard")
    expect(shown_switch(page).get_by_test_id("lang-zh-CN")).to_have_attribute("aria-pressed", "true")
    shown_switch(page).get_by_test_id("lang-en").click()  # the switch: the page again, in English, and remembered
    expect(page.locator("#login-form h1")).to_have_text("Supervisor dashboard")
    expect(shown_switch(page).get_by_test_id("lang-en")).to_have_attribute("aria-pressed", "true")
    consoles.sign_in(page, stack, "/dashboard", "carol")
    expect(page.get_by_test_id("me")).to_have_text("Carol Wang · supervisor")
    page.reload()
    expect(page.get_by_test_id("signout")).to_have_text("Sign out")

    shown_switch(page).get_by_test_id("lang-zh-CN").click()  # the header's switch, signed in
    expect(page.get_by_test_id("signout")).to_have_text("退出登录")
    expect(page.get_by_test_id("me")).to_have_text("Carol Wang · 主管")
    expect(page.locator("#nav a")).to_have_text(["客服工作台", "工单", "监控看板", "报表"])
    page.context.close()

    english = in_language(browser, "en")  # a new browser profile in English: English, whatever was chosen elsewhere
    english.goto(f"{stack.base}/dashboard")
    expect(english.locator("#login-form h1")).to_have_text("Supervisor dashboard")
    english.context.close()


def test_chinese_renders_with_a_chinese_font(stack: Stack, browser: Browser) -> None:
    page = in_language(browser, "zh-CN")
    consoles.sign_in(page, stack, "/dashboard", "carol")
    heading = page.locator("main h1")
    expect(heading).to_have_text("实时排队")
    expect(heading).to_be_visible()  # drawn: the signed-in view is shown once the sign-in lands
    used = fonts_of(page, "main h1")
    assert sum(used.values()) == len("实时排队"), used  # every glyph drawn by a font that has it
    assert any("WenQuanYi" in family or "CJK" in family for family in used), used
    assert heading.evaluate("e => e.getBoundingClientRect().width") > 0
    page.context.close()


# -- the widget and the console in Chinese, end to end -----------------------------------------------

@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack of the test's own: nobody online until the test signs an agent in."""
    with run_stack(tmp_path, config_edit=pages.open_all_day) as running:
        yield running


def test_a_chinese_visitor_chats_with_an_agent_in_chinese(own_stack: Stack, browser: Browser) -> None:
    stack = own_stack
    visitor = in_language(browser, "zh-CN", viewport={"width": 420, "height": 760})
    visitor.goto(f"{stack.base}/")
    expect(visitor.get_by_test_id("vis-talk")).to_have_text("转人工")
    expect(visitor.get_by_test_id("robot-greeting")).to_contain_text("智能助手")  # the server's words, in Chinese
    expect(visitor.get_by_test_id("vis-input")).to_have_attribute("placeholder", "请输入消息…")
    assert strays(visitor, "zh-CN") == []
    talk = fonts_of(visitor, "[data-testid=vis-talk]")
    assert sum(talk.values()) == len("转人工") and any("WenQuanYi" in f or "CJK" in f for f in talk), talk
    assert visitor.get_by_test_id("vis-talk").evaluate("e => e.getBoundingClientRect().width") > 0

    # Nobody is online: the visitor waits in the queue, told so in Chinese.
    visitor.get_by_test_id("vis-talk").click()
    expect(visitor.get_by_test_id("vis-queue")).to_be_visible()
    expect(visitor.get_by_test_id("vis-queue-position")).to_have_text("下一位就是您")
    expect(visitor.get_by_test_id("vis-status")).to_have_text("正在等待客服接入…")
    assert strays(visitor, "zh-CN") == []

    # An agent comes online in a Chinese console and takes the chat.
    agent = in_language(browser, "zh-CN", viewport={"width": 1280, "height": 800})
    agent.goto(f"{stack.base}/console")
    agent.get_by_test_id("login-user").fill("alice")
    agent.get_by_test_id("login-pass").fill("demo")
    agent.get_by_test_id("login-submit").click()
    expect(agent.locator("#conn")).to_have_attribute("data-state", "live")
    expect(visitor.get_by_test_id("vis-status")).to_have_text("正在与 Alice Chen 对话")
    visitor.get_by_test_id("vis-input").fill("你好，这双鞋偏小吗？")
    visitor.get_by_test_id("vis-send").click()
    expect(agent.locator("#messages [data-testid=msg][data-mine='0']").last).to_contain_text("偏小")
    agent.get_by_test_id("con-input").fill("尺码标准，按平时的尺码选就可以。")
    agent.get_by_test_id("con-send").click()
    expect(visitor.locator("[data-testid=msg][data-mine='0']").last).to_contain_text("尺码标准")
    # The console names the chat's group, channel and language in Chinese, not as configured ids and codes.
    facts = agent.get_by_test_id("visitor-info")
    expect(facts.locator("[data-field=group]")).to_have_text("综合服务")
    expect(facts.locator("[data-field=channel]")).to_have_text("网页")
    expect(facts.locator("[data-field=language]")).to_have_text("中文")
    # And so does the transfer list, in its own order.
    agent.get_by_test_id("con-transfer").click()
    expect(agent.get_by_test_id("transfer-dialog")).to_be_visible()
    groups = agent.locator("[data-testid=transfer-target][data-kind=group]")
    expect(groups.and_(agent.locator("[data-id=general]"))).to_contain_text("综合服务")
    expect(groups.and_(agent.locator("[data-id=vip]"))).to_contain_text("VIP 专属服务")
    expect(groups.and_(agent.locator("[data-id=shoes]"))).to_contain_text("鞋类专区")
    assert strays(agent, "zh-CN") == []
    agent.keyboard.press("Escape")
    expect(agent.get_by_test_id("transfer-dialog")).to_be_hidden()
    mine = visitor.locator("[data-testid=msg][data-mine='1']").last
    expect(mine).to_have_attribute("data-status", "read")
    expect(mine).to_contain_text("已读")
    assert strays(visitor, "zh-CN") == []
    assert strays(agent, "zh-CN") == []

    # The agent resolves: the survey, in Chinese, answered.
    agent.get_by_test_id("con-resolve").click()
    survey = visitor.get_by_test_id("vis-survey")
    expect(survey).to_be_visible()
    expect(survey.get_by_test_id("vis-survey-question")).to_contain_text("满意")
    expect(survey.get_by_test_id("vis-survey-send")).to_have_text("提交评价")
    assert strays(visitor, "zh-CN") == []
    survey.locator("[data-stars='5']").click()
    survey.get_by_role("button", name="解决了问题").click()
    survey.get_by_test_id("vis-survey-send").click()
    expect(visitor.locator("p.system").last).to_have_text("感谢您的评价！")
    assert strays(visitor, "zh-CN") == []
    assert strays(agent, "zh-CN") == []

    # The switch: the widget again in English, remembered, the ended chat under the earlier ones.
    shown_switch(visitor).get_by_test_id("lang-en").click()
    expect(visitor.get_by_test_id("vis-talk")).to_have_text("Talk to a person")
    expect(visitor.locator("[data-testid=vis-earlier-item]")).to_contain_text(["with Alice Chen"])
    assert strays(visitor, "en") == []
    visitor.reload()
    expect(visitor.get_by_test_id("vis-input")).to_have_attribute("placeholder", "Type a message…")
    agent.context.close()
    visitor.context.close()
