"""Limits that must hold across Lambda containers: one DynamoDB counter item per subject and window.

A call is one conditional ``ADD 1`` on the item ``{limit}#{subject}#{window start}``: it succeeds while the
count is under the limit and fails on its condition once it is not, so every container sees the same count
and an over-limit call writes nothing (a refused conditional write still bills one write unit, and nothing
else). Windows are fixed, so a client can get up to twice a limit across a window's edge; that is the price
of one write per call instead of a read and a write. Items carry a TTL a minute past their window, and the
window is in the key, so an item DynamoDB has not yet expired is never counted again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from chalicelib.platform.dynamo import is_condition_failed
from chalicelib.platform.modelbase import expires, meta

_GRACE_SECONDS = 60


class QuotaCounter(Model):
    """How many calls a subject (a visitor, a client address) made under one limit in one window."""

    Meta = meta("limits")
    key = UnicodeAttribute(hash_key=True)  # "{limit}#{subject}#{window start, epoch seconds}"
    used = NumberAttribute(null=True)  # calls counted in the window
    expires_at = TTLAttribute(null=True)


@dataclass(frozen=True)
class Limit:
    """At most ``count`` calls named ``name`` per subject in each window of ``window_seconds``."""

    name: str
    count: int
    window_seconds: int
    what: str  # for the error message: "left messages", "visitor tokens"...


class RateLimited(Exception):
    """A call over its limit; ``retry_after_ms`` says when the window turns."""

    def __init__(self, limit: Limit, retry_after_ms: int) -> None:
        minutes = limit.window_seconds // 60
        window = f"{minutes} minutes" if minutes != 1 else "minute"
        super().__init__(f"at most {limit.count} {limit.what} every {window}; try again after retry_after_ms")
        self.limit = limit
        self.message = str(self)
        self.retry_after_ms = retry_after_ms


class Quota:
    """Shared counters over the ``limits`` table."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def take(self, limit: Limit, subject: str) -> None:
        """Count one call of ``subject`` under ``limit``, or raise :class:`RateLimited` (nothing counted)."""
        now = self._clock()
        start = int(now // limit.window_seconds) * limit.window_seconds
        end = start + limit.window_seconds
        item = QuotaCounter(f"{limit.name}#{subject}#{start}")
        try:
            item.update(actions=[QuotaCounter.used.add(1), QuotaCounter.expires_at.set(expires(end + _GRACE_SECONDS))],
                        condition=QuotaCounter.used.does_not_exist() | (QuotaCounter.used < limit.count))
        except UpdateError as err:
            if not is_condition_failed(err):
                raise
            raise RateLimited(limit, max(1, round((end - now) * 1000))) from None
