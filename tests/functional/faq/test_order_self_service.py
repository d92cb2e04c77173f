"""Order self-service on moto: the robot shows a signed-in customer its own orders, refuses another's exactly as a
missing one, asks an anonymous visitor for the shop's check, limits wrong checks, and offers a person when the
shop's system is down. The shop is a small recording fake; the FAQ side is a matcher that never answers."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from chalicelib.auth.identity import Identity
from chalicelib.commerce.model import CommerceError
from chalicelib.edge.frames import handle_frame
from chalicelib.faq.matcher import Decision
from chalicelib.faq.model import Faq, OrderAction, OrderSettings, RobotSettings
from chalicelib.faq.orders import OrderDesk
from chalicelib.faq.robot import RobotService
from chalicelib.faq.store import order_settings
from chalicelib.platform import metering
from chalicelib.platform.quota import Quota
from chalicelib.sessions.models import Session
from chalicelib.wiring import Services, build
from tests.conftest import RecordingSender, RecordingTimer, count_aws_calls, routing_config


def order(order_id: str, customer: str, status: str, **shipping: Any) -> dict[str, Any]:
    return {"order_id": order_id, "customer_id": customer, "status": status, "created_at": 1795400000000,
            "total": 114.4, "currency": "USD", "items": [{"product_id": "SKU-1042", "title": "Trail Runner 2",
                                                          "quantity": 1, "price": 89.9}],
            "shipping": {"carrier": None, "tracking_number": None, "eta": None, **shipping},
            "checks": {"phone_last4": "0042", "postcode": "200001"}}


ORDERS = [order("SO-88121", "c_1001", "shipped", carrier="SF Express", tracking_number="SF1402987731",
                eta="2026-11-27"),
          order("SO-88087", "c_1001", "delivered", carrier="SF Express", tracking_number="SF1402611208"),
          order("SO-88140", "c_1002", "processing")]


class Shop:
    """The shop's order system: the orders above, each call recorded; ``down`` makes every call fail as the
    HTTP hook reports an unreachable system, ``odd`` answers a lookup with a list, as a broken system might."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.down = False
        self.odd = False  # answers an order lookup with something that is no order

    def _up(self) -> None:
        if self.down:
            raise CommerceError("unavailable", "the shop's system could not be read: timed out")

    def order(self, order_id: str) -> dict[str, Any]:
        self.calls.append(("order", order_id))
        self._up()
        if self.odd:
            return json.loads('["not", "an", "order"]')  # type: ignore[no-any-return]
        for o in ORDERS:
            if o["order_id"] == order_id:
                return dict(o)
        raise CommerceError("not_found", f"no order {order_id}")

    def orders_of(self, customer_id: str, limit: int) -> list[dict[str, Any]]:
        self.calls.append(("orders_of", customer_id))
        self._up()
        return [dict(o) for o in ORDERS if o["customer_id"] == customer_id][:limit]

    def recommend(self, category: str | None, limit: int) -> list[dict[str, Any]]:
        return []


