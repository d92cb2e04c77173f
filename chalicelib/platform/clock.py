"""The one clock every service is given: the wall clock in production, a settable one in tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Clock:
    """Seconds since the epoch from ``source`` (``time.time`` unless a test passes its own)."""

    source: Callable[[], float] = time.time

    def now(self) -> float:
        return self.source()

    def now_ms(self) -> int:
        return int(self.source() * 1000)


SYSTEM_CLOCK = Clock()
