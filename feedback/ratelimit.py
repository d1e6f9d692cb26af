"""In-process token buckets, one per key (client IP hash, site)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict


class TokenBuckets:
    """A bucket holds up to `burst` tokens and refills at `per_minute`; each request takes one.

    Idle buckets are forgotten oldest-first once `max_keys` is reached, so a flood of
    distinct addresses cannot grow memory without bound. A forgotten bucket would
    have been full anyway unless it was used in the last burst/rate minutes.
    """

    def __init__(self, per_minute: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(1, burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> float:
        """Take a token. Returns 0 on success, else seconds until one is available."""
        return self.take_left(key, now)[0]

    def take_left(
        self, key: str, now: float | None = None, keep: float = 0.0
    ) -> tuple[float, float]:
        """As `take`, and the tokens left in the bucket after it. With `keep`, a token is
        taken only if at least that many are left after it."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0 + keep:
            tokens -= 1.0
            wait = 0.0
        else:
            wait = (1.0 + keep - tokens) / self.rate if self.rate > 0 else math.inf
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait, tokens


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(min(wait, 86400.0))))
