"""Order self-service: the robot shows a visitor its own order, its status and tracking, and what can be done next.

A message :mod:`chalicelib.faq.orderintent` reads as an order question comes here instead of the FAQ search. The
order is read through the shop's commerce hook (``chalicelib/commerce``), and only ever for its own customer:

- a visitor whose token the shop signed (``customer_id``) gets the order it names if, and only if, the order is
  its own; without a number, its only or latest relevant order, or its recent orders to pick from;
- an anonymous visitor is asked to sign in, or, where the shop configures a check (``orders.check``: the last 4
  digits of the order's phone number, or its postcode), to send the number with that check. Each try is counted
  (at most ``orders.check_attempts`` per visitor and per order number in 15 minutes, one conditional write each),
  and the check is compared in constant time;
- an order of someone else, a wrong check and a number no order has all get the same answer, word for word, so no
  answer tells a guesser that a number exists.

The answer is a robot message (docs/protocol.md, section 2.6) with the order card (the chat's ``order`` content),
its status in the visitor's language, tracking, and the next steps the shop allows (a link to its own page or a
person). When the shop's system fails, the visitor is offered a person: never an error.
"""

from __future__ import annotations

import hmac
import re
import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chalicelib.auth.identity import Identity
from chalicelib.commerce.model import Commerce, CommerceError
from chalicelib.faq.model import OrderAction, OrderSettings, RobotSettings
from chalicelib.faq.orderintent import OrderQuestion, order_number
from chalicelib.i18n import catalogue, negotiate, pick
from chalicelib.im.schemas import OrderContent
from chalicelib.platform import observability
from chalicelib.platform.observability import logger
from chalicelib.platform.quota import Limit, Quota, RateLimited

CHECK_WINDOW_SECONDS = 15 * 60
# The intent's own action comes first under the card; a status question gets every action the order allows.
_ACTION_OF = {"cancel": "cancel", "return": "return", "invoice": "invoice", "where": "track",
              "delivery_time": "track"}
# Orders a question without a number is most likely about: "where is my order" means one on its way.
_LIKELY = {"where": ("processing", "shipped"), "delivery_time": ("processing", "shipped")}
_CHECK_TOKEN = {"phone_last4": re.compile(r"(?<![0-9])[0-9]{4}(?![0-9])"),
                # a word of 3 to 10 letters and digits with a digit in it (200001, 94107, sw1a1aa)
                "postcode": re.compile(r"(?<![a-z0-9])(?=[a-z]*[0-9])[a-z0-9]{3,10}(?![a-z0-9])")}
_EXAMPLE = {"phone_last4": "6789", "postcode": "200001"}
_DUMMY = "\x00" * 8  # compared against when there is no order, so a missing order costs what a wrong check does


