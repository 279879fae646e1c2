"""Vertical port scan: one source, one host, many ports, no answers.

Counts, per (source, destination, protocol, window), the distinct destination
ports whose flows were not established (TCP and UDP). Evidence when the count
first exceeds `min_ports` (default 5), then at each of `report_at` (10, 100,
1000, then every x10). The victim is the scanned host.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._scan import ScanState, scan_confidence
from detection.heuristics.base import (
    DetectionContext,
    Detector,
    DetectorParams,
    is_multicast_or_broadcast,
    report_due,
)
from detection.model import Evidence, Flow, ThreatLevel

__all__ = ["VerticalPortScan", "VerticalPortScanParams"]

_SCANNED_PROTOS = frozenset({"tcp", "udp"})


class VerticalPortScanParams(DetectorParams):
    min_ports: int = 5
    report_at: tuple[int, ...] = (10, 100, 1000)
    confidence_saturation: int = 10


class VerticalPortScan(Detector):
    name = "vertical_port_scan"
    consumes = (Flow,)
    Params = VerticalPortScanParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, VerticalPortScanParams)
        self.first = params.min_ports + 1
        self.steps = params.report_at
        self.saturation = params.confidence_saturation
        self._scans: dict[tuple[str, str, str, int], ScanState] = {}

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        flow: Flow = record  # type: ignore[assignment]  # the pipeline routes only Flow here
        proto = flow.proto
        if proto not in _SCANNED_PROTOS or flow.dport is None:
            return None
        key = (flow.saddr, flow.daddr, proto, window)
        state = self._scans.get(key)
        if flow.established:
            if state is not None:
                state.answered += 1
            return None
        if is_multicast_or_broadcast(flow.daddr):
            return None
        if state is None:
            state = self._scans[key] = ScanState(flow.ts)
        if not state.add(flow.dport, flow.uid, flow.spkts) or not report_due(
            len(state.targets), self.first, self.steps
        ):
            return None
        n = len(state.targets)
        return (
            Evidence(
                type="vertical_port_scan",
                attacker=flow.saddr,
                victim=flow.daddr,
                threat_level=ThreatLevel.HIGH,
                confidence=scan_confidence(n, self.saturation),
                ts=flow.ts,
                timewindow=window,
                description=(
                    f"Vertical port scan of {flow.daddr} over {proto}: {n} ports, "
                    f"{state.answered} answered, {state.pkts} packets, from {flow.saddr}"
                ),
                source=self.source,
                uids=tuple(state.uids),
                proto=proto,
                count=n,
                attack_technique="T1046",  # Network Service Discovery
            ),
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        for key in [k for k in self._scans if k[3] <= window]:
            del self._scans[key]
        return None
