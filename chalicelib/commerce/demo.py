"""The demo shop: orders and products in two DynamoDB tables that ``make run`` seeds from
``config/demo/commerce.json``. They are demo data, so they are not part of the deployed stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.commerce.model import CommerceError
from chalicelib.platform.modelbase import index_meta, meta

DEMO_DATA = Path(__file__).resolve().parents[2] / "config" / "demo" / "commerce.json"
BEST_SELLERS = "_best"  # the category of products recommended when the session has none


class OrdersByCustomer(GlobalSecondaryIndex["DemoOrder"]):
    Meta = index_meta("demo-orders-by-customer")
    customer_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class DemoOrder(Model):
    Meta = meta("demo-orders")
    order_id = UnicodeAttribute(hash_key=True)
    customer_id = UnicodeAttribute()
    created_at = NumberAttribute()
    body = JSONAttribute()  # the order as the console shows it
    by_customer = OrdersByCustomer()


class DemoProduct(Model):
    Meta = meta("demo-products")
    category = UnicodeAttribute(hash_key=True)
    rank = UnicodeAttribute(range_key=True)  # "{position:03d}#{product_id}": the category's best first
    body = JSONAttribute()


DEMO_MODELS: tuple[type[Model], ...] = (DemoOrder, DemoProduct)


class DemoCommerce:
    def order(self, order_id: str) -> dict[str, Any]:
        try:
            found: dict[str, Any] = DemoOrder.get(order_id).body
        except DoesNotExist:
            raise CommerceError("not_found", f"no order {order_id}") from None
        return found

    def orders_of(self, customer_id: str, limit: int) -> list[dict[str, Any]]:
        return [o.body for o in DemoOrder.by_customer.query(customer_id, scan_index_forward=False, limit=limit)]

    def recommend(self, category: str | None, limit: int) -> list[dict[str, Any]]:
        found = [p.body for p in DemoProduct.query((category or BEST_SELLERS).lower(), limit=limit)]
        if len(found) < limit and category:
            seen = {p["product_id"] for p in found}
            found += [p.body for p in DemoProduct.query(BEST_SELLERS, limit=limit) if p.body["product_id"] not in seen]
        return found[:limit]


def seed(path: Path = DEMO_DATA) -> tuple[int, int]:
    """Put the demo orders and products in their tables (idempotent); returns how many of each."""
    data = json.loads(path.read_text(encoding="utf-8"))
    with DemoOrder.batch_write() as orders:
        for order in data["orders"]:
            orders.save(DemoOrder(order["order_id"], customer_id=order["customer_id"],
                                  created_at=order["created_at"], body=order))
    count = 0
    with DemoProduct.batch_write() as products:
        for category, items in data["products"].items():
            for position, product in enumerate(items):
                products.save(DemoProduct(category, f"{position:03d}#{product['product_id']}",
                                          body={**product, "category": category}))
                count += 1
    return len(data["orders"]), count