class _Blank(dict[str, Any]):
    """Format parameters where a placeholder a shop wrote and the order lacks stays as written, not an error."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(text: str, **params: Any) -> str:
    """``text`` (a catalogue phrase or the shop's own) with ``{name}`` placeholders replaced; any other brace
    left as it is."""
    try:
        return string.Formatter().vformat(text, (), _Blank(params))
    except (ValueError, IndexError):
        return text  # a stray brace in a shop's text: said as written


def _norm(value: str) -> str:
    return re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", value)).upper()


class OrderDesk:
    """Answers order questions for the robot. Takes the shop's backend (built lazily: the demo tables or the
    HTTP hook) and the shared quota that counts anonymous checks."""

    def __init__(self, commerce: Callable[[], Commerce], quota: Quota) -> None:
        self._commerce = commerce
        self._quota = quota

    def answer(self, visitor: Identity, question: OrderQuestion, text: str, settings: RobotSettings,
               language: str | None) -> dict[str, Any]:
        """The robot message's content for an order question (always an answer; a failure offers a person)."""
        try:
            if visitor.customer_id is not None:
                return self._for_customer(visitor.customer_id, question, settings, language)
            return self._for_anonymous(visitor, question, text, settings, language)
        except CommerceError as err:
            if err.code == "not_found":
                return self._not_found(question, settings, language)
            logger.warning("order lookup failed; a person is offered",
                           extra={"code": err.code, "error": err.message})
            observability.order_event("OrderLookupFailed")
            return {"text": settings.phrase("order_unavailable", language), "handoff": True,
                    "order_intent": question.intent, "order_error": "unavailable"}

    # -- a signed-in customer --------------------------------------------------------------------------

    def _for_customer(self, customer: str, question: OrderQuestion, settings: RobotSettings,
                      language: str | None) -> dict[str, Any]:
        if question.order_id is not None:
            order = self._order(question.order_id)
            if str(order.get("customer_id")) != customer:
                return self._not_found(question, settings, language)  # someone else's: as if there were none
            return self._card(order, question, settings, language)
        orders = self._commerce().orders_of(customer, settings.orders.recent)
        orders = [o for o in orders if isinstance(o, Mapping) and str(o.get("customer_id", customer)) == customer]
        if not orders:
            return {"text": settings.phrase("order_none", language), "handoff": True, "order_intent": question.intent,
                    "orders": []}
        likely = self._likely(orders, question, settings.orders)
        if len(likely) == 1:
            return self._card(likely[0], question, settings, language)
        return {"text": settings.phrase("order_pick", language), "order_intent": question.intent,
                "orders": [self._choice(o, language) for o in (likely or orders)]}

    @staticmethod
    def _likely(orders: Sequence[Mapping[str, Any]], question: OrderQuestion,
                settings: OrderSettings) -> list[Mapping[str, Any]]:
        """The orders the question is most likely about: the only one; else those whose status fits (one on its
        way for "where is it", one that can still be cancelled for "cancel"); none fits: all of them."""
        if len(orders) == 1:
            return list(orders)
        action = settings.actions.get(_ACTION_OF.get(question.intent, ""))
        statuses = _LIKELY.get(question.intent) or (action.statuses if action is not None else ())
        fitting = [o for o in orders if statuses and o.get("status") in statuses]
        return fitting or list(orders)

    # -- an anonymous visitor --------------------------------------------------------------------------

    def _for_anonymous(self, visitor: Identity, question: OrderQuestion, text: str, settings: RobotSettings,
                       language: str | None) -> dict[str, Any]:
        orders = settings.orders
        if orders.check is None:
            return {"text": settings.phrase("order_sign_in", language), "handoff": True,
                    "order_intent": question.intent, "order_needs": ["sign_in"]}
        given = self._check_in(text, orders) if question.order_id is not None else None
        if question.order_id is None or given is None:
            check = catalogue(negotiate(language)).get(f"robot.order_check.{orders.check}", orders.check)
            return {"text": fill(settings.phrase("order_ask", language), check=check,
                                 example=_EXAMPLE.get(orders.check, "")),
                    "handoff": True, "order_intent": question.intent, "order_needs": ["order_id", orders.check]}
        limit = Limit("order_check", orders.check_attempts, CHECK_WINDOW_SECONDS, "order checks")
        try:
            # Counted before the check, by visitor and by number: a guesser with many tokens still meets the
            # number's own limit.
            self._quota.take(limit, visitor.user_id)
            self._quota.take(limit, question.order_id)
        except RateLimited as err:
            observability.order_event("OrderCheckLimited")
            return {"text": settings.phrase("order_limited", language), "handoff": True,
                    "order_intent": question.intent, "retry_after_ms": err.retry_after_ms}
        try:
            order: Mapping[str, Any] | None = self._order(question.order_id)
        except CommerceError as err:
            if err.code != "not_found":
                raise
            order = None
        checks = order.get("checks") if order is not None else None
        expected = checks.get(orders.check) if isinstance(checks, Mapping) else None
        matches = hmac.compare_digest(_norm(given).encode(), _norm(str(expected) if expected else _DUMMY).encode())
        if order is None or not expected or not matches:
            observability.order_event("OrderCheckFailed")
            return self._not_found(question, settings, language)
        return self._card(order, question, settings, language)

    def _order(self, order_id: str) -> Mapping[str, Any]:
        order = self._commerce().order(order_id)
        if not isinstance(order, Mapping) or not order.get("order_id"):
            raise CommerceError("unavailable", "the shop's system answered with no order")
        return order

    @staticmethod
    def asked(question: OrderQuestion, content: Mapping[str, Any]) -> str | None:
        """What to remember after an answer that asked an anonymous visitor for the number and the check (so that
        a reply with only the check completes it): ``intent:order_id``; None after any other answer."""
        needs = content.get("order_needs") or []
        if not needs or "sign_in" in needs:
            return None
        return f"{question.intent}:{question.order_id or ''}"

    @staticmethod
    def continued(asked: str, question: OrderQuestion) -> OrderQuestion:
        """A number sent after the robot asked for it keeps the intent first asked about ("where is my order?",
        then "SO-88121": where it is, not only its status)."""
        intent = asked.partition(":")[0]
        return OrderQuestion(intent, question.order_id) if question.intent == "status" and intent else question

    def follow_up(self, asked: str, text: str, settings: OrderSettings) -> tuple[OrderQuestion, str] | None:
        """The order question ``text`` completes after the robot asked for the check: the check alone ("1234",
        "尾号1234"), or the number with it; None when it holds no check (then it is an ordinary message)."""
        intent, _, order_id = asked.partition(":")
        if self._check_in(text, settings) is None:
            return None
        found = order_number(text, settings.number_prefix)
        number = found[0] if found is not None else order_id
        if not number:
            return None
        return OrderQuestion(intent, number), (text if found is not None else f"{number} {text}")

    @staticmethod
    def _check_in(text: str, settings: OrderSettings) -> str | None:
        """The check value the visitor sent beside the order number (the last one that looks like one)."""
        found = order_number(text, settings.number_prefix)
        folded = unicodedata.normalize("NFKC", text).lower()
        if found is not None:
            start, end = found[1]
            folded = folded[:start] + " " + folded[end:]
        pattern = _CHECK_TOKEN.get(settings.check or "")
        tokens = pattern.findall(folded) if pattern is not None else []
        return tokens[-1].strip() if tokens else None

    # -- answers ---------------------------------------------------------------------------------------

    @staticmethod
    def _not_found(question: OrderQuestion, settings: RobotSettings, language: str | None) -> dict[str, Any]:
        """The one answer for a missing number, someone else's order and a wrong check alike."""
        return {"text": settings.phrase("order_not_found", language), "handoff": True,
                "order_intent": question.intent}

    def _card(self, order: Mapping[str, Any], question: OrderQuestion, settings: RobotSettings,
              language: str | None) -> dict[str, Any]:
        status = str(order.get("status") or "")
        status_text = _status_text(status, language)
        shipping = _mapping(order.get("shipping"))
        tracking = {k: str(shipping[k]) for k in ("carrier", "tracking_number", "eta") if shipping.get(k)}
        lines = [fill(settings.phrase("order_found", language), order_id=order.get("order_id"), status=status_text)]
        if tracking.get("tracking_number"):
            lines.append(fill(settings.phrase("order_tracking", language), carrier=tracking.get("carrier", ""),
                              tracking_number=tracking["tracking_number"]))
        if tracking.get("eta") and status in ("processing", "shipped"):
            lines.append(fill(settings.phrase("order_eta", language), eta=tracking["eta"]))
        actions = _actions(order, question, settings.orders, language)
        wanted = _ACTION_OF.get(question.intent)
        content: dict[str, Any] = {"order": _order_card(order), "order_status_text": status_text,
                                   "tracking": tracking or None, "actions": actions, "order_intent": question.intent}
        if wanted in ("cancel", "return", "invoice") and not any(a["action"] == wanted for a in actions):
            lines.append(settings.phrase("order_action_unavailable", language))
            content["handoff"] = True
        if any(a.get("handoff") for a in actions):
            content["handoff"] = True
        content["text"] = " ".join(lines)
        observability.order_event("OrderAnswered")
        return content

    @staticmethod
    def _choice(order: Mapping[str, Any], language: str | None) -> dict[str, Any]:
        items = _list(order.get("items"))
        first = items[0].get("title") if items and isinstance(items[0], Mapping) else None
        return {"order_id": str(order.get("order_id")), "status": order.get("status"),
                "status_text": _status_text(str(order.get("status") or ""), language),
                "created_at": order.get("created_at"), "total": order.get("total"), "currency": order.get("currency"),
                "title": first, "items": len(items)}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _status_text(status: str, language: str | None) -> str:
    return catalogue(negotiate(language)).get(f"robot.order_status.{status}") or status


