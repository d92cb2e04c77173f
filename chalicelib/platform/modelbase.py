"""Shared pynamodb plumbing: table names and region come from settings, never from literals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.settings import get_settings


def meta(short_name: str, **extra: Any) -> Any:
    """A pynamodb ``Meta`` class for the table ``{prefix}-{short_name}`` (on-demand billing)."""
    settings = get_settings()
    attrs: dict[str, Any] = {
        "table_name": settings.table_name(short_name),
        "region": settings.region,
        "billing_mode": "PAY_PER_REQUEST",
        **extra,
    }
    return type("Meta", (), attrs)


def index_meta(index_name: str, keys_only: bool = False) -> Any:
    """``keys_only``: the index holds the keys alone, so writes to other attributes of an item never write
    the index (each index write costs a write unit); readers fetch the items by key."""
    return type("Meta", (), {"index_name": index_name, "projection": _projection(keys_only),
                             "billing_mode": "PAY_PER_REQUEST"})


def _projection(keys_only: bool) -> Any:
    from pynamodb.indexes import AllProjection, KeysOnlyProjection

    return KeysOnlyProjection() if keys_only else AllProjection()


def expires(epoch_seconds: float) -> datetime:
    """A TTL attribute value (pynamodb wants an aware datetime)."""
    return datetime.fromtimestamp(int(epoch_seconds), tz=UTC)
