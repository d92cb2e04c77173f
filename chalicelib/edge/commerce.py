"""Orders and products: the console's right column (staff only)."""

from __future__ import annotations

from typing import Any

from chalicelib.auth.guard import STAFF, requires
from chalicelib.commerce import api as commerce_api
from chalicelib.edge import routes

bp = routes(__name__)

WHY = "orders and products are for staff"


@bp.route("/orders/{order_id}", methods=["GET"])
def order_get(order_id: str) -> Any:
    requires(bp.current_request, STAFF, WHY)
    return commerce_api.order(order_id, commerce_api.commerce())


@bp.route("/orders", methods=["GET"])
def orders_list() -> Any:
    request = bp.current_request
    requires(request, STAFF, WHY)
    return commerce_api.orders(request.query_params or {}, commerce_api.commerce())


@bp.route("/products/recommendations", methods=["GET"])
def product_recommendations() -> Any:
    request = bp.current_request
    requires(request, STAFF, WHY)
    return commerce_api.recommendations(request.query_params or {}, commerce_api.commerce())
