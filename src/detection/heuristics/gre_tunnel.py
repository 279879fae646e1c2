"""GRE tunnel: a host encapsulating traffic in GRE.

GRE carries any protocol inside IP, so a GRE tunnel from an endpoint hides
what travels through it from the sensor; endpoints rarely need one (routers
and VPN gateways do). Seen in Zeek's tunnel.log (``Tunnel::GRE``, any action)
or as a flow of IP protocol ``gre`` (Argus, nfdump, Suricata). One evidence per
(source, destination, window). Threat LOW, confidence 0.8: the tunnel is
certain, its purpose is not.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._scans_dns import Once, evidence
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import Evidence, Flow, ThreatLevel, TunnelRecord

__all__ = ["GreTunnel", "GreTunnelParams"]


class GreTunnelParams(DetectorParams):
    confidence: float = 0.8


class GreTunnel(Detector):
    name = "gre_tunnel"
    consumes = (TunnelRecord, Flow)
    Params = GreTunnelParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, GreTunnelParams)
        self.p = params
        self._reported: Once[tuple[str, str]] = Once()

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        return proto == "gre"

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        if type(record) is Flow:
            if record.proto != "gre":
                return None
            seen = "GRE flow"
        elif type(record) is TunnelRecord and record.tunnel_type == "Tunnel::GRE":
            seen = f"Zeek tunnel.log {record.action or 'record'}"
        else:
            return None
        src, dst = record.saddr, record.daddr
        if not src or not self._reported.first((src, dst), window):
            return None
        return evidence(
            self,
            attacker=src,
            victim=dst or None,
            level=ThreatLevel.LOW,
            confidence=self.p.confidence,
            ts=record.ts,
            window=window,
            description=f"GRE tunnel between {src} and {dst} ({seen})",
            technique="T1572",  # Protocol Tunneling
            uids=(record.uid,) if record.uid else (),
            proto="gre",
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        self._reported.close(window)
        return None