def _order_card(order: Mapping[str, Any]) -> dict[str, Any]:
    """The chat's own order card (docs/protocol.md, ``order`` content) of what the shop returned; what the card
    cannot hold (the checks, the customer, the shipping) is left out."""
    items = _list(order.get("items"))
    card = {"order_id": str(order.get("order_id")), "status": order.get("status"), "total": order.get("total"),
            "currency": order.get("currency"),
            "items": [{k: i.get(k) for k in ("title", "quantity", "price")} for i in items[:50]
                      if isinstance(i, Mapping)] or None}
    try:
        return OrderContent.model_validate({k: v for k, v in card.items() if v is not None}).model_dump(
            exclude_none=True)
    except (ValueError, TypeError):
        return {"order_id": card["order_id"]}  # the shop's system sent something odd: the number at least


def _actions(order: Mapping[str, Any], question: OrderQuestion, settings: OrderSettings,
             language: str | None) -> list[dict[str, Any]]:
    """The next steps the shop allows for this order's status, the one asked for first."""
    status = order.get("status")
    wanted = _ACTION_OF.get(question.intent)
    names = sorted(settings.actions, key=lambda name: name != wanted)
    out = []
    for name in names:
        action: OrderAction = settings.actions[name]
        if not action.offered_for(None if status is None else str(status)):
            continue
        label = pick(action.label, language) if action.label is not None else \
            catalogue(negotiate(language)).get(f"robot.order_action.{name}", name)
        entry: dict[str, Any] = {"action": name, "label": label}
        if action.url is not None:
            entry["url"] = action.url.replace("{order_id}", str(order.get("order_id")))
        else:
            entry["handoff"] = True
        out.append(entry)
    return out
