"""How much one user may ask of the WebSocket API.

- **Frames per second per user** (all its connections together): a token bucket kept in the Lambda container.
  It costs no AWS call (a DynamoDB write per frame would cost more than the frame). Locally one process sees
  every frame, so the bound is exact; on AWS API Gateway spreads a user's frames over the warm containers of
  the message function, each with its own bucket, so a user gets at most the rate times the containers it
  reaches (a handful), and the stage's throttling (infra) caps the API as a whole.
- **ACKs that change nothing** (unknown message, not the caller's, already acknowledged) per user: each costs
  a refused conditional write, so they draw on a small bucket of their own; when it is empty each ACK is first
  read (half a read unit, no write): one that still confirms a delivery goes through, the others are answered
  ``rate_limited``. A valid ACK never draws on it and is never refused. An ACK of several ids draws one per
  id that changed nothing, and may overdraw the bucket (to at most ``-MAX_ACK_IDS``): the refused writes of
  one large frame are paid back before the next is written unread, so ids cost what they cost one by one.
- **Typing indicators** per user: a bucket of their own (one every 2 s, bursts of 4) on top of the frame rate;
  one over it is answered ``rate_limited`` and not relayed.
- **Expensive actions** (left messages, uploads, visitor tokens): shared counters in DynamoDB
  (``chalicelib/platform/quota.py``), one conditional write per call, that hold across containers.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from chalicelib.platform.quota import Limit, Quota

FRAMES_PER_SECOND = 20.0
BURST = 60.0  # a reconnecting client resends its unconfirmed messages at once
# Refused ACKs: a client that re-ACKs what it already ACKed after a reconnect stays well inside.
REFUSED_ACKS_PER_SECOND = 2.0
REFUSED_ACK_BURST = 20.0
# `typing` frames: the clients send one at most every 4 s while typing (and a `stop`); a little slack for a
# second tab or a stop-start, and no more, since each one is relayed as a post.
TYPING_PER_SECOND = 0.5
TYPING_BURST = 4.0
_TRACKED = 20_000  # users remembered per container (least recently seen dropped first)

# A visitor's left messages, whatever its connections and sessions (each one is a ticket for people to read).
LEFT_MESSAGES = Limit("left_message", 5, 3600, "left messages")


class TokenBuckets:
    """A token bucket per key, in memory: ``take`` spends a token, ``peek`` says whether one is there."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._buckets.pop(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def _keep(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > _TRACKED:
            self._buckets.popitem(last=False)

    def take(self, key: str) -> float:
        """Spend one token of ``key``'s bucket: 0.0 if it had one, else the seconds until it will."""
        now = self._clock()
        with self._lock:
            tokens = self._level(key, now)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._keep(key, tokens, now)
            return wait

    def spend(self, key: str, count: int, floor: float) -> None:
        """Spend ``count`` tokens of ``key``'s bucket at once, down to ``floor`` (below zero: a debt the refill
        pays back before the bucket has a token again)."""
        if count <= 0:
            return
        now = self._clock()
        with self._lock:
            self._keep(key, max(floor, self._level(key, now) - count), now)

    def peek(self, key: str) -> float:
        """0.0 if ``key``'s bucket has a token (none is spent), else the seconds until it will."""
        now = self._clock()
        with self._lock:
            tokens = self._level(key, now)
            self._keep(key, tokens, now)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate


class RateLimiter:
    """The limits of the WebSocket API (see the module's docstring)."""

    def __init__(self, rate: float = FRAMES_PER_SECOND, burst: float = BURST,
                 clock: Callable[[], float] = time.monotonic, quota: Quota | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self.frames = TokenBuckets(rate, burst, clock)
        self.refused_acks = TokenBuckets(REFUSED_ACKS_PER_SECOND, REFUSED_ACK_BURST, clock)
        self.typing = TokenBuckets(TYPING_PER_SECOND, TYPING_BURST, clock)
        self.quota = quota or Quota()

    def take(self, user_id: str) -> float:
        """Spend one of the user's frame tokens: 0.0 if it had one, else the seconds until it will."""
        return self.frames.take(user_id)
