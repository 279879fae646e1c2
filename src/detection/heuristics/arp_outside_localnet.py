"""ARP request for an address outside the sender's local network.

ARP only resolves neighbours on the same link, so a host never needs the MAC
of an address outside its own network; such requests come from crafted
packets (spoofing and scanning tools) or badly misconfigured hosts. The local
network of a private sender is its private block (10/8, 172.16/12,
192.168/16, 169.254/16, 100.64/10); of a public sender, its /`public_prefix`
(24). Probes from 0.0.0.0, gratuitous ARP and broadcast/multicast targets are
ignored. One evidence per (sender, target, window). Threat LOW, confidence 0.6
(Slips' values).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from detection.heuristics._scans_dns import Once, evidence, ipv4, private_v4_block
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import ArpRecord, Evidence, ThreatLevel

__all__ = ["ArpOutsideLocalnet", "ArpOutsideLocalnetParams"]


class ArpOutsideLocalnetParams(DetectorParams):
    public_prefix: int = 24
    confidence: float = 0.6


class ArpOutsideLocalnet(Detector):
    name = "arp_outside_localnet"
    consumes = (ArpRecord,)
    Params = ArpOutsideLocalnetParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, ArpOutsideLocalnetParams)
        self.p = params
        self._reported: Once[tuple[str, str]] = Once()

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: ArpRecord = record  # type: ignore[assignment]  # only ArpRecord is routed here
        if rec.operation != "request" or rec.saddr == rec.daddr:
            return None
        src, dst = ipv4(rec.saddr), ipv4(rec.daddr)
        if src is None or dst is None or src.is_unspecified or dst.is_unspecified:
            return None
        if dst.is_multicast or dst == ipaddress.IPv4Address("255.255.255.255"):
            return None
        local = private_v4_block(src) or ipaddress.IPv4Network(
            (int(src), self.p.public_prefix), strict=False
        )
        if dst in local or not self._reported.first((rec.saddr, rec.daddr), window):
            return None
        return evidence(
            self,
            attacker=rec.saddr,
            victim=rec.daddr,
            level=ThreatLevel.LOW,
            confidence=self.p.confidence,
            ts=rec.ts,
            window=window,
            description=(
                f"ARP request from {rec.saddr} (MAC {rec.src_mac or 'unknown'}) for {rec.daddr}, "
                f"outside its local network {local}"
            ),
            technique="T1018",  # Remote System Discovery
            proto="arp",
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        self._reported.close(window)
        return None
