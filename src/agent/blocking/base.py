"""The one port to the kernel's packet filter, and the names its backends share.

A `Blocker` holds timed bans in sets the kernel expires by itself, so a ban
outlives the agent process and never needs a Python timer to end it:

* `setup()` creates what the backend needs (table, sets, rules) and is
  idempotent — calling it on a host that already has bans keeps them;
* `apply(bans)` adds or refreshes every ban of the batch in one transaction
  (nftables) or one process (ipset): all or nothing. A value already banned
  gets the new timeout, shorter or longer;
* `remove(targets)` removes them; a value that is not banned is not an error;
* `flush()` removes every ban, `list()` reads what the kernel holds now.

Backends raise only `BlockerError` (the tool, library or kernel failed or
refused); callers never see an OSError, a CalledProcessError or a ctypes error.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agent.blocking.target import Target

__all__ = ["MAX_TTL_SECONDS", "Ban", "Blocker", "BlockerError", "KernelBan", "dedupe"]

# ipset's timeout is a signed 32-bit count of seconds / 1000 (2147483 s, ~24.8 days);
# nftables accepts more, but one limit for every backend keeps them interchangeable.
MAX_TTL_SECONDS = 2_147_483


class BlockerError(RuntimeError):
    """The packet-filter backend failed (missing tool or library, no permission, refused)."""


@dataclass(frozen=True, slots=True)
class Ban:
    target: Target
    ttl: float  # seconds from now

    @property
    def seconds(self) -> int:
        """The kernel timeout: whole seconds, at least 1, at most MAX_TTL_SECONDS."""
        return max(1, min(MAX_TTL_SECONDS, math.ceil(self.ttl)))


@dataclass(frozen=True, slots=True)
class KernelBan:
    value: str
    expires_in: float | None  # seconds left, None when the backend does not say


def dedupe(bans: Iterable[Ban]) -> list[Ban]:
    """One ban per value (the longest), first-seen order: a set element appears once."""
    best: dict[str, Ban] = {}
    for ban in bans:
        old = best.get(ban.target.value)
        if old is None or ban.ttl > old.ttl:
            best[ban.target.value] = ban
    return list(best.values())


class Blocker(ABC):
    name: str

    @abstractmethod
    def setup(self) -> None: ...

    @abstractmethod
    def apply(self, bans: Sequence[Ban]) -> None: ...

    @abstractmethod
    def remove(self, targets: Sequence[Target]) -> None: ...

    @abstractmethod
    def flush(self) -> None: ...

    @abstractmethod
    def list(self) -> list[KernelBan]: ...

    def close(self) -> None:  # noqa: B027 - optional hook; most backends hold nothing
        """Release library handles. Bans stay in the kernel and expire on their own."""
