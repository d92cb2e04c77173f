"""REST handlers of the console's order lookup and product recommendations (staff only: the route checks)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import unquote

from chalicelib.commerce.model import Commerce
from chalicelib.platform.http import BadRequest, int_param
from chalicelib.settings import get_settings

_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_CATEGORY = re.compile(r"^[A-Za-z0-9_ -]{1,60}$")


@cache
def commerce() -> Commerce:
    """The process's backend: the demo tables locally, the shop's HTTP hook on AWS, or none."""
    from chalicelib.commerce.hook import TIMEOUT_SECONDS

    return _backend(TIMEOUT_SECONDS)


@cache
def robot_commerce() -> Commerce:
    """The same for the robot's order answers, with the shop's system given less time (``ROBOT_TIMEOUT_SECONDS``)."""
    from chalicelib.commerce.hook import ROBOT_TIMEOUT_SECONDS

    return _backend(ROBOT_TIMEOUT_SECONDS)


def _backend(timeout: float) -> Commerce:
    settings = get_settings()
    if settings.commerce_backend == "demo":
        from chalicelib.commerce.demo import DemoCommerce

        return DemoCommerce()
    from chalicelib.commerce.hook import HttpCommerce, Unconfigured

    if settings.commerce_backend == "http" and settings.commerce_url:
        return HttpCommerce(settings.commerce_url, settings.commerce_token, timeout)
    return Unconfigured()


def _id(value: str, field: str) -> str:
    if not _ID.fullmatch(value):  # fullmatch: "$" alone would let a trailing newline through
        raise BadRequest(f"'{field}' must be 1 to 64 letters, digits or _ . : -", field=field)
    return value


def order(order_id: str, backend: Commerce) -> dict[str, Any]:
    """``order_id`` as it came in the path: API Gateway leaves path parameters URL-encoded (SO%3A1 for SO:1)."""
    return {"order": backend.order(_id(unquote(order_id), "order_id"))}


def orders(params: Mapping[str, str], backend: Commerce) -> dict[str, Any]:
    customer = params.get("customer_id")
    if not customer:
        raise BadRequest("'customer_id' is required", field="customer_id")
    return {"orders": backend.orders_of(_id(customer, "customer_id"), int_param(params, "limit", 10, 1, 50))}


def recommendations(params: Mapping[str, str], backend: Commerce) -> dict[str, Any]:
    category = params.get("category") or None
    if category is not None and not _CATEGORY.fullmatch(category):
        raise BadRequest("'category' must be 1 to 60 letters, digits, spaces, _ or -", field="category")
    return {"products": backend.recommend(category, int_param(params, "limit", 4, 1, 20))}
