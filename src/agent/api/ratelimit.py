"""Token buckets for the local API: one per bearer token, one per address without one.

A bucket holds up to `burst` requests and refills at `rate` per second. `take`
returns 0.0 when the request may go ahead, else the seconds until one token is
back (the `Retry-After` of the 429). Time is a parameter (`now`), so tests are
deterministic. At most `max_keys` buckets are kept; when full, the longest-idle
bucket is forgotten (it was full anyway if it idled for `burst / rate` seconds).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["RateLimiter"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, rate: float, burst: int, *, max_keys: int = 10_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.limited = 0  # requests refused so far
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float) -> float:
        with self._lock:
            bucket = self._buckets.pop(key, None)  # re-inserted last: dict order = idle order
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    del self._buckets[next(iter(self._buckets))]
                bucket = _Bucket(float(self.burst), now)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            bucket.updated = now
            self._buckets[key] = bucket
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            self.limited += 1
            return (1.0 - bucket.tokens) / self.rate
