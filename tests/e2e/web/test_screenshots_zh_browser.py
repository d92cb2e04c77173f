"""The Chinese screenshots of the docs and the README (UPDATE_SCREENSHOTS=1): a Chinese visitor of a shoe shop
is answered by the robot from the Chinese FAQs, asks for a person (转人工), shares the product and gets an order
card; the agent's console, its internal note and wrap-up dialog, the ticket console, the dashboard and robot
management, every page in zh-CN. The English ones come from test_console_browser.py and test_consoles_browser.py,
whose helpers these use; skipped in the normal suite, they cost it nothing."""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, Page, expect

from local.harness import Peer, Stack, run_stack
from tests.e2e.web import test_console_browser as console
from tests.e2e.web import test_consoles_browser as consoles
from tests.e2e.web import test_pages_browser as pages

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.environ.get("UPDATE_SCREENSHOTS") != "1",
                                                  reason="writes docs/screenshot-zh-*.png")]

browser = pages.browser  # one Chromium for the module
stack = pages.stack      # a fresh stack per test, every group open around the clock

DOCS = console.DOCS
# The shoe's page of the Chinese shop, as it embeds the widget: the product it is about, for 发送商品.
SHOE_PAGE = "?" + urlencode({
    "lang": "zh-CN", "category": "shoes", "source": "/product/SKU-1042", "name": "王芳",
    "product_id": "SKU-1042", "product_title": "轻跑 2 代缓震跑鞋 — 42 码", "product_price": "599",
    "product_currency": "CNY", "product_url": "https://shop.example.com/p/SKU-1042",
    "product_image": "https://shop.example.com/img/SKU-1042.svg"})
ORDER = "SO-88236"  # the demo shop's Chinese order (config/demo/commerce.json)


def staff_page(browser: Browser, stack: Stack, path: str, user: str, width: int = 1440, height: int = 900) -> Page:
    """A staff page in a Chinese browser (so the pages it opens read Chinese too), signed in, with the
    desktop-notification prompt answered (it would take a line of every console screenshot)."""
    page = console.new_page(browser, width, height, locale="zh-CN")
    console.sign_in_at(page, stack, path, user)
    expect(page.get_by_test_id("me")).to_contain_text(" · ")
    if path == "/console":
        expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        page.get_by_test_id("notify-no").click()
    return page


def shoot(page: Page, name: str) -> None:
    """The viewport as docs/screenshot-zh-{name}.png, once nothing moves (no pointer over a control, no toast)."""
    page.evaluate("window.scrollTo(0, 0)")
    page.mouse.move(0, 0)
    toast = page.get_by_test_id("con-toast")
    if toast.count():
        expect(toast).to_be_hidden()
    page.wait_for_timeout(300)
    page.screenshot(path=str(DOCS / f"screenshot-zh-{name}.png"))


