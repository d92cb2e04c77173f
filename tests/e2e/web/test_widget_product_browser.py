"""The widget's "Share product" in real headless Chromium against the local stack: it sends the card of the
product the shop's page names in the widget's address, leaves out what it refuses and is not offered on a page
that names no product; the robot answers a card with a person offered."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, WebSocketRoute, expect

from local.harness import Stack
from tests.e2e.web import test_console_browser as console
from tests.e2e.web import test_pages_browser as pages

pytestmark = pytest.mark.e2e

browser = pages.browser  # one Chromium for the module
stack = pages.stack      # a fresh stack per test

SHOE = {"product_id": "SKU-1042", "product_title": "Trail Runner 2 — size 42", "product_price": "599.00",
        "product_currency": "cny", "product_url": "https://shop.example.com/p/SKU-1042",
        "product_image": "https://shop.example.com/img/SKU-1042.svg"}


class Widget:
    """A visitor's widget on a page with these parameters, its socket's frames to the server recorded."""

    def __init__(self, browser: Browser, stack: Stack, params: dict[str, str]) -> None:
        self.sent: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self.page: Page = console.new_page(browser, 420, 760)
        self.page.on("console", self._console)
        self.page.route_web_socket(re.compile(r".*/ws\?token=.*"), self._proxy)
        self.page.goto(f"{stack.base}/?{urlencode(params)}")
        expect(self.page.get_by_test_id("robot-greeting")).to_be_visible()

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "warning":
            self.warnings.append(message.text)

    def _proxy(self, route: WebSocketRoute) -> None:
        server = route.connect_to_server()

        def to_server(message: str | bytes) -> None:
            self.sent.append(json.loads(message))
            server.send(message)

        route.on_message(to_server)

    def cards(self) -> list[dict[str, Any]]:
        return [f["content"] for f in self.sent if f.get("action") == "send" and f.get("type") == "product"]


def test_the_widget_shares_the_product_its_page_names_and_the_robot_offers_a_person(stack: Stack,
                                                                                     browser: Browser) -> None:
    widget = Widget(browser, stack, {"category": "shoes", **SHOE})
    share = widget.page.get_by_test_id("vis-card")
    expect(share).to_be_visible()
    expect(share).to_have_attribute("title", SHOE["product_title"])
    share.click()

    # Exactly the page's product, the price a number and the currency in capitals, as protocol.md's product card.
    card = widget.page.locator("[data-testid=msg][data-mine='1'][data-type=product]")
    expect(card).to_have_attribute("data-status", "delivered")
    expect(card).to_contain_text("Trail Runner 2 — size 42")
    assert widget.cards() == [{"product_id": "SKU-1042", "title": "Trail Runner 2 — size 42", "price": 599,
                               "currency": "CNY", "url": "https://shop.example.com/p/SKU-1042",
                               "image_url": "https://shop.example.com/img/SKU-1042.svg"}]
    assert widget.warnings == []

    # The robot cannot look at a card: it says so kindly and offers a person, who gets the card with the chat.
    robot = widget.page.locator(".msg[data-type=robot]").last
    expect(robot).to_contain_text("Thanks, I have your card.")
    robot.get_by_test_id("robot-handoff").click()
    agent = console.new_page(browser)
    pages.sign_in(agent, stack, "alice")
    thread = agent.get_by_test_id("con-messages")
    expect(thread.locator("[data-type=product][data-role=visitor]")).to_contain_text("Trail Runner 2 — size 42")
    widget.page.context.close()
    agent.context.close()


def test_a_page_that_names_no_product_offers_no_card(stack: Stack, browser: Browser) -> None:
    plain = Widget(browser, stack, {"category": "shoes"})
    expect(plain.page.get_by_test_id("vis-card")).to_be_hidden()
    assert plain.warnings == []  # naming no product is no fault
    plain.page.context.close()

    # A product needs its id and its title: a page with one of them, or a refused one, offers no card either.
    for params, says in (
        ({"product_id": "SKU-1042", "product_price": "599"}, "product needs both product_id and product_title"),
        ({**SHOE, "product_title": "t" * 201}, "product_title is longer than 200 characters"),
        ({**SHOE, "product_id": "x" * 65}, "product_id is longer than 64 characters"),
        ({**SHOE, "product_id": "   "}, "product_id is empty"),
    ):
        widget = Widget(browser, stack, params)
        expect(widget.page.get_by_test_id("vis-card")).to_be_hidden()
        assert any(says in w for w in widget.warnings), (params, widget.warnings)
        widget.page.context.close()


def test_a_refused_optional_parameter_is_left_off_the_card_and_named(stack: Stack, browser: Browser) -> None:
    widget = Widget(browser, stack, {**SHOE, "product_price": "about 600", "product_currency": "RMB!",
                                     "product_url": "http://shop.example.com/p/SKU-1042",
                                     "product_image": "javascript:alert(1)"})
    widget.page.get_by_test_id("vis-card").click()
    expect(widget.page.locator("[data-testid=msg][data-mine='1'][data-type=product]")).to_have_attribute(
        "data-status", "delivered")
    # What each bad value gets: left off the card, and a warning naming the parameter and why.
    assert widget.cards() == [{"product_id": "SKU-1042", "title": "Trail Runner 2 — size 42"}]
    for says in ("product_price is not a number such as 599 or 89.90",
                 "product_currency is not a three-letter currency code such as CNY",
                 "product_url is not an https:// address", "product_image is not an https:// address"):
        assert any(says in w for w in widget.warnings), (says, widget.warnings)
    for price, reason in (("1e3", "is not a number"), ("2000000000000", "is over 10^12"),
                          ("0.0000001", "is not a number"), ("-5", "is not a number")):
        other = Widget(browser, stack, {**SHOE, "product_price": price})
        other.page.get_by_test_id("vis-card").click()
        expect(other.page.locator("[data-testid=msg][data-mine='1'][data-type=product]")).to_be_visible()
        assert "price" not in other.cards()[0], price
        assert any(f"product_price {reason}" in w for w in other.warnings), (price, other.warnings)
        other.page.context.close()
    widget.page.context.close()
