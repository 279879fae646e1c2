"""Unsolicited ARP reply: an ARP reply nobody asked for, sent to everyone.

A real ARP reply goes to the one host that asked. A reply broadcast to the
whole link (Ethernet or ARP target hardware address ff:ff:ff:ff:ff:ff or
00:00:00:00:00:00) tells every neighbour "this IP is at my MAC" and overwrites
their caches: the first step of ARP cache poisoning. Gratuitous ARP *requests*
(standard address announcements) are not flagged. One evidence per (sender
address, sender MAC, window). Threat LOW, confidence 0.8 (Slips' values):
some failover setups announce themselves this way.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._scans_dns import NO_ADDRESS, Once, evidence
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import ArpRecord, Evidence, ThreatLevel

__all__ = ["UnsolicitedArp", "UnsolicitedArpParams"]

_NOBODY = frozenset({"ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"})


class UnsolicitedArpParams(DetectorParams):
    confidence: float = 0.8


class UnsolicitedArp(Detector):
    name = "unsolicited_arp"
    consumes = (ArpRecord,)
    Params = UnsolicitedArpParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, UnsolicitedArpParams)
        self.p = params
        self._reported: Once[tuple[str, str]] = Once()

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: ArpRecord = record  # type: ignore[assignment]  # only ArpRecord is routed here
        if rec.operation != "reply" or rec.saddr in NO_ADDRESS:
            return None
        if rec.dst_mac.lower() not in _NOBODY and rec.dst_hw.lower() not in _NOBODY:
            return None
        mac = rec.src_hw or rec.src_mac
        if not self._reported.first((rec.saddr, mac), window):
            return None
        return evidence(
            self,
            attacker=rec.saddr,
            victim=None,
            level=ThreatLevel.LOW,
            confidence=self.p.confidence,
            ts=rec.ts,
            window=window,
            description=(
                f"Unsolicited ARP reply broadcast by {rec.saddr}: announces {rec.saddr} "
                f"at MAC {mac or 'unknown'} to every host on the link"
            ),
            technique="T1557.002",  # ARP Cache Poisoning
            proto="arp",
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        self._reported.close(window)
        return None
