"""DGA: a host whose lookups keep failing with NXDOMAIN.

Malware with a domain generation algorithm tries many generated names until
one resolves; most do not exist. Counts, per (source, window), the distinct
names answered NXDOMAIN, ignoring site-local names (no dot, .local, .arpa,
.lan, …: search-suffix misses are normal). Evidence at `min_nxdomains` (10)
and every `every` (5) more — Slips' numbers — up to `every_until` (100), then
only at `report_at` (1000, then every x10), so 100k failures give about 25
evidence. Threat HIGH (Slips' level); confidence grows with the count and
reaches 1 at `confidence_saturation` (50) names.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._scan import ScanState, scan_confidence
from detection.heuristics._scans_dns import PerWindow, evidence, is_local_name, stepped_due
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import DnsRecord, Evidence, ThreatLevel

__all__ = ["DgaNxdomain", "DgaNxdomainParams"]


class DgaNxdomainParams(DetectorParams):
    min_nxdomains: int = 10
    every: int = 5
    every_until: int = 100
    report_at: tuple[int, ...] = (1000,)
    confidence_saturation: int = 50


class DgaNxdomain(Detector):
    name = "dga_nxdomain"
    consumes = (DnsRecord,)
    Params = DgaNxdomainParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, DgaNxdomainParams)
        self.p = params
        self._hosts: PerWindow[str, ScanState] = PerWindow()

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: DnsRecord = record  # type: ignore[assignment]  # only DnsRecord is routed here
        if rec.rcode != "NXDOMAIN" or is_local_name(rec.query):
            return None
        hosts = self._hosts.of(window)
        state = hosts.get(rec.saddr)
        if state is None:
            state = hosts[rec.saddr] = ScanState(rec.ts)
        if not state.add(rec.query.lower().rstrip("."), rec.uid, 1):
            return None
        n = len(state.targets)
        p = self.p
        if not stepped_due(n, p.min_nxdomains, p.every, p.every_until, p.report_at):
            return None
        return evidence(
            self,
            attacker=rec.saddr,
            victim=None,
            level=ThreatLevel.HIGH,
            confidence=scan_confidence(n, p.confidence_saturation),
            ts=rec.ts,
            window=window,
            description=(
                f"Possible DGA: {rec.saddr} got NXDOMAIN for {n} different names "
                f"(latest: {rec.query})"
            ),
            technique="T1568.002",  # Dynamic Resolution: Domain Generation Algorithms
            uids=tuple(state.uids),
            count=n,
            proto=rec.proto or None,
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        self._hosts.close(window)
        return None
