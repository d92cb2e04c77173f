"""The order answer's pieces that need no I/O: a shop's phrase with placeholders, and the card made of whatever the
shop's system returned (chalicelib/faq/orders.py)."""

from __future__ import annotations

from chalicelib.faq.orders import _order_card, fill


def test_placeholders_are_filled_and_a_shops_unknown_one_or_stray_brace_is_said_as_written() -> None:
    assert fill("Order {order_id}: {status}.", order_id="SO-1", status="shipped") == "Order SO-1: shipped."
    assert fill("{order_id} {eta_days} days", order_id="SO-1") == "SO-1 {eta_days} days"
    assert fill("Order {order_id", order_id="SO-1") == "Order {order_id"


def test_the_card_holds_what_an_order_card_may_and_nothing_that_proves_the_order() -> None:
    card = _order_card({"order_id": "SO-1", "customer_id": "c_9", "status": "shipped", "total": 10, "currency": "USD",
                        "checks": {"phone_last4": "0042"}, "shipping": {"carrier": "SF"},
                        "items": [{"title": "Tee", "quantity": 2, "price": 5, "product_id": "P1"}, "junk"]})
    assert card == {"order_id": "SO-1", "status": "shipped", "total": 10, "currency": "USD",
                    "items": [{"title": "Tee", "quantity": 2, "price": 5}]}
    # Something the card cannot hold (a currency that is no ISO code): the number at least.
    assert _order_card({"order_id": "SO-2", "currency": "dollars"}) == {"order_id": "SO-2"}
