"""Frames per second per connection: a token bucket per connection, kept in the Lambda container.

API Gateway spreads one connection's frames over the warm containers of the message function, so on AWS
this is a per-container bound (a client can reach at most a few times the rate, never an unbounded one),
and the stage's own throttling (infra) caps the whole API. Locally one process sees every frame. It
costs no AWS call: a limit that needed a DynamoDB write per frame would cost more than the frames.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

FRAMES_PER_SECOND = 20.0
BURST = 60.0  # a reconnecting client resends its unconfirmed messages at once
_TRACKED = 20_000  # connections remembered per container (least recently seen dropped first)


class RateLimiter:
    def __init__(self, rate: float = FRAMES_PER_SECOND, burst: float = BURST,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # conn -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, connection_id: str) -> float:
        """Spend one token of the connection's bucket: 0.0 if it had one, else the seconds until it will."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(connection_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[connection_id] = (tokens, now)
            while len(self._buckets) > _TRACKED:
                self._buckets.popitem(last=False)
            return wait
