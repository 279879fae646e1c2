"""DHCP scan: one client requesting many different addresses.

A DHCP client asks for one address (its previous lease, or the one offered);
a client that requests address after address in one window is probing the
pool to learn which addresses are in use or to exhaust it. Counts, per
(client address, window), the distinct `requested_addr` values of dhcp.log
records. Evidence when the count reaches `min_addresses` (4, the step at which
Slips reports), then at `report_at` (10, 100, 1000, then every x10). Records
without a client address cannot be attributed to a profile and are skipped.
Threat MEDIUM (Slips' level); confidence grows to 1 at `confidence_saturation`.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._scan import ScanState, scan_confidence
from detection.heuristics._scans_dns import PerWindow, evidence
from detection.heuristics.base import DetectionContext, Detector, DetectorParams, report_due
from detection.model import DhcpRecord, Evidence, ThreatLevel

__all__ = ["DhcpScan", "DhcpScanParams"]


class DhcpScanParams(DetectorParams):
    min_addresses: int = 4
    report_at: tuple[int, ...] = (10, 100, 1000)
    confidence_saturation: int = 8


class DhcpScan(Detector):
    name = "dhcp_scan"
    consumes = (DhcpRecord,)
    Params = DhcpScanParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, DhcpScanParams)
        self.p = params
        self._clients: PerWindow[str, ScanState] = PerWindow()

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: DhcpRecord = record  # type: ignore[assignment]  # only DhcpRecord is routed here
        client = rec.client_addr
        if not client or not rec.requested_addr:
            return None
        clients = self._clients.of(window)
        state = clients.get(client)
        if state is None:
            state = clients[client] = ScanState(rec.ts)
        if not state.add(rec.requested_addr, rec.uids[0] if rec.uids else "", 1):
            return None
        n = len(state.targets)
        if not report_due(n, self.p.min_addresses, self.p.report_at):
            return None
        return evidence(
            self,
            attacker=client,
            victim=rec.server_addr or None,
            level=ThreatLevel.MEDIUM,
            confidence=scan_confidence(n, self.p.confidence_saturation),
            ts=rec.ts,
            window=window,
            description=(
                f"DHCP scan: {client} (MAC {rec.mac or 'unknown'}) requested {n} different "
                f"addresses from DHCP server {rec.server_addr or 'unknown'}"
            ),
            technique="T1018",  # Remote System Discovery
            uids=tuple(u for u in state.uids if u),
            count=n,
            proto="udp",
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        self._clients.close(window)
        return None
