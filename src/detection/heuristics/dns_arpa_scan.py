"""Reverse-DNS scan: many PTR lookups (.in-addr.arpa / .ip6.arpa) in a burst.

Resolving the names of a whole address range is how tools enumerate a
network without touching its hosts. A host that asks `min_queries` (10)
different reverse names within `burst_seconds` (2 s) — Slips' numbers — is
doing that. Queries sent to multicast (mDNS/LLMNR service discovery) are
ignored. After the first report the distinct count is re-reported at
`report_at` (100, 1000, then every x10). Threat MEDIUM, confidence 0.7
(Slips' values; mail and log servers also resolve many addresses).
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._scans_dns import Burst, BurstRule, PerWindow, evidence
from detection.heuristics.base import (
    DetectionContext,
    Detector,
    DetectorParams,
    is_multicast_or_broadcast,
)
from detection.model import DnsRecord, Evidence, ThreatLevel

__all__ = ["DnsArpaScan", "DnsArpaScanParams"]

_REVERSE = (".in-addr.arpa", ".ip6.arpa")


class DnsArpaScanParams(DetectorParams):
    min_queries: int = 10
    burst_seconds: float = 2.0
    report_at: tuple[int, ...] = (100, 1000)
    confidence: float = 0.7


class DnsArpaScan(Detector):
    name = "dns_arpa_scan"
    consumes = (DnsRecord,)
    Params = DnsArpaScanParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, DnsArpaScanParams)
        self.p = params
        self.rule = BurstRule(params.min_queries, params.burst_seconds, params.report_at)
        self._hosts: PerWindow[str, Burst] = PerWindow()

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: DnsRecord = record  # type: ignore[assignment]  # only DnsRecord is routed here
        query = rec.query.lower().rstrip(".")
        if not query.endswith(_REVERSE) or is_multicast_or_broadcast(rec.daddr):
            return None
        hosts = self._hosts.of(window)
        state = hosts.get(rec.saddr)
        if state is None:
            state = hosts[rec.saddr] = Burst()
        p = self.p
        if not state.add(query, rec.ts, rec.uid, self.rule):
            return None
        n = len(state.targets)
        return evidence(
            self,
            attacker=rec.saddr,
            victim=None,
            level=ThreatLevel.MEDIUM,
            confidence=p.confidence,
            ts=rec.ts,
            window=window,
            description=(
                f"Reverse-DNS scan: {rec.saddr} looked up the names of {n} addresses "
                f"(PTR queries), {p.min_queries} of them within {p.burst_seconds:g} s"
            ),
            technique="T1018",  # Remote System Discovery
            uids=tuple(state.uids),
            count=n,
            proto=rec.proto or None,
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        self._hosts.close(window)
        return None
