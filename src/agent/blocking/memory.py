"""The in-memory twin of the kernel backends: for tests, simnet and dry-run.

Same contract as nftables (timeouts refreshed on re-ban, removal of an absent
value is fine), with expiry against an injected clock instead of the kernel's.
`fail_on` lets tests make chosen values fail a batch, like an overlapping
interval does in nftables.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from agent.blocking.base import Ban, Blocker, BlockerError, KernelBan, dedupe
from agent.blocking.target import Target

__all__ = ["MemoryBlocker"]


class MemoryBlocker(Blocker):
    name = "memory"

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, fail_on: frozenset[str] = frozenset()
    ) -> None:
        self.clock = clock
        self.fail_on = fail_on
        self.bans: dict[str, float] = {}  # value -> expiry on `clock`
        self.batches = 0
        self._lock = threading.Lock()

    def setup(self) -> None:
        return None

    def apply(self, bans: Sequence[Ban]) -> None:
        unique = dedupe(bans)
        bad = [b.target.value for b in unique if b.target.value in self.fail_on]
        if bad:
            raise BlockerError(f"memory: refused {', '.join(bad)}")
        now = self.clock()
        with self._lock:
            self.batches += 1
            for ban in unique:
                self.bans[ban.target.value] = now + ban.seconds

    def remove(self, targets: Sequence[Target]) -> None:
        with self._lock:
            for t in targets:
                self.bans.pop(t.value, None)

    def flush(self) -> None:
        with self._lock:
            self.bans.clear()

    def list(self) -> list[KernelBan]:
        now = self.clock()
        with self._lock:
            for value in [v for v, exp in self.bans.items() if exp <= now]:
                del self.bans[value]
            return [KernelBan(v, exp - now) for v, exp in self.bans.items()]