def test_screenshots_zh_of_the_widget_the_agent_console_and_tickets(stack: Stack, browser: Browser) -> None:
    crowd = console.Visitors(stack)
    alice = staff_page(browser, stack, "/console", "alice")
    alice.get_by_test_id("agent-capacity").fill("6")
    alice.get_by_test_id("agent-capacity").press("Enter")
    expect(alice.get_by_test_id("agent-load")).to_contain_text("6")

    # Bob hands Alice a long-standing customer with a note; then the next chats are hers.
    alice.get_by_test_id("agent-status").select_option("busy")
    bob = crowd.staff("bob")
    _, vip = crowd.chat("刘洋", None, "收到的保温杯外盒压扁了，杯身也有凹痕，能退款吗？", language="zh-CN")
    alice.get_by_test_id("agent-status").select_option("online")
    expect(alice.get_by_test_id("agent-status")).to_have_value("online")
    alice.wait_for_timeout(300)
    crowd.send(bob, {"action": "transfer", "session_id": vip, "to_agent": "alice",
                     "note": "老客户，已提出补发新品，她更希望退款。"})
    crowd.send(bob, {"action": "set_status", "status": "busy"})
    expect(alice.locator("[data-testid=session-item]", has_text="刘洋")).to_be_visible()
    crowd.chat("张伟", "3c", "NC700 降噪耳机能同时连两台手机吗？", language="zh-CN")
    gone, _ = crowd.chat("陈洁", "bags", "这款斜挎包防水吗？下雨天能背吗？", language="zh-CN")
    crowd.drop(gone)
    crowd.leave("赵敏", "公司想批量采购 40 双跑鞋，麻烦回个电话谈一下价格和发票。", "zhao.min@example.com")
    crowd.leave("孙丽", "双 11 活动结束前下单，能发到香港吗？运费怎么算？", "+852 5550 1234")
    alice.get_by_test_id("refresh-left").click()
    expect(alice.locator("[data-testid=left-item]")).to_have_count(2)

    # A Chinese visitor on the shoe's page: the robot answers from the Chinese FAQs...
    visitor = console.open_widget(browser, stack, SHOE_PAGE)
    headers = console.bearer(visitor.request, stack, "admin")
    faq = visitor.request.get(f"{stack.base}/api/faqs/shipping-change-address-shipped-zh", headers=headers).json()
    visitor.get_by_test_id("vis-input").fill("已经发货了还能改收货地址吗？")
    visitor.get_by_test_id("vis-send").click()
    robot = visitor.locator(".msg[data-type=robot]")
    expect(robot).to_have_count(2)  # the greeting and the answer
    expect(robot.last).to_contain_text(faq["answer"].split("\n")[0][:30])

    # ...then 转人工: Alice (the shoe group's first agent) takes the chat.
    visitor.get_by_test_id("vis-talk").click()
    expect(visitor.get_by_test_id("vis-status")).to_have_text("正在与 Alice Chen 对话")
    console.visitor_says(visitor, f"您好，订单 {ORDER} 已经发货了，还能改地址吗？"
                                  "想改寄到公司：上海市浦东新区张江路 88 号")
    shoot(visitor, "visitor-robot")
    alice.locator("[data-testid=session-item]", has_text=ORDER).click()
    expect(alice.locator("[data-testid=sop-item]").first).to_be_visible()
    alice.locator("[data-testid=sop-item]").first.get_by_test_id("sop-send").click()
    visitor.get_by_role("button", name="发送商品").click()
    console.visitor_says(visitor, "另外这双鞋偏码吗？我平时穿 42 码。下单时忘了用满 300 减 50 的优惠券，还能补吗？")
    console.agent_says(alice, "这款鞋码数标准，按平时的 42 码选就好。优惠券已经自动抵扣了 50 元，订单信息发您看一下：")
    alice.get_by_test_id("tab-order").click()
    expect(alice.get_by_test_id("order-id")).to_have_value(ORDER)  # picked from the chat
    alice.get_by_test_id("order-lookup").click()
    expect(alice.get_by_test_id("order-card")).to_contain_text("顺丰速运")
    alice.get_by_test_id("order-card").get_by_test_id("order-send").click()
    expect(visitor.locator("[data-testid=msg][data-type=order]")).to_contain_text(ORDER)
    expect(visitor.locator("[data-testid=msg][data-type=order] .badge")).to_have_text("已发货")
    console.agent_says(alice, "我这边联系顺丰拦截改派，改好后短信通知您，预计明天送到公司。")
    expect(visitor.locator("[data-testid=msg][data-mine='0']").last).to_contain_text("顺丰")

    # A note for the supervisor (signed in, so that she can be told), never shown to the visitor.
    crowd.staff("carol")
    alice.get_by_test_id("con-note").click()
    alice.get_by_test_id("note-input").fill("@carol 已发货订单需要顺丰拦截改派（到付 12 元），由店铺承担可以吗？")
    alice.get_by_test_id("note-send").click()
    expect(alice.get_by_test_id("con-messages").get_by_test_id("note")).to_contain_text("内部备注 · Alice Chen")

    # A ticket for the re-routing, made from the chat.
    alice.get_by_test_id("tab-ticket").click()
    alice.get_by_test_id("ticket-subject").fill(f"{ORDER} 拦截改派到公司地址")
    alice.get_by_test_id("ticket-fill").click()
    alice.get_by_test_id("ticket-order").fill(ORDER)
    alice.get_by_test_id("ticket-priority").select_option("high")
    alice.get_by_test_id("ticket-create").click()
    expect(alice.locator("[data-testid=customer-ticket]")).to_have_count(1)
    alice.get_by_test_id("tab-answers").click()
    expect(alice.locator("[data-testid=sop-item]").first).to_be_visible()
    shoot(alice, "console")
    shoot(visitor, "visitor")

    # The ticket console: a few tickets of the shop in different states, the new one open with its history.
    tickets = console.open_tickets_beside(alice, stack, "刘洋", (
        ("保温杯运输破损，申请退款", "urgent", "pending"),
        ("轻跑 2 代 42 码换 43 码", "normal", "solved"),
        ("开具公司抬头增值税发票", "low", "open"),
        ("双 11 预售尾款未付，订单被取消", "normal", "open")))
    expect(tickets.get_by_test_id("tk-subject")).to_have_text(f"{ORDER} 拦截改派到公司地址")
    tickets.get_by_test_id("tk-move-pending").click()
    expect(tickets.locator("[data-testid=tk-change]")).to_have_count(2)
    tickets.get_by_test_id("tk-comment-text").fill("已联系顺丰，今晚更新面单，明天送到新地址。")
    tickets.get_by_test_id("tk-comment-add").click()
    expect(tickets.locator("[data-testid=tk-comment]")).to_have_count(1)
    shoot(tickets, "tickets")

    # Resolve: the shoe group asks for its wrap-up reason, in Chinese.
    alice.bring_to_front()
    alice.get_by_test_id("con-resolve").click()
    dialog = alice.get_by_test_id("resolve-dialog")
    expect(dialog.locator(".ac-wrapup-option").first).to_have_text("物流查询")
    dialog.locator("[data-code=logistics]").check()
    dialog.get_by_test_id("wrapup-note").fill("已申请顺丰拦截改派，工单跟进")
    shoot(alice, "wrapup")
    dialog.get_by_test_id("resolve-submit").click()
    expect(alice.get_by_test_id("chat-wrapup")).to_contain_text("小结：物流查询")
    expect(visitor.get_by_test_id("vis-survey")).to_be_visible()
    crowd.close()
    for page in (tickets, alice, visitor):
        page.context.close()


