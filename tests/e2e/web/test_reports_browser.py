"""The reports page in headless Chromium against the local stack: charts drawn from chats that really ended (the
sessions table's stream feeding the aggregates), the filters, the CSV download, and an agent's own figures in
Chinese."""

from __future__ import annotations

import threading
import time
from typing import Any

import aiohttp
import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from local.harness import Stack, agent_token, connect, run_client
from tests.e2e.routing.test_routing import visitor
from tests.e2e.web import test_pages_browser as pages
from tests.e2e.web.a11y import axe_violations
from tests.e2e.web.test_i18n_browser import strays

pytestmark = pytest.mark.e2e

browser = pages.browser  # one Chromium for the module; the stack is tests/e2e/conftest.py's, one for the module

SERVED = 3  # chats alice ends, one of them rated, one from the app


@pytest.fixture(scope="module")
def ended(stack: Stack) -> None:
    """Alice serves and resolves three chats (the first rated 5 stars, the last from the app); a fourth visitor
    ends its robot chat. Then waits for the stream's consumer to have counted them."""
    async def scenario(http: aiohttp.ClientSession) -> None:
        alice = await connect(http, stack, await agent_token(http, stack.base, "alice"))
        await alice.request({"action": "hello"}, "welcome")
        for i in range(SERVED):
            peer = await visitor(http, stack, f"Shopper {i}", **({"channel": "app"} if i == SERVED - 1 else {}))
            session_id = (await peer.request({"action": "request_agent"}, "session"))["session"]["session_id"]
            await alice.text(session_id, "Hello, how can I help?")
            await peer.wait_for(lambda p: bool(p.by_event["message"]))
            await alice.send({"action": "resolve", "session_id": session_id})
            await peer.wait_for(lambda p: bool(p.by_event["survey"]))
            if i == 0:
                await peer.request({"action": "rate", "session_id": session_id, "stars": 5}, "rated")
            await peer.close()
        robot = await visitor(http, stack, "Browser")
        welcome = robot.by_event["welcome"][-1]
        await robot.request({"action": "end_session", "session_id": welcome["session"]["session_id"]}, "session")
        await robot.close()
        await alice.close()

    # On a thread of its own: Playwright's sync API holds an event loop in this one.
    worker = threading.Thread(target=run_client, args=(scenario,))
    worker.start()
    worker.join()
    token = requests.post(f"{stack.base}/api/auth/login", json={"username": "admin", "password": "demo"},
                          timeout=10).json()["token"]
    today = time.strftime("%Y-%m-%d", time.gmtime())
    for _ in range(100):  # the local stream is read every half second
        total = requests.get(f"{stack.base}/api/reports", params={"from": today, "to": today},
                             headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["total"]
        if total["conversations"] == SERVED + 1 and total["ratings"] == 1:
            break
        time.sleep(0.1)
    assert (total["conversations"], total["ratings"]) == (SERVED + 1, 1), total


def sign_in(page: Page, stack: Stack, user: str, query: str = "") -> None:
    page.goto(f"{stack.base}/reports{query}")
    page.get_by_test_id("login-user").fill(user)
    page.get_by_test_id("login-pass").fill("demo")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("me")).to_be_visible()


def kpi(page: Page, key: str) -> Any:
    return page.locator(f"[data-testid=reports-kpi][data-key={key}] strong")


def test_an_admin_reads_charts_filters_and_downloads_the_csv(stack: Stack, browser: Browser, ended: None) -> None:
    page = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True,
                               timezone_id="UTC", locale="en-US").new_page()
    sign_in(page, stack, "admin")
    expect(page.locator("#nav a")).to_have_text(["Agent console", "Tickets", "Dashboard", "Reports", "Robot"])
    expect(kpi(page, "conversations")).to_have_text(str(SERVED + 1))
    expect(kpi(page, "robot_resolution_rate")).to_have_text("25%")
    expect(kpi(page, "csat_mean")).to_have_text("5.0 ★")
    expect(kpi(page, "sla_share")).to_have_text("100%")  # every first reply came within a minute
    # Charts from those figures: the day's bar of robot-only and handed-off chats, lines of times and rates.
    expect(page.locator("#chart-conversations svg rect")).to_have_count(2)
    expect(page.locator("#chart-times svg path")).not_to_have_count(0)
    expect(page.locator("#chart-rates svg path")).to_have_count(3)
    expect(page.get_by_test_id("reports-row")).to_have_count(1)
    assert axe_violations(page) == []

    # Narrowed to the app channel, per hour.
    page.get_by_test_id("reports-scope").select_option("channel:app")
    page.get_by_test_id("reports-granularity").select_option("hour")
    page.get_by_test_id("reports-apply").click()
    expect(kpi(page, "conversations")).to_have_text("1")
    expect(page.get_by_test_id("reports-row")).to_have_count(1)
    expect(page.get_by_test_id("reports-row").locator("th")).to_contain_text(":00")

    with page.expect_download() as caught:
        page.get_by_test_id("reports-csv").click()
    download = caught.value
    assert download.suggested_filename.endswith("-hour.csv")
    with open(download.path(), encoding="utf-8-sig") as f:
        lines = f.read().splitlines()
    header = lines[0].split(",")
    assert header[:3] == ["Period", "Conversations", "Robot only"]
    rows = [line.split(",") for line in lines[1:]]
    assert len(rows) == 7 * 24  # every hour of the week shown, quiet ones included
    assert sum(int(r[1]) for r in rows) == 1
    page.context.close()


def test_an_agent_sees_its_own_figures_in_chinese(stack: Stack, browser: Browser, ended: None) -> None:
    page = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC",
                               locale="zh-CN").new_page()
    sign_in(page, stack, "alice", "?lang=zh-CN")
    expect(page.locator(".page-head h1")).to_have_text("历史报表")
    expect(page.locator("#nav a")).to_have_text(["客服工作台", "工单", "报表"])
    label = page.locator("[data-testid=reports-kpi][data-key=conversations] .kpi-label")
    expect(label).to_have_text("会话数")
    expect(kpi(page, "conversations")).to_have_text(str(SERVED))  # hers: the robot's chat is not
    expect(page.get_by_test_id("reports-scope").locator("option")).to_have_text(["我可查看的全部", "alice"])
    expect(page.get_by_test_id("reports-status")).to_contain_text("共结束 3 个会话")
    expect(page.get_by_test_id("reports-apply")).to_have_text("查询")
    found = strays(page, "zh-CN")
    assert found == [], "\n".join(found)  # every text on the page is of the Chinese catalogues
    page.context.close()