class NeverSure:
    """The FAQ matcher, for questions the order flow leaves alone: never sure, nothing to suggest."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def decide(self, text: str, threshold: float, **_: Any) -> Decision:
        self.asked.append(text)
        return Decision(answer=None)


@dataclasses.dataclass
class Chat:
    svc: Services
    sender: RecordingSender
    shop: Shop
    faq: NeverSure
    settings: list[RobotSettings]
    visitor: Identity

    def say(self, text: str) -> dict[str, Any]:
        session = self.svc.sessions.current(self.visitor)
        assert session is not None
        n = len(self.sender.frames("cv", "delivered"))
        handle_frame(self.svc, "cv", json.dumps({"action": "send", "session_id": session.session_id,
                                                 "client_msg_id": f"m{n}", "type": "text", "content": {"text": text}}))
        replies = [f["message"]["content"] for f in self.sender.frames("cv", "message")
                   if f["message"]["sender_role"] == "robot"]
        last: dict[str, Any] = replies[-1]
        return last

    def session(self) -> Session:
        session = self.svc.sessions.current(self.visitor)
        assert session is not None
        return session


CUSTOMER = Identity(user_id="c:c_1001", role="visitor", name="Mei", channel="app", language="zh-CN")
ANONYMOUS = Identity(user_id="v_0123456789abcdef", role="visitor", channel="web", language="en")
SETTINGS = RobotSettings(orders=OrderSettings(check="phone_last4", check_attempts=3))
NOW = 1_795_400_100.0  # the tries' 15-minute window is fixed, so none turns mid-test


def open_chat(svc: Services, visitor: Identity, settings: RobotSettings, sender: RecordingSender) -> Chat:
    shop, faq, box = Shop(), NeverSure(), [settings]

    def no_faqs(ids: Sequence[str]) -> dict[str, Faq]:
        return {}

    robot = RobotService(svc.presence, svc.im, svc.sessions, lambda: faq,  # type: ignore[arg-type,return-value]
                         lambda: box[0], no_faqs, svc.routing.request_agent,
                         orders=OrderDesk(lambda: shop, Quota(clock=lambda: NOW)))
    svc = dataclasses.replace(svc, robot=robot)
    svc.sessions.current_or_new(visitor, svc.presence.connect("cv", visitor))
    return Chat(svc, sender, shop, faq, box, visitor)


@pytest.fixture
def services(aws: None, sender: RecordingSender, timer: RecordingTimer) -> Services:
    config = routing_config()
    return build(sender, timer, config=lambda: config)


def test_a_signed_in_customer_gets_its_own_order_with_tracking_in_its_language(
        services: Services, sender: RecordingSender) -> None:
    chat = open_chat(services, CUSTOMER, SETTINGS, sender)
    reply = chat.say("我的订单 SO-88121 还没到")
    assert reply["order"] == {"order_id": "SO-88121", "status": "shipped", "total": 114.4, "currency": "USD",
                              "items": [{"title": "Trail Runner 2", "quantity": 1, "price": 89.9}]}
    assert "checks" not in json.dumps(reply)  # what proves an order is never shown
    assert reply["order_intent"] == "where" and reply["order_status_text"] == "已发货"
    assert reply["tracking"] == {"carrier": "SF Express", "tracking_number": "SF1402987731", "eta": "2026-11-27"}
    assert reply["text"] == "您的订单 SO-88121：已发货。 SF Express，运单号 SF1402987731。 预计 2026-11-27 送达。"
    assert chat.shop.calls == [("order", "SO-88121")] and chat.faq.asked == []  # no FAQ search for it


def test_another_customers_number_is_answered_exactly_like_a_missing_one(
        services: Services, sender: RecordingSender) -> None:
    chat = open_chat(services, CUSTOMER, SETTINGS, sender)
    theirs = chat.say("where is SO-88140")
    missing = chat.say("where is SO-99999")
    assert theirs == missing == {"text": "没有找到这笔订单。请核对您发送的信息，或转人工客服。", "handoff": True,
                                 "order_intent": "where"}


def test_without_a_number_a_customer_gets_the_only_fitting_order_or_its_recent_ones(
        services: Services, sender: RecordingSender) -> None:
    chat = open_chat(services, dataclasses.replace(CUSTOMER, language="en"), SETTINGS, sender)
    # Two orders, one on its way: "where is my order" means that one.
    assert chat.say("wher is my oder??")["order"]["order_id"] == "SO-88121"
    # A status question could mean either: both, to pick from (sending a number picks one).
    picked = chat.say("my order status")
    assert [o["order_id"] for o in picked["orders"]] == ["SO-88121", "SO-88087"]
    assert picked["orders"][0]["status_text"] == "shipped" and "order" not in picked
    assert chat.shop.calls == [("orders_of", "c_1001"), ("orders_of", "c_1001")]


def test_the_next_actions_follow_the_order_status_and_the_shops_settings(
        services: Services, sender: RecordingSender) -> None:
    settings = dataclasses.replace(SETTINGS, orders=order_settings({"actions": {
        "return": {"url": "https://shop.example.com/orders/{order_id}/return",
                   "label": {"en": "Start a return", "zh-CN": "申请退货"}, "statuses": ["delivered"]},
        "invoice": None}}))
    chat = open_chat(services, dataclasses.replace(CUSTOMER, language="en"), settings, sender)
    delivered = chat.say("I want to return SO-88087")
    assert delivered["actions"] == [{"action": "return", "label": "Start a return",
                                     "url": "https://shop.example.com/orders/SO-88087/return"}]
    shipped = chat.say("cancel SO-88121")  # too late to cancel online, and no return before delivery
    assert shipped["actions"] == [] and shipped["handoff"] is True
    assert shipped["text"].endswith("That can't be done online for this order. A person can help you with it.")


def test_an_anonymous_visitor_is_asked_for_the_check_and_gets_the_order_with_it(
        services: Services, sender: RecordingSender) -> None:
    chat = open_chat(services, ANONYMOUS, SETTINGS, sender)
    asked = chat.say("where is my order?")
    assert asked["order_needs"] == ["order_id", "phone_last4"] and asked["handoff"] is True
    assert "the last 4 digits of the phone number on the order" in asked["text"]
    assert chat.say("SO-88121")["order_needs"] == ["order_id", "phone_last4"]  # a number alone is not enough
    assert chat.shop.calls == []
    assert chat.say("SO-88121 0042")["order"]["order_id"] == "SO-88121"


def test_an_anonymous_visitor_may_send_the_check_alone_after_being_asked(
        services: Services, sender: RecordingSender) -> None:
    chat = open_chat(services, ANONYMOUS, SETTINGS, sender)
    chat.say("where is my order?")
    assert chat.say("SO-88121")["order_needs"] == ["order_id", "phone_last4"]
    assert chat.session().robot_order_ask == "where:SO-88121"  # the question first asked, now with its number
    found = chat.say("尾号0042")  # as a phone user answers the question asked: the check alone
    assert (found["order"]["order_id"], found["order_intent"]) == ("SO-88121", "where")
    assert chat.session().robot_order_ask is None
    chat.say("where is my order?")
    assert chat.say("SO-88121 is mine, and 0042")["order"]["order_id"] == "SO-88121"  # or both again
    chat.say("where is SO-88121")
    assert chat.say("1234")["text"].startswith("I couldn't find that order")  # a wrong check: as ever
    chat.say("where is my order?")
    chat.say("how long is delivery to Shanghai")  # something else: the question asked is dropped
    assert chat.session().robot_order_ask is None
    chat.say("0042")
    assert chat.faq.asked == ["how long is delivery to Shanghai", "0042"]


def test_a_check_alone_shows_no_order_to_a_signed_in_customer_or_without_a_question(
        services: Services, sender: RecordingSender) -> None:
    chat = open_chat(services, ANONYMOUS, SETTINGS, sender)
    chat.say("0042")  # nothing was asked
    assert chat.faq.asked == ["0042"] and chat.shop.calls == []
    customer = open_chat(services, CUSTOMER, SETTINGS, sender)
    customer.session().update(actions=[Session.robot_order_ask.set("where:SO-88121")])
    customer.say("0042")  # a signed-in customer is never asked for a check
    assert customer.faq.asked == ["0042"]


def test_a_shop_may_ask_for_the_postcode_instead(services: Services, sender: RecordingSender) -> None:
    chat = open_chat(services, ANONYMOUS, RobotSettings(orders=OrderSettings(check="postcode")), sender)
    assert "the delivery postcode" in chat.say("where is my order")["text"]
    assert chat.say("my postcode is 200001, where is SO-88121?")["order"]["order_id"] == "SO-88121"
    assert "order" not in chat.say("SO-88121 0042")  # the phone's digits are not this shop's check


def test_a_shop_without_a_check_asks_anonymous_visitors_to_sign_in(
        services: Services, sender: RecordingSender) -> None:
    chat = open_chat(services, ANONYMOUS, RobotSettings(), sender)
    reply = chat.say("SO-88121 0042 where is it")
    assert reply["order_needs"] == ["sign_in"] and reply["text"].startswith("Please sign in")
    assert chat.shop.calls == []


def test_wrong_checks_are_answered_like_a_wrong_number_and_then_limited(
        services: Services, sender: RecordingSender) -> None:
    chat = open_chat(services, ANONYMOUS, SETTINGS, sender)
    wrong = chat.say("SO-88121 1234")
    assert wrong == chat.say("SO-99999 0042") == chat.say("SO-88140 1234")  # no answer tells which part was wrong
    assert wrong["text"].startswith("I couldn't find that order")
    limited = chat.say("SO-88121 0042")  # the 4th try in 15 minutes, right or not
    assert limited["text"].startswith("Too many tries") and limited["retry_after_ms"] > 0
    assert ("order", "SO-88121") not in chat.shop.calls[3:]  # over the limit, the shop is not even asked


def test_a_guesser_with_fresh_tokens_still_meets_the_order_numbers_limit(
        services: Services, sender: RecordingSender) -> None:
    desk = OrderDesk(lambda: Shop(), Quota(clock=lambda: NOW))
    from chalicelib.faq.orderintent import recognise

    question = recognise("SO-88121 1111")
    assert question is not None
    answers = [desk.answer(Identity(user_id=f"v_{i:016x}", role="visitor"), question, f"SO-88121 {1111 + i}",
                           SETTINGS, "en")["text"] for i in range(4)]
    assert answers[3].startswith("Too many tries") and not answers[2].startswith("Too many tries")


def test_the_shops_system_down_offers_a_person_never_an_error(services: Services, sender: RecordingSender) -> None:
    chat = open_chat(services, CUSTOMER, SETTINGS, sender)
    chat.shop.down = True
    reply = chat.say("SO-88121 到哪了")
    assert reply == {"text": "暂时无法连接订单系统。人工客服可以帮您处理订单问题。", "handoff": True,
                     "order_intent": "where", "order_error": "unavailable"}
    assert sender.frames("cv", "error") == []


def test_an_odd_answer_from_the_shops_system_is_treated_as_it_being_down(
        services: Services, sender: RecordingSender) -> None:
    chat = open_chat(services, CUSTOMER, SETTINGS, sender)
    chat.shop.odd = True
    assert chat.say("SO-88121 到哪了")["order_error"] == "unavailable"


def test_faq_questions_that_mention_orders_still_reach_the_faq(services: Services, sender: RecordingSender) -> None:
    chat = open_chat(services, CUSTOMER, SETTINGS, sender)
    chat.say("how do I use a coupon on my order")
    chat.say("优惠券怎么用")
    assert chat.faq.asked == ["how do I use a coupon on my order", "优惠券怎么用"] and chat.shop.calls == []


def test_a_shop_that_turns_it_off_gets_every_question_to_the_faq(services: Services, sender: RecordingSender) -> None:
    chat = open_chat(services, CUSTOMER, RobotSettings(orders=OrderSettings(enabled=False)), sender)
    chat.say("where is SO-88121")
    assert chat.faq.asked == ["where is SO-88121"] and chat.shop.calls == []


def test_aws_calls_an_order_turn_adds(services: Services, sender: RecordingSender) -> None:
    """docs/faq-matching.md counts them: an order answer costs a signed-in customer's turn no AWS call beyond a
    greeting's (the shop's system is not AWS, and the FAQ search is skipped); an anonymous check adds two
    conditional writes (the tries of the visitor and of the number)."""
    def turn(chat: Chat, text: str) -> Counter[str]:
        metering.reset()
        chat.say(text)
        return Counter(metering.snapshot())

    count_aws_calls()
    customer = open_chat(services, CUSTOMER, SETTINGS, sender)
    customer.say("hi")  # the clients are built
    greeting = turn(customer, "hello")
    assert turn(customer, "where is SO-88121") == greeting
    anonymous = open_chat(services, ANONYMOUS, SETTINGS, sender)
    anonymous.say("hi")
    assert turn(anonymous, "SO-88121 0042") - turn(anonymous, "hello") == Counter({"dynamodb.UpdateItem": 2})


def test_settings_refuse_what_would_break_an_answer() -> None:
    from chalicelib.faq.store import FaqError

    for bad, field in [({"check": "birthday"}, "orders.check"), ({"number_prefix": "S O"}, "orders.number_prefix"),
                       ({"actions": {"refund": {"handoff": True}}}, "orders.actions.refund"),
                       ({"actions": {"cancel": {"url": "http://x"}}}, "orders.actions.cancel.url"),
                       ({"actions": {"cancel": {"url": "https://x/{customer}"}}}, "orders.actions.cancel.url"),
                       ({"actions": {"cancel": {}}}, "orders.actions.cancel"),
                       ({"check_attempts": 0}, "orders.check_attempts"), ({"colour": 1}, "orders.colour")]:
        with pytest.raises(FaqError) as err:
            order_settings(bad)
        assert err.value.field == field
    assert order_settings({"actions": {"track": {"url": "https://t.example/{order_id}"}}}).actions["track"] == \
        OrderAction(url="https://t.example/{order_id}")


def test_saved_settings_read_back_the_same_with_a_shipped_action_taken_away(aws: None) -> None:
    from chalicelib.faq.store import FaqStore, validate_robot_settings

    store = FaqStore()
    wanted = validate_robot_settings({"orders": {"check": "postcode", "number_prefix": "JD_", "actions": {
        "invoice": None, "track": {"url": "https://t.example/{order_id}", "label": {"zh-CN": "查看物流"}}}}})
    store.save_robot_settings(wanted)
    found = store.robot_settings().orders
    assert found == wanted.orders and set(found.actions) == {"cancel", "return", "track"}
