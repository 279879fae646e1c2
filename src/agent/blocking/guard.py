"""Anti-lockout: the addresses a ban must never cover, and why.

Theory of operation
-------------------
A ban is refused when its address or network overlaps any protected network
(an overlap either way: banning 10.0.0.0/8 would cut off a gateway 10.0.0.1).
Protected are:

* always: loopback, link-local, multicast, 0.0.0.0/8 and ::, broadcast;
* fixed at construction (`entries`): configured ``never_block`` and DNS
  servers, the allowlist's ``ip`` entries, whatever the caller adds;
* refreshed (`sources`, each a callable returning ``(value, why)`` pairs, read
  at most every `refresh_seconds`): the host's own addresses, its default
  gateways, resolv.conf's name servers, the current SSH clients, connected
  Starling peers (see agent.blocking.facts and agent.daemon);
* the allowlist's organisation ranges, through `Allowlist.match_ip` (for a
  network: its first and last address);
* ranges broader than /8 (IPv4) or /32 (IPv6): too much collateral damage
  for an automatic or hand-typed ban.

Fail closed: if a source raises `FactError` (``ip`` or ``ss`` missing,
unparsable output) every ban is refused, naming the failure, until a refresh
succeeds — an unknown gateway must not be banned by accident.

Lookup is O(log n + k): intervals sorted by start with a running maximum of
ends, so "does anything overlap [a, b]" is one bisect; the reason is only
searched for when the answer is yes (rare).
"""

from __future__ import annotations

import bisect
import ipaddress
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from agent.blocking.target import Target, unmap
from detection.allowlist import Allowlist

__all__ = ["ALWAYS", "FactError", "FactSource", "Guard"]

ALWAYS: tuple[tuple[str, str], ...] = (
    ("127.0.0.0/8", "loopback"),
    ("::1/128", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("fe80::/10", "link-local"),
    ("224.0.0.0/4", "multicast"),
    ("ff00::/8", "multicast"),
    ("0.0.0.0/8", "unspecified"),
    ("::/128", "unspecified"),
    ("255.255.255.255/32", "broadcast"),
)
_MIN_PREFIX = {4: 8, 6: 32}

FactSource = Callable[[], Iterable[tuple[str, str]]]


class FactError(RuntimeError):
    """A fact the guard needs (own addresses, gateways, SSH clients) could not be read."""


class _Index:
    """Protected intervals per IP version, answering overlap queries."""

    def __init__(self, entries: Iterable[tuple[str, str]]) -> None:
        rows: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
        for value, why in entries:
            try:
                net = ipaddress.ip_network(value.split("%", 1)[0], strict=False)
            except ValueError:
                continue  # sources hand over what the system said; junk protects nothing
            net = unmap(net)
            start = int(net.network_address)
            rows[net.version].append((start, int(net.broadcast_address), f"{why} {value}"))
        self._rows = {v: sorted(r) for v, r in rows.items()}
        self._starts = {v: [r[0] for r in rs] for v, rs in self._rows.items()}
        self._max_end: dict[int, list[int]] = {}
        for v, rs in self._rows.items():
            running, top = [], -1
            for _, end, _ in rs:
                top = max(top, end)
                running.append(top)
            self._max_end[v] = running

    def reason(self, version: int, first: int, last: int) -> str | None:
        i = bisect.bisect_right(self._starts[version], last) - 1
        if i < 0 or self._max_end[version][i] < first:
            return None
        for start, end, why in self._rows[version][: i + 1]:
            if start <= last and end >= first:
                return why
        return None  # unreachable: the running maximum said some row overlaps


class Guard:
    def __init__(
        self,
        entries: Iterable[tuple[str, str]] = (),
        *,
        allowlist: Allowlist | None = None,
        sources: Sequence[FactSource] = (),
        refresh_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        fixed = list(ALWAYS) + list(entries)
        if allowlist is not None:
            fixed += [(e.value, "allowlist entry") for e in allowlist.entries if e.ioc_type == "ip"]
        self._fixed = _Index(fixed)
        self._allowlist = allowlist
        self._sources = list(sources)
        self._refresh = refresh_seconds
        self._clock = clock
        self._dynamic = _Index(())
        self._failure: str | None = None
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Re-read every source now (also done lazily by `check`)."""
        found: list[tuple[str, str]] = []
        failure = None
        for source in self._sources:
            try:
                found += list(source())
            except FactError as exc:
                failure = str(exc)
        with self._lock:
            self._dynamic = _Index(found)
            self._failure = failure
            self._read_at = self._clock()

    def _maybe_refresh(self) -> None:
        if not self._sources:
            return
        read_at = self._read_at
        if read_at is None or self._clock() - read_at >= self._refresh:
            self.refresh()

    def check(self, target: Target) -> str | None:
        """Why `target` must not be banned, or None when it may be."""
        net = target.network
        if net.prefixlen < _MIN_PREFIX[net.version]:
            return f"range too broad (shorter than /{_MIN_PREFIX[net.version]})"
        first, last = int(net.network_address), int(net.broadcast_address)
        why = self._fixed.reason(net.version, first, last)
        if why is not None:
            return why
        self._maybe_refresh()
        with self._lock:
            if self._failure is not None:
                return f"cannot verify anti-lockout ({self._failure})"
            why = self._dynamic.reason(net.version, first, last)
        if why is not None:
            return why
        if self._allowlist is not None:
            for ip in {str(net.network_address), str(net.broadcast_address)}:
                for side in ("src", "dst"):
                    matched = self._allowlist.match_ip(ip, side, "alerts")
                    if matched:
                        return f"allowlisted ({matched})"
        return None
