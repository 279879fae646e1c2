"""ARP scan: one host asking for the MAC of many addresses in a short time.

A host ARPs for the few neighbours it talks to (its gateway, a printer); one
that asks for `min_targets` (5) different addresses within `burst_seconds`
(30 s) is enumerating the local network — Slips' numbers. Gratuitous ARP
(sender address = target address) and probes from 0.0.0.0 (address conflict
detection) are not lookups and are ignored. After the first report the
distinct-target count is re-reported at `report_at` (10, 100, 1000, then
every x10), so a /16 sweep gives a handful of evidence. Threat LOW (routers
legitimately ARP for many clients); confidence 0.8.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._scans_dns import NO_ADDRESS, Burst, BurstRule, PerWindow, evidence
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import ArpRecord, Evidence, ThreatLevel

__all__ = ["ArpScan", "ArpScanParams"]


class ArpScanParams(DetectorParams):
    min_targets: int = 5
    burst_seconds: float = 30.0
    report_at: tuple[int, ...] = (10, 100, 1000)
    confidence: float = 0.8


class ArpScan(Detector):
    name = "arp_scan"
    consumes = (ArpRecord,)
    Params = ArpScanParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, ArpScanParams)
        self.p = params
        self.rule = BurstRule(params.min_targets, params.burst_seconds, params.report_at)
        self._hosts: PerWindow[str, Burst] = PerWindow()

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: ArpRecord = record  # type: ignore[assignment]  # only ArpRecord is routed here
        src, dst = rec.saddr, rec.daddr
        if rec.operation != "request" or src in NO_ADDRESS or not dst or src == dst:
            return None
        hosts = self._hosts.of(window)
        state = hosts.get(src)
        if state is None:
            state = hosts[src] = Burst()
        if not state.add(dst, rec.ts, "", self.rule):
            return None
        n = len(state.targets)
        return evidence(
            self,
            attacker=src,
            victim=None,
            level=ThreatLevel.LOW,
            confidence=self.p.confidence,
            ts=rec.ts,
            window=window,
            description=(
                f"ARP scan: {src} (MAC {rec.src_mac or 'unknown'}) asked for {n} different "
                f"addresses, {self.p.min_targets} of them within {self.p.burst_seconds:g} s"
            ),
            technique="T1018",  # Remote System Discovery
            count=n,
            proto="arp",
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        self._hosts.close(window)
        return None
