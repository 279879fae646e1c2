"""Helpers shared by the connection detectors (unknown ports, private networks,
DNS bookkeeping, reconnections, …).

Address classes are decided with cheap string tests, not `ipaddress` parsing:
they run on the per-flow hot path, and every record reaching a detector was
validated by its parser already. "Private" means RFC 1918 for IPv4 and unique
local (fc00::/7) for IPv6 — the networks a site numbers its own hosts from.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import ClassVar

from detection.allowlist import CidrIndex, OrgInfo
from detection.heuristics.base import (
    ADDRESS_KINDS,
    PRIVATE,
    PUBLIC,
    SPECIAL,
    AddressKinds,
    DetectionContext,
    Detector,
    DetectorParams,
    OrgPort,
    is_private,
    is_special,
    report_due,
)
from detection.model import Evidence, Flow, ThreatLevel

__all__ = [
    "ADDRESS_KINDS",
    "MAX_UIDS",
    "PRIVATE",
    "PUBLIC",
    "SPECIAL",
    "AddressKinds",
    "BoundedLru",
    "KnownPorts",
    "SteppedFlowDetector",
    "Tally",
    "WindowTallies",
    "is_ip_literal",
    "is_private",
    "is_special",
    "org_ranges",
    "port_text",
]

MAX_UIDS = 10  # flow uids kept per evidence key: enough to find the flows again
_MAX_EXPANDED_RANGE = 1024
_FIRST_USER_PORT = 1024


def is_ip_literal(text: str) -> bool:
    """Is a DNS answer an address (A/AAAA) rather than a name (CNAME, …)?"""
    if ":" in text:
        return True
    return bool(text) and text.replace(".", "").isdigit() and text.count(".") == 3


class KnownPorts:
    """Which destination ports a reference list explains (built once per detector).

    Known: listed in the services file for the flow's protocol, named by the
    flow's own service analyser (Zeek `service`), used by the destination's
    organisation (org ports), or in the dynamic range starting at `ignore_from`
    (replies and peer-to-peer traffic to ephemeral ports, not services). A flow
    from a known system port (< 1024) to a user port is a server's answer whose
    start the sensor missed (Argus ``PA_PA`` mid-stream records): not judged.
    """

    __slots__ = ("_by_proto", "_ignore_from", "_org_by_port", "_org_wide")

    def __init__(self, context: DetectionContext, ignore_from: int) -> None:
        by_proto: dict[str, set[int]] = {}
        for proto, port in context.services:
            by_proto.setdefault(proto, set()).add(port)
        self._by_proto = {proto: frozenset(ports) for proto, ports in by_proto.items()}
        # Organisation ports indexed by (proto, port) so a lookup is one dict get;
        # a very wide range (rare) stays in a list that is walked.
        self._org_by_port: dict[tuple[str, int], list[CidrIndex]] = {}
        self._org_wide: list[OrgPort] = []
        for org in context.org_ports:
            if org.last_port - org.first_port > _MAX_EXPANDED_RANGE:
                self._org_wide.append(org)
                continue
            for port in range(org.first_port, org.last_port + 1):
                self._org_by_port.setdefault((org.proto, port), []).append(org.ranges)
        self._ignore_from = ignore_from

    def may_be_unknown(self, proto: str, dport: int | None, service: str) -> bool:
        """Could a flow of this protocol, destination port and service be unknown?
        (`is_unknown` without the address and source-port tests: a superset.)"""
        if dport is None or dport >= self._ignore_from or service:
            return False
        known = self._by_proto.get(proto)
        return known is None or dport not in known

    def is_unknown(self, flow: Flow) -> bool:
        dport = flow.dport
        if dport is None or dport >= self._ignore_from or flow.service:
            return False
        known = self._by_proto.get(flow.proto)
        if known is not None:
            if dport in known:
                return False
            sport = flow.sport
            if sport is not None and sport < _FIRST_USER_PORT <= dport and sport in known:
                return False  # a server's answer seen as a flow (mid-stream pickup)
        ranges = self._org_by_port.get((flow.proto, dport))
        if ranges is not None and any(r.lookup(flow.daddr) for r in ranges):
            return False
        for org in self._org_wide:
            if (
                org.first_port <= dport <= org.last_port
                and org.proto == flow.proto
                and org.ranges.lookup(flow.daddr)
            ):
                return False
        return True


def org_ranges(organizations: Mapping[str, OrgInfo]) -> CidrIndex:
    """Every well-known organisation's address ranges as one index."""
    return CidrIndex.union(info.ranges for info in organizations.values())