def test_screenshots_zh_of_the_dashboard_and_robot_management(browser: Browser, tmp_path: Path) -> None:
    with run_stack(tmp_path, config_edit=consoles.showcase) as shop:
        board = staff_page(browser, shop, "/dashboard", "carol", 1366, 1000)
        expect(board.get_by_test_id("dash-conn")).to_have_attribute("data-state", "live")
        agents = []
        for user in ("alice", "bob"):
            agent = console.new_page(browser)
            pages.sign_in(agent, shop, user)
            agents.append(agent)
        agents[1].locator("#status").select_option("busy")

        crowd = consoles.Crowd(shop)
        arrivals = [("王芳", None), ("李强", "electronics"), ("陈静", "cosmetics"), ("赵磊", None),
                    ("孙悦", "cosmetics"), ("周杰", "electronics"), ("吴敏", "cosmetics"), ("郑浩", None),
                    ("冯雪", "cosmetics"), ("马丽", None), ("胡军", "shoes"), ("林涛", None)]
        waiting: list[Peer] = []
        for name, category in arrivals:
            waiting.append(crowd.arrive(name, category))
            time.sleep(4)  # arrivals spread over a minute, for the chart
        agents[0].locator("[data-testid=session-item]").first.click()
        agents[0].get_by_test_id("con-end").click()  # a chat ends: the queue moves
        time.sleep(3)
        crowd.send(waiting[-1], {"action": "leave_message", "text": "麻烦回个电话，我的订单一直没发货。",
                                 "reason": "visitor"})
        time.sleep(6)
        shoot(board, "dashboard")
        crowd.close()

        robot = staff_page(browser, shop, "/robot", "admin", 1366, 900)
        robot.get_by_test_id("faq-language-filter").select_option("zh")
        robot.get_by_test_id("faq-search").fill("优惠券过期了还能用吗")
        robot.get_by_test_id("faq-search-submit").click()
        expect(robot.get_by_test_id("faq-caption")).to_contain_text("优惠券过期了还能用吗",
                                                                    timeout=consoles.INDEXING_MS)
        robot.locator("[data-testid=faq-open]").first.click()
        expect(robot.get_by_test_id("faq-editor-meta")).not_to_be_empty()
        shoot(robot, "robot")
        for page in (board, *agents, robot):
            page.context.close()
