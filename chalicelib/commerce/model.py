"""What the console shows of an order and a product, and the interface every backend provides."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from chalicelib.platform.errors import DomainError


class CommerceError(DomainError):
    """``not_found`` (404), ``not_configured`` (501) or ``unavailable`` (502: the shop's system failed)."""

    STATUS: ClassVar[dict[str, int]] = {"not_found": 404, "not_configured": 501, "unavailable": 502}

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, status=self.STATUS[code])


class Commerce(Protocol):
    """Orders by id or by customer, and products to recommend for a category. Every result is plain JSON:
    orders ``{order_id, customer_id, status, created_at, total, currency, items: [{product_id, title,
    quantity, price}], shipping: {carrier, tracking_number, eta}, checks?: {phone_last4?, postcode?}}``, products
    ``{product_id, title, price, currency, image_url, url, category}``. ``checks`` are what a visitor who is not
    signed in may prove an order is theirs with (the robot's order self-service compares them; it never shows
    them)."""

    def order(self, order_id: str) -> dict[str, Any]:
        """The order, or CommerceError ``not_found``."""
        ...

    def orders_of(self, customer_id: str, limit: int) -> list[dict[str, Any]]:
        """The customer's orders, newest first."""
        ...

    def recommend(self, category: str | None, limit: int) -> list[dict[str, Any]]:
        """Products for the category in context (the best sellers of the shop without one)."""
        ...