class BoundedLru(dict[Hashable, float]):
    """A dict to floats holding at most `cap` keys; the least recently set goes
    first (and `on_evict` is called). Reads are plain (C-level) dict reads; writes
    go through `set`."""

    __slots__ = ("_cap", "_on_evict")

    def __init__(self, cap: int, on_evict: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._cap = max(1, cap)
        self._on_evict = on_evict

    def set(self, key: Hashable, value: float) -> None:
        if key in self:
            del self[key]
        elif len(self) >= self._cap:
            del self[next(iter(self))]
            if self._on_evict is not None:
                self._on_evict()
        self[key] = value


class Tally:
    """Flows counted under one evidence key, with a bounded sample of their uids."""

    __slots__ = ("count", "uids")

    def __init__(self) -> None:
        self.count = 0
        self.uids: list[str] = []

    def add(self, uid: str) -> int:
        self.count += 1
        if len(self.uids) < MAX_UIDS and uid not in self.uids:
            self.uids.append(uid)
        return self.count


class WindowTallies:
    """Tallies per time window, keyed by any hashable; a window's go at once."""

    __slots__ = ("_windows",)

    def __init__(self) -> None:
        self._windows: dict[int, dict[Hashable, Tally]] = {}

    def get(self, window: int, key: Hashable) -> Tally | None:
        tallies = self._windows.get(window)
        return None if tallies is None else tallies.get(key)

    def add(self, window: int, key: Hashable, uid: str) -> Tally:
        tallies = self._windows.get(window)
        if tallies is None:
            tallies = self._windows[window] = {}
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = Tally()
        tally.add(uid)
        return tally

    def keys_in(self, window: int) -> int:
        tallies = self._windows.get(window)
        return 0 if tallies is None else len(tallies)

    def close(self, window: int) -> None:
        for w in [w for w in self._windows if w <= window]:
            del self._windows[w]

    def __len__(self) -> int:
        return sum(len(t) for t in self._windows.values())


class SteppedFlowDetector(Detector):
    """A flow detector reporting a key once per window, then at log steps.

    Subclasses name their `threat_level` and `technique`, pick the key of each
    suspicious flow, and describe it; this base keeps the per-window tallies
    (count + bounded uids), decides when a report is due (`report_due` from
    `first` with the `report_at` steps of the params) and builds the evidence
    (attacker = flow source, victim = flow destination).
    """

    threat_level: ClassVar[ThreatLevel]
    technique: ClassVar[str]

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        self._steps: tuple[int, ...] = getattr(params, "report_at", (10, 100, 1000))
        self._tallies = WindowTallies()

    def step(self, flow: Flow, window: int, key: Hashable, first: int = 1) -> Tally | None:
        """Count `flow` under `key`; the tally when a report is due, else None."""
        tally = self._tallies.add(window, key, flow.uid)
        return tally if report_due(tally.count, first, self._steps) else None

    def evidence(
        self, flow: Flow, window: int, tally: Tally, description: str, confidence: float
    ) -> tuple[Evidence]:
        return (
            self.new_evidence(
                attacker=flow.saddr,
                victim=flow.daddr,
                level=self.threat_level,
                confidence=confidence,
                ts=flow.ts,
                window=window,
                description=description,
                technique=self.technique,
                uids=tuple(tally.uids),
                dport=flow.dport,
                proto=flow.proto,
                count=tally.count,
            ),
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        self._tallies.close(window)
        return None


def port_text(flow: Flow) -> str:
    """``443/tcp``, or just the protocol when the flow has no port."""
    return f"{flow.dport}/{flow.proto}" if flow.dport is not None else flow.proto
