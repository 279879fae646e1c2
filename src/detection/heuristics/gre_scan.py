"""GRE scan: one host opening GRE tunnels towards many hosts.

Looking for routers that accept GRE (to inject traffic or build a covert
tunnel) means sending GRE to host after host. Counts, per (source, window),
the distinct destinations of new GRE tunnels (Zeek tunnel.log
``Tunnel::GRE`` / ``Tunnel::DISCOVER``) and of unanswered GRE flows (Argus,
nfdump, Suricata). Evidence when the count reaches `min_hosts` (3), then at
`report_at` (10, 100, 1000, then every x10). Slips raises its GRE scan on
every single discovered tunnel; one tunnel is a tunnel (`gre_tunnel`), not a
scan, so we ask for several destinations. Threat MEDIUM; confidence grows to
1 at `confidence_saturation` (10) hosts.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._scan import ScanState, scan_confidence
from detection.heuristics._scans_dns import PerWindow, evidence
from detection.heuristics.base import (
    DetectionContext,
    Detector,
    DetectorParams,
    is_multicast_or_broadcast,
    report_due,
)
from detection.model import Evidence, Flow, ThreatLevel, TunnelRecord

__all__ = ["GreScan", "GreScanParams"]


class GreScanParams(DetectorParams):
    min_hosts: int = 3
    report_at: tuple[int, ...] = (10, 100, 1000)
    confidence_saturation: int = 10


class GreScan(Detector):
    name = "gre_scan"
    consumes = (TunnelRecord, Flow)
    Params = GreScanParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, GreScanParams)
        self.p = params
        self._scans: PerWindow[str, ScanState] = PerWindow()

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        return proto == "gre"

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        if type(record) is Flow:
            if record.proto != "gre" or record.established:
                return None
        elif type(record) is TunnelRecord:
            if record.tunnel_type != "Tunnel::GRE" or record.action != "Tunnel::DISCOVER":
                return None
        else:
            return None
        src, dst = record.saddr, record.daddr
        if not src or not dst or is_multicast_or_broadcast(dst):
            return None
        scans = self._scans.of(window)
        state = scans.get(src)
        if state is None:
            state = scans[src] = ScanState(record.ts)
        if not state.add(dst, record.uid, 1):
            return None
        n = len(state.targets)
        if not report_due(n, self.p.min_hosts, self.p.report_at):
            return None
        return evidence(
            self,
            attacker=src,
            victim=None,
            level=ThreatLevel.MEDIUM,
            confidence=scan_confidence(n, self.p.confidence_saturation),
            ts=record.ts,
            window=window,
            description=f"GRE scan: {src} opened GRE tunnels towards {n} hosts",
            technique="T1046",  # Network Service Discovery
            uids=tuple(u for u in state.uids if u),
            count=n,
            proto="gre",
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        self._scans.close(window)
        return None
