"""Helpers shared by the scan, ARP and DNS detectors (not a detector module).

* `PerWindow`: per-window state, dropped whole when the window closes, so a
  detector's `close_window` is one call and its memory is bounded by the open
  windows.
* `Once`: "report this key once per window" sets, for detectors whose finding
  is a fact about a pair (a GRE tunnel, an unsolicited ARP) rather than a count.
* `Burst`: distinct targets of one source, first due when `n` new targets
  arrive within a time span, then log-stepped (ARP scan, reverse-DNS scan).
* `evidence`: builds an `Evidence` with the detector's type and source filled in.
* Address and name tests used off the flow hot path (`ipaddress` is fine there).
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter, deque
from collections.abc import Hashable
from typing import Generic, NamedTuple, TypeVar

from detection.heuristics._scan import MAX_UIDS
from detection.heuristics.base import Detector, report_due
from detection.model import Evidence, ThreatLevel

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Sender of ARP probes and DHCP discovery: "no address yet" (not a bind address).
NO_ADDRESS = frozenset({"", "0.0.0.0"})  # noqa: S104

# Names that only make sense inside a site: never "public" names.
_LOCAL_SUFFIXES = (
    ".arpa",
    ".local",
    ".localdomain",
    ".lan",
    ".home",
    ".internal",
    ".intranet",
    ".corp",
    ".private",
    ".localhost",
    ".test",
    ".invalid",
)

_PRIVATE_V4_BLOCKS = tuple(
    ipaddress.IPv4Network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10")
)


class PerWindow(Generic[K, V]):
    """A dict of state per time window; `close(w)` forgets windows <= w."""

    __slots__ = ("_windows",)

    def __init__(self) -> None:
        self._windows: dict[int, dict[K, V]] = {}

    def of(self, window: int) -> dict[K, V]:
        d = self._windows.get(window)
        if d is None:
            d = self._windows[window] = {}
        return d

    def close(self, window: int) -> None:
        for w in [w for w in self._windows if w <= window]:
            del self._windows[w]

    def __len__(self) -> int:
        return sum(len(d) for d in self._windows.values())


class Once(Generic[K]):
    """Keys already reported, per window."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: PerWindow[K, None] = PerWindow()

    def first(self, key: K, window: int) -> bool:
        """True the first time `key` is seen in `window`."""
        seen = self._seen.of(window)
        if key in seen:
            return False
        seen[key] = None
        return True

    def close(self, window: int) -> None:
        self._seen.close(window)


class BurstRule(NamedTuple):
    need: int  # distinct targets …
    span: float  # … within this many seconds
    steps: tuple[int, ...]  # then re-report at these counts (and x10 beyond)


class Burst:
    """Distinct targets of one source; due when `need` new ones arrive within `span` s.

    After that first report, due again at the log steps of the distinct count
    (`report_due`), so a long sweep gives a handful of reports.
    """

    __slots__ = ("_recent", "_reported_at", "targets", "uids")

    def __init__(self) -> None:
        self.targets: set[str] = set()
        self.uids: list[str] = []
        self._recent: deque[float] = deque()  # first-seen ts of the newest targets
        self._reported_at = 0  # distinct count at the first report (0 = not yet)

    def add(self, target: str, ts: float, uid: str, rule: BurstRule) -> bool:
        """Count `target`; True when a report is due."""
        if target in self.targets:
            return False
        self.targets.add(target)
        if uid and len(self.uids) < MAX_UIDS:
            self.uids.append(uid)
        n = len(self.targets)
        if self._reported_at:
            return report_due(n, self._reported_at, rule.steps)
        recent = self._recent
        recent.append(ts)
        if len(recent) > rule.need:
            recent.popleft()
        if len(recent) < rule.need or ts - recent[0] > rule.span:
            return False
        self._reported_at = n
        recent.clear()
        return True


def evidence(
    det: Detector,
    *,
    attacker: str,
    victim: str | None,
    level: ThreatLevel,
    confidence: float,
    ts: float,
    window: int,
    description: str,
    technique: str,
    uids: tuple[str, ...] = (),
    count: int | None = None,
    dport: int | None = None,
    proto: str | None = None,
) -> tuple[Evidence, ...]:
    """One evidence of detector `det` (type = its name), as a 1-tuple to return.

    A record without a source address names no profile to accuse: nothing (``()``).
    """
    if not attacker:
        return ()
    return (
        det.new_evidence(
            attacker=attacker,
            victim=victim,
            level=level,
            confidence=confidence,
            ts=ts,
            window=window,
            description=description,
            technique=technique,
            uids=uids,
            dport=dport,
            proto=proto,
            count=count,
        ),
    )


def stepped_due(
    count: int, first: int, every: int, every_until: int, steps: tuple[int, ...]
) -> bool:
    """Report at `first`, every `every` more up to `every_until`, then at `steps`, then x10."""
    if count <= every_until:
        return count >= first and (count - first) % every == 0
    return report_due(count, every_until, steps)


def shannon_entropy(text: str) -> float:
    """Bits per character of `text` (0 for the empty string)."""
    n = len(text)
    if n == 0:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def ipv4(ip: str) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(ip)
    except ValueError:
        return None


def ip_address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        return None


def private_v4_block(ip: ipaddress.IPv4Address) -> ipaddress.IPv4Network | None:
    """The RFC 1918 / link-local / CGNAT block holding `ip`, or None if public."""
    for block in _PRIVATE_V4_BLOCKS:
        if ip in block:
            return block
    return None


def is_local_name(name: str) -> bool:
    """A name that only resolves inside a site (no dot, or a site-local suffix)."""
    n = name.lower().rstrip(".")
    return "." not in n or n.endswith(_LOCAL_SUFFIXES)
